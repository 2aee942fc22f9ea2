"""``make bench-scale``: how the system grows with workers, sessions and a deep queue.

Three measurements, each on a system of its own started as ``make bench`` starts it
(offline provider, no simulated work, no abuse limits):

1. **Workers.** Throughput, p99 overhead and the master's CPU per question for each count
   of ``--workers-list`` (1, 2, 4, 8, 16), with ``--sessions`` closed-loop sessions: one
   ``make bench`` window each (bench/run.py's ``measure``).
2. **Memory.** The master's resident memory (VmRSS) and threads with no worker: started,
   then with ``--idle-sessions`` (1,000) connected Socket.IO sessions that ask nothing, then
   with ``--queued`` (10,000) questions waiting, asked by ``--askers`` (100) of them.
3. **A newcomer behind the queue.** With those questions still waiting, 8 workers start
   and, once answers flow, one session that has not asked yet asks one question: the time
   to its answer, and how many questions were queued ahead of it. The master's fair queue
   serves sessions round-robin, so it waits about one round (one question per asking
   session), not for the whole queue; ``fifo_estimate_seconds`` is what a single first-in,
   first-out queue would have made it wait at the throughput seen.

The sessions of 2 and 3 are python-socketio AsyncClients in this process (their CPU is not
measured). Prints a table and writes bench/results/scale-<UTC time>.json. A benchmark, not
a test: it exits 1 only when the system did not answer.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import run
import socketio
from ai_system.local.processes import StartupError
from ai_system.local.system import LocalSystem
from loadgen import CONNECT_TIMEOUT_SECONDS, QUESTION

CONNECTS_AT_ONCE = 50  # concurrent connection handshakes, so the master is not stormed
ACK_TIMEOUT_SECONDS = 120.0
NEWCOMER_TIMEOUT_SECONDS = 120.0
NEWCOMER_WORKERS = 8


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers-list", default="1,2,4,8,16",
                        help="worker counts for the throughput figures (1,2,4,8,16)")
    parser.add_argument("--sessions", type=int, default=50,
                        help="closed-loop sessions for the throughput figures (50)")
    run.add_window_options(parser)
    parser.set_defaults(duration=10.0)  # five windows: each shorter than make bench's
    parser.add_argument("--idle-sessions", type=int, default=1000,
                        help="connected sessions that ask nothing (1000)")
    parser.add_argument("--queued", type=int, default=10_000,
                        help="questions left waiting with no worker (10000)")
    parser.add_argument("--askers", type=int, default=100,
                        help="sessions, of the idle ones, that ask the queued questions (100)")
    parser.add_argument("--smoke", action="store_true",
                        help="1 and 2 workers, 2 s windows, 50 idle sessions, 200 queued")
    args = parser.parse_args(argv)
    if args.smoke:
        args.workers_list, args.duration, args.warmup = "1,2", 2.0, 1.0
        args.sessions, args.idle_sessions, args.queued, args.askers = 4, 50, 200, 10
    try:
        args.worker_counts = [int(count) for count in args.workers_list.split(",")]
    except ValueError:
        parser.error(f"--workers-list must be counts separated by commas, not "
                     f"{args.workers_list!r}")
    run.check_options(parser, args, "sessions", "generators", "idle_sessions", "askers")
    if min(args.worker_counts) < 1 or args.queued < args.askers:
        parser.error("worker counts must be >= 1, and --queued at least --askers")
    return args


# --- 1: throughput by worker count ----------------------------------------------------------

def throughput(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for workers in args.worker_counts:
        print(f"Workers: {workers}, {args.sessions} sessions, {args.duration:g} s…", flush=True)
        with LocalSystem(run.local_config(workers), base_env=run.bench_env()) as system:
            figs = run.measure(args, system)
        rows.append({"workers": workers, **figs})
    return rows


# --- 2 and 3: memory, and a newcomer behind a deep queue -------------------------------------

def master_memory(system: LocalSystem) -> dict[str, int]:
    """The master's resident memory (KiB) and thread count, from /proc."""
    assert system.master is not None and system.master.pid is not None
    fields = dict(line.split(":", 1) for line in
                  Path(f"/proc/{system.master.pid}/status").read_text().splitlines())
    return {"rss_kib": int(fields["VmRSS"].split()[0]), "threads": int(fields["Threads"])}


class Client:
    """One chat session: connects, asks, and collects what the master sends back."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        self.joined = asyncio.Event()
        self.answers: dict[str, asyncio.Future[float]] = {}
        self.sio.on("session", self._on_session)
        self.sio.on("ai-response", self._on_answer)

    async def _on_session(self, _data: Any) -> None:
        self.joined.set()

    async def _on_answer(self, data: Any) -> None:
        waiting = self.answers.get(data.get("request_id", "")) if isinstance(data, dict) else None
        if waiting is not None and not waiting.done():
            waiting.set_result(time.monotonic())

    async def connect(self, url: str, gate: asyncio.Semaphore) -> None:
        async with gate:
            await self.sio.connect(url, transports=["websocket"],
                                   wait_timeout=CONNECT_TIMEOUT_SECONDS)
            await asyncio.wait_for(self.joined.wait(), CONNECT_TIMEOUT_SECONDS)

    async def ask(self, request_id: str) -> str | None:
        """Ask one question; its task id once the master recorded it (None if refused)."""
        self.answers[request_id] = asyncio.get_running_loop().create_future()
        ack = await self.sio.call("user-query", {"query": QUESTION, "request_id": request_id},
                                  timeout=ACK_TIMEOUT_SECONDS)
        return ack.get("task_id") if isinstance(ack, dict) else None


async def queue_figures(system: LocalSystem, args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"started": master_memory(system)}
    print(f"Memory: {args.idle_sessions} idle sessions…", flush=True)
    clients = [Client() for _ in range(args.idle_sessions + 1)]
    newcomer, others = clients[0], clients[1:]
    gate = asyncio.Semaphore(CONNECTS_AT_ONCE)
    try:
        await asyncio.gather(*(client.connect(system.url, gate) for client in clients))
        result["idle_sessions"] = {"sessions": len(clients), **master_memory(system)}

        print(f"Memory: {args.queued} questions queued by {args.askers} sessions…", flush=True)
        askers = others[:args.askers]
        per_asker = run.split(args.queued, args.askers)
        asked = await asyncio.gather(*(
            asks(client, index, count) for index, (client, count)
            in enumerate(zip(askers, per_asker, strict=True))))
        accepted = sum(asked)
        result["queued"] = {"questions": accepted,
                            "queue_depth": system.status()["queue_depth"],
                            **master_memory(system)}

        print(f"Newcomer: {NEWCOMER_WORKERS} workers start, then one new session asks…",
              flush=True)
        result["newcomer"] = await newcomer_wait(system, newcomer, askers)
        result["answered_all"] = accepted == args.queued and result["newcomer"]["answered"]
        return result
    finally:
        await asyncio.gather(*(client.sio.disconnect() for client in clients),
                             return_exceptions=True)


async def asks(client: Client, index: int, count: int) -> int:
    """Ask ``count`` questions one after another (each acknowledged once recorded)."""
    task_ids = [await client.ask(f"{index}-{number}") for number in range(count)]
    return sum(task_id is not None for task_id in task_ids)


async def newcomer_wait(system: LocalSystem, newcomer: Client,
                        askers: list[Client]) -> dict[str, Any]:
    for index in range(1, NEWCOMER_WORKERS + 1):
        system.start_worker(index)
    await asyncio.to_thread(system.wait_ready)
    first = [answer for client in askers for answer in client.answers.values()]
    await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
    before = system.status()
    asked_at = time.monotonic()
    answered = await newcomer.ask("newcomer") is not None
    try:
        answered_at = await asyncio.wait_for(newcomer.answers["newcomer"],
                                             NEWCOMER_TIMEOUT_SECONDS)
    except TimeoutError:
        answered, answered_at = False, time.monotonic()
    after = system.status()
    seconds = answered_at - asked_at
    done = after["tasks"]["completed"] - before["tasks"]["completed"]
    rate = done / seconds if seconds > 0 else 0.0
    ahead = before["queue_depth"]
    return {"answered": answered, "seconds": round(seconds, 3), "queued_ahead": ahead,
            "answered_meanwhile": done, "tasks_per_second": round(rate, 1),
            "fifo_estimate_seconds": round(ahead / rate, 1) if rate else None}


def queue_run(args: argparse.Namespace) -> dict[str, Any]:
    env = run.bench_env()
    # The deep queue must stay queued however long the clients take to fill it.
    env["TASK_TIMEOUT_SECONDS"] = "600"
    with LocalSystem(run.local_config(0), base_env=env) as system:
        return asyncio.run(queue_figures(system, args))


# --- the report -------------------------------------------------------------------------------

def report(doc: dict[str, Any]) -> str:
    lines = [f"{doc['machine']['cores']} cores; {doc['params']['sessions']} closed-loop "
             f"sessions, {doc['params']['duration']:g} s windows", "",
             f"  {'workers':>7} {'tasks/s':>9} {'p99 overhead ms':>16} {'master CPU ms':>14} "
             f"{'workers CPU ms':>15} {'load avg':>9}"]
    for row in doc["throughput"]:
        cpu = row["cpu_ms_per_task"]
        lines.append(f"  {row['workers']:>7} {row['tasks_per_second']:>9.1f} "
                     f"{row['overhead_ms']['p99']:>16.1f} {cpu['master'] or 0:>14.3f} "
                     f"{cpu['workers (all)'] or 0:>15.3f} {row['load_average']:>9.2f}")
    queue = doc["queue"]
    idle, queued, newcomer = queue["idle_sessions"], queue["queued"], queue["newcomer"]
    lines += ["", "master memory (RSS)                  MiB  threads",
              f"  started, no session           {queue['started']['rss_kib'] / 1024:>8.1f} "
              f"{queue['started']['threads']:>8}",
              f"  {idle['sessions']:>6} idle sessions          {idle['rss_kib'] / 1024:>8.1f} "
              f"{idle['threads']:>8}",
              f"  + {queued['questions']:>6} questions queued    {queued['rss_kib'] / 1024:>8.1f} "
              f"{queued['threads']:>8}",
              "",
              f"a new session's question with {newcomer['queued_ahead']} queued ahead (from "
              f"{doc['params']['askers']} other sessions), {NEWCOMER_WORKERS} workers: answered "
              f"in {newcomer['seconds']:.2f} s, {newcomer['answered_meanwhile']} answers "
              f"meanwhile ({newcomer['tasks_per_second']:.0f}/s); one FIFO queue: about "
              f"{newcomer['fifo_estimate_seconds']} s"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        rows = throughput(args)
        queue = queue_run(args)
    except StartupError as exc:
        print(f"bench-scale: {exc}", file=sys.stderr)
        return 1
    doc = {**run.provenance(),
           "params": {key: getattr(args, key) for key in (
               "worker_counts", "sessions", "duration", "warmup", "generators",
               "idle_sessions", "queued", "askers")},
           "throughput": rows, "queue": queue}
    answered = run.answered_all(rows) and queue["answered_all"]
    return run.publish(doc, report(doc), args.output_dir, answered, "bench-scale",
                       prefix="scale-")


if __name__ == "__main__":
    sys.exit(main())
