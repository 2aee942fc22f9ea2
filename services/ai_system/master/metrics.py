"""The master's Prometheus metrics, served on METRICS_PORT (not the published web port).

Counters and gauges are read from the service's snapshot when Prometheus scrapes, so the
question path pays nothing for them; only the two histograms are observed as tasks are
handed out and finished (by the outbox thread, outside the service's lock).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from ai_system.master.journal import TaskRecord
from ai_system.protocol import WORKER_STATES

Snapshot = Callable[[], dict[str, Any]]

# Seconds: a few milliseconds without simulated work, tens of seconds with it and a queue.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 20, 30, 60,
                   120, 300)

_COUNTERS = {
    "submitted": "Questions accepted.",
    "completed": "Questions answered (an answer or a provider error).",
    "failed": "Questions given up: attempts exhausted, or a user's key lost in a restart.",
    "requeued": "Hand-overs taken back from a worker that went away or missed a deadline.",
    "retried": "Hand-overs retried after a retryable provider error.",
    "duplicates": "Results for tasks already finished (ignored).",
    "unknown_results": "Results for tasks the master does not know.",
    "forged_results": "Results refused because their result token did not match.",
    "untokened_results": "Results accepted without a token (ACCEPT_UNTOKENED_RESULTS).",
}


class _SnapshotCollector(Collector):
    """Everything that can be read off the service at scrape time."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        data = self._snapshot()
        tasks = data["tasks"]
        for name, doc in _COUNTERS.items():
            yield CounterMetricFamily(f"ai_system_tasks_{name}", doc, value=tasks[name])
        rejected = CounterMetricFamily("ai_system_questions_rejected",
                                       "Questions refused, by reason.", labels=["reason"])
        for reason, count in sorted(tasks["rejections"].items()):
            rejected.add_metric([reason], count)
        yield rejected
        errors = CounterMetricFamily(
            "ai_system_provider_errors", "Provider failures the workers reported.",
            labels=["provider", "kind"])
        for item in tasks["provider_errors"]:
            errors.add_metric([item["provider"], item["kind"]], item["count"])
        yield errors
        yield GaugeMetricFamily("ai_system_queue_depth", "Questions waiting for a worker.",
                                value=data["queue_depth"])
        yield GaugeMetricFamily("ai_system_tasks_retrying",
                                "Questions waiting out a retry backoff.", value=tasks["retrying"])
        yield GaugeMetricFamily("ai_system_tasks_assigned", "Questions in the workers' hands.",
                                value=tasks["assigned"])
        yield GaugeMetricFamily("ai_system_queue_oldest_age_seconds",
                                "How long the longest-waiting queued question has waited.",
                                value=data["queue_oldest_seconds"])
        workers = GaugeMetricFamily("ai_system_workers", "Known workers, by state and language.",
                                    labels=["state", "language"])
        counts = Counter((w["state"], w["language"]) for w in data["workers"])
        for language in sorted({language for _, language in counts} or {"python"}):
            for state in WORKER_STATES:
                workers.add_metric([state, language], counts[state, language])
        yield workers
        yield GaugeMetricFamily("ai_system_sessions_connected",
                                "Chat sessions with at least one browser connected.",
                                value=data["sessions"]["sessions"])
        yield GaugeMetricFamily("ai_system_connections", "Socket.IO connections.",
                                value=data["sessions"]["connections"])
        yield GaugeMetricFamily("ai_system_mqtt_connected", "1 while the broker is reachable.",
                                value=int(bool(data.get("mqtt_connected"))))
        yield GaugeMetricFamily("ai_system_journal_enabled", "1 when STATE_DIR holds a journal.",
                                value=int(bool(data["journal"])))


class MasterMetrics:
    """The registry Prometheus scrapes; ``observe`` takes each change of a task's record,
    ``watch`` the snapshot the counters and gauges are read from."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self._latency = Histogram(
            "ai_system_task_latency_seconds",
            "From a question's arrival to its outcome, as the master sees it.",
            buckets=LATENCY_BUCKETS, registry=self.registry)
        self._queue_wait = Histogram(
            "ai_system_queue_wait_seconds",
            "From a question's arrival to each hand-over to a worker.",
            buckets=LATENCY_BUCKETS, registry=self.registry)

    def watch(self, snapshot: Snapshot) -> None:
        self.registry.register(_SnapshotCollector(snapshot))

    def observe(self, record: TaskRecord) -> None:
        if record.state == "assigned" and record.assigned_at is not None:
            self._queue_wait.observe(max(0.0, record.assigned_at - record.created_at))
        elif record.state == "finished" and record.finished_at is not None:
            self._latency.observe(max(0.0, record.finished_at - record.created_at))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
