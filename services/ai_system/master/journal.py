"""The master's durable record: every accepted question, hand-over and outcome, in SQLite.

One row per task, rewritten whole at each change of state (queued, assigned, finished).
The service writes a batch of rows in one transaction before it carries out the effects
that follow from them, so whatever a browser or a worker was told survives a crash; at
start the dispatcher is rebuilt from the rows. WAL mode with ``synchronous=NORMAL``: a
commit reaches the operating system at once (a killed process loses nothing) and the disk
at each checkpoint. Users' API keys are never written: a row only says that one was given.
Finished rows keep the answer for the asking session until compaction drops them.
Each session's conversation (its answered questions, and when the user last began a new
one) has rows of its own, kept for the conversations' time to live.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, fields
from operator import attrgetter
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FILE_NAME = "journal.db"
_SCHEMA_VERSION = 2  # 2: the conversations' turns and starts


class JournalError(RuntimeError):
    """The journal cannot be used at all (its folder is not writable, say)."""


@dataclass(frozen=True)
class TaskRecord:
    """One task as the journal keeps it. Times are seconds since the epoch."""

    task_id: str
    session_id: str
    query: str
    request_id: str | None
    result_token: str
    has_key: bool
    created_at: float
    attempt: int
    state: str  # queued, assigned or finished
    worker_id: str | None = None
    worker_instance: str = ""
    assigned_at: float | None = None
    finished_at: float | None = None
    event: str | None = None  # the Socket.IO event that told the session the outcome
    payload: dict[str, Any] | None = None
    delivered_at: float | None = None


@dataclass(frozen=True)
class Turn:
    """A question of a session and the answer it was given; ``at`` when it was answered."""

    task_id: str
    session_id: str
    question: str
    answer: str
    at: float


@dataclass(frozen=True)
class ConversationStart:
    """The user of a session began a new conversation at ``at``."""

    session_id: str
    at: float


Record = TaskRecord | Turn | ConversationStart


_COLUMNS = [f.name for f in fields(TaskRecord)]
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    query TEXT NOT NULL,
    request_id TEXT,
    result_token TEXT NOT NULL,
    has_key INTEGER NOT NULL,
    created_at REAL NOT NULL,
    attempt INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'assigned', 'finished')),
    worker_id TEXT,
    worker_instance TEXT NOT NULL,
    assigned_at REAL,
    finished_at REAL,
    event TEXT,
    payload TEXT,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS tasks_finished ON tasks (state, finished_at);
CREATE TABLE IF NOT EXISTS turns (
    task_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_session ON turns (session_id, at);
CREATE TABLE IF NOT EXISTS conversation_starts (session_id TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
PRAGMA user_version = {_SCHEMA_VERSION};
"""
_UPSERT = (f"INSERT OR REPLACE INTO tasks ({', '.join(_COLUMNS)}) "
           f"VALUES ({', '.join('?' * len(_COLUMNS))})")


# Not dataclasses.astuple: it deep-copies every payload, on the hot path.
_values = attrgetter(*_COLUMNS)
_PAYLOAD = _COLUMNS.index("payload")


def _row(record: TaskRecord) -> tuple[Any, ...]:
    values = list(_values(record))
    values[_PAYLOAD] = None if record.payload is None else json.dumps(record.payload)
    return tuple(values)


def _record(row: sqlite3.Row) -> TaskRecord:
    data = dict(row)
    data["has_key"] = bool(data["has_key"])
    data["payload"] = None if data["payload"] is None else json.loads(data["payload"])
    return TaskRecord(**data)


class Journal:
    """The journal in ``<state_dir>/journal.db``; use ``open_journal`` to get one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # The outbox thread writes; the main thread loads at start and closes at stop.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            # Version 1 lacks only the conversations' tables, which the schema adds.
            if version not in (0, 1, _SCHEMA_VERSION):
                raise sqlite3.DatabaseError(f"unknown journal schema version {version}")
            if self._db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("integrity check failed")
            self._db.executescript(_SCHEMA)
        except BaseException:
            self._db.close()
            raise

    def instance_id(self) -> str:
        """This journal's identity, made with it: a browser that sees it change knows the
        questions it had asked were lost with the previous journal."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'instance_id'").fetchone()
        if row is not None:
            return str(row[0])
        value = uuid.uuid4().hex
        self._db.execute("INSERT INTO meta (key, value) VALUES ('instance_id', ?)", (value,))
        return value

    def load(self) -> list[TaskRecord]:
        """Every row, oldest question first."""
        rows = self._db.execute("SELECT * FROM tasks ORDER BY created_at, rowid").fetchall()
        return [_record(row) for row in rows]

    def load_conversations(self) -> tuple[list[Turn], list[ConversationStart]]:
        """Every turn, oldest answer first, and every session's last new conversation."""
        turns = self._db.execute("SELECT task_id, session_id, question, answer, at FROM turns "
                                 "ORDER BY at, rowid").fetchall()
        starts = self._db.execute("SELECT session_id, at FROM conversation_starts").fetchall()
        return [Turn(*row) for row in turns], [ConversationStart(*row) for row in starts]

    def write(self, records: Iterable[Record], delivered: Iterable[str] = (),
              delivered_at: float | None = None) -> None:
        """Store the records, and mark tasks whose outcome reached a browser, in one commit.
        A conversation's start forgets its session's earlier turns."""
        tasks: list[tuple[Any, ...]] = []
        turns: list[tuple[Any, ...]] = []
        starts: list[tuple[str, float]] = []
        for record in records:
            if isinstance(record, TaskRecord):
                tasks.append(_row(record))
            elif isinstance(record, Turn):
                turns.append((record.task_id, record.session_id, record.question,
                              record.answer, record.at))
            else:
                starts.append((record.session_id, record.at))
        self._db.execute("BEGIN")
        try:
            self._db.executemany(_UPSERT, tasks)
            for session_id, at in starts:
                self._db.execute("DELETE FROM turns WHERE session_id = ? AND at <= ?",
                                 (session_id, at))
            self._db.executemany("INSERT OR REPLACE INTO conversation_starts VALUES (?, ?)",
                                 starts)
            self._db.executemany("INSERT OR REPLACE INTO turns VALUES (?, ?, ?, ?, ?)", turns)
            at = time.time() if delivered_at is None else delivered_at
            self._db.executemany("UPDATE tasks SET delivered_at = ? WHERE task_id = ?",
                                 [(at, task_id) for task_id in delivered])
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def compact(self, finished_before: float, delivered_before: float,
                keep_finished: int, turns_before: float, keep_turns: int) -> int:
        """Drop finished rows older than ``finished_before``, or delivered before
        ``delivered_before``, and all but the newest ``keep_finished``; return how many.
        Drop turns older than ``turns_before`` and all but each session's newest
        ``keep_turns``, and starts of conversations older than ``turns_before``."""
        self._db.execute("BEGIN")
        try:
            cursor = self._db.execute(
                "DELETE FROM tasks WHERE state = 'finished' AND (finished_at < ? "
                "OR delivered_at < ? OR task_id NOT IN (SELECT task_id FROM tasks "
                "WHERE state = 'finished' ORDER BY finished_at DESC LIMIT ?))",
                (finished_before, delivered_before, keep_finished))
            self._db.execute(
                "DELETE FROM turns WHERE at < ? OR task_id IN (SELECT task_id FROM (SELECT "
                "task_id, ROW_NUMBER() OVER (PARTITION BY session_id ORDER BY at DESC) AS n "
                "FROM turns) WHERE n > ?)", (turns_before, keep_turns))
            self._db.execute("DELETE FROM conversation_starts WHERE at < ?", (turns_before,))
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return cursor.rowcount

    def close(self) -> None:
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._db.close()


def open_journal(state_dir: str) -> Journal:
    """The journal of ``state_dir``. One that SQLite cannot read as a journal is moved aside
    (``journal.db.corrupt-<time>``, logged as an error) and a new one begun, so a damaged
    file never stops the master from starting. Raises JournalError if the folder itself is
    unusable."""
    folder = Path(state_dir)
    path = folder / FILE_NAME
    try:
        # Questions and answers are the users': private to the master's account. (SQLite
        # gives its -wal and -shm files the database file's mode.)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        return Journal(path)
    except sqlite3.OperationalError as exc:  # locked by another master, out of space...
        raise JournalError(f"cannot use the journal {path}: {exc}") from None
    except sqlite3.DatabaseError as exc:  # not a database, malformed, or not ours
        aside = folder / f"{FILE_NAME}.corrupt-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
        try:
            for suffix in ("", "-wal", "-shm"):
                source = path.with_name(path.name + suffix)
                if source.exists():
                    source.rename(aside.with_name(aside.name + suffix))
        except OSError as move_error:
            raise JournalError(f"the journal {path} is unreadable ({exc}) and cannot be "
                               f"moved aside: {move_error}") from None
        log.error("the journal %s is unreadable (%s): moved it to %s and began a new one; "
                  "questions recorded in it are lost", path, exc, aside.name)
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            return Journal(path)
        except (OSError, sqlite3.DatabaseError) as again:
            raise JournalError(f"cannot create the journal {path}: {again}") from None
    except OSError as exc:
        raise JournalError(f"cannot use the state folder {folder}: {exc.strerror}") from None
