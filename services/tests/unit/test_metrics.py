"""The master's and the worker's Prometheus metrics after a scripted sequence of events."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.recorder import Recorder

from ai_system.config import MasterSettings
from ai_system.local.processes import wait_until
from ai_system.master.metrics import MasterMetrics
from ai_system.master.questions import QueryRejectedError
from ai_system.master.service import MasterService
from ai_system.master.session_tokens import SessionTokens
from ai_system.master.worker_results import WorkerResult
from ai_system.protocol import TaskMessage, WorkerRegistration, WorkerStatus


@pytest.fixture
def scripted() -> Iterator[tuple[MasterService, MasterMetrics, Recorder]]:
    metrics = MasterMetrics()
    settings = MasterSettings.from_env({"SESSION_BURST": "3", "RETRY_BACKOFF_SECONDS": "60"})
    service = MasterService(settings, SessionTokens(b"m"), observe=metrics.observe)
    metrics.watch(lambda: {**service.snapshot(), "mqtt_connected": True})
    published, emitted = Recorder(), Recorder()
    service.start(published, emitted)
    try:
        yield service, metrics, published
    finally:
        service.stop()


def value(metrics: MasterMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_the_masters_metrics_follow_the_questions(scripted: tuple) -> None:
    service, metrics, published = scripted
    service.connect("sid", "session-1")
    for worker in ("w1", "w2"):
        service.on_register(WorkerRegistration(worker_id=worker, language="python"))
    tasks = [service.submit("sid", f"question {n}") for n in range(3)]  # two out, one waits
    with pytest.raises(QueryRejectedError):
        service.submit("sid", "a fourth one, too fast")
    published.wait_for(lambda calls: len(calls) == 2)
    messages = [TaskMessage.from_json(payload) for _, payload in published.calls]
    handed = {message.task_id: message for message in messages}
    first, second = (handed[t] for t in tasks[:2])
    service.on_result(WorkerResult(task_id=first.task_id, worker_id=first.worker_id,
                                   result_token=first.result_token, response="42"))
    service.on_result(WorkerResult(task_id=second.task_id, worker_id=second.worker_id,
                                   result_token="forged"))
    service.on_result(WorkerResult(task_id=second.task_id, worker_id=second.worker_id,
                                   result_token=second.result_token, error="503",
                                   error_kind="upstream", provider="gemini"))
    service.on_status(WorkerStatus(worker_id="w2", status="offline"))  # its Last Will...
    published.wait_for(lambda calls: len(calls) == 3)  # the waiting question went out
    wait_until(lambda: value(metrics, "ai_system_workers", state="offline", language="python")
               == 1, 10.0, "w2's Last Will to count (at a tick after its hold)")

    assert value(metrics, "ai_system_tasks_submitted_total") == 3
    assert value(metrics, "ai_system_tasks_completed_total") == 1
    assert value(metrics, "ai_system_tasks_retried_total") == 1
    assert value(metrics, "ai_system_tasks_forged_results_total") == 1
    assert value(metrics, "ai_system_questions_rejected_total", reason="session_rate") == 1
    assert value(metrics, "ai_system_provider_errors_total",
                 provider="gemini", kind="upstream") == 1
    assert value(metrics, "ai_system_tasks_retrying") == 1  # waiting out its backoff
    assert value(metrics, "ai_system_queue_depth") == 0
    assert value(metrics, "ai_system_workers", state="busy", language="python") == 1
    assert value(metrics, "ai_system_workers", state="offline", language="python") == 1
    assert value(metrics, "ai_system_sessions_connected") == 1
    assert value(metrics, "ai_system_task_latency_seconds_count") == 1
    assert value(metrics, "ai_system_queue_wait_seconds_count") == 3
    assert b"ai_system_queue_oldest_age_seconds" in metrics.exposition()
