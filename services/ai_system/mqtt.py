"""The paho-mqtt client both components use, and the log handler that mirrors logs to MQTT.

Every client speaks MQTT v5. It reconnects by itself (``connect_async`` + ``loop_start``)
and queues QoS 1 messages published while the broker is away, so a broker restart loses no
task. With ``MqttSettings.tls_ca_file`` it connects over TLS and checks the broker's
certificate (and host name) against that CA.
"""

from __future__ import annotations

import logging
import socket
import sys
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ai_system.config import MqttSettings
from ai_system.protocol import LogRecord

log = logging.getLogger(__name__)

# How long the broker keeps a persistent session (subscriptions, queued QoS 1 tasks) after
# its client went away: enough for a broker hiccup or a network cut. Anything older was
# requeued by the master long ago (TASK_TIMEOUT_SECONDS); a restarted process starts clean.
PERSISTENT_SESSION_EXPIRY_SECONDS = 300

# The same reason for failing to connect is logged again after this.
_CONNECT_FAILURE_REPEAT_SECONDS = 60.0


class Client(mqtt.Client):
    """paho's client, with the session this process asked for (``start`` applies it)."""

    def __init__(self, client_id: str, persistent_session: bool) -> None:
        super().__init__(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5)
        self.persistent_session = persistent_session


def make_client(
    settings: MqttSettings,
    client_id: str,
    *,
    persistent_session: bool = False,
    will: tuple[str, bytes, bool] | None = None,
) -> Client:
    """A configured client, not yet connected; call ``start`` after setting callbacks.

    ``persistent_session`` keeps the subscriptions and queued QoS 1 messages on the broker
    while the client is away, across reconnects of this process only: its first connection
    starts clean, so a restarted worker does not get its previous life's tasks (the master
    requeues those). ``will`` is ``(topic, payload, retain)``, sent by the broker if we vanish.
    """
    client = Client(client_id, persistent_session)
    if settings.username:
        client.username_pw_set(settings.username, settings.password or None)
    if settings.tls_ca_file:
        # Verifies the broker's certificate against the CA, and its name against MQTT_HOST.
        client.tls_set(ca_certs=settings.tls_ca_file)
    if will is not None:
        topic, payload, retain = will
        client.will_set(topic, payload, qos=1, retain=retain)
    client.reconnect_delay_set(min_delay=1, max_delay=5)
    client.on_socket_open = _no_delay
    client.on_connect_fail = _ConnectFailureLog(settings)
    return client


def _no_delay(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
    # Small messages both ways: Nagle plus delayed ACKs would stall each task about 40 ms.
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _ConnectFailureLog:
    """``on_connect_fail``: says why the broker cannot be reached (TLS, refused, DNS...).

    paho retries quietly; an operator needs the reason once, not every few seconds.
    """

    def __init__(self, settings: MqttSettings) -> None:
        self._where = f"{settings.host}:{settings.port}"
        self._last: tuple[str, float] | None = None

    def __call__(self, _client: mqtt.Client, _userdata: Any) -> None:
        # paho calls this from the handler of the connection's OSError (ssl errors included).
        reason = str(sys.exc_info()[1] or "unknown reason")
        now = time.monotonic()
        if self._last is not None and self._last[0] == reason \
                and now - self._last[1] < _CONNECT_FAILURE_REPEAT_SECONDS:
            return
        self._last = (reason, now)
        log.warning("cannot connect to the MQTT broker at %s: %s; retrying", self._where, reason)


def start(client: Client, settings: MqttSettings) -> None:
    """Connect in the background and keep reconnecting for as long as the process lives.

    A persistent session starts clean on the first connection and resumes on reconnects
    (MQTT v5 clean start "first only" with a session expiry); any other session ends with
    its connection.
    """
    properties = Properties(PacketTypes.CONNECT)
    if client.persistent_session:
        properties.SessionExpiryInterval = PERSISTENT_SESSION_EXPIRY_SECONDS
        clean_start: mqtt.CleanStartOption = mqtt.MQTT_CLEAN_START_FIRST_ONLY
    else:
        clean_start = True
    client.connect_async(settings.host, settings.port, keepalive=settings.keepalive,
                         clean_start=clean_start, properties=properties)
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
