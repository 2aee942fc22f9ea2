"""A consistent copy of the master's state folder, taken while the master runs
(``ai-master --snapshot DIR``; make backup runs it in the master's container).

Copying the journal's files as they are can catch SQLite between a write and a checkpoint;
SQLite's online backup reads one consistent version of the database however busy the master
is. The other files (kept secrets, journals set aside) are only ever replaced whole, so a
plain copy of each is consistent.
"""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from ai_system.master.journal import FILE_NAME

# The live journal's files: the snapshot holds the journal as one database file instead.
_JOURNAL_FILES = {FILE_NAME, f"{FILE_NAME}-wal", f"{FILE_NAME}-shm"}


def snapshot(state_dir: str, into: str) -> list[str]:
    """Writes the state of ``state_dir`` into the folder ``into`` (made anew, 0700, its
    files 0600) and returns the names written."""
    source, target = Path(state_dir), Path(into)
    if not source.is_dir():
        raise FileNotFoundError(f"the state folder {source} does not exist")
    shutil.rmtree(target, ignore_errors=True)  # what an interrupted backup left
    target.mkdir(mode=0o700, parents=True)
    written = []
    if (source / FILE_NAME).is_file():
        copy = target / FILE_NAME
        with closing(sqlite3.connect(source / FILE_NAME)) as live, \
                closing(sqlite3.connect(copy)) as kept:
            live.backup(kept)
        copy.chmod(0o600)
        written.append(FILE_NAME)
    for entry in sorted(source.iterdir()):
        if entry.name in _JOURNAL_FILES or not entry.is_file() or entry.resolve() == target:
            continue
        shutil.copy2(entry, target / entry.name)
        (target / entry.name).chmod(0o600)
        written.append(entry.name)
    return written
