"""Server-issued chat sessions: a public session id and the secret token that resumes it.

The token is ``<session id>.<HMAC-SHA256 of it>`` under the master's session secret, so the
master keeps no table of sessions, and a master restarted with the same secret (kept in
STATE_DIR, or given as SESSION_SECRET: kept_secrets.py) still recognises its sessions. The
session id is public (the bus, the page and the logs show it); knowing it gives nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

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
