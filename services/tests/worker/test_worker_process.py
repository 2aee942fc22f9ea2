"""The ``ai-worker`` process end to end: real Mosquitto, a real gRPC server standing in for
the master, tasks published with paho. (The whole system is tested in integration/.)"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.llm_stand_in import StandIn
from support.ports import free_port
from support.tcp_relay import TcpRelay
from support.worker import TOPICS, WORKER_ID, FakeMaster, Harness

from ai_system.protocol import MasterStatus

pytestmark = pytest.mark.integration


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    yield harness
    harness.close()


def test_registers_answers_a_task_and_reports_busy_then_idle(harness: Harness) -> None:
    harness.start_worker()
    registration = json.loads(harness.probe.payloads(TOPICS.register)[0])
    assert registration["language"] == "python"
    assert (registration["node"], registration["provider"]) == ("node-test", "offline")
    assert registration["user_key_provider"] == "gemini"  # where a typed key goes
    assert re.fullmatch(r"[0-9a-f]{32}", registration["instance_id"])
    task = harness.send_task("t1")
    result = harness.master.wait_result("t1")
    assert result.result_token == task.result_token == "token-t1-1"
    assert result.worker_id == WORKER_ID
    assert (result.session_id, result.original_query) == ("s-t1", "What is MQTT?")
    assert "offline" in result.ai_response and "What is MQTT?" in result.ai_response
    assert (result.provider, result.model, result.error) == ("offline", "offline-echo", "")
    assert (result.attempt, result.query_timestamp) == (1, task.timestamp)
    assert result.processing_time_ms >= result.provider_time_ms >= 0
    assert result.completion_timestamp >= task.timestamp
    harness.wait_for(lambda: harness.reported("idle", "t1"), "idle with the last task id")
    assert harness.reported("busy", "t1")
    assert harness.health_check() == 0


def test_bad_and_repeated_tasks_are_dropped_and_the_worker_carries_on(harness: Harness) -> None:
    worker = harness.start_worker()
    topic = TOPICS.tasks(WORKER_ID)
    for payload in (b"not json", b"[1, 2]", b'{"worker_id": "w-proc-test"}',
                    json.dumps({"worker_id": "someone-else", "session_id": "s", "query": "q",
                                "grpc_endpoint": "127.0.0.1:1", "task_id": "stray"})):
        harness.probe.publish(topic, payload)
    harness.send_task("dup")
    harness.send_task("dup")  # what a QoS 1 redelivery looks like
    harness.send_task("dup", attempt=2)  # a requeued task is new work
    harness.send_task("last")
    harness.master.wait_result("last")
    assert [r.attempt for r in harness.master.results_for("dup")] == [1, 2]
    assert harness.master.results_for("stray") == []
    assert worker.alive()
    output = worker.output()
    assert "dropped a malformed task: payload is not JSON" in output
    assert "dropped a malformed task: missing field 'session_id'" in output
    assert "dropped task stray addressed to worker 'someone-else'" in output
    assert "dropped a redelivery of task dup (attempt 1)" in output


def test_registers_again_when_the_master_comes_online(harness: Harness) -> None:
    harness.start_worker()
    before = len(harness.registrations())
    harness.probe.publish(TOPICS.master_status, MasterStatus("online").to_json())
    harness.wait_for(lambda: len(harness.registrations()) > before, "a new registration")
    assert len(harness.instances()) == 1  # the same process: the same instance id


def test_result_waits_for_a_master_that_is_down_for_a_while(harness: Harness) -> None:
    late = FakeMaster(free_port())
    worker = harness.start_worker(GRPC_ENDPOINTS=f"{harness.master.endpoint},{late.endpoint}")
    harness.send_task("late", endpoint=late.endpoint)
    harness.wait_for(lambda: "retrying the result of task late" in worker.output(),
                     "the worker to retry")
    late.start()
    try:
        assert late.wait_result("late").ai_response
    finally:
        late.stop()


def test_a_result_the_master_refuses_is_not_sent_again(harness: Harness) -> None:
    # Even without per-task statuses, an undelivered result is reported: idle with its task.
    worker = harness.start_worker(PUBLISH_TASK_STATUS="false")
    harness.master.success = False
    harness.send_task("unknown")
    harness.wait_for(lambda: harness.reported("idle", "unknown"),
                     "idle naming the undelivered task")
    assert "master refused the result of task unknown" in worker.output()
    harness.master.success = True
    harness.send_task("after")
    harness.master.wait_result("after")
    assert len(harness.master.results_for("unknown")) == 1


def test_sigterm_mid_task_reports_offline_and_exits_cleanly(harness: Harness) -> None:
    worker = harness.start_worker(SIMULATED_WORK_SECONDS="600", TASK_TIMEOUT_SECONDS="1000")
    harness.send_task("long")
    harness.wait_for(lambda: harness.reported("busy", "long"), "busy")
    assert harness.health_file.exists()
    assert worker.stop(grace=15) == 0
    offline = [s for s in harness.statuses() if s.status == "offline"]
    assert [(s.worker_id, s.task_id) for s in offline] == [(WORKER_ID, "long")]
    assert harness.master.results_for("long") == []
    assert not harness.health_file.exists()


def test_a_user_key_reaches_the_provider_and_never_the_logs(harness: Harness) -> None:
    with StandIn("openai") as llm:
        worker = harness.start_worker(USER_KEY_PROVIDER="openai", LLM_BASE_URL=llm.base_url,
                                      LOG_LEVEL="DEBUG", MQTT_LOG_LEVEL="DEBUG")
        harness.send_task("keyed", api_key="sk-user-secret-123")
        result = harness.master.wait_result("keyed")
        assert result.ai_response == "stand-in answer: What is MQTT?"
        assert (result.provider, result.model) == ("openai", "gpt-4o-mini")
        assert llm.keys_seen == ["sk-user-secret-123"]
        llm.behaviour["sk-bad-secret-456"] = 401
        harness.send_task("rejected", api_key="sk-bad-secret-456")
        rejected = harness.master.wait_result("rejected")
    assert rejected.ai_response == ""
    assert rejected.error == "openai rejected the API key (HTTP 401); check the key."
    assert (rejected.error_kind, rejected.result_token) == ("bad_key", "token-rejected-1")
    assert worker.alive()
    for text in (worker.output(), harness.logs(), str(harness.master.results)):
        assert "sk-user-secret-123" not in text and "sk-bad-secret-456" not in text
    for text in (worker.output(), harness.logs()):
        assert "token-keyed-1" not in text and "token-rejected-1" not in text


# --- where results may go -------------------------------------------------------------------

def test_a_task_naming_another_endpoint_is_refused_before_the_llm(harness: Harness) -> None:
    elsewhere = FakeMaster(free_port()).start()
    try:
        with StandIn("openai") as llm:
            worker = harness.start_worker(
                LLM_PROVIDER="openai", OPENAI_API_KEYS="sk-pool-secret-1",
                LLM_BASE_URL=llm.base_url, PUBLISH_TASK_STATUS="false")
            harness.send_task("forged", endpoint=elsewhere.endpoint, api_key="sk-user-secret-2")
            # The master requeues a task its worker reports idle with, at once.
            harness.wait_for(lambda: harness.reported("idle", "forged"), "idle naming the task")
            assert llm.seen == []
            harness.send_task("genuine")
            assert harness.master.wait_result("genuine").ai_response.startswith("stand-in")
            assert llm.keys_seen == ["sk-pool-secret-1"]
    finally:
        elsewhere.stop()
    assert elsewhere.results == [] and harness.master.results_for("forged") == []
    refusal = [line for line in worker.output().splitlines() if "refused task forged" in line]
    assert len(refusal) == 1 and " WARNING " in refusal[0]
    assert repr(elsewhere.endpoint) in refusal[0]
    assert f"GRPC_ENDPOINTS ({harness.master.endpoint})" in refusal[0]
    assert "refused task forged" in harness.logs()  # WARNING reaches <prefix>/logs
    for text in (worker.output(), harness.logs()):
        for secret in ("sk-pool-secret-1", "sk-user-secret-2", "token-forged-1"):
            assert secret not in text


# --- sessions: restarts and reconnects -------------------------------------------------------

def test_a_restarted_worker_does_not_get_its_previous_lifes_tasks(harness: Harness) -> None:
    first = harness.start_worker()
    harness.send_task("before")
    harness.master.wait_result("before")
    first.kill()
    harness.wait_for(lambda: harness.reported("offline", None), "the broker's Last Will",
                     watch_worker=False)
    # The broker holds this one for the dead worker; the master requeues it by its own records.
    harness.send_task("previous-life")
    second = harness.start_worker(LOG_LEVEL="DEBUG")
    harness.send_task("after")
    harness.master.wait_result("after")
    assert harness.master.results_for("previous-life") == []
    assert "previous-life" not in second.output()
    assert not any(s.task_id == "previous-life" for s in harness.statuses())
    assert len(harness.instances()) == 2  # each process registers under its own instance id
    assert "(provider offline, new session)" in second.output()


def test_a_task_published_while_the_connection_was_down_arrives_after_it(
        harness: Harness) -> None:
    relay = TcpRelay(harness.broker.port)
    try:
        worker = harness.start_worker(MQTT_PORT=str(relay.port))
        registrations = len(harness.registrations())
        relay.cut()
        harness.wait_for(lambda: harness.reported("offline", None), "the broker's Last Will")
        harness.send_task("meanwhile")
        relay.restore()
        assert harness.master.wait_result("meanwhile").ai_response
    finally:
        relay.close()
    assert "resumed session" in worker.output()
    assert len(harness.registrations()) > registrations  # registered again on reconnecting
    assert len(harness.instances()) == 1


# --- honest health --------------------------------------------------------------------------

def test_a_task_stuck_past_the_deadline_makes_the_worker_unhealthy(harness: Harness) -> None:
    # Each read of the answer arrives within LLM_TIMEOUT_SECONDS, the whole never does: only
    # the health check notices.
    with StandIn("openai") as llm:
        llm.behaviour["sk-pool"] = "trickle"
        worker = harness.start_worker(
            LLM_PROVIDER="openai", OPENAI_API_KEYS="sk-pool", LLM_BASE_URL=llm.base_url,
            LLM_TIMEOUT_SECONDS="0.5", GRPC_TIMEOUT_SECONDS="0.5", GRPC_MAX_ATTEMPTS="1",
            TASK_TIMEOUT_SECONDS="2.5")
        harness.wait_for(lambda: harness.health_check() == 0, "a healthy worker")
        harness.send_task("stuck")
        harness.wait_for(lambda: harness.reported("busy", "stuck"), "busy")
        busy_since = time.monotonic()
        harness.wait_for(lambda: harness.health_check() != 0, "the health check to fail")
        assert time.monotonic() - busy_since > 2  # not before TASK_TIMEOUT_SECONDS (2.5 s)
        assert worker.alive() and harness.reported("busy", "stuck")
        assert "task stuck has been running for" in worker.output()
        llm.release()
        assert harness.master.wait_result("stuck").ai_response.startswith("stand-in")
        harness.wait_for(lambda: harness.health_check() == 0, "healthy again")


# --- stopping -------------------------------------------------------------------------------

def test_sigterm_while_the_llm_answers_sends_no_result_after_the_goodbye(
        harness: Harness) -> None:
    with StandIn("openai") as llm:
        llm.behaviour["sk-pool"] = "slow"
        llm.slow_seconds = 1.0  # answers while the worker is stopping
        worker = harness.start_worker(LLM_PROVIDER="openai", OPENAI_API_KEYS="sk-pool",
                                      LLM_BASE_URL=llm.base_url, LLM_TIMEOUT_SECONDS="10")
        harness.send_task("abandoned")
        harness.wait_for(lambda: bool(llm.seen), "the question to reach the LLM")
        assert worker.stop(grace=15) == 0
        assert llm.keys_seen == ["sk-pool"]
    assert [(s.status, s.task_id) for s in harness.statuses() if s.status != "busy"][-1:] \
        == [("offline", "abandoned")]
    assert not harness.reported("idle", "abandoned")
    assert harness.master.results_for("abandoned") == []
