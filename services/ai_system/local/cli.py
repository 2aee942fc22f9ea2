"""The console script ``ai-system-local`` (``make run``): its options, the banner, the
children's lines on the terminal, and a clean stop on Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading

from ai_system import cli as shared_cli
from ai_system.local.processes import StartupError
from ai_system.local.supervisor import supervise
from ai_system.local.system import LocalConfig, LocalSystem
from ai_system.master.kept_secrets import OPERATOR_TOKEN_FILE


class _Printer:
    """Prefixes each child's lines with its name; one lock so lines never interleave."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __call__(self, name: str, line: str) -> None:
        with self._lock:
            print(f"{name:>10} | {line}", flush=True)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = shared_cli.parser(
        "ai-system-local",
        "Run Mosquitto, the master and N workers on this machine (no Docker).")
    parser.add_argument("--workers", type=int, default=3, help="number of workers (3)")
    parser.add_argument("--web-port", type=int, default=8888, help="web chat port (8888)")
    parser.add_argument("--grpc-port", type=int, default=50051, help="master gRPC port (50051)")
    parser.add_argument("--mqtt-port", type=int, default=1883, help="Mosquitto port (1883)")
    parser.add_argument("--simulated-seconds", type=float, default=None,
                        help="simulated work per task (default: SIMULATED_WORK_SECONDS or 10)")
    parser.add_argument("--web-host", default=None,
                        help="address of the web chat (WEB_HOST, else 127.0.0.1)")
    parser.add_argument("--state-dir", default=None,
                        help="the master's journal: questions survive a restart of the "
                             "launcher (default: a temporary folder, gone at exit)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.simulated_seconds is not None and args.simulated_seconds < 0:
        parser.error("--simulated-seconds must not be negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    config = LocalConfig(
        workers=args.workers, web_port=args.web_port, grpc_port=args.grpc_port,
        mqtt_port=args.mqtt_port,
        web_host=args.web_host or os.environ.get("WEB_HOST", "").strip() or "127.0.0.1",
        simulated_seconds=args.simulated_seconds, state_dir=args.state_dir)
    stopping = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    system = LocalSystem(config, sink=_Printer())
    print(f"Starting Mosquitto (:{config.mqtt_port}), the master (:{config.web_port}, gRPC "
          f":{config.grpc_port}) and {config.workers} worker(s)…", flush=True)
    try:
        system.start()
    except StartupError as exc:
        print(f"ai-system-local: {exc}", file=sys.stderr)
        return 1
    print(_banner(system), flush=True)
    exit_code = supervise(system, stopping)
    print("Stopping…", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        system.stop()
    return exit_code


def _banner(system: LocalSystem) -> str:
    """Where everything is, once it all runs."""
    token = system.state_dir / OPERATOR_TOKEN_FILE
    metrics = ", ".join(f"{name} http://127.0.0.1:{port}/metrics"
                        for name, port in system.metrics_ports.items())
    return (f"\n  Chat: {system.url}/\n"
            f"  Dashboard: {system.url}/dashboard (its token is in {token})\n"
            f"  Metrics: {metrics}\n"
            "  A child that stops is started again; Ctrl-C stops everything.\n")
