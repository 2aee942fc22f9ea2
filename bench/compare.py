"""``make bench-compare``: this system against Celery on Redis, the same load on both.

The peer is what a lab would otherwise deploy: a Redis (Debian's redis-server, on a free
port, no persistence) as broker and result backend, and a Celery worker with W thread slots
(``--pool threads --concurrency W``) running a task that returns its argument
(bench/celery_peer.py). S client threads each ask in a closed loop with Celery's own
``echo.delay(question).get()``. This system runs as ``make bench`` runs it (bench/run.py:
W workers, S Socket.IO sessions, offline provider, no simulated work).

Each side is measured twice, one after the other with the same timing code (run.py's
``timed_window`` and ``timed_questions``): over a window after a warm-up, and as a short
run of N questions timed from the start to the last answer. Prints one table (tasks/s,
latency p50/p99 as the client sees it, CPU ms per task of each process, and the ratio
ours / Celery) and writes bench/results/compare-<UTC time>.json. Like run.py it fails only
when a side does not answer, never on speed.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import celery_peer
import run
from ai_system.local.ports import free_port, port_open
from ai_system.local.processes import ManagedProcess, StartupError, find_program, wait_until
from ai_system.local.system import LocalSystem
from loadgen import CONNECT_TIMEOUT_SECONDS, DRAIN_SECONDS, QUESTION

# As loadgen.py's --answer-timeout: a question unanswered this long counts as an error.
ANSWER_TIMEOUT_SECONDS = 30.0
START_TIMEOUT_SECONDS = 60.0
CELERY = "celery + redis"
OURS = "ai-system"
MODES = ("window", "questions")
# The processes that are the client side, not the system, in each side's CPU figures.
CLIENTS = {CELERY: ("clients (this process)",), OURS: ("load generator", "bench harness")}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8,
                        help="worker processes here, Celery worker thread slots there (8)")
    parser.add_argument("--sessions", type=int, default=50,
                        help="closed-loop Socket.IO sessions here, client threads there (50)")
    run.add_window_options(parser)
    parser.add_argument("--questions", type=int, default=1000,
                        help="questions in the short run, timed start to last answer (1000)")
    parser.add_argument("--smoke", action="store_true",
                        help="2 workers, 4 sessions, 2 s, 100 questions: do both sides answer?")
    args = parser.parse_args(argv)
    if args.smoke:
        args.workers, args.sessions, args.duration, args.warmup = 2, 4, 2.0, 1.0
        args.questions = 100
    run.check_options(parser, args, "workers", "sessions", "generators", "questions")
    return args


# --- the peer's processes ------------------------------------------------------------------

class Redis:
    """A throw-away Redis on 127.0.0.1 and a free port: no RDB, no AOF, files in a temp dir."""

    def __init__(self) -> None:
        self.port = free_port()
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-redis-")
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = [find_program("redis-server", ["/usr/bin"]), "--port", str(self.port),
                "--bind", "127.0.0.1", "--dir", self._tmp.name, "--save", "",
                "--appendonly", "no", "--loglevel", "warning"]
        self.process = ManagedProcess("redis", argv, os.environ).start()
        wait_until(lambda: port_open(self.port), START_TIMEOUT_SECONDS,
                   f"Redis on port {self.port}", [self.process])

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        self._tmp.cleanup()


def start_celery_worker(redis_url: str, slots: int) -> ManagedProcess:
    """The worker, once it answers a ping. WARNING keeps its per-task log lines off, as the
    benchmark's LOG_LEVEL does for this system."""
    argv = [find_program("celery"), "--workdir", str(run.BENCH), "-A", "celery_peer",
            "worker", "--pool", "threads", "--concurrency", str(slots), "--loglevel", "WARNING"]
    worker = ManagedProcess("celery worker", argv,
                            {**os.environ, celery_peer.URL_VARIABLE: redis_url}).start()
    wait_until(lambda: bool(celery_peer.app.control.ping(timeout=0.5)), START_TIMEOUT_SECONDS,
               "the Celery worker to answer a ping", [worker])
    return worker


def redis_version() -> str:
    out = subprocess.run([find_program("redis-server", ["/usr/bin"]), "--version"],
                         capture_output=True, text=True, check=False).stdout
    return next((word[2:] for word in out.split() if word.startswith("v=")), "unknown")


# --- Celery's clients: the load generator's shape with threads -------------------------------

@dataclass
class Tally:
    """What the client threads share: the window, the questions left, what came back."""

    remaining: float
    start: float = math.inf
    end: float = math.inf
    latencies: list[float] = field(default_factory=list)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    last_answer: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> bool:
        """Whether a thread may ask one more question."""
        with self.lock:
            if self.remaining < 1:
                return False
            self.remaining -= 1
            return True

    def answered(self, sent: float, at: float) -> None:
        if self.start <= at <= self.end:
            with self.lock:
                self.latencies.append((at - sent) * 1000.0)
                self.last_answer = max(self.last_answer, at)

    def failed(self, exc: BaseException) -> None:
        with self.lock:
            self.errors[f"{type(exc).__name__}: {exc}"] += 1


def ask() -> None:
    celery_peer.echo.delay(QUESTION).get(timeout=ANSWER_TIMEOUT_SECONDS)


class CeleryClients:
    """``sessions`` threads asking in closed loops (sharing ``questions``, if given); a
    ``run.Load`` like the load generators."""

    def __init__(self, sessions: int, questions: int | None = None) -> None:
        self.tally = Tally(remaining=math.inf if questions is None else questions)
        self._ready = threading.Barrier(sessions + 1)
        self._go = threading.Event()
        self._threads = [threading.Thread(target=self._client, name=f"celery-client-{n}",
                                          daemon=True) for n in range(sessions)]
        for thread in self._threads:
            thread.start()

    def wait_ready(self) -> None:
        try:
            self._ready.wait(CONNECT_TIMEOUT_SECONDS)
        except threading.BrokenBarrierError:
            raise StartupError(f"the Celery clients got no answer: {dict(self.tally.errors)}"
                               ) from None

    def _client(self) -> None:
        try:
            # One unmeasured question first: a thread's connections to Redis open on first
            # use (its result backend is its own), as a session connects before the start.
            ask()
            self._ready.wait()
        except threading.BrokenBarrierError:
            return
        except Exception as exc:  # reported by wait_ready
            self.tally.failed(exc)
            self._ready.abort()
            return
        self._go.wait()
        tally = self.tally
        while time.monotonic() < tally.end and tally.take():
            sent = time.monotonic()
            try:
                ask()
            except Exception as exc:  # counted, like the load generator's errors
                tally.failed(exc)
                continue
            tally.answered(sent, time.monotonic())

    def start_window(self, measure_from: float, measure_to: float) -> None:
        self.tally.start, self.tally.end = measure_from, measure_to
        self._go.set()

    def results(self) -> list[dict[str, Any]]:
        """After the window plus a drain for the questions in flight, or once all are asked."""
        deadline = self.tally.end + DRAIN_SECONDS
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        tally = self.tally
        with tally.lock:
            return [{"latencies_ms": list(tally.latencies), "errors": dict(tally.errors),
                     "last_answer_at": tally.last_answer,
                     "unfinished_sessions": sum(t.is_alive() for t in self._threads)}]


def celery_figures(window: run.Window, generated: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = [ms for result in generated for ms in result["latencies_ms"]]
    return {**run.common_figures(window, generated, len(latencies)),
            "end_to_end_ms": run.distribution(latencies)}


def measure_celery(args: argparse.Namespace, groups: dict[str, list[int]],
                   questions: int | None) -> dict[str, Any]:
    clients = CeleryClients(args.sessions, questions)
    clients.wait_ready()
    meter = run.CpuMeter(groups, own=CLIENTS[CELERY][0])
    window, generated = (run.timed_window(clients, meter, args.warmup, args.duration)
                         if questions is None else run.timed_questions(clients, meter))
    return celery_figures(window, generated)


# --- the two sides ---------------------------------------------------------------------------

def each_mode(args: argparse.Namespace, side: str,
              measure: Callable[[int | None], dict[str, Any]]) -> dict[str, Any]:
    """``measure`` the window (questions None), then the short run of ``args.questions``."""
    found: dict[str, Any] = {}
    for mode, questions in zip(MODES, (None, args.questions), strict=True):
        print(f"{side}: {mode_label(mode, args)}…", flush=True)
        found[mode] = measure(questions)
    return found


def run_celery(args: argparse.Namespace) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        redis = Redis()
        stack.callback(redis.stop)
        redis.start()
        celery_peer.point_at(redis.url)
        stack.callback(celery_peer.app.close)
        worker = start_celery_worker(redis.url, args.workers)
        stack.callback(worker.stop)
        assert redis.process is not None and redis.process.pid and worker.pid
        groups = {"celery worker": [worker.pid], "redis": [redis.process.pid]}
        return each_mode(args, CELERY, functools.partial(measure_celery, args, groups))


def run_ours(args: argparse.Namespace) -> dict[str, Any]:
    with LocalSystem(run.local_config(args.workers), base_env=run.bench_env()) as system:
        return each_mode(args, OURS, functools.partial(run.measure, args, system))


# --- the report ------------------------------------------------------------------------------

def mode_label(mode: str, args: argparse.Namespace) -> str:
    if mode == "window":
        return f"window: {args.duration:g} s after {args.warmup:g} s warm-up"
    return f"{args.questions} questions, start to last answer"


def ratio(ours: float, theirs: float) -> float | None:
    return round(ours / theirs, 2) if theirs else None


def system_cpu(side: str, figs: dict[str, Any]) -> float:
    """CPU ms per task of the system's own processes (not its clients)."""
    return round(sum(ms or 0.0 for name, ms in figs["cpu_ms_per_task"].items()
                     if name not in CLIENTS[side]), 3)


def row(side: str, figs: dict[str, Any]) -> str:
    latency = figs["end_to_end_ms"]
    parts = ", ".join(f"{name} {ms:.2f}" if ms is not None else f"{name} -"
                      for name, ms in figs["cpu_ms_per_task"].items())
    return (f"  {side:22} {figs['tasks_per_second']:9.1f} {latency['p50']:8.1f} "
            f"{latency['p99']:8.1f} {system_cpu(side, figs):8.2f}  {parts}")


def busy_clients(side: str, figs: dict[str, Any], generators: int) -> list[str]:
    """A warning when a side's client process may be what limits its throughput."""
    name = CLIENTS[side][0]
    busy = figs["cpu_cores_busy"][name] / (generators if side == OURS else 1)
    if busy <= run.GENERATOR_BUSY_WARNING:
        return []
    return [f"  warning: {side}'s {name} kept {busy:.0%} of a core busy: it may be the limit"]


def report(doc: dict[str, Any], args: argparse.Namespace) -> str:
    v = doc["versions"]
    lines = [f"{CELERY}: Celery {v['celery']} (threads pool, {args.workers} slots), Redis "
             f"{v['redis']}; {OURS}: {args.workers} python workers. {args.sessions} sessions "
             f"on each, {doc['machine']['cores']} cores.",
             "",
             f"  {'':22} {'tasks/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms':>8}  "
             "CPU ms per task of each process"]
    for mode in MODES:
        celery, ours = doc[CELERY][mode], doc[OURS][mode]
        ratio_shown = doc["ratio_tasks_per_second"][mode]
        lines += [mode_label(mode, args), row(CELERY, celery), row(OURS, ours),
                  f"  {'ours / celery':22} {ratio_shown if ratio_shown is not None else '-':>9}"
                  f"   (load average {celery['load_average']:.2f}, then "
                  f"{ours['load_average']:.2f})"]
        for side in (CELERY, OURS):
            if doc[side][mode]["errors"]:
                lines.append(f"  {side} errors: {doc[side][mode]['errors']}")
            lines += busy_clients(side, doc[side][mode], args.generators)
    lines += ["", "p50/p99: latency as the client sees it, question sent to answer back; CPU ms: "
                  "per task, of the system's own processes (all but the clients)"]
    return "\n".join(lines)


def document(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        **run.provenance(),
        "params": {k: args.__dict__[k] for k in
                   ("workers", "sessions", "duration", "warmup", "questions", "generators")},
        "versions": {"celery": version("celery"), "kombu": version("kombu"),
                     "redis-py": version("redis"), "redis": redis_version()},
        **results,
        "ratio_tasks_per_second": {
            mode: ratio(results[OURS][mode]["tasks_per_second"],
                        results[CELERY][mode]["tasks_per_second"]) for mode in MODES},
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"Starting Redis and a Celery worker ({args.workers} threads), then Mosquitto, the "
          f"master and {args.workers} workers; {args.sessions} sessions each…", flush=True)
    try:
        results = {CELERY: run_celery(args), OURS: run_ours(args)}
    except StartupError as exc:
        print(f"bench-compare: {exc}", file=sys.stderr)
        return 1
    doc = document(args, results)
    answered = run.answered_all(figs for side in results.values() for figs in side.values())
    return run.publish(doc, report(doc, args), args.output_dir, answered, "bench-compare",
                       prefix="compare-")


if __name__ == "__main__":
    sys.exit(main())
