"""A key typed in the chat reaches the LLM and nothing else: no log line, no log topic."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.chat import ChatClient
from support.llm_stand_in import StandIn
from support.mqtt import probe_as
from support.system import SystemFactory

from ai_system.protocol import EVENT_TASK_ERROR, Topics

pytestmark = pytest.mark.integration

GOOD_KEY = "AIzaSy-user-typed-GOOD-key-0123456789"
BAD_KEY = "AIzaSy-user-typed-REVOKED-key-9876543210"


@pytest.fixture
def gemini() -> Iterator[StandIn]:
    with StandIn("gemini") as server:
        server.behaviour[BAD_KEY] = 400  # Google's answer to an invalid key
        yield server


def test_a_users_api_key_is_used_but_never_logged(system_factory: SystemFactory,
                                                  gemini: StandIn) -> None:
    # An offline worker sends a user's key to Gemini (USER_KEY_PROVIDER), here the
    # stand-in; DEBUG everywhere so that any leak would show.
    system = system_factory(workers=1, simulated_seconds=0, env={
        "LLM_BASE_URL": gemini.base_url, "LOG_LEVEL": "DEBUG", "MQTT_LOG_LEVEL": "DEBUG"})
    logs_topic = Topics().logs
    probe = probe_as(system, topics=[logs_topic])
    try:
        with ChatClient(system.url) as user:
            good = user.ask("Answer with my own key", api_key=GOOD_KEY)
            answer = user.wait_answer(good["task_id"])
            bad = user.ask("And now with a revoked key", api_key=BAD_KEY)
            error = user.wait_for(EVENT_TASK_ERROR, task_id=bad["task_id"])[0]
    finally:
        probe.close()

    assert answer["provider"] == "gemini"
    assert answer["response"] == "stand-in answer: Answer with my own key"
    assert gemini.keys_seen == [GOOD_KEY, BAD_KEY]
    assert "key" in error["error"].lower()
    assert BAD_KEY not in error["error"]

    published = b"\n".join(probe.payloads(logs_topic))
    assert published, "nothing was published on the log topic at DEBUG level"
    for key in (GOOD_KEY, BAD_KEY):
        assert key.encode() not in published
        for proc in system.processes():
            assert key not in proc.output(), f"{proc.name} logged a user's API key"
