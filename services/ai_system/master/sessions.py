"""Which Socket.IO connections belong to which chat session, and answers kept for the away.

A session outlives a connection: the browser keeps its session token and presents it in
the Socket.IO ``auth`` payload when it reconnects (session_tokens.py), and every
connection of a session joins the Socket.IO room named after the session id. An answer
for a session with no connection is kept (bounded per session, for ``ttl`` seconds) and
handed over on the next connect. An answer emitted to a connection is kept too, for
``recent_ttl`` seconds: a connection that died silently still counts as present until
Engine.IO's ping timeout, and what was emitted into it meanwhile reaches the browser when
it comes back (the chat ignores a task it already shows). Pure logic: the caller holds the
lock and passes the time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Kept:
    expires_at: float
    event: str
    payload: dict[str, Any] = field(repr=False)


# Longer than Engine.IO's default ping interval + timeout (25 s + 20 s).
RECENT_TTL_SECONDS = 60.0


class Sessions:
    def __init__(self, ttl: float, recent_ttl: float = RECENT_TTL_SECONDS,
                 max_kept_per_session: int = 100) -> None:
        self._ttl = ttl
        self._recent_ttl = recent_ttl
        self._max_kept = max_kept_per_session
        self._session_of: dict[str, str] = {}  # sid -> session id
        self._address_of: dict[str, str] = {}  # sid -> the client's address
        self._sids: dict[str, set[str]] = {}  # session id -> sids
        self._kept: dict[str, deque[_Kept]] = {}

    def connect(self, sid: str, session_id: str, now: float,
                address: str = "") -> list[tuple[str, dict[str, Any]]]:
        """Record the connection; return the (event, payload) pairs kept for the session."""
        self._session_of[sid] = session_id
        self._address_of[sid] = address
        self._sids.setdefault(session_id, set()).add(sid)
        kept = self._kept.pop(session_id, ())
        return [(item.event, item.payload) for item in kept if item.expires_at > now]

    def disconnect(self, sid: str) -> str | None:
        """Forget the connection; return its session id (None if unknown)."""
        session_id = self._session_of.pop(sid, None)
        self._address_of.pop(sid, None)
        if session_id is not None:
            sids = self._sids[session_id]
            sids.discard(sid)
            if not sids:
                del self._sids[session_id]
        return session_id

    def session_of(self, sid: str) -> str | None:
        return self._session_of.get(sid)

    def address_of(self, sid: str) -> str:
        return self._address_of.get(sid, "")

    def sids(self) -> list[str]:
        """Every connection, for closing them all when the master stops."""
        return list(self._session_of)

    def is_connected(self, session_id: str) -> bool:
        return session_id in self._sids

    def keep(self, session_id: str, event: str, payload: dict[str, Any], now: float,
             *, delivered: bool) -> None:
        """Hold an event for the session's next connect; the oldest go first when full.

        ``delivered``: it was emitted to a connection, so it is kept only briefly.
        """
        self.keep_until(session_id, event, payload,
                        now + (self._recent_ttl if delivered else self._ttl))

    def keep_until(self, session_id: str, event: str, payload: dict[str, Any],
                   expires_at: float) -> None:
        """Hold an event until ``expires_at`` (an outcome rebuilt from the journal)."""
        kept = self._kept.get(session_id)
        if kept is None:
            kept = self._kept[session_id] = deque(maxlen=self._max_kept)
        kept.append(_Kept(expires_at, event, payload))

    @property
    def ttl(self) -> float:
        return self._ttl

    @property
    def recent_ttl(self) -> float:
        return self._recent_ttl

    def purge(self, now: float) -> int:
        """Drop kept events past their time to live; return how many went."""
        dropped = 0
        for session_id in list(self._kept):
            kept = self._kept[session_id]
            alive = deque((item for item in kept if item.expires_at > now), maxlen=kept.maxlen)
            dropped += len(kept) - len(alive)
            if alive:
                self._kept[session_id] = alive
            else:
                del self._kept[session_id]
        return dropped

    def counts(self) -> dict[str, int]:
        return {
            "connections": len(self._session_of),
            "sessions": len(self._sids),
            "sessions_with_kept_results": len(self._kept),
        }
