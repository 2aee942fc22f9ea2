"""The benchmark's load generator: S chat sessions in one asyncio process (run by run.py).

Each session is a real python-socketio AsyncClient on the websocket transport, asking its
next question as soon as the previous answer arrives (closed loop). Protocol with run.py,
one JSON line each way so several generator processes share one measured window:

  stdout  {"ready": true}                      every session connected and got `session`
  stdin   {"measure_from": t1, "measure_to": t2}   time.monotonic() values (system-wide)
  stdout  {"samples": [...], "errors": {...}, "loop_lag_ms": [...], ...}  after t2 + a drain

A sample is one answer that arrived inside [t1, t2]: [end_to_end_ms, processing_time_ms,
queue_wait_ms, ack_ms] (ack_ms: until the user-query acknowledgement came back). Only
numbers are kept per answer, so the generator's own CPU (run.py measures it) stays small.

With ``--questions N`` the sessions share N questions and stop when they are asked (or at
t2, then a deadline): a run of a fixed size, timed by run.py from t1 to the result's
``last_answer_at``. The result line comes before the sessions disconnect, so the
disconnections stay out of the CPU run.py reads when it arrives.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import socketio

# end_to_end_ms, processing_time_ms, queue_wait_ms, ack_ms
Sample = tuple[float, int, int, float]
QUESTION = "How many workers does the lab cluster have, and which one answers me?"
CONNECT_TIMEOUT_SECONDS = 30.0
DRAIN_SECONDS = 5.0  # after the window: let questions in flight finish before disconnecting
LAG_TICK_SECONDS = 0.01


@dataclass
class Load:
    """What every session of this process shares: where to ask, the window, the tallies."""

    url: str
    answer_timeout: float
    # The measured interval (time.monotonic()), known once run.py sends it.
    start: float = float("inf")
    end: float = float("inf")
    window_set: asyncio.Event = field(default_factory=asyncio.Event)
    samples: list[Sample] = field(default_factory=list)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    lags: list[float] = field(default_factory=list)
    remaining: float = math.inf  # questions left to ask (--questions), shared by the sessions
    last_answer: float = 0.0  # time.monotonic() of the last answer counted

    def in_window(self, at: float) -> bool:
        return self.start <= at <= self.end

    def take(self) -> bool:
        """Whether a session may ask one more question (always, without --questions)."""
        if self.remaining < 1:
            return False
        self.remaining -= 1  # one event loop: no lock needed
        return True


class Session:
    """One chat user: a closed loop of question, answer, next question."""

    def __init__(self, index: int, load: Load) -> None:
        self.index = index
        self.load = load
        self.sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        self.joined = asyncio.Event()
        self.request_id = ""
        self.answer: asyncio.Future[tuple[str, dict[str, Any], float]] | None = None
        self.acked_at = 0.0
        self.sio.on("session", self._on_session)
        self.sio.on("ai-response", self._on_answer)
        self.sio.on("task-error", self._on_error)

    async def _on_session(self, _data: Any) -> None:
        self.joined.set()

    def _settle(self, kind: str, data: Any) -> None:
        at = time.monotonic()
        if (isinstance(data, dict) and data.get("request_id") == self.request_id
                and self.answer is not None and not self.answer.done()):
            self.answer.set_result((kind, data, at))

    async def _on_answer(self, data: Any) -> None:
        self._settle("answer", data)

    async def _on_error(self, data: Any) -> None:
        self._settle("error", data)

    async def _on_ack(self, ack: Any = None) -> None:
        self.acked_at = time.monotonic()
        if not (isinstance(ack, dict) and "task_id" in ack):
            self._settle("rejected", {"request_id": self.request_id, "error": ack})

    async def connect(self) -> None:
        await self.sio.connect(self.load.url, transports=["websocket"],
                               wait_timeout=CONNECT_TIMEOUT_SECONDS)
        await asyncio.wait_for(self.joined.wait(), CONNECT_TIMEOUT_SECONDS)

    async def run(self) -> None:
        load = self.load
        await load.window_set.wait()
        loop = asyncio.get_running_loop()
        number = 0
        while time.monotonic() < load.end and load.take():
            number += 1
            self.request_id = f"{self.index}-{number}"
            self.answer = loop.create_future()
            sent = time.monotonic()
            await self.sio.emit("user-query", {"query": QUESTION, "request_id": self.request_id},
                                callback=self._on_ack)
            try:
                kind, data, at = await asyncio.wait_for(self.answer, load.answer_timeout)
            except TimeoutError:
                load.errors["no answer within the timeout"] += 1
                continue
            if not load.in_window(at):
                continue
            if kind != "answer":
                load.errors[f"{kind}: {data.get('error')}"] += 1
                continue
            load.last_answer = max(load.last_answer, at)
            load.samples.append(((at - sent) * 1000.0, int(data.get("processing_time_ms", 0)),
                                 int(data.get("queue_wait_ms", 0)),
                                 (self.acked_at - sent) * 1000.0))

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


async def watch_lag(load: Load) -> None:
    """How late a 10 ms timer fires, in the window: when the loop itself lags (busy, or the
    process waits for a CPU), every latency measured here is inflated by as much."""
    while True:
        before = time.monotonic()
        await asyncio.sleep(LAG_TICK_SECONDS)
        if load.in_window(before):
            load.lags.append((time.monotonic() - before - LAG_TICK_SECONDS) * 1000.0)


async def read_line() -> dict[str, Any]:
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if not line:
        raise SystemExit("loadgen: run.py closed stdin before the window was set")
    return json.loads(line)


def say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def generate(url: str, sessions: int, first_index: int, answer_timeout: float,
                   questions: int | None) -> None:
    load = Load(url, answer_timeout)
    if questions is not None:
        load.remaining = questions
    users = [Session(first_index + i, load) for i in range(sessions)]
    await asyncio.gather(*(user.connect() for user in users))
    say({"ready": True})
    times = await read_line()
    load.start, load.end = float(times["measure_from"]), float(times["measure_to"])
    load.window_set.set()
    runs = [asyncio.create_task(user.run()) for user in users]
    watcher = asyncio.create_task(watch_lag(load))
    # Until the window's end, or sooner when every question has been answered.
    _, asking = await asyncio.wait(runs, timeout=max(0.0, load.end - time.monotonic()))
    watcher.cancel()
    _, late = await asyncio.wait(asking, timeout=DRAIN_SECONDS) if asking else (set(), set())
    for run in late:
        run.cancel()
    say({"samples": load.samples, "errors": dict(load.errors), "unfinished_sessions": len(late),
         "loop_lag_ms": load.lags, "last_answer_at": load.last_answer})
    await asyncio.gather(*(user.close() for user in users), return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the master's chat URL")
    parser.add_argument("--sessions", type=int, required=True)
    parser.add_argument("--first-index", type=int, default=0, help="numbers the sessions")
    parser.add_argument("--answer-timeout", type=float, default=30.0)
    parser.add_argument("--questions", type=int, default=None,
                        help="ask this many questions in all, then stop (default: until t2)")
    args = parser.parse_args()
    asyncio.run(generate(args.url, args.sessions, args.first_index, args.answer_timeout,
                         args.questions))


if __name__ == "__main__":
    main()
