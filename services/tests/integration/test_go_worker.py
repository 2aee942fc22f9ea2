"""The Go worker (services/worker-go) in a real system: it registers with a real master and
broker and answers questions from a real Socket.IO client, with the Python worker's
settings. Build it first with `make worker-go` (`make test` does)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.chat import ChatClient
from support.llm_stand_in import StandIn
from support.mqtt import probe_as
from support.system import GO_WORKER, SystemFactory, wait_status

from ai_system.local.api import online_workers
from ai_system.local.processes import ManagedProcess
from ai_system.local.system import LocalSystem
from ai_system.protocol import EVENT_AI_CHUNK, EVENT_AI_RESPONSE, EVENT_TASK_ERROR, Topics

GO_ID = "go-worker-local-1"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not GO_WORKER.is_file(), reason="run `make worker-go` first"),
]

CONFIGURED_KEYS = ("sk-configured-limited-0123456789", "sk-configured-good-9876543210")
USERS_BAD_KEY = "sk-user-typed-REVOKED-key-5555555555"


def start_go_worker(system: LocalSystem, env: dict[str, str] | None = None) -> ManagedProcess:
    worker = system.start_worker(1, env=env, program=[str(GO_WORKER)], worker_id=GO_ID)
    wait_status(system, lambda s: GO_ID in online_workers(s), "the Go worker to register")
    return worker


@pytest.fixture
def openai() -> Iterator[StandIn]:
    with StandIn("openai") as server:
        server.behaviour[CONFIGURED_KEYS[0]] = 429
        server.behaviour[USERS_BAD_KEY] = 401
        yield server


def test_the_go_worker_registers_and_streams_an_offline_answer(
        system_factory: SystemFactory) -> None:
    system = system_factory(workers=0, simulated_seconds=0.5,
                            env={"OFFLINE_WORD_SECONDS": "0.03"})
    start_go_worker(system, {"NODE_NAME": "node-go"})
    assert online_workers(system.status())[GO_ID]["language"] == "go"

    with ChatClient(system.url) as user:
        ack = user.ask("What is a Go worker?", request_id="go-1")
        answer = user.wait_answer(ack["task_id"])
    chunks = user.about(ack["task_id"], EVENT_AI_CHUNK)

    assert (answer["worker_id"], answer["node"], answer["provider"]) == (
        GO_ID, "node-go", "offline")
    assert answer["response"].startswith("[offline answer, no LLM was asked]")
    assert '"What is a Go worker?"' in answer["response"]
    assert answer["processing_time_ms"] >= 500  # the simulated work is part of it
    # The page saw the answer grow, in order, before the final answer replaced it.
    assert len(chunks) >= 2
    assert [c["seq"] for c in chunks] == list(range(len(chunks)))
    assert "".join(c["text"] for c in chunks) == answer["response"]


def test_the_go_worker_asks_an_openai_compatible_api_and_never_shows_a_key(
        system_factory: SystemFactory, openai: StandIn) -> None:
    system = system_factory(workers=0, simulated_seconds=0, env={
        "LLM_PROVIDER": "openai", "OPENAI_API_KEYS": ",".join(CONFIGURED_KEYS),
        "LLM_BASE_URL": openai.base_url, "LLM_MODEL": "gpt-standin",
        "LOG_LEVEL": "DEBUG", "MQTT_LOG_LEVEL": "DEBUG"})
    logs = Topics().logs
    probe = probe_as(system, topics=[logs])
    try:
        start_go_worker(system)
        with ChatClient(system.url) as user:
            good = user.ask("Which key answers?")
            answer = user.wait_answer(good["task_id"])
            bad = user.ask("And with my own key?", api_key=USERS_BAD_KEY)
            error = user.wait_for(EVENT_TASK_ERROR, task_id=bad["task_id"])[0]
    finally:
        probe.close()

    assert answer["response"] == "stand-in answer: Which key answers?"
    assert (answer["worker_id"], answer["provider"], answer["model"]) == (
        GO_ID, "openai", "gpt-standin")
    # The rate-limited key rested and the next one answered; the user's key went alone.
    assert openai.keys_seen == [*CONFIGURED_KEYS, USERS_BAD_KEY]
    assert "rejected the API key" in error["error"]

    published = b"\n".join(probe.payloads(logs))
    assert b"worker:" + GO_ID.encode() in published  # its logs reach upb/logs
    for key in (*CONFIGURED_KEYS, USERS_BAD_KEY):
        assert key not in error["error"]
        assert key.encode() not in published
        for proc in system.processes():
            assert key not in proc.output(), f"{proc.name} showed an API key"


def test_a_go_worker_stopped_mid_task_hands_the_task_back(
        system_factory: SystemFactory) -> None:
    system = system_factory(workers=0, simulated_seconds=0)
    go_worker = start_go_worker(system, {"SIMULATED_WORK_SECONDS": "30"})
    with ChatClient(system.url) as user:
        ack = user.ask("Who finishes this?")
        wait_status(system, lambda s: online_workers(s)[GO_ID]["state"] == "busy",
                    "the Go worker to start the task")
        assert go_worker.stop() == 0
        system.start_worker(2)  # a Python worker takes the task over
        answer = user.wait_answer(ack["task_id"])
    assert answer["worker_id"] == system.worker_id(2)
    assert len(user.about(ack["task_id"], EVENT_AI_RESPONSE)) == 1
    assert online_workers(system.status()).get(GO_ID) is None
