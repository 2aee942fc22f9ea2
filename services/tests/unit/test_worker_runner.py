"""TaskRunner.process: what goes back to the master for answers and failures."""

from __future__ import annotations

import queue

import pytest

from ai_system.config import ConfigError, WorkerSettings
from ai_system.protocol import TaskMessage, WorkerStatus
from ai_system.rpc.worker_callback_pb2 import TaskResult
from ai_system.worker.providers.base import Answer, Provider
from ai_system.worker.providers.errors import QuotaExhaustedError
from ai_system.worker.runner import TaskRunner
from ai_system.worker.state import Delivery, WorkerState


class FakeProvider(Provider):
    name, model = "fake", "fake-1"

    def __init__(self, outcome: Exception | None) -> None:
        self.outcome = outcome
        self.asked: list[tuple[str, str]] = []

    def ask(self, query: str, user_key: str = "") -> Answer:
        self.asked.append((query, user_key))
        if self.outcome is not None:
            raise self.outcome
        return Answer(f"answer to {query}", self.name, "fake-1-0425")


class FakeProviders:
    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    def choose(self, user_key: str) -> Provider:
        return self.provider


class FakeSender:
    def __init__(self, delivers: bool) -> None:
        self.delivers = delivers
        self.sent: list[tuple[str, TaskResult]] = []

    def send(self, endpoint: str, result: TaskResult) -> bool:
        self.sent.append((endpoint, result))
        return self.delivers


class RecordingEvent:
    """Stands in for the stop event: records the simulated waits, never stops."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        return False

    def is_set(self) -> bool:
        return False


def run_one(outcome: Exception | None, api_key: str = "", per_task_status: str = "true",
            delivers: bool = True) -> tuple[
        TaskResult, list[WorkerStatus], RecordingEvent, FakeProvider]:
    settings = WorkerSettings.from_env({"WORKER_ID": "w1", "SIMULATED_WORK_SECONDS": "600",
                                        "PUBLISH_TASK_STATUS": per_task_status})
    provider, sender, stopping = FakeProvider(outcome), FakeSender(delivers), RecordingEvent()
    statuses: list[WorkerStatus] = []
    runner = TaskRunner(settings, FakeProviders(provider), sender,  # type: ignore[arg-type]
                        queue.Queue(), WorkerState("w1"), statuses.append,
                        stopping)  # type: ignore[arg-type]
    task = TaskMessage(worker_id="w1", session_id="s1", query="why?", api_key=api_key,
                       grpc_endpoint="master:50051", task_id="t1", attempt=2, timestamp=5)
    runner.process(Delivery(task, received_at=0.0))
    assert [endpoint for endpoint, _ in sender.sent] == ["master:50051"]
    return sender.sent[0][1], statuses, stopping, provider


def test_an_answer_waits_the_simulated_work_and_carries_its_metadata() -> None:
    result, statuses, stopping, _ = run_one(None)
    assert stopping.waits == [600.0]
    assert (result.ai_response, result.error) == ("answer to why?", "")
    assert (result.provider, result.model) == ("fake", "fake-1-0425")
    assert (result.worker_id, result.session_id, result.original_query) == ("w1", "s1", "why?")
    assert (result.task_id, result.attempt, result.query_timestamp) == ("t1", 2, 5)
    assert [(s.status, s.task_id) for s in statuses] == [("busy", "t1"), ("idle", "t1")]


def test_a_provider_error_reaches_the_user_at_once() -> None:
    result, statuses, stopping, _ = run_one(QuotaExhaustedError("All 2 fake API keys ..."))
    assert stopping.waits == []
    assert (result.ai_response, result.error) == ("", "All 2 fake API keys ...")
    assert (result.provider, result.model) == ("fake", "fake-1")
    assert [s.status for s in statuses] == ["busy", "idle"]


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
