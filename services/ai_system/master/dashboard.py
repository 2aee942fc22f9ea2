"""The operator's live dashboard: /dashboard and its Socket.IO namespace, behind a login.

The operator signs in with the operator token (OPERATOR_TOKEN, or the one the master keeps in
STATE_DIR); the master answers with an HttpOnly cookie naming a session of its own, which the
page and its Socket.IO connection carry. A session ends on signing out, after twelve hours, or
when the master restarts (the operator signs in again). Every second the master pushes the
workers, the queue, the counters, the recent tasks and what is new in the charts and the log
to every signed-in page.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from cachetools import TTLCache
from flask import Flask, Response, make_response, redirect, render_template, request
from flask_socketio import SocketIO, emit, join_room
from socketio.exceptions import ConnectionRefusedError  # flask_socketio's, not in its stubs
from werkzeug.wrappers import Response as BaseResponse

from ai_system.master.limits import RateLimiter
from ai_system.master.service import MasterService

NAMESPACE = "/dashboard"
COOKIE = "ai_operator"
EVENT_STATE = "dashboard-state"
PUSH_SECONDS = 1.0
# How long a sign-in lasts, and how many signed-in browsers the master keeps at most (the
# oldest session ends first beyond that).
OPERATOR_SESSION_SECONDS = 12 * 3600
OPERATOR_SESSIONS = 100
_ROOM = "operators"

Health = Callable[[], dict[str, Any]]


class OperatorAuth:
    """The operator token, and the sessions it opens: each a random id the cookie carries."""

    def __init__(self, token: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._token = token.encode()
        self._sessions: TTLCache[str, bool] = TTLCache(
            maxsize=OPERATOR_SESSIONS, ttl=OPERATOR_SESSION_SECONDS, timer=clock)
        self._lock = threading.Lock()
        # Guessing the token from one address: a handful of tries a minute.
        self.attempts = RateLimiter(per_minute=6, burst=5)

    def check_token(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self._token)

    def open_session(self) -> str:
        """A new session's id, for the cookie."""
        session = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[session] = True
        return session

    def check_cookie(self, given: str | None) -> bool:
        with self._lock:
            return bool(given) and self._sessions.get(str(given), False)

    def close_session(self, given: str | None) -> None:
        with self._lock:
            self._sessions.pop(str(given), None)


class _Pusher:
    """Sends what is new to the signed-in pages once a second, while there are any."""

    def __init__(self, socketio: SocketIO, state: Callable[[int, int], dict[str, Any]]) -> None:
        self._socketio = socketio
        self._state = state
        self._viewers = 0
        self._lock = threading.Lock()
        self._running = False
        self._last_log = 0
        self._last_sample = 0

    def joined(self) -> dict[str, Any]:
        """A page signed in: it gets everything once, then the broadcasts of what is newer."""
        state = self._state(0, 0)
        with self._lock:
            self._viewers += 1
            if not self._running:
                self._running = True
                self._mark(state)
                self._socketio.start_background_task(self._loop)
        return state

    def _mark(self, state: dict[str, Any]) -> None:
        """The next broadcast starts after what ``state`` gave."""
        if state["logs"]:
            self._last_log = state["logs"][-1]["seq"]
        if state["history"]:
            self._last_sample = state["history"][-1]["at"]

    def left(self) -> None:
        with self._lock:
            self._viewers = max(0, self._viewers - 1)

    def _loop(self) -> None:
        while True:
            time.sleep(PUSH_SECONDS)
            with self._lock:
                if not self._viewers:
                    self._running = False
                    return
            state = self._state(self._last_log, self._last_sample)
            self._mark(state)
            self._socketio.emit(EVENT_STATE, state, to=_ROOM, namespace=NAMESPACE)


def register_dashboard(app: Flask, socketio: SocketIO, service: MasterService, health: Health,
                       operator_token: str) -> None:
    auth = OperatorAuth(operator_token)

    def state(after_log: int, after_sample: int) -> dict[str, Any]:
        return {**service.snapshot(), **health(), **service.activity.view(after_log, after_sample)}

    pusher = _Pusher(socketio, state)

    def login_page(message: str, status: int) -> Response:
        return make_response(render_template("dashboard_login.html", message=message), status)

    @app.get("/dashboard")
    def dashboard() -> Response:
        if not auth.check_cookie(request.cookies.get(COOKIE)):
            return login_page("", 401)
        return make_response(render_template("dashboard.html"))

    @app.post("/dashboard/login")
    def login() -> BaseResponse:  # redirect() makes werkzeug's Response
        if not auth.attempts.allow(request.remote_addr or "", time.monotonic()):
            return login_page("Too many attempts; wait a minute.", 429)
        if not auth.check_token(request.form.get("token", "").strip()):
            return login_page("That is not the operator token.", 401)
        response = redirect("/dashboard", code=303)
        response.set_cookie(COOKIE, auth.open_session(), max_age=OPERATOR_SESSION_SECONDS,
                            httponly=True, samesite="Strict")
        return response

    @app.post("/dashboard/logout")
    def logout() -> BaseResponse:
        auth.close_session(request.cookies.get(COOKIE))
        response = redirect("/dashboard", code=303)
        response.delete_cookie(COOKIE)
        return response

    @socketio.on("connect", namespace=NAMESPACE)
    def on_connect(_auth: object = None) -> None:
        if not auth.check_cookie(request.cookies.get(COOKIE)):
            raise ConnectionRefusedError("sign in at /dashboard first")
        join_room(_ROOM)
        emit(EVENT_STATE, pusher.joined())

    @socketio.on("disconnect", namespace=NAMESPACE)
    def on_disconnect(*_reason: object) -> None:
        pusher.left()
