"""Does a worker keep the contract of protos/README.md? Any worker, given as a command.

    WORKER_CMD="node $PWD/worker-node/src/main.js" pytest tests/conformance   # from services/
    WORKER_CMD="java -jar my-worker.jar" pytest tests/conformance -m "not ours"

Without WORKER_CMD it checks this project's Python worker. Each test starts its own worker
process (a new worker id) among one real Mosquitto with the deployed ACL, one real master
and a recording gRPC callback; the LLM is a local stand-in speaking the provider's wire
format (CONFORMANCE_PROVIDER: openai, the default, or gemini). Tests marked ``ours`` check
what this project's workers add (the original assignment's service name, a health check).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.chat import ChatClient
from support.conformance import SIMULATED_SECONDS, Lab, provider_env
from support.contract import problems, topic_of
from support.llm_stand_in import StandIn
from support.ports import free_port
from support.system import wait_status
from support.tls import CertificateAuthority
from support.worker import FakeMaster, Harness, TlsMosquitto

from ai_system.local.api import online_workers
from ai_system.local.processes import wait_until
from ai_system.protocol import ERROR_KINDS, LOG_LEVELS, ChatMessage, MasterStatus, now_ms

pytestmark = pytest.mark.integration

DIALECT = os.environ.get("CONFORMANCE_PROVIDER", "openai").strip() or "openai"


@pytest.fixture(scope="module")
def shared_lab() -> Iterator[Lab]:
    lab = Lab.start()
    yield lab
    lab.stop()  # its children's output is kept in test-artifacts/logs/conformance-<name>/


# What the workers (and the master) publish where the probe listens, checked against
# protos/mqtt.schema.json after every test.
HEARD = ("register", "status", "logs")


@pytest.fixture
def lab(shared_lab: Lab) -> Iterator[Lab]:
    """The lab; the workers a test started there are stopped at its end, and every message
    heard meanwhile must conform to the schema."""
    before = {name: len(shared_lab.probe.payloads(topic_of(name))) for name in HEARD}
    yield shared_lab
    shared_lab.stop_workers()
    departures = [f"{name} {payload[:300]!r}: {problem}"
                  for name in HEARD
                  for payload in shared_lab.probe.payloads(topic_of(name))[before[name]:]
                  for problem in problems(name, payload)]
    assert not departures, "messages departing from protos/mqtt.schema.json:\n" + "\n".join(
        departures)


# --- on the bus ----------------------------------------------------------------------------

def test_registers_with_the_documented_fields_and_reports_idle(
        lab: Lab) -> None:
    worker = lab.start_worker()
    registration = worker.registrations()[0]
    assert registration["worker_id"] == worker.worker_id
    assert isinstance(registration["language"], str) and registration["language"]
    assert isinstance(registration["hostname"], str) and registration["hostname"]
    assert registration["node"] == "conformance-node"  # NODE_NAME
    assert registration["provider"] == "offline"
    assert registration["status"] == "idle"
    assert isinstance(registration["timestamp"], int)
    assert registration["timestamp"] > 1_600_000_000_000  # milliseconds, not seconds
    assert isinstance(registration["instance_id"], str) and registration["instance_id"]
    worker.wait_for(lambda: worker.reported("idle", None), "idle after registering")
    seen = worker.master_view()
    assert seen is not None
    assert (seen["state"], seen["node"], seen["language"]) == (
        "idle", "conformance-node", registration["language"])
    # Log records on <prefix>/logs: a source naming the worker, a known level.
    worker.wait_for(lambda: bool(worker.logs()), "a log record on upb/logs")
    record = worker.logs()[0]
    assert record["level"] in LOG_LEVELS and isinstance(record["message"], str)


def test_registers_again_when_the_master_comes_online_with_the_same_instance(
        lab: Lab) -> None:
    worker = lab.start_worker()
    before = len(worker.registrations())
    lab.probe.publish("upb/master/status", MasterStatus("online").to_json())  # live, not retained
    worker.wait_for(lambda: len(worker.registrations()) > before, "a new registration")
    assert len({r["instance_id"] for r in worker.registrations()}) == 1


def test_a_new_process_registers_with_a_new_instance_id(lab: Lab) -> None:
    first = lab.start_worker()
    assert first.process.stop() == 0
    again = lab.restart(first)
    assert len({r["instance_id"] for r in again.registrations()}) == 2


def test_the_last_will_reports_a_killed_worker_offline(lab: Lab) -> None:
    worker = lab.start_worker()
    worker.process.kill()  # SIGKILL: no goodbye, only the broker's Last Will
    worker.wait_for(lambda: worker.reported("offline", None), "the Last Will", alive=False)
    wait_status(lab.system, lambda s: worker.worker_id not in online_workers(s),
                "the master to see it offline")


# --- answering -----------------------------------------------------------------------------

def test_answers_a_question_end_to_end_busy_then_idle(lab: Lab) -> None:
    worker = lab.start_worker()
    with ChatClient(lab.system.url) as user:
        task_id = user.ask("Is this worker conformant?")["task_id"]
        answer = user.wait_answer(task_id)
    # The master accepts no result without the task's token: this one carried it.
    assert answer["worker_id"] == worker.worker_id
    assert (answer["node"], answer["provider"]) == ("conformance-node", "offline")
    assert answer["response"] and answer["model"]
    assert answer["processing_time_ms"] >= SIMULATED_SECONDS * 1000
    # Streaming is optional; chunks, if any, count from 0 and spell the start of the answer.
    chunks = user.about(task_id, "ai-chunk")
    assert [chunk["seq"] for chunk in chunks] == list(range(len(chunks)))
    assert answer["response"].startswith("".join(chunk["text"] for chunk in chunks))
    worker.wait_for(lambda: worker.reported("idle", task_id), "idle with the task's id")
    reports = [(s.status, s.task_id) for s in worker.statuses()]
    assert reports.index(("busy", task_id)) < reports.index(("idle", task_id))


def test_a_result_carries_every_documented_field(lab: Lab) -> None:
    worker = lab.start_worker()
    before = now_ms()
    task = worker.send_task("fields", attempt=2, query="Which fields?")
    result = lab.recorder.wait_result("fields")
    assert (result.worker_id, result.session_id, result.task_id) == (
        worker.worker_id, "s-fields", "fields")
    assert result.original_query == "Which fields?"
    assert result.ai_response and not result.error and not result.error_kind
    assert result.attempt == 2  # the task's attempt, echoed
    assert result.result_token == task.result_token == "token-fields-2"
    assert (result.provider, bool(result.model)) == ("offline", True)
    assert result.query_timestamp == task.timestamp
    assert result.completion_timestamp >= before
    # Processing includes the LLM call and the simulated work.
    assert result.processing_time_ms >= result.provider_time_ms >= 0
    assert result.processing_time_ms >= SIMULATED_SECONDS * 1000
    worker.wait_for(lambda: worker.reported("idle", "fields"), "idle with the task's id")
    assert worker.reported("busy", "fields")


def test_a_repeated_delivery_is_answered_once_a_new_attempt_again(
        lab: Lab) -> None:
    worker = lab.start_worker()
    worker.send_task("dup")
    worker.send_task("dup")  # what a QoS 1 redelivery looks like
    worker.send_task("dup", attempt=2)  # a requeued task is new work
    worker.send_task("after-dup")
    lab.recorder.wait_result("after-dup")  # one task at a time: the others came first
    assert [r.attempt for r in lab.recorder.results_for("dup")] == [1, 2]


def test_malformed_tasks_are_dropped_and_the_worker_carries_on(
        lab: Lab) -> None:
    worker = lab.start_worker()
    for payload in (b"not json", b"\xff\xfe\x00", b"[1, 2]", b'"a string"', b"{}",
                    json.dumps({"worker_id": worker.worker_id}),
                    json.dumps({"worker_id": worker.worker_id, "session_id": 7, "query": "q",
                                "grpc_endpoint": lab.recorder.endpoint, "task_id": "typed"}),
                    json.dumps({"worker_id": "someone-else", "session_id": "s", "query": "q",
                                "grpc_endpoint": lab.recorder.endpoint, "task_id": "stray"})):
        worker.publish_raw(payload)
    worker.send_task("after-garbage")
    assert lab.recorder.wait_result("after-garbage").ai_response
    assert lab.recorder.results_for("stray") == lab.recorder.results_for("typed") == []
    assert worker.process.alive()
    with ChatClient(lab.system.url) as user:  # and the master still gets its answers
        assert user.wait_answer(user.ask("Still there?")["task_id"])["worker_id"] \
            == worker.worker_id


def test_a_task_naming_an_unknown_callback_is_refused_before_the_llm(
        lab: Lab) -> None:
    elsewhere = FakeMaster(free_port()).start()
    try:
        with StandIn(DIALECT) as llm:
            worker = lab.start_worker(**provider_env(DIALECT, llm.base_url, "sk-conf-pool-1"))
            worker.send_task("forged", endpoint=elsewhere.endpoint, api_key="sk-conf-user-2")
            # Idle naming the task tells the master to requeue it at once.
            worker.wait_for(lambda: worker.reported("idle", "forged"), "idle naming the task")
            worker.send_task("genuine")
            assert lab.recorder.wait_result("genuine").ai_response.startswith("stand-in")
            assert llm.keys_seen == ["sk-conf-pool-1"]  # the forged one never reached it
    finally:
        elsewhere.stop()
    assert elsewhere.results == []


def test_the_conversation_reaches_the_provider_before_the_question(lab: Lab) -> None:
    history: tuple[ChatMessage, ...] = (
        {"role": "user", "content": "My name is Ana."},
        {"role": "assistant", "content": "Nice to meet you, Ana."})
    with StandIn(DIALECT) as llm:
        worker = lab.start_worker(**provider_env(DIALECT, llm.base_url, "sk-conf-turns"))
        worker.send_task("turns", query="What is my name?", history=history)
        answer = lab.recorder.wait_result("turns").ai_response
        worker.send_task("alone", query="What is MQTT?")  # a task without history
        lab.recorder.wait_result("alone")
    assert "My name is Ana." in answer  # the stand-in answers from what it was given
    turns, alone = (seen.body for seen in llm.seen)
    if DIALECT == "openai":
        assert turns["messages"][-3:] == [*history,
                                          {"role": "user", "content": "What is my name?"}]
        assert alone["messages"][-1:] == [{"role": "user", "content": "What is MQTT?"}]
        assert [m["role"] for m in alone["messages"]] in (["user"], ["system", "user"])
    else:
        assert turns["contents"] == [
            {"role": "user", "parts": [{"text": "My name is Ana."}]},
            {"role": "model", "parts": [{"text": "Nice to meet you, Ana."}]},
            {"role": "user", "parts": [{"text": "What is my name?"}]}]
        assert [c["parts"][0]["text"] for c in alone["contents"]] == ["What is MQTT?"]
    assert "Ana" not in worker.output() + json.dumps(worker.logs())  # never logged


def test_provider_failures_come_back_as_results_with_their_kind(
        lab: Lab) -> None:
    with StandIn(DIALECT) as llm:
        llm.behaviour.update({"sk-conf-a": 429, "sk-conf-user-rejected": 403,
                              "sk-conf-user-down": 503})
        worker = lab.start_worker(**provider_env(DIALECT, llm.base_url, "sk-conf-a,sk-conf-b"))
        worker.send_task("rotated")  # the first key is rate-limited: the next one answers
        assert lab.recorder.wait_result("rotated").ai_response.startswith("stand-in")
        assert llm.keys_seen == ["sk-conf-a", "sk-conf-b"]
        worker.send_task("rejected", api_key="sk-conf-user-rejected")
        worker.send_task("down", api_key="sk-conf-user-down")
        rejected = lab.recorder.wait_result("rejected")
        down = lab.recorder.wait_result("down")
        with ChatClient(lab.system.url) as user:  # the user hears of a final error at once
            task_id = user.ask("With my key", api_key="sk-conf-user-rejected")["task_id"]
            user.wait_until(lambda events: bool(user.about(task_id, "task-error")), 30,
                            "the task-error")
    for result, kind in ((rejected, "bad_key"), (down, "upstream")):
        assert (result.error_kind, result.ai_response) == (kind, "")
        assert result.error and result.error_kind in ERROR_KINDS
        assert result.result_token == f"token-{result.task_id}-1"
    assert worker.process.alive()
    secrets = ("sk-conf-a", "sk-conf-b", "sk-conf-user-rejected", "sk-conf-user-down")
    said = [worker.output(), json.dumps(worker.logs()),
            *(str(r) for r in lab.recorder.results)]
    for text in said:
        for secret in secrets:
            assert secret not in text
    for text in (worker.output(), json.dumps(worker.logs())):
        assert "token-rejected-1" not in text and "token-down-1" not in text


def test_a_result_the_master_refuses_is_final_and_the_task_reported_idle(
        lab: Lab) -> None:
    refusing = FakeMaster(free_port(), success=False).start()
    try:
        worker = lab.start_worker(extra_endpoints=(refusing.endpoint,))
        worker.send_task("refused", endpoint=refusing.endpoint)
        worker.wait_for(lambda: worker.reported("idle", "refused"), "idle naming the task")
        worker.send_task("next")
        lab.recorder.wait_result("next")
    finally:
        refusing.stop()
    assert len(refusing.results_for("refused")) == 1  # success=false is not retried


# --- stopping ------------------------------------------------------------------------------

def test_sigterm_hands_the_task_back_and_another_worker_answers_it(
        lab: Lab) -> None:
    slow = lab.start_worker(SIMULATED_WORK_SECONDS="30")
    with ChatClient(lab.system.url) as user:
        task_id = user.ask("Who answers this?")["task_id"]
        slow.wait_for(lambda: slow.reported("busy", task_id), "busy with the question")
        quick = lab.start_worker()
        assert slow.process.stop(grace=15) == 0  # by itself: stop() kills only after 15 s
        # Published before it exited; the broker may still be delivering it.
        slow.wait_for(lambda: slow.reported("offline", task_id), "offline naming the task",
                      alive=False)
        offline = [s for s in slow.statuses() if s.status == "offline"]
        assert [s.task_id for s in offline] == [task_id]
        answer = user.wait_answer(task_id)
    assert answer["worker_id"] == quick.worker_id
    assert not slow.reported("idle", task_id)


# --- what this project's workers add -------------------------------------------------------

@pytest.mark.ours
def test_speaks_the_original_service_name_to_an_original_master(
        lab: Lab) -> None:
    original = FakeMaster(free_port(), original=True).start()
    try:
        worker = lab.start_worker(extra_endpoints=(original.endpoint,))
        worker.send_task("old-1", endpoint=original.endpoint)
        worker.send_task("old-2", endpoint=original.endpoint)
        assert original.wait_result("old-1").ai_response
        assert original.wait_result("old-2").result_token == "token-old-2-1"
        worker.send_task("new")  # another endpoint keeps our name
        lab.recorder.wait_result("new")
    finally:
        original.stop()


def test_answers_every_question_of_a_session_from_an_original_master(lab: Lab) -> None:
    """The original master's tasks carry no task id, attempt or token: one session asking
    twice is two questions, and each is answered."""
    original = FakeMaster(free_port(), original=True).start()
    try:
        worker = lab.start_worker(extra_endpoints=(original.endpoint,))
        for number, query in enumerate(("First question?", "Second question?"), start=1):
            worker.publish_raw(json.dumps({
                "worker_id": worker.worker_id, "session_id": "original-session",
                "query": query, "api_key": "", "grpc_endpoint": original.endpoint,
                "timestamp": now_ms() + number}))
        wait_until(lambda: len(original.results) >= 2, 30, "two answers", [])
    finally:
        original.stop()
    assert sorted(r.original_query for r in original.results) == [
        "First question?", "Second question?"]
    assert {r.session_id for r in original.results} == {"original-session"}


@pytest.mark.ours
def test_over_tls_it_checks_the_broker_and_the_master_against_the_lab_ca(
        lab: Lab, tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "pki", "lab")
    cert = ca.issue_server()
    broker = TlsMosquitto(free_port(), free_port(), tmp_path, cert)
    harness = Harness(tmp_path, broker=broker, master=FakeMaster(free_port(), tls=cert).start(),
                      command=lab.command)
    try:
        harness.start_worker(MQTT_PORT=str(broker.tls_port), MQTT_TLS_CA_FILE=str(ca.ca_file),
                             GRPC_TLS_CA_FILE=str(ca.ca_file))
        task = harness.send_task("over-tls")
        assert harness.master.wait_result("over-tls").result_token == task.result_token
        # A master whose certificate another CA signed gets nothing.
        assert harness.worker is not None and harness.worker.stop() == 0
        impostor = FakeMaster(free_port(), tls=CertificateAuthority(
            tmp_path / "pki", "other").issue_server()).start()
        try:
            harness.start_worker(MQTT_PORT=str(broker.tls_port), MQTT_TLS_CA_FILE=str(ca.ca_file),
                                 GRPC_TLS_CA_FILE=str(ca.ca_file), GRPC_MAX_ATTEMPTS="2",
                                 GRPC_TIMEOUT_SECONDS="1", GRPC_ENDPOINTS=impostor.endpoint)
            harness.send_task("to-impostor", endpoint=impostor.endpoint)
            harness.wait_for(lambda: harness.reported("idle", "to-impostor"), "it gives up")
        finally:
            impostor.stop()
        assert impostor.results == []
    finally:
        harness.close()


@pytest.mark.ours
def test_its_health_check_passes_while_connected_and_fails_once_stopped(
        lab: Lab) -> None:
    if lab.health_command is None:
        pytest.skip("no WORKER_HEALTH_CMD given")
    worker = lab.start_worker()
    worker.wait_for(lambda: worker.health_check() == 0, "a passing health check")
    assert worker.process.stop() == 0
    assert worker.health_check() != 0
