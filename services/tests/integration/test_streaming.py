"""Answers stream to the page while the LLM writes them; the final answer is authoritative."""

from __future__ import annotations

import pytest
from support.chat import ChatClient
from support.system import SystemFactory

from ai_system.protocol import EVENT_AI_CHUNK, EVENT_AI_RESPONSE

pytestmark = pytest.mark.integration


def test_an_answer_arrives_in_chunks_before_the_final_answer(
        system_factory: SystemFactory) -> None:
    # The offline provider writes a word every 30 ms; chunks go out at most ~10 a second.
    system = system_factory(workers=1, simulated_seconds=0.5,
                            env={"OFFLINE_WORD_SECONDS": "0.03"})
    with ChatClient(system.url) as user:
        ack = user.ask("Stream this answer to me", request_id="r1")
        answer = user.wait_answer(ack["task_id"])
        events = [e for e in user.events() if e.data.get("task_id") == ack["task_id"]]
    chunks = [e.data for e in events if e.name == EVENT_AI_CHUNK]
    assert len(chunks) >= 3
    assert [c["seq"] for c in chunks] == list(range(len(chunks)))
    assert {c["attempt"] for c in chunks} == {1} and {c["request_id"] for c in chunks} == {"r1"}
    assert "".join(c["text"] for c in chunks) == answer["response"]
    # Every chunk came before the answer, which came after the simulated work.
    names = [e.name for e in events]
    assert names.index(EVENT_AI_RESPONSE) > max(
        i for i, name in enumerate(names) if name == EVENT_AI_CHUNK)


def test_a_worker_told_not_to_stream_sends_the_whole_answer(
        system_factory: SystemFactory) -> None:
    system = system_factory(workers=1, simulated_seconds=0, env={"STREAM_ANSWERS": "false"})
    with ChatClient(system.url) as user:
        ack = user.ask("All at once")
        user.wait_answer(ack["task_id"])
    assert user.about(ack["task_id"], EVENT_AI_CHUNK) == []
