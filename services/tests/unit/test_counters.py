"""The master's counters, and how the dispatcher reads them out to the service."""

from __future__ import annotations

from ai_system.master.counters import Counters
from ai_system.master.dispatcher import Dispatcher
from ai_system.master.worker_results import WorkerResult
from ai_system.protocol import WorkerRegistration, WorkerStatus


def test_the_snapshot_gives_totals_refusals_and_provider_errors() -> None:
    counters = Counters(submitted=3, completed=2, failed=1)
    counters.rejected["queue_full"] += 2
    counters.rejected["session_rate"] += 1
    counters.provider_errors["gemini", "rate_limited"] += 4
    snapshot = counters.snapshot()
    assert snapshot == {
        "submitted": 3, "completed": 2, "failed": 1, "requeued": 0, "retried": 0,
        "duplicates": 0, "unknown_results": 0, "forged_results": 0, "untokened_results": 0,
        "rejected": 3, "rejections": {"queue_full": 2, "session_rate": 1},
        "provider_errors": [{"provider": "gemini", "kind": "rate_limited", "count": 4}],
    }
    snapshot["rejections"]["queue_full"] = 99  # a copy: the counters are not changed
    assert counters.rejected["queue_full"] == 2


def test_the_dispatcher_reads_out_what_the_service_needs() -> None:
    d = Dispatcher(grpc_endpoint="master:50051", task_timeout=30.0, max_attempts=3)
    d.register(0.0, WorkerRegistration(worker_id="w1"))
    d.count_rejection("session_rate")
    for task_id in ("t1", "t2"):
        d.submit(0.0, task_id=task_id, session_id="s1", query="q", result_token=task_id)
    d.status(1.0, WorkerStatus(worker_id="w1", status="offline"))  # its Last Will...
    d.expire(2.0)  # ...counts a moment later: t1 back in the queue
    assert (d.requeued, d.completed, d.failed) == (1, 0, 0)
    d.register(2.0, WorkerRegistration(worker_id="w1"))
    d.result(3.0, WorkerResult(task_id="t1", worker_id="w1", result_token="t1",
                               response="answer"))
    assert (d.requeued, d.completed, d.failed) == (1, 1, 0)
    tasks = d.snapshot(3.0)["tasks"]
    assert (tasks["queued"], tasks["assigned"], tasks["submitted"]) == (0, 1, 2)
    assert tasks["rejections"] == {"session_rate": 1}
