"""TaskRunner.process: what goes back to the master for answers and failures."""

from __future__ import annotations

import queue
from collections.abc import Callable, Sequence

import pytest

from ai_system.config import ConfigError, WorkerSettings
from ai_system.protocol import ERROR_KINDS, ChatMessage, TaskMessage, WorkerStatus
from ai_system.rpc.worker_callback_pb2 import TaskResult
from ai_system.worker.providers.base import Answer, Provider
from ai_system.worker.providers.errors import (
    BadKeyError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExhaustedError,
    RateLimitedError,
    UpstreamError,
)
from ai_system.worker.runner import TaskRunner
from ai_system.worker.state import Delivery, WorkerState

ENDPOINT = "master:50051"
TOKEN = "token-of-t1"


class FakeProvider(Provider):
    name, model = "fake", "fake-1"

    def __init__(self, outcome: Exception | None) -> None:
        self.outcome = outcome
        self.asked: list[tuple[str, str]] = []
        self.histories: list[Sequence[ChatMessage]] = []

    def ask(self, query: str, user_key: str = "", on_text: object = None, *,
            history: Sequence[ChatMessage] = ()) -> Answer:
        self.asked.append((query, user_key))
        self.histories.append(history)
        if self.outcome is not None:
            raise self.outcome
        return Answer(f"answer to {query}", self.name, "fake-1-0425")


class FakeProviders:
    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    def choose(self, user_key: str) -> Provider:
        return self.provider


class FakeSender:
    endpoints = (ENDPOINT, "master-b:50051")

    def __init__(self, delivers: bool) -> None:
        self.delivers = delivers
        self.sent: list[tuple[str, TaskResult]] = []
        self.during_send: Callable[[], None] = lambda: None

    def allows(self, endpoint: str) -> bool:
        return endpoint in self.endpoints

    def send(self, endpoint: str, result: TaskResult) -> bool:
        self.sent.append((endpoint, result))
        self.during_send()
        return self.delivers


class RecordingEvent:
    """Stands in for the stop event: records the simulated waits; set by ``stop_in_wait``."""

    def __init__(self, stop_in_wait: bool = False) -> None:
        self.waits: list[float] = []
        self.stop_in_wait = stop_in_wait
        self.stopped = False

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        self.stopped = self.stopped or self.stop_in_wait
        return self.stopped

    def is_set(self) -> bool:
        return self.stopped


class Run:
    """One TaskRunner with fakes around it; ``process`` hands it one task."""

    def __init__(self, outcome: Exception | None = None, per_task_status: str = "true",
                 delivers: bool = True, stop_in_wait: bool = False) -> None:
        settings = WorkerSettings.from_env({
            "WORKER_ID": "w1", "SIMULATED_WORK_SECONDS": "600", "TASK_TIMEOUT_SECONDS": "800",
            "PUBLISH_TASK_STATUS": per_task_status})
        self.provider, self.sender = FakeProvider(outcome), FakeSender(delivers)
        self.stopping = RecordingEvent(stop_in_wait)
        self.statuses: list[WorkerStatus] = []
        self.state = WorkerState("w1")
        self.runner = TaskRunner(settings, FakeProviders(self.provider),  # type: ignore[arg-type]
                                 self.sender, queue.Queue(),  # type: ignore[arg-type]
                                 self.state, self.statuses.append,
                                 self.stopping)  # type: ignore[arg-type]

    def process(self, api_key: str = "", endpoint: str = ENDPOINT,
                history: tuple[ChatMessage, ...] = ()) -> None:
        task = TaskMessage(worker_id="w1", session_id="s1", query="why?", api_key=api_key,
                           grpc_endpoint=endpoint, task_id="t1", attempt=2, timestamp=5,
                           result_token=TOKEN, history=history)
        self.runner.process(Delivery(task, received_at=0.0))


def run_one(outcome: Exception | None, api_key: str = "", per_task_status: str = "true",
            delivers: bool = True) -> tuple[
        TaskResult, list[WorkerStatus], RecordingEvent, FakeProvider]:
    run = Run(outcome, per_task_status, delivers)
    run.process(api_key)
    assert [endpoint for endpoint, _ in run.sender.sent] == [ENDPOINT]
    return run.sender.sent[0][1], run.statuses, run.stopping, run.provider


def test_the_provider_is_given_the_tasks_conversation() -> None:
    history: tuple[ChatMessage, ...] = ({"role": "user", "content": "I am Ana."},
                                        {"role": "assistant", "content": "Hello Ana."})
    run = Run()
    run.process(history=history)
    assert run.provider.histories == [history]


def test_an_answer_waits_the_simulated_work_and_carries_its_metadata() -> None:
    result, statuses, stopping, _ = run_one(None)
    assert stopping.waits == [600.0]
    assert (result.ai_response, result.error) == ("answer to why?", "")
    assert (result.provider, result.model) == ("fake", "fake-1-0425")
    assert (result.worker_id, result.session_id, result.original_query) == ("w1", "s1", "why?")
    assert (result.task_id, result.attempt, result.query_timestamp) == ("t1", 2, 5)
    assert (result.result_token, result.error_kind) == (TOKEN, "")
    assert [(s.status, s.task_id) for s in statuses] == [("busy", "t1"), ("idle", "t1")]


def test_a_provider_error_reaches_the_user_at_once() -> None:
    result, statuses, stopping, _ = run_one(QuotaExhaustedError("All 2 fake API keys ..."))
    assert stopping.waits == []
    assert (result.ai_response, result.error) == ("", "All 2 fake API keys ...")
    assert (result.error_kind, result.result_token) == ("rate_limited", TOKEN)
    assert (result.provider, result.model) == ("fake", "fake-1")
    assert [s.status for s in statuses] == ["busy", "idle"]


@pytest.mark.parametrize(("error", "kind"), [
    (BadKeyError("fake rejected the API key (HTTP 401); check the key."), "bad_key"),
    (RateLimitedError("fake rate limit or quota (HTTP 429)."), "rate_limited"),
    (QuotaExhaustedError("All 2 fake API keys ..."), "rate_limited"),
    (ProviderTimeoutError("fake did not answer within 30 s"), "timeout"),
    (UpstreamError("fake failed with HTTP 503: overloaded"), "upstream"),
    (ProviderError("fake failed somehow"), "unexpected"),
    (KeyError("choices"), "unexpected"),
])
def test_each_provider_failure_tells_the_master_its_kind(error: Exception, kind: str) -> None:
    result, _, _, _ = run_one(error)
    assert result.error and not result.ai_response
    assert result.error_kind == kind
    assert kind in ERROR_KINDS


def test_a_task_whose_result_would_go_elsewhere_is_refused_before_the_provider(
        caplog: pytest.LogCaptureFixture) -> None:
    # Without per-task statuses too: the idle naming the task makes the master requeue it.
    run = Run(per_task_status="false")
    run.process(api_key="sk-user-secret", endpoint="evil.example:50051")
    assert run.provider.asked == [] and run.sender.sent == []
    assert [(s.status, s.task_id) for s in run.statuses] == [("idle", "t1")]
    assert "'evil.example:50051'" in caplog.text
    assert "master:50051, master-b:50051" in caplog.text
    assert "sk-user-secret" not in caplog.text and TOKEN not in caplog.text
    # The next task, for an allowed endpoint, is worked on as usual.
    run.process(endpoint="master-b:50051")
    assert [endpoint for endpoint, _ in run.sender.sent] == ["master-b:50051"]


def test_a_task_abandoned_for_a_stop_sends_nothing_and_reports_nothing() -> None:
    run = Run(stop_in_wait=True)  # SIGTERM during the simulated work
    run.process()
    assert run.stopping.waits == [600.0]
    assert run.sender.sent == []
    assert [s.status for s in run.statuses] == ["busy"]
    assert run.state.status().task_id == "t1"  # the goodbye names it


def test_a_send_cut_short_by_a_stop_is_not_reported_idle() -> None:
    run = Run(delivers=False)
    run.sender.during_send = lambda: setattr(run.stopping, "stopped", True)
    run.process()
    assert len(run.sender.sent) == 1
    assert [s.status for s in run.statuses] == ["busy"]


def test_an_unexpected_failure_is_an_error_result_that_leaks_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    result, _, _, provider = run_one(ValueError("bad response for key sk-secret"), "sk-secret")
    assert provider.asked == [("why?", "sk-secret")]
    assert result.error == "fake failed unexpectedly; try again later."
    assert "sk-secret" not in caplog.text
    assert "ValueError" in caplog.text


def test_without_per_task_status_only_an_undelivered_result_is_reported() -> None:
    _, statuses, _, _ = run_one(None, per_task_status="false")
    assert statuses == []
    _, statuses, _, _ = run_one(None, per_task_status="false", delivers=False)
    assert [(s.status, s.task_id) for s in statuses] == [("idle", "t1")]


def test_per_task_status_must_be_a_boolean() -> None:
    assert not WorkerSettings.from_env({"PUBLISH_TASK_STATUS": "Off"}).publish_task_status
    with pytest.raises(ConfigError, match="PUBLISH_TASK_STATUS must be true or false"):
        WorkerSettings.from_env({"PUBLISH_TASK_STATUS": "sometimes"})
