"""A test's own MQTT client: publishes raw payloads and records what it hears."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable

import paho.mqtt.client as mqtt

from ai_system.config import MqttSettings
from ai_system.local.broker import MASTER_ACCOUNT
from ai_system.local.system import LocalSystem
from ai_system.mqtt import make_client, start


class MqttProbe:
    """Connected (and subscribed to ``topics``) when the constructor returns."""

    def __init__(self, port: int, topics: Iterable[str] = (), timeout: float = 10.0,
                 username: str = "", password: str = "", client_id: str = "") -> None:
        self._topics = list(topics)
        self._lock = threading.Lock()
        self.received: list[tuple[str, bytes]] = []
        self._ready = threading.Event()
        self._pending_subscriptions = len(self._topics)
        settings = MqttSettings(host="127.0.0.1", port=port, username=username,
                                password=password)
        self.client = make_client(settings, client_id or f"test-probe-{uuid.uuid4().hex[:8]}")
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        start(self.client, settings)
        if not self._ready.wait(timeout):
            self.close()
            raise AssertionError(f"test MQTT client could not connect to 127.0.0.1:{port}")

    def _on_connect(self, client: mqtt.Client, _userdata: object, _flags: object,
                    reason: mqtt.ReasonCode, _props: object) -> None:
        if reason.is_failure:
            return
        if not self._topics:
            self._ready.set()
        for topic in self._topics:
            client.subscribe(topic, qos=1)

    def _on_subscribe(self, *_args: object) -> None:
        with self._lock:
            self._pending_subscriptions -= 1
            if self._pending_subscriptions <= 0:
                self._ready.set()

    def _on_message(self, _client: mqtt.Client, _userdata: object,
                    message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append((message.topic, message.payload))

    def publish(self, topic: str, payload: bytes | str, timeout: float = 10.0) -> None:
        """QoS 1, returns once the broker has it."""
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout)
        assert info.is_published(), f"publishing to {topic} was not acknowledged"

    def payloads(self, topic: str) -> list[bytes]:
        with self._lock:
            return [payload for got, payload in self.received if got == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def probe_as(system: LocalSystem, account: str = MASTER_ACCOUNT,
             topics: Iterable[str] = (), client_id: str = "") -> MqttProbe:
    """A probe logged in to the system's broker with one of its accounts."""
    return MqttProbe(system.config.mqtt_port, topics, username=account,
                     password=system.broker.accounts[account], client_id=client_id)
