"""The master's MQTT side: registrations and status in, tasks and master/status out.

Callbacks run on paho's network thread: they parse and hand over to the service, which
only takes its lock briefly, so the network loop never blocks.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from ai_system.config import MqttSettings
from ai_system.mqtt import make_client, start
from ai_system.mqtt import stop as mqtt_stop
from ai_system.protocol import (
    LogRecord,
    MasterStatus,
    ProtocolError,
    Topics,
    WorkerRegistration,
    WorkerStatus,
)

log = logging.getLogger(__name__)

Incoming = TypeVar("Incoming", WorkerRegistration, WorkerStatus, LogRecord)


class BusHandler(Protocol):
    def on_register(self, reg: WorkerRegistration) -> None: ...
    def on_status(self, status: WorkerStatus) -> None: ...
    def on_log(self, record: LogRecord) -> None: ...
    def on_broker_changed(self) -> None: ...


class MasterBus:
    def __init__(self, settings: MqttSettings, handler: BusHandler) -> None:
        self._settings = settings
        self._handler = handler
        self.topics = Topics(settings.topic_prefix)
        self.client = make_client(
            settings,
            client_id=f"ai-master-{socket.gethostname()}-{os.getpid()}",
            will=(self.topics.master_status, MasterStatus("offline").to_json(), True),
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.message_callback_add(
            self.topics.register, self._receiver(WorkerRegistration, handler.on_register))
        self.client.message_callback_add(
            self.topics.status, self._receiver(WorkerStatus, handler.on_status))
        # For the operator's dashboard; dropped lines are not worth a warning of their own.
        self.client.message_callback_add(
            self.topics.logs, self._receiver(LogRecord, handler.on_log, quiet=True))
        # time.monotonic() of the last loss of the broker (or of start), None while connected.
        self._away_since: float | None = time.monotonic()
        # Set when the broker acknowledged our subscriptions: until then a worker's
        # registration (QoS 0 for the original protocol's workers) would reach nobody.
        self._subscribed = False

    @property
    def connected(self) -> bool:
        """Connected, and subscribed to what workers send."""
        return self._subscribed and self.client.is_connected()

    def disconnected_for(self) -> float:
        """Seconds since the broker was last reachable (0 while connected)."""
        since = self._away_since
        return 0.0 if since is None else time.monotonic() - since

    def start(self) -> None:
        start(self.client, self._settings)

    def publish_task(self, worker_id: str, payload: bytes) -> None:
        # QoS 1; paho keeps it and sends it after a reconnect if the broker is away.
        self.client.publish(self.topics.tasks(worker_id), payload, qos=1)

    def stop(self, timeout: float = 3.0) -> None:
        """Announce offline (retained), then disconnect cleanly (no Last Will)."""
        goodbye = (self.topics.master_status, MasterStatus("offline").to_json(), True)
        if not mqtt_stop(self.client, goodbye, timeout):
            log.warning("could not announce master offline before stopping")

    # --- paho callbacks (network thread) --------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any,
                    reason: ReasonCode, properties: Any) -> None:
        if reason.is_failure:
            log.error("MQTT broker %s:%d refused the connection: %s",
                      self._settings.host, self._settings.port, reason)
            return
        self._away_since = None
        # Before announcing online: workers answer it by re-registering.
        self._handler.on_broker_changed()
        self._subscribed = False
        client.subscribe([(self.topics.register, 1), (self.topics.status, 1),
                          (self.topics.logs, 0)])
        client.publish(self.topics.master_status, MasterStatus("online").to_json(),
                       qos=1, retain=True)
        log.info("connected to MQTT broker %s:%d", self._settings.host, self._settings.port)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int,
                      reasons: list[ReasonCode], properties: Any) -> None:
        self._subscribed = not any(reason.is_failure for reason in reasons)
        if not self._subscribed:
            log.error("MQTT broker refused the master's subscriptions: %s",
                      ", ".join(str(reason) for reason in reasons))

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any,
                       reason: ReasonCode, properties: Any) -> None:
        self._subscribed = False
        if reason.is_failure:
            log.warning("lost the MQTT broker (%s); reconnecting", reason)
        if self._away_since is None:
            self._away_since = time.monotonic()
        self._handler.on_broker_changed()

    def _receiver(self, kind: type[Incoming], deliver: Callable[[Incoming], None],
                  quiet: bool = False) -> Callable[..., None]:
        """An on_message callback that parses ``kind`` and drops what does not parse
        (with a warning, unless ``quiet``: a warning about a log line would be one itself)."""
        def on_message(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
            try:
                payload = kind.from_json(message.payload)
            except ProtocolError as exc:
                if not quiet:
                    log.warning("malformed message on %s dropped: %s", message.topic, exc)
                return
            try:
                deliver(payload)
            except Exception:  # an exception here would stop paho's network loop
                log.exception("could not handle a message on %s", message.topic)
        return on_message
