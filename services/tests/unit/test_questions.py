"""A browser's question checked on its own: what is kept, and what is refused in which words."""

from __future__ import annotations

import pytest

from ai_system.master.questions import QueryRejectedError, Question, parse


def test_a_question_and_its_key_are_stripped_and_its_request_id_kept() -> None:
    assert parse("  hello  ", " key ", "r1", max_chars=10) == Question("hello", "key", "r1")
    assert parse("hello", None, "", max_chars=10) == Question("hello", "", None)


@pytest.mark.parametrize(("query", "api_key", "request_id", "words", "echoed"), [
    ("", None, "r1", "The question is empty.", "r1"),
    (42, None, None, "The question is empty.", None),
    ("x" * 11, None, "r1", "The question is 11 characters long; the limit is 10.", "r1"),
    ("fine", 7, "r1", "api_key must be text.", "r1"),
    ("fine", "k" * 513, None, "The API key is too long to be a real key.", None),
    ("fine", None, "r" * 129, "request_id must be text of at most 128 characters.", None),
    ("fine", None, ["r1"], "request_id must be text of at most 128 characters.", None),
])
def test_a_bad_question_is_refused_in_words_for_the_user_with_its_usable_request_id(
        query: object, api_key: object, request_id: object, words: str,
        echoed: str | None) -> None:
    with pytest.raises(QueryRejectedError) as refused:
        parse(query, api_key, request_id, max_chars=10)
    assert (str(refused.value), refused.value.request_id) == (words, echoed)
    assert refused.value.event() == ("task-error", {
        "task_id": None, "error": words, **({"request_id": echoed} if echoed else {})})
