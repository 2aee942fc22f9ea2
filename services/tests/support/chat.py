"""A chat user: a real python-socketio client that records every event it receives.

Waiting is done on a condition variable signalled by the client's event thread; the
timeouts are only bounds for a failure, never part of what a test asserts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import socketio

from ai_system.protocol import (
    EVENT_AI_CHUNK,
    EVENT_AI_RESPONSE,
    EVENT_CONVERSATION,
    EVENT_NEW_CONVERSATION,
    EVENT_SESSION,
    EVENT_TASK_ERROR,
    EVENT_TASK_QUEUED,
    EVENT_TASK_RETRYING,
    EVENT_USER_QUERY,
)

EVENTS = (EVENT_SESSION, EVENT_CONVERSATION, EVENT_TASK_QUEUED, EVENT_TASK_RETRYING,
          EVENT_AI_CHUNK, EVENT_AI_RESPONSE, EVENT_TASK_ERROR)


@dataclass(frozen=True)
class Event:
    name: str
    data: dict[str, Any]
    at: float  # time.monotonic() when received (benchmarks use it; tests do not)


class ChatClient:
    """One browser session. ``session_token`` resumes an existing session; ``auth`` sends
    anything else (what a curious user might try)."""

    def __init__(self, url: str, session_token: str | None = None,
                 auth: dict[str, Any] | None = None) -> None:
        self.url = url
        self._auth = auth if auth is not None else (
            {"session_token": session_token} if session_token else None)
        self._events: list[Event] = []
        self._changed = threading.Condition()
        self.sio = socketio.Client(reconnection=False, handle_sigint=False)
        for name in EVENTS:
            self.sio.on(name, self._recorder(name))

    def _recorder(self, name: str) -> Callable[[Any], None]:
        def record(data: Any = None) -> None:
            with self._changed:
                self._events.append(Event(name, data if isinstance(data, dict) else {},
                                          time.monotonic()))
                self._changed.notify_all()
        return record

    # -- connection ----------------------------------------------------------------------
    def connect(self, timeout: float = 15.0) -> ChatClient:
        self.sio.connect(self.url, auth=self._auth, transports=["websocket"],
                         wait_timeout=timeout)
        self.wait_for(EVENT_SESSION, timeout=timeout)
        return self

    def disconnect(self) -> None:
        """Leave now; the socket is torn down in the background.

        python-engineio's client sends its goodbye at once, then (here, against
        Flask-SocketIO's threading server) waits 3 s for the end of the websocket close
        handshake; nobody needs to wait for that.
        """
        if self.sio.connected:
            threading.Thread(target=self.sio.disconnect, name="chat-disconnect",
                             daemon=True).start()

    def __enter__(self) -> ChatClient:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    @property
    def session_id(self) -> str:
        return self.events(EVENT_SESSION)[-1].data["session_id"]

    @property
    def session_token(self) -> str:
        return self.events(EVENT_SESSION)[-1].data["session_token"]

    # -- asking --------------------------------------------------------------------------
    def new_conversation(self, timeout: float = 15.0) -> dict[str, Any]:
        """Emit ``new-conversation``; return the acknowledgement ({context} or {error})."""
        ack = self.sio.call(EVENT_NEW_CONVERSATION, {}, timeout=timeout)
        return ack if isinstance(ack, dict) else {}

    def ask(self, query: str, *, api_key: str | None = None, request_id: str | None = None,
            timeout: float = 15.0) -> dict[str, Any]:
        """Emit ``user-query`` and return the acknowledgement ({task_id} or {error})."""
        payload: dict[str, Any] = {"query": query}
        if api_key is not None:
            payload["api_key"] = api_key
        if request_id is not None:
            payload["request_id"] = request_id
        ack = self.sio.call(EVENT_USER_QUERY, payload, timeout=timeout)
        assert isinstance(ack, dict), f"user-query acknowledgement is not an object: {ack!r}"
        return ack

    # -- what arrived --------------------------------------------------------------------
    def events(self, name: str | None = None) -> list[Event]:
        with self._changed:
            return [event for event in self._events if name is None or event.name == name]

    def about(self, task_id: str, name: str | None = None) -> list[dict[str, Any]]:
        """Payloads of the events about one task."""
        return [event.data for event in self.events(name) if event.data.get("task_id") == task_id]

    def wait_until(self, condition: Callable[[list[Event]], bool], timeout: float,
                   what: str) -> list[Event]:
        """Block until ``condition(all events)`` holds; fail with what did arrive."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition(self._events):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"timed out after {timeout:.0f} s waiting for {what}; events so far: "
                        f"{[(e.name, e.data) for e in self._events]}")
                self._changed.wait(remaining)
            return list(self._events)

    def wait_for(self, name: str, task_id: str | None = None, timeout: float = 30.0,
                 count: int = 1) -> list[dict[str, Any]]:
        """The first ``count`` events called ``name`` (about ``task_id`` if given)."""
        def matching(events: list[Event]) -> list[dict[str, Any]]:
            return [e.data for e in events if e.name == name
                    and (task_id is None or e.data.get("task_id") == task_id)]

        self.wait_until(lambda events: len(matching(events)) >= count, timeout,
                        f"{count} {name!r} event(s)" + (f" for task {task_id}" if task_id else ""))
        return matching(self.events())[:count]

    def wait_answer(self, task_id: str, timeout: float = 30.0) -> dict[str, Any]:
        """The ``ai-response`` for ``task_id``; a ``task-error`` for it fails at once."""
        def finished(events: list[Event]) -> bool:
            return any(e.name in (EVENT_AI_RESPONSE, EVENT_TASK_ERROR)
                       and e.data.get("task_id") == task_id for e in events)

        self.wait_until(finished, timeout, f"the answer to task {task_id}")
        errors = self.about(task_id, EVENT_TASK_ERROR)
        assert not errors, f"task {task_id} failed: {errors}"
        return self.about(task_id, EVENT_AI_RESPONSE)[0]
