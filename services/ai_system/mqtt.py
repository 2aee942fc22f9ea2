"""The paho-mqtt client both components use, and the log handler that mirrors logs to MQTT.

The client reconnects by itself (``connect_async`` + ``loop_start``) and queues QoS 1
messages published while the broker is away, so a broker restart loses no task.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ai_system.config import MqttSettings
from ai_system.protocol import LogRecord


def make_client(
    settings: MqttSettings,
    client_id: str,
    *,
    persistent_session: bool = False,
    will: tuple[str, bytes, bool] | None = None,
) -> mqtt.Client:
    """A configured client, not yet connected; call ``start`` after setting callbacks.

    ``persistent_session`` keeps the subscriptions and queued QoS 1 messages on the broker
    while the client is away (workers use it so a task published during a reconnect waits
    for them). ``will`` is ``(topic, payload, retain)``, sent by the broker if we vanish.
    """
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=not persistent_session,
        protocol=mqtt.MQTTv311,
    )
    if settings.username:
        client.username_pw_set(settings.username, settings.password or None)
    if will is not None:
        topic, payload, retain = will
        client.will_set(topic, payload, qos=1, retain=retain)
    client.reconnect_delay_set(min_delay=1, max_delay=5)
    client.on_socket_open = _no_delay
    return client


def _no_delay(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
    # Small messages both ways: Nagle plus delayed ACKs would stall each task about 40 ms.
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def start(client: mqtt.Client, settings: MqttSettings) -> None:
    """Connect in the background and keep reconnecting for as long as the process lives."""
    client.connect_async(settings.host, settings.port, keepalive=settings.keepalive)
    client.loop_start()


def stop(client: mqtt.Client, goodbye: tuple[str, bytes, bool] | None,
         timeout: float = 3.0) -> bool:
    """Publish ``goodbye`` ``(topic, payload, retain)`` at QoS 1, wait for it, disconnect.

    A clean disconnect sends no Last Will, so this is how peers learn we left on purpose.
    Returns whether the goodbye was delivered to the broker.
    """
    delivered = False
    if goodbye is not None and client.is_connected():
        topic, payload, retain = goodbye
        info = client.publish(topic, payload, qos=1, retain=retain)
        try:
            info.wait_for_publish(timeout)
            delivered = info.is_published()
        except (RuntimeError, ValueError):
            delivered = False
    client.disconnect()
    client.loop_stop()
    return delivered


class MqttLogHandler(logging.Handler):
    """Publishes each record as a ``LogRecord`` on ``<prefix>/logs`` (QoS 0, best effort)."""

    def __init__(self, client: mqtt.Client, topic: str, source: str, level: str) -> None:
        super().__init__(level)
        self._client = client
        self._topic = topic
        self._source = source

    def emit(self, record: logging.LogRecord) -> None:
        try:
            payload = LogRecord(
                source=self._source,
                message=record.getMessage(),
                level=record.levelname,
                timestamp=int(record.created * 1000),
            ).to_json()
            # Dropped while disconnected: logs must never back up behind a dead broker.
            self._client.publish(self._topic, payload, qos=0)
        except Exception:
            self.handleError(record)


class _ComponentFilter(logging.Filter):
    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def filter(self, record: logging.LogRecord) -> bool:
        record.component = self.component
        return True


def configure_logging(component: str, level: str) -> None:
    """Standard-library logging to stderr, every record tagged with the component name."""
    handler = logging.StreamHandler()
    handler.addFilter(_ComponentFilter(component))
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(levelname)s [%(component)s] %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
