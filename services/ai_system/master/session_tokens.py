"""Server-issued chat sessions: a public session id and the secret token that resumes it.

The token is ``<session id>.<HMAC-SHA256 of it>`` under the master's session secret, so the
master keeps no table of sessions, and a master restarted with the same secret (kept in
STATE_DIR, or given as SESSION_SECRET) still recognises its sessions. The session id is
public (the bus, the page and the logs show it); knowing it gives nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import uuid
from pathlib import Path

log = logging.getLogger(__name__)

SECRET_FILE = "session.key"
_MAX_TOKEN_CHARS = 200


class SessionTokens:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def new_session(self) -> tuple[str, str]:
        """A fresh ``(session_id, session_token)``."""
        session_id = str(uuid.uuid4())
        return session_id, self.token_for(session_id)

    def token_for(self, session_id: str) -> str:
        return f"{session_id}.{self._mac(session_id)}"

    def session_of(self, token: object) -> str | None:
        """The session id a genuine token names; None for anything else."""
        if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS or "." not in token:
            return None
        session_id, _, mac = token.rpartition(".")
        if not session_id or not hmac.compare_digest(mac, self._mac(session_id)):
            return None
        return session_id

    def _mac(self, session_id: str) -> str:
        digest = hmac.new(self._secret, session_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def load_secret(configured: str, state_dir: str) -> bytes:
    """SESSION_SECRET if set; else the one kept in STATE_DIR (made there on first use,
    mode 0600); else a new one for this process only (sessions end with it)."""
    if configured:
        return configured.encode()
    if not state_dir:
        return secrets.token_bytes(32)
    path = Path(state_dir) / SECRET_FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    secret = secrets.token_bytes(32)
    # O_EXCL: the file is born private; a concurrent writer's secret wins instead.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        handle.write(secret)
    log.info("made a new session secret in %s", path)
    return secret
