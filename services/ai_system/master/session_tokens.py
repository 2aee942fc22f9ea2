"""Server-issued chat sessions: a public session id and the secret token that resumes it.

The token is ``<session id>.<HMAC-SHA256 of it>`` under the master's session secret
(itsdangerous, keyed with the secret itself), so the master keeps no table of sessions, and a
master restarted with the same secret (kept in STATE_DIR, or given as SESSION_SECRET:
kept_secrets.py) still recognises its sessions. The session id is public (the bus, the page
and the logs show it); knowing it gives nothing.
"""

from __future__ import annotations

import hashlib
import uuid

from itsdangerous import BadSignature, Signer

_MAX_TOKEN_CHARS = 200


class SessionTokens:
    def __init__(self, secret: bytes) -> None:
        self._signer = Signer(secret, key_derivation="none", digest_method=hashlib.sha256)

    def new_session(self) -> tuple[str, str]:
        """A fresh ``(session_id, session_token)``."""
        session_id = str(uuid.uuid4())
        return session_id, self.token_for(session_id)

    def token_for(self, session_id: str) -> str:
        return self._signer.sign(session_id).decode()

    def session_of(self, token: object) -> str | None:
        """The session id a genuine token names; None for anything else."""
        if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS:
            return None
        try:
            session_id = self._signer.unsign(token).decode()
        except (BadSignature, UnicodeError):
            return None
        return session_id or None
