"""Load for the four-node lab's chaos phase: chat sessions asking, and the table of faults.

``run``: SESSIONS real python-socketio clients connect to the published web port as browsers
do and ask one question after another, each waiting for its answer (closed loop, at most one
question per PACE seconds: the master's per-session rate limit stays untouched). A session
keeps its session token and presents it on every reconnection, so answers given while it was
away (a master restart) reach it, as they reach a page. Every second the load writes
``status.json`` to DIR (what the playbook waits on); once ``DIR/stop`` exists it asks no more,
waits up to DRAIN seconds for the answers still owed and writes ``questions.json``.

``report``: joins ``questions.json`` with the faults the playbook recorded (``faults.jsonl``,
one ``{"fault", "start", "injected"}`` per line, wall-clock seconds) and writes the table: per
fault, the questions asked from its start to the next fault's, how many were answered exactly
once, lost, refused at once (the page says so), answers shown twice, answers sent again for a
question already answered (a reconnecting page ignores them), the longest wait, and the
longest wait after the injection of a question it caught (the aim: 15 s).

    python chaos_load.py run http://172.30.30.10:31663 DIR --sessions 4
    python chaos_load.py settle DIR 1764700000.5 --timeout 180
    python chaos_load.py report DIR test-artifacts/chaos.json
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import socketio
from ai_system.protocol import (
    EVENT_AI_RESPONSE,
    EVENT_SESSION,
    EVENT_TASK_ERROR,
    EVENT_USER_QUERY,
)

AIM_SECONDS = 15.0  # a question caught by a lost worker is answered this soon after the loss
GONE_SECONDS = 180.0  # no session connected for this long: the lab is gone, stop


@dataclass
class Question:
    request_id: str
    session: int
    asked_at: float
    acked: bool = False
    refused: str = ""  # the master's refusal, shown to the user at once
    task_ids: list[str] = field(default_factory=list)  # from the ack and from the answers
    # (task id, the answer's whole payload as JSON, received at): the same answer sent again
    # (kept for a reconnecting page) has the same payload; another attempt's answer does not.
    answers: list[tuple[str, str, float]] = field(default_factory=list)
    errors: list[tuple[str, float]] = field(default_factory=list)  # (error, received at)

    @property
    def settled(self) -> bool:
        return bool(self.refused or self.answers or self.errors)


class Session(threading.Thread):
    """One browser tab: a Socket.IO client that asks, waits for the answer, asks again."""

    def __init__(self, index: int, url: str, pace: float, stop: threading.Event) -> None:
        super().__init__(name=f"session-{index}", daemon=True)
        self.index, self.url, self.pace, self._stop_asking = index, url, pace, stop
        self.questions: dict[str, Question] = {}
        self._by_task: dict[str, Question] = {}
        self._changed = threading.Condition()
        self._token = ""
        self._ready = False
        # Reconnect at once and for ever: the page's client does the same.
        self.sio = socketio.Client(reconnection=True, reconnection_attempts=0,
                                   reconnection_delay=0.5, reconnection_delay_max=2,
                                   handle_sigint=False)
        self.sio.on(EVENT_SESSION, self._on_session)
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on(EVENT_AI_RESPONSE, self._on_answer)
        self.sio.on(EVENT_TASK_ERROR, self._on_error)

    # -- events (the client's thread) ------------------------------------------------------
    def _on_session(self, data: dict[str, Any]) -> None:
        with self._changed:
            self._token = str(data.get("session_token", ""))

    def _on_connect(self) -> None:
        # After `session`: the master emits it from its connect handler, before it accepts the
        # connection, and an emit before then fails.
        with self._changed:
            self._ready = True
            self._changed.notify_all()

    def _on_disconnect(self, reason: object = None) -> None:
        with self._changed:
            self._ready = False
        if reason == self.sio.reason.SERVER_DISCONNECT:
            # A stopping master's goodbye, after which Socket.IO does not come back by itself:
            # connect again a second later, as the page does (app.js).
            threading.Thread(target=self._come_back, name=f"{self.name}-back",
                             daemon=True).start()

    def _come_back(self) -> None:
        time.sleep(1)
        self._connect()

    def _question(self, data: dict[str, Any]) -> Question | None:
        question = self.questions.get(str(data.get("request_id")))
        return question or self._by_task.get(str(data.get("task_id")))

    def _on_answer(self, data: dict[str, Any]) -> None:
        with self._changed:
            if (question := self._question(data)) is not None:
                task_id = str(data.get("task_id"))
                question.answers.append((task_id, json.dumps(data, sort_keys=True), time.time()))
                if task_id not in question.task_ids:
                    question.task_ids.append(task_id)
                self._changed.notify_all()

    def _on_error(self, data: dict[str, Any]) -> None:
        with self._changed:
            # A refusal of the ask itself comes as its acknowledgement too: counted there.
            if data.get("task_id") and (question := self._question(data)) is not None:
                question.errors.append((str(data.get("error")), time.time()))
                self._changed.notify_all()

    # -- asking ------------------------------------------------------------------------------
    def _connect(self) -> None:
        """Connect (again), presenting the session token once there is one."""
        while not self.sio.connected:
            try:
                self.sio.connect(self.url, auth=lambda: {"session_token": self._token}
                                 if self._token else {}, transports=["websocket"],
                                 wait_timeout=10)
                return
            except socketio.exceptions.ConnectionError:
                time.sleep(1)

    def run(self) -> None:
        self._connect()
        number = 0
        while not self._stop_asking.is_set():
            with self._changed:
                if not self._changed.wait_for(lambda: self._ready, timeout=1):
                    continue
            number += 1
            question = Question(f"s{self.index}-q{number}", self.index, time.time())
            with self._changed:
                self.questions[question.request_id] = question
            self._ask(question)
            with self._changed:
                self._changed.wait_for(lambda q=question: q.settled or self._stop_asking.is_set())
            time.sleep(max(0.0, question.asked_at + self.pace - time.time()))

    def _ask(self, question: Question) -> None:
        payload = {"query": f"chaos {question.request_id}: what happens now?",
                   "request_id": question.request_id}
        while True:
            try:
                ack = self.sio.call(EVENT_USER_QUERY, payload, timeout=15)
                break
            except socketio.exceptions.BadNamespaceError:
                # Not connected, so not sent: the page's client keeps such an emit and sends it
                # once connected again; so does this one.
                time.sleep(0.2)
                with self._changed:
                    self._changed.wait_for(lambda: self._ready, timeout=1)
            except socketio.exceptions.TimeoutError:
                return  # sent, but the connection went before the ack: the answer may come
        with self._changed:
            question.acked = True
            if isinstance(ack, dict) and ack.get("task_id"):
                task_id = str(ack["task_id"])
                self._by_task[task_id] = question
                if task_id not in question.task_ids:
                    question.task_ids.append(task_id)
            else:
                question.refused = str(ack.get("error") if isinstance(ack, dict) else ack)
            self._changed.notify_all()

    def unsettled(self) -> list[Question]:
        with self._changed:
            return [q for q in self.questions.values() if not q.settled]

    def snapshot(self) -> list[Question]:
        with self._changed:
            return list(self.questions.values())


def _write_json(path: Path, data: object) -> None:
    """Replace ``path`` whole: the playbook may read it at any moment."""
    part = path.with_name(path.name + ".part")
    part.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    part.replace(path)


def _status(sessions: list[Session], stopping: bool) -> dict[str, Any]:
    questions = [q for session in sessions for q in session.snapshot()]
    unsettled = [q.asked_at for q in questions if not q.settled]
    answered = [at for q in questions for _, _, at in q.answers[:1]]
    return {"at": time.time(), "asked": len(questions), "stopping": stopping,
            "answered": len(answered), "unsettled": len(unsettled),
            "oldest_unsettled": min(unsettled, default=None),
            "last_answer": max(answered, default=None)}


def run(url: str, folder: Path, sessions_count: int, pace: float, drain: float,
        max_seconds: float) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    sessions = [Session(index, url, pace, stop) for index in range(1, sessions_count + 1)]
    for session in sessions:
        session.start()
    # Also stop alone, so that a playbook that failed half-way leaves no load running: after
    # max_seconds, or once no session has been connected for GONE_SECONDS (the lab is gone).
    end, seen = time.time() + max_seconds, time.time()
    while not (folder / "stop").exists() and time.time() < end:
        if any(session.sio.connected for session in sessions):
            seen = time.time()
        elif time.time() - seen > GONE_SECONDS:
            break
        _write_json(folder / "status.json", _status(sessions, False))
        time.sleep(1)
    stop.set()
    deadline = time.time() + drain
    while any(session.unsettled() for session in sessions) and time.time() < deadline:
        _write_json(folder / "status.json", _status(sessions, True))
        time.sleep(1)
    _write_json(folder / "questions.json",
                [asdict(q) for session in sessions for q in session.snapshot()])
    _write_json(folder / "status.json", _status(sessions, True))
    for session in sessions:
        session.sio.disconnect()
    return 0


def settle(folder: Path, since: float, timeout: float) -> int:
    """Wait until every question asked before ``since`` has its outcome and an answer came
    after it; print the last status with ``settled`` (exit status 0 either way: the table
    tells what was lost). Exit status 1 only if the load never wrote its status."""
    deadline = time.time() + timeout
    while True:
        try:
            status = json.loads((folder / "status.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            # The load, just started in the background, has not connected its sessions yet.
            if time.time() > deadline:
                print(f"the load wrote no {folder / 'status.json'} in {timeout:g} s",
                      file=sys.stderr)
                return 1
            time.sleep(1)
            continue
        oldest = status["oldest_unsettled"]
        settled = ((oldest is None or oldest > since)
                   and (status["last_answer"] or 0) > since)
        if settled or time.time() > deadline:
            print(json.dumps({**status, "settled": settled, "waited_s": round(
                time.time() - deadline + timeout, 1)}))
            return 0
        time.sleep(1)


def _distinct(question: dict[str, Any]) -> set[str]:
    return {payload for _, payload, _ in question["answers"]}


def _row(fault: dict[str, Any], questions: list[dict[str, Any]]) -> dict[str, Any]:
    injected = fault["injected"]
    waits, caught = [], []
    for q in questions:
        if q["answers"]:
            answered_at = q["answers"][0][2]
            waits.append(answered_at - q["asked_at"])
            if q["asked_at"] < injected < answered_at:
                caught.append(answered_at - injected)
        elif q["errors"] and q["asked_at"] < injected:
            caught.append(q["errors"][0][1] - injected)
    shown = [q for q in questions if not q["refused"]]
    after = max(caught, default=None)
    return {
        "fault": fault["fault"],
        "asked": len(questions),
        "answered_once": sum(1 for q in shown if len(_distinct(q)) == 1),
        # Never answered: no answer at all, or an error instead (the question is gone).
        "lost": sum(1 for q in shown if not q["answers"]),
        "errors": sum(1 for q in shown if q["errors"] and not q["answers"]),
        "refused": len(questions) - len(shown),
        # A second, different answer to one question (another task or another attempt).
        "duplicates_shown": sum(max(0, len(_distinct(q)) - 1) for q in shown),
        # The same answer again (kept for a reconnecting page, which shows it once).
        "resent": sum(len(q["answers"]) - len(_distinct(q)) for q in shown),
        "longest_wait_s": round(max(waits), 1) if waits else None,
        "in_flight_at_fault": len(caught),
        "answered_after_fault_s": round(after, 1) if after is not None else None,
        "within_aim": None if after is None else after <= AIM_SECONDS,
    }


def report(folder: Path, out: Path) -> int:
    questions = json.loads((folder / "questions.json").read_text(encoding="utf-8"))
    lines = (folder / "faults.jsonl").read_text(encoding="utf-8").splitlines()
    faults = [json.loads(line) for line in lines if line.strip()]
    starts = [fault["start"] for fault in faults] + [float("inf")]
    rows = []
    for fault, end in zip(faults, starts[1:], strict=True):
        mine = [q for q in questions if fault["start"] <= q["asked_at"] < end]
        rows.append(_row(fault, mine))
    early = [q for q in questions if q["asked_at"] < starts[0]]
    if early:
        rows.insert(0, _row({"fault": "none (warm-up)", "injected": starts[0]}, early))
    table = {"aim_seconds": AIM_SECONDS, "questions": len(questions), "faults": rows,
             "lost": sum(row["lost"] for row in rows),
             "duplicates_shown": sum(row["duplicates_shown"] for row in rows)}
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_json(out, table)
    print(json.dumps(table))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser("run", help="ask continuously until DIR/stop exists")
    load.add_argument("url", help="the chat's base URL, e.g. http://172.30.30.10:31663")
    load.add_argument("dir", type=Path, help="where status.json and questions.json go")
    load.add_argument("--sessions", type=int, default=4)
    load.add_argument("--pace", type=float, default=3.2,
                      help="least seconds between two questions of a session")
    load.add_argument("--drain", type=float, default=120.0,
                      help="seconds to wait for owed answers after the stop")
    load.add_argument("--max-seconds", type=float, default=1800.0,
                      help="stop after this long even without DIR/stop")
    wait = commands.add_parser("settle", help="wait until the questions before SINCE are settled")
    wait.add_argument("dir", type=Path, help="the folder of run")
    wait.add_argument("since", type=float, help="wall-clock seconds")
    wait.add_argument("--timeout", type=float, default=180.0)
    table = commands.add_parser("report", help="the table of faults, as JSON")
    table.add_argument("dir", type=Path, help="the folder of run")
    table.add_argument("out", type=Path, help="where the table goes (JSON)")
    options = parser.parse_args()
    if options.command == "run":
        return run(options.url, options.dir, options.sessions, options.pace, options.drain,
                   options.max_seconds)
    if options.command == "settle":
        return settle(options.dir, options.since, options.timeout)
    return report(options.dir, options.out)


if __name__ == "__main__":
    sys.exit(main())
