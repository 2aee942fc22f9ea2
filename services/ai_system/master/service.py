"""The master's glue: the dispatcher and sessions behind one lock, and their effects carried out.

Inputs arrive on many threads (Socket.IO handlers, paho's network thread, gRPC's pool,
the deadline ticker). Each takes the lock for a few dict operations only; the resulting
effects go, in order, to one outbox thread that publishes tasks and emits Socket.IO
events, so no lock is held during I/O and a session sees its events in the order the
dispatcher produced them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from ai_system.config import MasterSettings
from ai_system.master.dispatcher import (
    Ack,
    Assign,
    Dispatcher,
    Effect,
    Fail,
    SessionEffect,
    UnknownWorkerError,
    WorkerResult,
)
from ai_system.master.sessions import Sessions
from ai_system.protocol import WorkerRegistration, WorkerStatus

log = logging.getLogger(__name__)

# publish(worker_id, payload) and emit(event, payload, room).
Publisher = Callable[[str, bytes], None]
Emitter = Callable[[str, dict[str, Any], str], None]

TICK_SECONDS = 1.0
_MAX_API_KEY_CHARS = 512
_MAX_REQUEST_ID_CHARS = 128
# A worker id names its task topic: MQTT wildcards would make that topic unpublishable.
_NOT_IN_TOPICS = ("+", "#", "\0")


class QueryRejectedError(ValueError):
    """A question the master will not queue; the message is for the user."""

    def __init__(self, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id  # the client's id, echoed if it was usable


class MasterService:
    def __init__(self, settings: MasterSettings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._dispatcher = Dispatcher(
            grpc_endpoint=settings.grpc_advertised_endpoint,
            task_timeout=settings.task_timeout_seconds,
            max_attempts=settings.max_attempts,
        )
        self._sessions = Sessions(ttl=settings.pending_results_ttl_seconds)
        self._outbox: queue.SimpleQueue[Effect | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._publish: Publisher | None = None
        self._emit: Emitter | None = None
        self._rejected = 0

    # --- life cycle --------------------------------------------------------------------

    def start(self, publish: Publisher, emit: Emitter) -> None:
        """Start the outbox and the deadline ticker; effects before this wait in the outbox."""
        self._publish, self._emit = publish, emit
        for target, name in ((self._drain_outbox, "outbox"), (self._tick_forever, "ticker")):
            thread = threading.Thread(target=target, name=f"master-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        self._outbox.put(None)
        for thread in self._threads:
            thread.join(timeout=5)

    # --- inputs ------------------------------------------------------------------------

    def submit(self, sid: str, query: object, api_key: object = None,
               request_id: object = None) -> str:
        """Validate and queue a question from a connection; return its task id.

        Raises QueryRejectedError with a message for the user.
        """
        task_id = str(uuid.uuid4())
        with self._lock:
            session_id = self._sessions.session_of(sid)
            try:
                text, key, rid = self._validate(query, api_key, request_id)
                if session_id is None:
                    raise QueryRejectedError("This connection has no session; reconnect.", rid)
            except QueryRejectedError:
                self._rejected += 1
                raise
            effects = self._dispatcher.submit(
                self._clock(), task_id=task_id, session_id=session_id, query=text,
                api_key=key, request_id=rid)
        self._send(effects)
        log.debug("task %s from session %s", task_id, session_id)
        return task_id

    def on_register(self, reg: WorkerRegistration) -> None:
        if any(char in reg.worker_id for char in _NOT_IN_TOPICS):
            log.warning("registration dropped: worker id %r cannot name an MQTT topic",
                        reg.worker_id)
            return
        with self._lock:
            known = self._dispatcher.knows(reg.worker_id)
            effects = self._dispatcher.register(self._clock(), reg)
        if not known:
            log.info("worker %s registered (node %s, %s, provider %s)",
                     reg.worker_id, reg.node or reg.hostname, reg.language, reg.provider)
        self._send(effects)

    def on_status(self, status: WorkerStatus) -> None:
        try:
            with self._lock:
                effects = self._dispatcher.status(self._clock(), status)
        except UnknownWorkerError:
            log.warning("status from unknown worker %r dropped (it registers when it sees "
                        "the master online)", status.worker_id)
            return
        if status.status == "offline":
            log.info("worker %s is offline", status.worker_id)
        self._send(effects)

    def on_result(self, result: WorkerResult) -> Ack:
        with self._lock:
            ack, effects = self._dispatcher.result(self._clock(), result)
        if not ack.success:
            log.warning("result for unknown task %r from worker %r", result.task_id,
                        result.worker_id)
        else:
            log.debug("result for task %s from %s: %s", result.task_id, result.worker_id,
                      ack.message)
        self._send(effects)
        return ack

    def on_broker_changed(self) -> None:
        with self._lock:
            self._dispatcher.broker_changed()

    def connect(self, sid: str, session_id: str) -> list[tuple[str, dict[str, Any]]]:
        """A browser joined the session's room; return the events kept while it was away."""
        with self._lock:
            return self._sessions.connect(sid, session_id, self._clock())

    def disconnect(self, sid: str) -> None:
        with self._lock:
            self._sessions.disconnect(sid)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            data = self._dispatcher.snapshot()
            data["tasks"]["rejected"] = self._rejected
            data["sessions"] = self._sessions.counts()
        return data

    def tick(self) -> None:
        """Deadlines, queue positions, long-gone workers, expired kept answers (every second)."""
        now = self._clock()
        with self._lock:
            before = self._dispatcher.counters.requeued
            effects = self._dispatcher.expire(now) + self._dispatcher.queue_positions()
            late = self._dispatcher.counters.requeued - before
            gone = self._dispatcher.forget_offline(now)
            self._sessions.purge(now)
        if gone:
            log.info("forgot worker(s) offline for long: %s", ", ".join(gone))
        if late:
            log.warning("%d task(s) passed their deadline and went back to the queue", late)
        self._send(effects)

    # --- internals ---------------------------------------------------------------------

    def _validate(self, query: object, api_key: object,
                  request_id: object) -> tuple[str, str, str | None]:
        """The question and the user's key, stripped, and the request id (None if absent)."""
        if request_id not in (None, "") and (not isinstance(request_id, str)
                                             or len(request_id) > _MAX_REQUEST_ID_CHARS):
            raise QueryRejectedError(
                f"request_id must be text of at most {_MAX_REQUEST_ID_CHARS} characters.")
        rid = request_id if isinstance(request_id, str) and request_id else None
        if not isinstance(query, str) or not query.strip():
            raise QueryRejectedError("The question is empty.", rid)
        text = query.strip()
        limit = self._settings.max_query_chars
        if len(text) > limit:
            raise QueryRejectedError(
                f"The question is {len(text)} characters long; the limit is {limit}.", rid)
        if api_key is not None and not isinstance(api_key, str):
            raise QueryRejectedError("api_key must be text.", rid)
        key = (api_key or "").strip()
        if len(key) > _MAX_API_KEY_CHARS:
            raise QueryRejectedError("The API key is too long to be a real key.", rid)
        return text, key, rid

    def _send(self, effects: list[Effect]) -> None:
        for effect in effects:
            self._outbox.put(effect)

    def _drain_outbox(self) -> None:
        while (effect := self._outbox.get()) is not None:
            try:
                self._carry_out(effect)
            except Exception:
                log.exception("could not carry out %s", type(effect).__name__)

    def _carry_out(self, effect: Effect) -> None:
        assert self._publish is not None and self._emit is not None
        if isinstance(effect, Assign):
            message = effect.message
            self._publish(message.worker_id, message.to_json())
            log.debug("task %s attempt %d -> %s", message.task_id, message.attempt,
                      message.worker_id)
            return
        self._to_session(effect)

    def _to_session(self, effect: SessionEffect) -> None:
        payload = effect.payload()
        if isinstance(effect, Fail):
            log.info("task %s failed: %s", effect.task_id, effect.error)
        with self._lock:
            present = self._sessions.is_connected(effect.session_id)
            if effect.keep_if_away:
                self._sessions.keep(effect.session_id, effect.event, payload, self._clock(),
                                    delivered=present)
        if present:
            self._emit(effect.event, payload, effect.session_id)

    def _tick_forever(self) -> None:
        while not self._stopping.wait(TICK_SECONDS):
            try:
                self.tick()
            except Exception:
                log.exception("deadline tick failed")
