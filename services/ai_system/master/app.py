"""The master's web side: the chat page, Socket.IO events and the JSON endpoints.

Handlers stay thin: they validate what the browser sent, call the service and answer.
Socket.IO runs in threading mode on Werkzeug: services/README.md says why (measured).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_socketio import SocketIO, emit, join_room

from ai_system.master.dashboard import register_dashboard
from ai_system.master.questions import QueryRejectedError
from ai_system.master.service import MasterService
from ai_system.protocol import (
    EVENT_CONVERSATION,
    EVENT_NEW_CONVERSATION,
    EVENT_SESSION,
    EVENT_USER_QUERY,
)

Health = Callable[[], dict[str, Any]]


def _sid() -> str:
    """The Socket.IO connection of the event being handled."""
    # Flask-SocketIO sets request.sid on Flask's request; Flask's Request type does not declare it.
    return str(request.sid)  # type: ignore[attr-defined]


def create_app(service: MasterService, max_query_chars: int, health: Health,
               operator_token: str) -> tuple[Flask, SocketIO]:
    """``health()`` gives ``{"healthy": bool, ...details}`` for /healthz; the operator token
    opens /dashboard."""
    app = Flask(__name__)  # templates/ and static/ beside this module
    # Handlers only take a lock briefly, so they run on the connection's own thread
    # instead of a new thread per event (a large share of the per-question cost).
    socketio = SocketIO(app, async_mode="threading", async_handlers=False)

    @app.get("/")
    def index() -> str:
        return render_template("index.html", max_query_chars=max_query_chars)

    @app.get("/healthz")
    def healthz() -> Any:
        state = health()
        healthy = state.pop("healthy")
        return jsonify(status="ok" if healthy else "unhealthy", **state), 200 if healthy else 503

    @app.get("/api/status")
    def status() -> Any:
        return jsonify(mqtt_connected=health()["mqtt_connected"], **service.snapshot())

    register_dashboard(app, socketio, service, health, operator_token)

    @socketio.on("connect")
    def on_connect(auth: object = None) -> None:
        session_id, token = service.join(auth)
        # Join the room before the service counts the session as present, so an answer
        # emitted from then on reaches this connection.
        join_room(session_id)
        kept = service.connect(_sid(), session_id, request.remote_addr or "")
        # instance_id names the master's journal: a page that sees it change knows its
        # pending questions were lost with the previous one.
        emit(EVENT_SESSION, {"session_id": session_id, "session_token": token,
                             "instance_id": service.instance_id})
        for event, payload in kept:
            emit(event, payload)
        # Last: the kept answers carry the conversation as it was when each came.
        emit(EVENT_CONVERSATION, {"context": service.context(session_id)})

    @socketio.on("disconnect")
    def on_disconnect(*_reason: object) -> None:
        service.disconnect(_sid())

    @socketio.on(EVENT_USER_QUERY)
    def on_user_query(data: object = None) -> dict[str, Any]:
        """The return value is the Socket.IO acknowledgement: {task_id} or {error}."""
        fields = data if isinstance(data, dict) else {}
        try:
            task_id = service.submit(_sid(), fields.get("query"), fields.get("api_key"),
                                     fields.get("request_id"))
        except QueryRejectedError as exc:
            emit(*exc.event())  # to this connection only
            return {"error": str(exc)}
        return {"task_id": task_id}

    @socketio.on(EVENT_NEW_CONVERSATION)
    def on_new_conversation(*_data: object) -> dict[str, Any]:
        """The acknowledgement is {context: []} once the new conversation is recorded."""
        try:
            service.new_conversation(_sid())
        except QueryRejectedError as exc:
            return {"error": str(exc)}
        return {"context": []}

    return app, socketio
