"""The master's glue: dispatcher, sessions and limits behind one lock, effects carried out.

Inputs arrive on many threads (Socket.IO handlers, paho's network thread, gRPC's pool,
the deadline ticker). Each takes the lock for a few dict operations only and puts the
resulting effects, in order and still under the lock, into the outbox. One outbox thread
takes them in batches: it writes the batch's journal records in one transaction, then
publishes tasks and emits Socket.IO events in order. So nothing is acted on before it is
recorded, no lock is held during I/O, and a session sees its events in the order the
dispatcher produced them. A question is acknowledged to the browser only once recorded.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ai_system.config import MasterSettings
from ai_system.master.activity import Activity, Sample
from ai_system.master.conversations import Conversations
from ai_system.master.dispatcher import Dispatcher
from ai_system.master.domain import RefusedError, UnknownWorkerError
from ai_system.master.effects import Assign, Effect, Fail, Persist, SessionEffect
from ai_system.master.journal import Journal, TaskRecord
from ai_system.master.limits import RateLimiter
from ai_system.master.questions import QueryRejectedError, parse
from ai_system.master.session_tokens import SessionTokens
from ai_system.master.sessions import Sessions
from ai_system.master.worker_results import Ack, HeldTask, WorkerChunk, WorkerResult
from ai_system.protocol import LogRecord, WorkerRegistration, WorkerStatus

log = logging.getLogger(__name__)

# publish(worker_id, payload) and emit(event, payload, room).
Publisher = Callable[[str, bytes], None]
Emitter = Callable[[str, dict[str, Any], str], None]

TICK_SECONDS = 1.0
COMPACT_EVERY_SECONDS = 60.0
# A question is acknowledged once journaled; past this the journal is taken to be stuck.
JOURNAL_WAIT_SECONDS = 5.0
# A worker id names its task topic: MQTT wildcards would make that topic unpublishable.
_NOT_IN_TOPICS = ("+", "#", "\0")


@dataclass(frozen=True)
class Joined:
    """A connection's session, as the browser is told it, and what was kept for it."""

    session_id: str
    session_token: str
    kept: list[tuple[str, dict[str, Any]]]


class _Compact:
    """Outbox item: drop old finished rows from the journal (on the outbox thread)."""


_Item = Effect | threading.Event | _Compact | None


class MasterService:
    def __init__(self, settings: MasterSettings, tokens: SessionTokens,
                 journal: Journal | None = None,
                 observe: Callable[[TaskRecord], None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._tokens = tokens
        self._journal = journal
        self._observe = observe  # the metrics' histograms, from the outbox thread
        self.activity = Activity()  # what the operator's dashboard shows
        self._clock = clock
        self._wall_offset = wall_clock() - clock()
        self._lock = threading.Lock()
        self._dispatcher = Dispatcher(
            grpc_endpoint=settings.grpc_advertised_endpoint,
            task_timeout=settings.task_timeout_seconds,
            max_attempts=settings.max_attempts,
            retry_backoff=settings.retry_backoff_seconds,
            max_pending_per_session=settings.max_pending_per_session,
            max_queued=settings.max_queued,
            ack_timeout=settings.assign_ack_seconds,
            wall_offset=self._wall_offset,
            conversations=Conversations(settings.conversation_turns,
                                        settings.conversation_chars,
                                        settings.conversation_ttl_seconds),
        )
        self._sessions = Sessions(ttl=settings.pending_results_ttl_seconds)
        self._session_limit = RateLimiter(settings.session_rate_per_minute,
                                          settings.session_burst)
        self._address_limit = RateLimiter(settings.address_rate_per_minute,
                                          settings.address_burst)
        self._outbox: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._delivered: list[str] = []  # outbox thread only: outcomes that reached a browser
        self._stopping = threading.Event()
        self._closing = False  # no new questions: the master is stopping
        self._last_compaction = clock()
        self._threads: list[threading.Thread] = []
        self._publish: Publisher | None = None
        self._emit: Emitter | None = None
        self.instance_id = journal.instance_id() if journal is not None else uuid.uuid4().hex

    # --- life cycle --------------------------------------------------------------------

    def restore(self) -> int:
        """Rebuild the queue, the hand-overs and the kept answers from the journal; return
        how many tasks were still open. Call once, before ``start``."""
        if self._journal is None:
            return 0
        records = self._journal.load()
        turns, starts = self._journal.load_conversations()
        now = self._clock()
        with self._lock:
            effects, finished = self._dispatcher.restore(now, records, turns, starts)
            for record in finished:
                self._keep_restored(record)
            self._send(effects)
        open_tasks = sum(1 for record in records if record.state != "finished")
        log.info("journal %s: %d open task(s), %d finished kept", self._journal.path,
                 open_tasks, len(finished))
        return open_tasks

    def start(self, publish: Publisher, emit: Emitter) -> None:
        """Start the outbox and the deadline ticker; effects before this wait in the outbox."""
        self._publish, self._emit = publish, emit
        for target, name in ((self._drain_outbox, "outbox"), (self._tick_forever, "ticker")):
            thread = threading.Thread(target=target, name=f"master-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def close_intake(self) -> list[str]:
        """Take no more questions (the master is stopping); return every connection, so
        the caller can close them and the browsers ask the next master instead."""
        with self._lock:
            self._closing = True
            return self._sessions.sids()

    def stop(self) -> None:
        """Carry out what is in the outbox, then stop (the journal has it all)."""
        self._stopping.set()
        self._outbox.put(None)
        for thread in self._threads:
            thread.join(timeout=5)

    # --- sessions ----------------------------------------------------------------------

    def join(self, auth: object) -> tuple[str, str]:
        """The session a connecting browser resumes (its token in ``auth``), or a new one:
        ``(session_id, session_token)``."""
        token = auth.get("session_token") if isinstance(auth, dict) else None
        session_id = self._tokens.session_of(token)
        if session_id is None:
            return self._tokens.new_session()
        return session_id, str(token)

    def connect(self, sid: str, session_id: str, address: str = "") -> list[
            tuple[str, dict[str, Any]]]:
        """A browser joined the session's room; return the events kept while it was away."""
        with self._lock:
            return self._sessions.connect(sid, session_id, self._clock(), address)

    def disconnect(self, sid: str) -> None:
        with self._lock:
            self._sessions.disconnect(sid)

    def context(self, session_id: str) -> list[str]:
        """The task ids of the turns the session's next question carries, oldest first."""
        with self._lock:
            return self._dispatcher.context(session_id)

    def new_conversation(self, sid: str) -> None:
        """The connection's session starts a new conversation, once recorded. Raises
        QueryRejectedError for a connection without a session."""
        with self._lock:
            session_id = self._sessions.session_of(sid)
            if session_id is None:
                raise QueryRejectedError("This connection has no session; reconnect.",
                                         reason="no_session")
            self._send(self._dispatcher.new_conversation(self._clock(), session_id))
            barrier = self._barrier()
        self._await_record(barrier, f"the new conversation of session {session_id}")

    # --- inputs ------------------------------------------------------------------------

    def submit(self, sid: str, query: object, api_key: object = None,
               request_id: object = None) -> str:
        """Validate, pace and queue a question from a connection; return its task id once
        it is recorded. Raises QueryRejectedError with a message for the user."""
        task_id = str(uuid.uuid4())
        with self._lock:
            now = self._clock()
            try:
                question = parse(query, api_key, request_id, self._settings.max_query_chars)
                session_id = self._admit(sid, now, question.request_id)
                effects = self._dispatcher.submit(
                    now, task_id=task_id, session_id=session_id, query=question.text,
                    api_key=question.api_key, request_id=question.request_id,
                    result_token=secrets.token_urlsafe(24))
            except RefusedError as exc:
                raise QueryRejectedError(str(exc), question.request_id, exc.reason) from None
            except QueryRejectedError as exc:
                self._dispatcher.count_rejection(exc.reason)
                raise
            self._send(effects)
            barrier = self._barrier()
        self._await_record(barrier, f"task {task_id}")
        log.debug("task %s from session %s", task_id, session_id)
        return task_id

    def on_register(self, reg: WorkerRegistration) -> None:
        if any(char in reg.worker_id for char in _NOT_IN_TOPICS):
            log.warning("registration dropped: worker id %r cannot name an MQTT topic",
                        reg.worker_id)
            return
        with self._lock:
            known = self._dispatcher.knows(reg.worker_id)
            self._send(self._dispatcher.register(self._clock(), reg))
        if not known:
            log.info("worker %s registered (node %s, %s, provider %s)",
                     reg.worker_id, reg.node or reg.hostname, reg.language, reg.provider)

    def on_status(self, status: WorkerStatus) -> None:
        try:
            with self._lock:
                self._send(self._dispatcher.status(self._clock(), status))
        except UnknownWorkerError:
            log.warning("status from unknown worker %r dropped (it registers when it sees "
                        "the master online)", status.worker_id)
            return
        if status.status == "offline":
            log.info("worker %s is offline", status.worker_id)

    def on_result(self, result: WorkerResult) -> Ack:
        with self._lock:
            ack, effects = self._dispatcher.result(self._clock(), result)
            self._send(effects)
        if not ack.success:
            log.warning("result for task %r from worker %r refused: %s", result.task_id,
                        result.worker_id, ack.message)
        else:
            log.debug("result for task %s from %s: %s", result.task_id, result.worker_id,
                      ack.message)
        return ack

    def on_chunk(self, chunk: WorkerChunk) -> Ack:
        with self._lock:
            ack, effects = self._dispatcher.chunk(self._clock(), chunk)
            self._send(effects)
        return ack

    def held_task(self, worker_id: str, session_id: str) -> HeldTask | None:
        with self._lock:
            return self._dispatcher.held_task(worker_id, session_id)

    def count_untokened(self) -> None:
        with self._lock:
            self._dispatcher.count_untokened()

    def on_log(self, record: LogRecord) -> None:
        """A line of ``<prefix>/logs``, from any component (nothing may be logged here)."""
        self.activity.log(record)

    def on_broker_changed(self) -> None:
        with self._lock:
            self._dispatcher.broker_changed()

    def snapshot(self) -> dict[str, Any]:
        """Workers, queue and counts for /api/status: no task, session or address in it."""
        with self._lock:
            now = self._clock()
            data = self._dispatcher.snapshot(now)
            data["queue_oldest_seconds"] = round(self._dispatcher.oldest_waiting(now), 3)
            data["sessions"] = self._sessions.counts()
        for worker in data["workers"]:
            del worker["task_id"]
        data["journal"] = self._journal is not None
        return data

    def tick(self) -> None:
        """Deadlines, retries, queue positions, long-gone workers, expired kept answers,
        and now and then the journal's compaction (every second)."""
        now = self._clock()
        with self._lock:
            before = self._dispatcher.requeued
            self._send(self._dispatcher.expire(now) + self._dispatcher.queue_positions())
            late = self._dispatcher.requeued - before
            gone = self._dispatcher.forget_offline(now)
            self._dispatcher.forget_conversations(now)
            self._sessions.purge(now)
            self._sample(now)
        if gone:
            log.info("forgot worker(s) offline for long: %s", ", ".join(gone))
        if late:
            log.warning("%d task(s) passed their deadline and went back to the queue", late)
        if self._journal is not None and now - self._last_compaction >= COMPACT_EVERY_SECONDS:
            self._last_compaction = now
            self._outbox.put(_Compact())

    # --- internals ---------------------------------------------------------------------

    def _admit(self, sid: str, now: float, rid: str | None) -> str:
        """The connection's session, once the master is open and the session and its
        address are within their rates; raises QueryRejectedError."""
        session_id = self._sessions.session_of(sid)
        if session_id is None:
            raise QueryRejectedError("This connection has no session; reconnect.", rid,
                                     "no_session")
        if self._closing:
            raise QueryRejectedError("The server is restarting; ask again in a moment.", rid,
                                     "restarting")
        if not self._session_limit.allow(session_id, now):
            wait = self._session_limit.retry_after(session_id, now)
            raise QueryRejectedError(
                f"You are asking too fast; wait {wait:.0f} s before the next question.",
                rid, "session_rate")
        address = self._sessions.address_of(sid)
        if not self._address_limit.allow(address, now):
            wait = self._address_limit.retry_after(address, now)
            raise QueryRejectedError(
                f"Too many questions come from your network; wait {wait:.0f} s.", rid,
                "address_rate")
        return session_id

    def _sample(self, now: float) -> None:
        """One point of the dashboard's charts (under the lock)."""
        states = self._dispatcher.worker_states()
        self.activity.sample(Sample(
            at=round((now + self._wall_offset) * 1000), completed=self._dispatcher.completed,
            failed=self._dispatcher.failed, queue_depth=self._dispatcher.queue_depth(),
            busy=states["busy"], online=states["busy"] + states["idle"]))

    def _keep_restored(self, record: TaskRecord) -> None:
        """Hold a journaled outcome for its session as it would have been held."""
        if record.event is None or record.payload is None or record.finished_at is None:
            return
        if record.delivered_at is None:
            until = record.finished_at + self._sessions.ttl
        else:
            until = record.delivered_at + self._sessions.recent_ttl
        self._sessions.keep_until(record.session_id, record.event, record.payload,
                                  until - self._wall_offset)

    def _barrier(self) -> threading.Event | None:
        """Under the lock: an event the outbox sets once what it holds now is journaled
        (None without a journal)."""
        if self._journal is None:
            return None
        barrier = threading.Event()
        self._outbox.put(barrier)
        return barrier

    def _await_record(self, barrier: threading.Event | None, what: str) -> None:
        """Wait, outside the lock, until the journal has ``what``; past the wait it is stuck."""
        if barrier is not None and not barrier.wait(JOURNAL_WAIT_SECONDS):
            log.error("the journal took over %.0f s to record %s", JOURNAL_WAIT_SECONDS, what)

    def _send(self, effects: list[Effect]) -> None:
        """Into the outbox; called under the lock, so the outbox order is the lock order."""
        for effect in effects:
            self._outbox.put(effect)

    def _drain_outbox(self) -> None:
        while True:
            batch = [self._outbox.get()]
            while True:
                try:
                    batch.append(self._outbox.get_nowait())
                except queue.Empty:
                    break
            self._record(batch)
            for item in batch:
                if item is None:
                    self._record([])  # the delivery marks of this last batch
                    return
                try:
                    self._carry_out(item)
                except Exception:
                    log.exception("could not carry out %s", type(item).__name__)

    def _record(self, batch: list[_Item]) -> None:
        """Journal the batch's records (and the deliveries seen so far) in one commit."""
        records = [item.record for item in batch if isinstance(item, Persist)]
        for record in records:
            if isinstance(record, TaskRecord):
                self.activity.record(record)
                if self._observe is not None:
                    self._observe(record)
        if self._journal is None:
            return
        delivered, self._delivered = self._delivered, []
        try:
            if records or delivered:
                self._journal.write(records, delivered)
            if any(isinstance(item, _Compact) for item in batch):
                now = time.time()
                dropped = self._journal.compact(
                    finished_before=now - self._sessions.ttl,
                    delivered_before=now - self._sessions.recent_ttl,
                    keep_finished=10_000,
                    turns_before=now - self._settings.conversation_ttl_seconds,
                    keep_turns=self._settings.conversation_turns)
                log.debug("journal compaction dropped %d finished task(s)", dropped)
        except Exception:
            log.exception("could not write the journal: %d record(s) are not durable",
                          len(records))

    def _carry_out(self, item: _Item) -> None:
        assert self._publish is not None and self._emit is not None
        if isinstance(item, Persist | _Compact) or item is None:
            return
        if isinstance(item, threading.Event):
            item.set()
        elif isinstance(item, Assign):
            message = item.message
            self._publish(message.worker_id, message.to_json())
            log.debug("task %s attempt %d -> %s", message.task_id, message.attempt,
                      message.worker_id)
        else:
            self._to_session(item)

    def _to_session(self, effect: SessionEffect) -> None:
        assert self._emit is not None  # _carry_out, its caller, checked it
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
            if effect.keep_if_away and effect.task_id is not None:
                self._delivered.append(effect.task_id)

    def _tick_forever(self) -> None:
        while not self._stopping.wait(TICK_SECONDS):
            try:
                self.tick()
            except Exception:
                log.exception("deadline tick failed")
