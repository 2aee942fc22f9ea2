"""Secrets the master keeps in STATE_DIR when the operator gives none: made once, 0600.

The session secret (so sessions survive a restart) and the operator's dashboard token.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

SESSION_SECRET_FILE = "session.key"
OPERATOR_TOKEN_FILE = "operator.token"


def kept_secret(configured: str, state_dir: str, file_name: str,
                make: Callable[[], bytes], what: str) -> bytes:
    """``configured`` if set; else the one kept in ``state_dir/file_name`` (made there on
    first use, mode 0600); else a new one for this process only. Raises OSError when the
    state folder cannot be read or written."""
    if configured:
        return configured.encode()
    if not state_dir:
        return make()
    path = Path(state_dir) / file_name
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    secret = make()
    # O_EXCL: the file is born private; a concurrent writer's secret wins instead.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(secret)
    log.info("made a new %s in %s", what, path)
    # What every later read of the file gives (reads strip an operator's trailing newline).
    return secret.strip()


def session_secret(configured: str, state_dir: str) -> bytes:
    return kept_secret(configured, state_dir, SESSION_SECRET_FILE,
                       lambda: secrets.token_urlsafe(32).encode(), "session secret")


def operator_token(configured: str, state_dir: str) -> str:
    return kept_secret(configured, state_dir, OPERATOR_TOKEN_FILE,
                       lambda: secrets.token_urlsafe(24).encode(), "operator token").decode()
