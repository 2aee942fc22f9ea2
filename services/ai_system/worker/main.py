"""``ai-worker``: one worker process (settings from the environment, see config.py)."""

from __future__ import annotations

import logging
import queue
import sys

from prometheus_client import start_http_server

from ai_system.cli import parser
from ai_system.config import WorkerSettings, load_or_report
from ai_system.mqtt import MqttLogHandler, configure_logging
from ai_system.signals import stop_on_signals, wait_for_stop
from ai_system.worker.bus import WorkerBus
from ai_system.worker.callback import ResultSender
from ai_system.worker.health import HealthFile
from ai_system.worker.metrics import WorkerMetrics
from ai_system.worker.providers.factory import Providers
from ai_system.worker.runner import TaskRunner
from ai_system.worker.state import Delivery, WorkerState

log = logging.getLogger("ai_system.worker")

# Their INFO lines name every HTTP request: too chatty for the per-task path.
_QUIET_LOGGERS = ("httpx", "httpx2", "openai", "google_genai")
_RUNNER_JOIN_SECONDS = 2.0


def main(argv: list[str] | None = None) -> int:
    parser("ai-worker", "One ai-system worker: takes tasks from MQTT one at a time, asks its "
           "LLM provider, returns the results to the master over gRPC.").parse_args(argv)
    settings = load_or_report(WorkerSettings.from_env, "ai-worker")
    if settings is None:
        return 2
    configure_logging(f"worker:{settings.worker_id}", settings.log_level)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)

    stopping = stop_on_signals()
    tasks: queue.Queue[Delivery | None] = queue.Queue()
    state = WorkerState(settings.worker_id)
    health = HealthFile(settings.health_file)
    sender = ResultSender(settings, stopping)
    bus = WorkerBus(settings, tasks, state, health)
    providers = Providers(settings)
    metrics = WorkerMetrics()
    metrics.watch_keys(providers.for_user_keys.name, providers.pool)
    runner = TaskRunner(settings, providers, sender, tasks, state, bus.publish_status,
                        stopping, metrics)
    if settings.metrics_port:
        try:
            start_http_server(settings.metrics_port, settings.metrics_host,
                              registry=metrics.registry)
        except OSError as exc:
            log.error("cannot serve metrics on port %d (METRICS_PORT): %s",
                      settings.metrics_port, exc.strerror)
            return 1
    logging.getLogger().addHandler(MqttLogHandler(
        bus.client, bus.topics.logs, f"worker:{settings.worker_id}", settings.mqtt_log_level))

    log.info("worker %s (instance %s) on node %s: provider %s, model %s, %d configured "
             "key(s), simulated work %g s, results to %s%s", settings.worker_id,
             bus.instance_id, settings.node, settings.provider, settings.model,
             len(settings.api_keys), settings.simulated_work_seconds,
             ", ".join(settings.grpc_endpoints), " over TLS" if settings.grpc_tls_ca_file else "")
    runner.start()
    bus.start()
    wait_for_stop(stopping)
    log.info("stopping")
    # A result already on its way may finish; then no result leaves before the goodbye.
    runner.stop(_RUNNER_JOIN_SECONDS)
    sender.close()
    bus.stop()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
