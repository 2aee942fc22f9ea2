"""Probe the deployed broker from outside, as a student on the lab network would, and print JSON.

    mqtt_probe.py connect HOST PORT [--tls-ca CA] [--username U --password-file F]
        Try to connect (and subscribe to <prefix>/#); print {"accepted": bool, "reason": ...}.
    mqtt_probe.py own-tasks HOST PORT --tls-ca CA --username U --password-file F
        --master-port P --master-username M --master-password-file G
        Connect as U over TLS (client id U-verify) subscribed to <prefix>/#; the master account
        (plain port) publishes a task for another client id, then one for U-verify; print the
        messages U received: only its own task must arrive.

Exit status 0 when the probe ran (the caller checks the JSON), 1 when it could not.
"""

from __future__ import annotations

import argparse
import json
import queue
import ssl
import sys
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

TIMEOUT = 10.0


class Probe:
    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        tls_ca: str | None = None,
    ) -> None:
        self.connack: queue.Queue[object] = queue.Queue()
        self.subacks: queue.Queue[object] = queue.Queue()
        self.messages: queue.Queue[tuple[str, str]] = queue.Queue()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311
        )
        if tls_ca:
            # The broker's certificate must chain to the playbook's CA and name this address.
            self.client.tls_set(ca_certs=tls_ca, cert_reqs=ssl.CERT_REQUIRED)
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_connect = lambda _c, _u, _f, rc, _p: self.connack.put(rc)
        self.client.on_disconnect = lambda _c, _u, _f, rc, _p: self.connack.put(rc)
        self.client.on_subscribe = lambda _c, _u, _m, codes, _p: self.subacks.put(codes)
        self.client.on_message = lambda _c, _u, m: self.messages.put((m.topic, m.payload.decode()))
        self.client.connect(host, port, keepalive=10)
        self.client.loop_start()
        self.reason = self.connack.get(timeout=TIMEOUT)
        self.accepted = not self.reason.is_failure

    def subscribe(self, topic: str) -> list[str]:
        self.client.subscribe(topic, qos=1)
        return [str(code) for code in self.subacks.get(timeout=TIMEOUT)]

    def publish(self, topic: str, payload: str) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(TIMEOUT)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _password(path: str | None) -> str | None:
    if not path:
        return None
    with open(path, encoding="utf-8") as handle:
        return handle.read().split(" salt=")[0].strip()


def connect(options: argparse.Namespace) -> dict[str, object]:
    probe = Probe(
        options.host,
        options.port,
        f"probe-{uuid.uuid4().hex[:8]}",
        options.username,
        _password(options.password_file),
        options.tls_ca,
    )
    result: dict[str, object] = {"accepted": probe.accepted, "reason": str(probe.reason)}
    if probe.accepted:
        result["suback"] = probe.subscribe(f"{options.prefix}/#")
    probe.close()
    return result


def own_tasks(options: argparse.Namespace) -> dict[str, object]:
    client_id = f"{options.username}-verify"
    student = Probe(
        options.host,
        options.port,
        client_id,
        options.username,
        _password(options.password_file),
        options.tls_ca,
    )
    if not student.accepted:
        return {"accepted": False, "reason": str(student.reason)}
    student.subscribe(f"{options.prefix}/#")
    master = Probe(
        options.host,
        options.master_port,
        f"verify-master-{uuid.uuid4().hex[:8]}",
        options.master_username,
        _password(options.master_password_file),
    )
    if not master.accepted:
        return {"accepted": True, "master_accepted": False, "reason": str(master.reason)}
    # Tasks for client ids no worker uses: nothing in the system reads them.
    master.publish(f"{options.prefix}/workers/{client_id}-other/tasks", "for-another-client")
    master.publish(f"{options.prefix}/workers/{client_id}/tasks", "for-me")
    received = []
    try:
        while not received or received[-1][1] != "for-me":
            received.append(student.messages.get(timeout=TIMEOUT))
    except queue.Empty:
        pass
    master.close()
    student.close()
    return {"accepted": True, "master_accepted": True, "received": received}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["connect", "own-tasks"])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--tls-ca")
    parser.add_argument("--username")
    parser.add_argument("--password-file")
    parser.add_argument("--prefix", default="upb")
    parser.add_argument("--master-port", type=int)
    parser.add_argument("--master-username")
    parser.add_argument("--master-password-file")
    options = parser.parse_args()
    try:
        result = connect(options) if options.mode == "connect" else own_tasks(options)
    except (OSError, queue.Empty, ssl.SSLError) as error:
        print(f"mqtt_probe: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
