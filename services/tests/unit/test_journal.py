"""The journal: records survive the process, stay bounded, and a damaged file is set aside."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from ai_system.master.journal import (
    FILE_NAME,
    ConversationStart,
    JournalError,
    TaskRecord,
    Turn,
    open_journal,
)


def record(task_id: str, state: str = "queued", created: float = 1.0,
           **extra: object) -> TaskRecord:
    fields: dict[str, object] = dict(
        task_id=task_id, session_id="s1", query=f"q {task_id}", request_id=None,
        result_token=f"tok-{task_id}", has_key=False, created_at=created, attempt=1,
        state=state)
    fields.update(extra)
    return TaskRecord(**fields)  # type: ignore[arg-type]


def test_records_survive_a_reopen_with_their_last_state_oldest_first(tmp_path: Path) -> None:
    journal = open_journal(str(tmp_path))
    instance = journal.instance_id()
    journal.write([record("b", created=2.0), record("a", created=1.0)])
    journal.write([record("a", "assigned", worker_id="w1", worker_instance="i1",
                          assigned_at=3.0)])
    journal.write([record("b", "finished", query="", finished_at=4.0, event="ai-response",
                          payload={"task_id": "b", "response": "ünïcode"})], delivered=["b"],
                  delivered_at=5.0)
    journal.close()

    again = open_journal(str(tmp_path))
    assert again.instance_id() == instance
    loaded = again.load()
    assert [(r.task_id, r.state) for r in loaded] == [("a", "assigned"), ("b", "finished")]
    assert loaded[0].worker_id == "w1" and loaded[0].worker_instance == "i1"
    assert loaded[1].payload == {"task_id": "b", "response": "ünïcode"}
    assert loaded[1].delivered_at == 5.0


def test_compaction_keeps_open_tasks_and_only_recent_finished_ones(tmp_path: Path) -> None:
    journal = open_journal(str(tmp_path))
    journal.write([record("open"),
                   record("old", "finished", finished_at=10.0),
                   record("delivered", "finished", finished_at=90.0),
                   *(record(f"new{i}", "finished", finished_at=100.0 + i) for i in range(5))])
    journal.write([], delivered=["delivered"], delivered_at=91.0)
    dropped = journal.compact(finished_before=50.0, delivered_before=95.0, keep_finished=3,
                              turns_before=0.0, keep_turns=10)
    assert dropped == 4  # old, delivered, and the two oldest of the new ones
    assert sorted(r.task_id for r in journal.load()) == ["new2", "new3", "new4", "open"]


def test_conversations_survive_a_reopen_and_a_new_one_forgets_the_earlier_turns(
        tmp_path: Path) -> None:
    journal = open_journal(str(tmp_path))
    journal.write([Turn("t1", "s1", "old", "x", at=1.0), Turn("t2", "s2", "other", "y", at=2.0)])
    journal.write([ConversationStart("s1", at=3.0), Turn("t3", "s1", "new", "z", at=4.0)])
    journal.close()

    again = open_journal(str(tmp_path))
    turns, starts = again.load_conversations()
    assert [(t.task_id, t.question, t.answer) for t in turns] == [
        ("t2", "other", "y"), ("t3", "new", "z")]
    assert starts == [ConversationStart("s1", 3.0)]


def test_compaction_keeps_each_sessions_newest_turns_within_their_time_to_live(
        tmp_path: Path) -> None:
    journal = open_journal(str(tmp_path))
    journal.write([*(Turn(f"a{i}", "s1", "q", "a", at=100.0 + i) for i in range(4)),
                   Turn("old", "s2", "q", "a", at=10.0), Turn("b", "s2", "q", "a", at=101.0),
                   ConversationStart("s3", at=20.0)])
    journal.compact(finished_before=0.0, delivered_before=0.0, keep_finished=10,
                    turns_before=50.0, keep_turns=2)
    turns, starts = journal.load_conversations()
    assert sorted(t.task_id for t in turns) == ["a2", "a3", "b"]
    assert starts == []


def test_a_journal_from_before_conversations_is_upgraded_with_its_tasks(
        tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE tasks (task_id TEXT PRIMARY KEY, session_id TEXT NOT NULL,
            query TEXT NOT NULL, request_id TEXT, result_token TEXT NOT NULL,
            has_key INTEGER NOT NULL, created_at REAL NOT NULL, attempt INTEGER NOT NULL,
            state TEXT NOT NULL, worker_id TEXT, worker_instance TEXT NOT NULL,
            assigned_at REAL, finished_at REAL, event TEXT, payload TEXT, delivered_at REAL);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO tasks VALUES ('t1', 's1', 'waiting', NULL, 'tok', 0, 1.0, 0, 'queued',
            NULL, '', NULL, NULL, NULL, NULL, NULL);
        PRAGMA user_version = 1;
    """)
    old.close()
    journal = open_journal(str(tmp_path))
    [task] = journal.load()
    assert (task.task_id, task.query, task.state) == ("t1", "waiting", "queued")
    journal.write([Turn("t0", "s1", "q", "a", at=1.0)])
    assert len(journal.load_conversations()[0]) == 1
    assert not [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]


def test_a_damaged_journal_is_moved_aside_and_a_new_one_begun(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / FILE_NAME).write_bytes(b"this is not an SQLite database at all" * 100)
    with caplog.at_level(logging.ERROR):
        journal = open_journal(str(tmp_path))
    assert journal.load() == []
    aside = [p.name for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1 and aside[0].startswith(FILE_NAME)
    assert "moved it to" in caplog.text


def test_an_unusable_state_folder_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("")
    with pytest.raises(JournalError, match="file-not-folder"):
        open_journal(str(blocker / "state"))


def test_the_journal_is_private_to_its_owner(tmp_path: Path) -> None:
    open_journal(str(tmp_path / "state")).close()
    assert stat.S_IMODE(os.stat(tmp_path / "state").st_mode) & 0o077 == 0
    assert stat.S_IMODE(os.stat(tmp_path / "state" / FILE_NAME).st_mode) & 0o077 == 0


def test_a_failed_batch_writes_nothing(tmp_path: Path) -> None:
    journal = open_journal(str(tmp_path))
    with pytest.raises(sqlite3.IntegrityError):
        journal.write([record("fine"), record("bad", state="lost")])
    assert journal.load() == []
