"""The worker's Prometheus metrics, served on METRICS_PORT.

The runner counts each task's outcome and times it and its LLM call; the key pool's
cool-downs are read when Prometheus scrapes.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from ai_system.worker.providers.keys import KeyPool

# Seconds: an LLM call takes from milliseconds (offline) to LLM_TIMEOUT_SECONDS; a task adds
# the simulated work (10 s by default).
BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 20, 30, 60, 120)

OUTCOMES = ("answered", "provider_error", "refused", "undelivered", "abandoned")


class _KeyPoolCollector(Collector):
    def __init__(self, provider: str, pool: KeyPool) -> None:
        self._provider = provider
        self._pool = pool

    def collect(self) -> Iterator[Metric]:
        rested = CounterMetricFamily("ai_worker_key_cooldowns",
                                     "API keys put to rest after HTTP 429.", labels=["provider"])
        rested.add_metric([self._provider], self._pool.cooldowns)
        yield rested
        cooling = GaugeMetricFamily("ai_worker_keys_cooling", "API keys resting right now.",
                                    labels=["provider"])
        cooling.add_metric([self._provider], self._pool.cooling())
        yield cooling
        keys = GaugeMetricFamily("ai_worker_keys", "API keys configured.", labels=["provider"])
        keys.add_metric([self._provider], len(self._pool))
        yield keys


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.tasks = Counter("ai_worker_tasks", "Tasks handled, by outcome.", ["outcome"],
                             registry=self.registry)
        for outcome in OUTCOMES:
            self.tasks.labels(outcome)
        self.task_seconds = Histogram(
            "ai_worker_task_seconds", "From receiving a task to having its result.",
            buckets=BUCKETS, registry=self.registry)
        self.provider_seconds = Histogram(
            "ai_worker_provider_seconds", "Time in the LLM call, by provider.", ["provider"],
            buckets=BUCKETS, registry=self.registry)
        self.provider_errors = Counter(
            "ai_worker_provider_errors", "Provider failures, by provider and kind.",
            ["provider", "kind"], registry=self.registry)
        self.busy = Gauge("ai_worker_busy", "1 while the worker is on a task.",
                          registry=self.registry)

    def watch_keys(self, provider: str, pool: KeyPool) -> None:
        self.registry.register(_KeyPoolCollector(provider, pool))
