"""The conversation, end to end: journaled by the master, carried to the worker, restarted."""

from __future__ import annotations

import pytest
from support.chat import ChatClient
from support.system import SystemFactory

from ai_system.protocol import EVENT_CONVERSATION

pytestmark = pytest.mark.integration

# The offline provider says how many earlier questions the task carried.
ONE_EARLIER = "This conversation holds 1 earlier question."


def test_the_conversation_survives_a_master_restart(system_factory: SystemFactory) -> None:
    system = system_factory(workers=1, simulated_seconds=0)
    assert system.master is not None
    with ChatClient(system.url) as user:
        first = user.wait_answer(user.ask("My name is Ana.")["task_id"])
        token = user.session_token
    assert "earlier question" not in first["response"]
    assert first["context"] == [first["task_id"]]
    system.master.kill()
    system.start_master(wait=True)

    with ChatClient(system.url, token) as back:
        back.wait_for(EVENT_CONVERSATION)
        assert back.events(EVENT_CONVERSATION)[-1].data == {"context": [first["task_id"]]}
        second = back.wait_answer(back.ask("What is my name?")["task_id"])
    assert ONE_EARLIER in second["response"]
    assert second["context"] == [first["task_id"], second["task_id"]]


def test_a_new_conversation_starts_afresh_and_sessions_keep_their_own(
        system_factory: SystemFactory) -> None:
    system = system_factory(workers=1, simulated_seconds=0)
    with ChatClient(system.url) as ana, ChatClient(system.url) as bea:
        ana.wait_answer(ana.ask("My name is Ana.")["task_id"])
        assert "earlier" not in bea.wait_answer(bea.ask("Who am I?")["task_id"])["response"]
        assert ONE_EARLIER in ana.wait_answer(ana.ask("Who am I?")["task_id"])["response"]
        assert ana.new_conversation() == {"context": []}
        fresh = ana.wait_answer(ana.ask("Who am I now?")["task_id"])
    assert "earlier question" not in fresh["response"]
    assert fresh["context"] == [fresh["task_id"]]
