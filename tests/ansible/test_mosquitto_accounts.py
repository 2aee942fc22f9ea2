"""The broker's accounts and ACL, checked against a real Mosquitto (Debian's 2.0).

The password file comes from the collection's filter upb.ai_system.mosquitto_passwd; the
broker's configuration and ACL are the ai_system role's own templates, rendered with the
role's defaults (only paths and ports are moved to a temporary directory and free ports).

    .venv/bin/pytest tests/ansible        (scripts/check-ansible.sh runs it)
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import jinja2
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "ai_system"
SCHEMA = ROOT / "protos" / "mqtt.schema.json"
sys.path.insert(0, str(ROOT / "plugins" / "filter"))

from mosquitto_passwd import mosquitto_passwd, mosquitto_passwd_file  # noqa: E402

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
PASSWORDS = {
    "master": "master-" + uuid.uuid4().hex,
    "worker-python": "worker-" + uuid.uuid4().hex,
    "student-go": "student-" + uuid.uuid4().hex,
}
TIMEOUT = 5.0


# --- the filter ---------------------------------------------------------------------------

LINE = re.compile(
    r"^(?P<user>[^:]+):\$7\$(?P<iterations>\d+)\$(?P<salt>[A-Za-z0-9+/=]+)\$(?P<hash>[A-Za-z0-9+/=]+)$"
)


def test_line_has_mosquitto_2_format_and_verifies() -> None:
    line = mosquitto_passwd("s3cret", "master")
    match = LINE.match(line)
    assert match, line
    salt = base64.b64decode(match["salt"])
    assert match["user"] == "master" and match["iterations"] == "101" and len(salt) == 12
    expected = hashlib.pbkdf2_hmac("sha512", b"s3cret", salt, 101)
    assert base64.b64decode(match["hash"]) == expected


def test_line_is_deterministic_and_salted_per_account() -> None:
    assert mosquitto_passwd("s3cret", "master") == mosquitto_passwd("s3cret", "master")
    salts = {
        LINE.match(mosquitto_passwd(pw, user))["salt"]
        for pw, user in [("s3cret", "master"), ("s3cret", "worker-python"), ("other", "master")]
    }
    assert len(salts) == 3


def test_file_has_one_line_per_account_in_order() -> None:
    text = mosquitto_passwd_file({"master": "a", "worker-python": "b"})
    assert (
        text
        == mosquitto_passwd("a", "master") + "\n" + mosquitto_passwd("b", "worker-python") + "\n"
    )


@pytest.mark.parametrize(
    ("password", "user"), [("", "master"), ("x", ""), ("x", "a:b"), ("x", "a\nb")]
)
def test_bad_input_is_refused(password: str, user: str) -> None:
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError):
        mosquitto_passwd(password, user)


# --- a broker with the role's configuration -----------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _render(name: str, variables: dict[str, object]) -> str:
    # Ansible renders templates with trim_blocks.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROLE / "templates"),
        trim_blocks=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template(name).render(**variables)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    if not os.access(MOSQUITTO, os.X_OK):
        pytest.skip("mosquitto is not installed (scripts/ensure-system.sh mosquitto)")
    workdir = tmp_path_factory.mktemp("broker")
    variables = {
        **yaml.safe_load((ROLE / "defaults" / "main.yml").read_text()),
        **yaml.safe_load((ROLE / "vars" / "main.yml").read_text()),
    }
    ports = {"plain": _free_port(), "tls": _free_port(), "health": _free_port()}
    variables.update(
        ansible_managed="test",
        __ai_system_mqtt_ports=ports,
        __ai_system_mosquitto_paths={"config_dir": str(workdir), "secrets_dir": str(workdir)},
        # What the role's lookup reads: the protocol's topics.
        __ai_system_mqtt_topics=json.loads(SCHEMA.read_text())["x-topics"],
    )
    assert variables["ai_system_mosquitto_persistence"] is False
    (workdir / "acl").write_text(_render("mosquitto.acl.j2", variables))
    (workdir / "health.acl").write_text(_render("mosquitto-health.acl.j2", variables))
    (workdir / "mosquitto_passwd").write_text(mosquitto_passwd_file(PASSWORDS))
    conf = _render("mosquitto.conf.j2", variables)
    # Started as root, Mosquitto drops to the mosquitto user, which cannot read these files.
    if os.geteuid() == 0:
        conf = "user root\n" + conf
    (workdir / "mosquitto.conf").write_text(conf)
    log = (workdir / "mosquitto.log").open("w")
    process = subprocess.Popen(
        [MOSQUITTO, "-c", str(workdir / "mosquitto.conf")], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", ports["health"]), timeout=0.2).close()
                socket.create_connection(("127.0.0.1", ports["plain"]), timeout=0.2).close()
                break
            except OSError:
                assert process.poll() is None, (workdir / "mosquitto.log").read_text()
                time.sleep(0.05)
        yield ports
    finally:
        process.terminate()
        process.wait(10)
        log.close()


class Client:
    """A paho client that records the CONNACK and every message it receives."""

    def __init__(
        self, port: int, client_id: str, user: str | None = None, password: str | None = None
    ) -> None:
        self.connack: queue.Queue[object] = queue.Queue()
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.subacks: queue.Queue[list[object]] = queue.Queue()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311
        )
        if user is not None:
            self.client.username_pw_set(user, password)
        self.client.on_connect = lambda _c, _u, _f, rc, _p: self.connack.put(rc)
        self.client.on_message = lambda _c, _u, msg: self.messages.put((msg.topic, msg.payload))
        self.client.on_subscribe = lambda _c, _u, _m, codes, _p: self.subacks.put(codes)
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        self.reason = self.connack.get(timeout=TIMEOUT)

    @property
    def accepted(self) -> bool:
        return not self.reason.is_failure

    def subscribe(self, topic: str) -> None:
        self.client.subscribe(topic, qos=1)
        self.subacks.get(timeout=TIMEOUT)

    def publish(self, topic: str, payload: str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(TIMEOUT)

    def received_until(self, sentinel: str) -> list[tuple[str, str]]:
        """Every message up to and including the one whose payload is ``sentinel``."""
        seen = []
        while True:
            topic, payload = self.messages.get(timeout=TIMEOUT)
            seen.append((topic, payload.decode()))
            if payload.decode() == sentinel:
                return seen

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def clients(broker: dict[str, int]) -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for client in made:
        client.close()


def _connect(
    clients: list[Client],
    port: int,
    client_id: str,
    user: str | None = None,
    password: str | None = None,
) -> Client:
    client = Client(port, client_id, user, password)
    clients.append(client)
    return client


def test_accounts_log_in_with_the_hashed_passwords(
    broker: dict[str, int], clients: list[Client]
) -> None:
    for user, password in PASSWORDS.items():
        assert _connect(clients, broker["plain"], f"probe-{user}", user, password).accepted, user
    assert not _connect(clients, broker["plain"], "probe-wrong", "master", "wrong").accepted
    assert not _connect(clients, broker["plain"], "probe-unknown", "nobody", "x").accepted


def test_anonymous_clients_are_refused(broker: dict[str, int], clients: list[Client]) -> None:
    client = _connect(clients, broker["plain"], "probe-anonymous")
    assert not client.accepted
    assert client.reason == "Not authorized"


def test_a_worker_reads_only_its_own_tasks(broker: dict[str, int], clients: list[Client]) -> None:
    master = _connect(clients, broker["plain"], "ai-master-test", "master", PASSWORDS["master"])
    worker_a = _connect(
        clients, broker["plain"], "python-worker-a", "worker-python", PASSWORDS["worker-python"]
    )
    worker_b = _connect(
        clients, broker["plain"], "python-worker-b", "worker-python", PASSWORDS["worker-python"]
    )
    student = _connect(
        clients, broker["plain"], "student-go-1", "student-go", PASSWORDS["student-go"]
    )
    for client in (worker_a, student):
        client.subscribe("upb/#")
    worker_b.subscribe("upb/workers/python-worker-b/tasks")
    # A worker cannot hand out tasks: worker b sees only the master's.
    worker_a.publish("upb/workers/python-worker-b/tasks", "forged")
    master.publish("upb/workers/python-worker-b/tasks", "for-b")
    master.publish("upb/workers/student-go-1/tasks", "for-student")
    master.publish("upb/workers/python-worker-a/tasks", "for-a")
    master.publish("upb/master/status", "end")
    assert worker_b.received_until("for-b") == [("upb/workers/python-worker-b/tasks", "for-b")]
    assert worker_a.received_until("end") == [
        ("upb/workers/python-worker-a/tasks", "for-a"),
        ("upb/master/status", "end"),
    ]
    assert student.received_until("end") == [
        ("upb/workers/student-go-1/tasks", "for-student"),
        ("upb/master/status", "end"),
    ]


def test_the_master_hears_registrations_status_and_logs(
    broker: dict[str, int], clients: list[Client]
) -> None:
    master = _connect(clients, broker["plain"], "ai-master-hear", "master", PASSWORDS["master"])
    worker = _connect(
        clients, broker["plain"], "python-worker-c", "worker-python", PASSWORDS["worker-python"]
    )
    master.subscribe("upb/#")
    worker.publish("upb/workers/python-worker-c/tasks", "forged")
    worker.publish("upb/master/status", "forged")
    worker.publish("upb/workers/register", "register")
    worker.publish("upb/workers/status", "status")
    worker.publish("upb/logs", "log")
    assert master.received_until("log") == [
        ("upb/workers/register", "register"),
        ("upb/workers/status", "status"),
        ("upb/logs", "log"),
    ]


def test_the_health_listener_serves_only_the_broker_version(
    broker: dict[str, int], clients: list[Client]
) -> None:
    master = _connect(clients, broker["plain"], "ai-master-health", "master", PASSWORDS["master"])
    master.publish("upb/master/status", "retained", retain=True)
    health = _connect(clients, broker["health"], "health-probe")
    assert health.accepted
    health.subscribe("upb/#")
    health.subscribe("$SYS/broker/version")
    topic, payload = health.messages.get(timeout=TIMEOUT)
    assert topic == "$SYS/broker/version" and payload.startswith(b"mosquitto version")
    with pytest.raises(queue.Empty):
        health.messages.get(timeout=0.5)
    master.publish("upb/master/status", "", retain=True)
