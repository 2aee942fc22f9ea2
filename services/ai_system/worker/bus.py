"""The worker's MQTT side: registration, status, heartbeat, and tasks into the queue.

paho's network thread only parses and enqueues here; the runner thread does the work.
The Last Will reports the worker offline, so the master requeues its task if we vanish.
The session is persistent within this process only (see ``mqtt.make_client``): a task
published during a reconnect waits on the broker, a previous life's tasks do not. Each
process has its own ``instance_id``, sent with every registration.

The heartbeat keeps HEALTH_FILE fresh while the worker is connected and its runner is not
stuck: a task running longer than TASK_TIMEOUT_SECONDS (which its settings cannot allow)
removes the file, so the health check fails and the container is replaced.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as paho

from ai_system import mqtt
from ai_system.config import WorkerSettings
from ai_system.protocol import (
    MasterStatus,
    ProtocolError,
    TaskMessage,
    Topics,
    WorkerRegistration,
    WorkerStatus,
)
from ai_system.worker.dedup import RecentTasks
from ai_system.worker.health import HealthFile
from ai_system.worker.state import Delivery, WorkerState

log = logging.getLogger(__name__)

_GOODBYE_TIMEOUT_SECONDS = 2.0


class WorkerBus:
    def __init__(
        self,
        settings: WorkerSettings,
        tasks: queue.Queue[Delivery | None],
        state: WorkerState,
        health: HealthFile,
    ) -> None:
        self._settings = settings
        self._worker_id = settings.worker_id
        self._tasks = tasks
        self._state = state
        self._health = health
        self._recent = RecentTasks()
        self.instance_id = uuid.uuid4().hex
        self._connected_before = False
        self._stuck_reported: str | None = None
        self._health_lock = threading.Lock()
        self.topics = Topics(settings.mqtt.topic_prefix)
        self._task_topic = self.topics.tasks(self._worker_id)
        self._closing = threading.Event()
        will = (self.topics.status, WorkerStatus(self._worker_id, "offline").to_json(), False)
        self.client = mqtt.make_client(settings.mqtt, self._worker_id,
                                       persistent_session=True, will=will)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self._heartbeat = threading.Thread(target=self._beat, name="heartbeat", daemon=True)

    def start(self) -> None:
        mqtt.start(self.client, self._settings.mqtt)
        self._heartbeat.start()

    def publish_status(self, status: WorkerStatus) -> None:
        # After the goodbye, a late idle from the runner must not revive us at the master.
        if not self._closing.is_set():
            self.client.publish(self.topics.status, status.to_json(), qos=1)

    def stop(self) -> None:
        """Reports offline (a clean disconnect sends no Last Will) and disconnects."""
        self._closing.set()
        with self._health_lock:
            self._health.remove()
        goodbye = WorkerStatus(self._worker_id, "offline", self._state.status().task_id)
        if not mqtt.stop(self.client, (self.topics.status, goodbye.to_json(), False),
                         _GOODBYE_TIMEOUT_SECONDS):
            log.warning("could not report offline before disconnecting")

    # --- paho callbacks (network thread: no blocking) -----------------------------------

    def _on_connect(self, client: paho.Client, _userdata: Any, flags: Any,
                    reason_code: Any, _properties: Any) -> None:
        if reason_code.is_failure:
            log.warning("broker refused the connection: %s", reason_code)
            return
        resumed = bool(flags.session_present)
        if resumed and not self._connected_before:
            # Only if the broker refused our first, clean, connection: the tasks it still
            # holds are a previous life's. The master requeues them anyway.
            log.warning("the broker resumed a session of an earlier %s process",
                        self._worker_id)
        self._connected_before = True
        client.subscribe([(self._task_topic, 1), (self.topics.master_status, 1)])
        self._register()
        self._refresh_health()
        log.info("connected to %s:%d as %s (provider %s, %s session)",
                 self._settings.mqtt.host, self._settings.mqtt.port, self._worker_id,
                 self._settings.provider, "resumed" if resumed else "new")

    def _on_disconnect(self, _client: paho.Client, _userdata: Any, _flags: Any,
                       reason_code: Any, _properties: Any) -> None:
        with self._health_lock:
            self._health.remove()
        if not self._closing.is_set():
            log.warning("disconnected from the broker (%s); reconnecting", reason_code)

    def _on_message(self, _client: paho.Client, _userdata: Any,
                    message: paho.MQTTMessage) -> None:
        if message.topic == self._task_topic:
            self._on_task(message.payload)
        elif message.topic == self.topics.master_status:
            self._on_master_status(message)

    def _on_task(self, payload: bytes | bytearray) -> None:
        received_at = time.monotonic()
        try:
            task = TaskMessage.from_json(payload)
        except ProtocolError as exc:
            log.warning("dropped a malformed task: %s", exc)
            return
        if task.worker_id != self._worker_id:
            log.warning("dropped task %s addressed to worker %r", task.task_id, task.worker_id)
            return
        if not self._recent.first_time(task.task_id, task.attempt):
            log.info("dropped a redelivery of task %s (attempt %d)", task.task_id, task.attempt)
            return
        self._tasks.put(Delivery(task, received_at))

    def _on_master_status(self, message: paho.MQTTMessage) -> None:
        try:
            status = MasterStatus.from_json(message.payload)
        except ProtocolError as exc:
            log.warning("dropped a malformed master status: %s", exc)
            return
        # The retained copy comes with every (re)subscription, right after we registered.
        if status.status == "online" and not message.retain:
            log.info("master is online; registering again")
            self._register()

    # --- what we tell the master --------------------------------------------------------

    def _register(self) -> None:
        status = self._state.status()
        registration = WorkerRegistration(
            worker_id=self._worker_id,
            hostname=self._settings.hostname,
            node=self._settings.node,
            provider=self._settings.provider,
            status=status.status,
            instance_id=self.instance_id,
            user_key_provider=self._settings.key_provider,
        )
        self.client.publish(self.topics.register, registration.to_json(), qos=1)
        self.publish_status(status)

    def _beat(self) -> None:
        while not self._closing.wait(self._settings.heartbeat_seconds):
            if self.client.is_connected():
                # The registration too: a master that never announces itself (the original
                # assignment's) learns of a worker started before it within a heartbeat.
                self._register()
            self._refresh_health()

    def _refresh_health(self) -> None:
        """Touch HEALTH_FILE if connected and not stuck on a task; remove it if stuck."""
        task_id, seconds = self._state.busy_for() or ("", 0.0)
        limit = self._settings.task_timeout_seconds
        stuck = seconds > limit
        if stuck and self._stuck_reported != task_id:
            self._stuck_reported = task_id
            log.error("task %s has been running for %.0f s, longer than TASK_TIMEOUT_SECONDS "
                      "(%g s): reporting this worker unhealthy", task_id, seconds, limit)
        with self._health_lock:
            if stuck:
                self._health.remove()
            elif self.client.is_connected() and not self._closing.is_set():
                self._health.touch()
