"""A question as a browser sends it (``user-query``): checked, or refused in words for the user."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ai_system.master.effects import Fail

MAX_API_KEY_CHARS = 512
MAX_REQUEST_ID_CHARS = 128


class QueryRejectedError(ValueError):
    """A question the master will not queue; the message is for the user."""

    def __init__(self, message: str, request_id: str | None = None,
                 reason: str = "invalid") -> None:
        super().__init__(message)
        self.request_id = request_id  # the client's id, echoed if it was usable
        self.reason = reason

    def event(self) -> tuple[str, dict[str, Any]]:
        """The task-error event and payload that tell the asking connection why."""
        fail = Fail(session_id="", task_id=None, request_id=self.request_id, error=str(self))
        return fail.event, fail.payload()


@dataclass(frozen=True)
class Question:
    text: str = field(repr=False)  # stripped
    api_key: str = field(repr=False)  # the user's own key, stripped, or ""
    request_id: str | None  # the client's id for the question, if it gave one


def parse(query: object, api_key: object, request_id: object, max_chars: int) -> Question:
    """The question from the event's fields; raises QueryRejectedError."""
    if request_id not in (None, "") and (not isinstance(request_id, str)
                                         or len(request_id) > MAX_REQUEST_ID_CHARS):
        raise QueryRejectedError(
            f"request_id must be text of at most {MAX_REQUEST_ID_CHARS} characters.")
    rid = request_id if isinstance(request_id, str) and request_id else None
    if not isinstance(query, str) or not query.strip():
        raise QueryRejectedError("The question is empty.", rid)
    text = query.strip()
    if len(text) > max_chars:
        raise QueryRejectedError(
            f"The question is {len(text)} characters long; the limit is {max_chars}.", rid)
    if api_key is not None and not isinstance(api_key, str):
        raise QueryRejectedError("api_key must be text.", rid)
    key = (api_key or "").strip()
    if len(key) > MAX_API_KEY_CHARS:
        raise QueryRejectedError("The API key is too long to be a real key.", rid)
    return Question(text, key, rid)
