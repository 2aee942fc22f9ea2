"""ai-master --snapshot: a consistent copy of the state folder while the journal is in use."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from ai_system.local.processes import find_program
from ai_system.master.journal import FILE_NAME, TaskRecord, open_journal


def record(task_id: str) -> TaskRecord:
    return TaskRecord(task_id=task_id, session_id="s1", query=f"q {task_id}", request_id=None,
                      result_token=f"tok-{task_id}", has_key=False, created_at=1.0, attempt=1,
                      state="queued")


def snapshot(state: Path | None, into: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "STATE_DIR"}
    return subprocess.run([find_program("ai-master"), "--snapshot", str(into)],
                          env=env if state is None else {**env, "STATE_DIR": str(state)},
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_copy_holds_what_an_open_journal_committed_and_the_kept_files(tmp_path: Path) -> None:
    state = tmp_path / "state"
    journal = open_journal(str(state))
    instance = journal.instance_id()
    # Committed but not checkpointed: the rows are in journal.db-wal, not yet in journal.db.
    journal.write([record("a"), record("b")])
    assert (state / f"{FILE_NAME}-wal").stat().st_size > 0
    (state / "session-secret").write_text("kept")
    (state / ".backup").mkdir()
    (state / ".backup" / "left-over").write_text("from an interrupted backup")

    done = snapshot(state, state / ".backup")
    journal.write([record("c")])  # the master goes on: the copy is of the moment it was taken

    assert done.returncode == 0, done.stderr
    copy = state / ".backup"
    assert sorted(p.name for p in copy.iterdir()) == [FILE_NAME, "session-secret"]
    assert (copy / "session-secret").read_text() == "kept"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in copy.iterdir()} == {0o600}
    kept = open_journal(str(copy))
    assert sorted(r.task_id for r in kept.load()) == ["a", "b"]
    assert kept.instance_id() == instance
    journal.close()


def test_without_a_state_folder_it_says_there_is_nothing_to_copy(tmp_path: Path) -> None:
    done = snapshot(None, tmp_path / "copy")
    assert done.returncode == 2 and "STATE_DIR is not set" in done.stderr
    missing = snapshot(tmp_path / "missing", tmp_path / "copy")
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert not (tmp_path / "copy").exists()
