"""A throw-away Mosquitto for the local system, closed like the deployed broker: its
accounts, their password files and the ACL (roles/ai_system/templates/mosquitto.acl.j2)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from ai_system.local.ports import port_open
from ai_system.local.processes import LineSink, ManagedProcess, find_program, wait_until
from ai_system.protocol import Topics

MASTER_ACCOUNT = "master"
WORKER_ACCOUNT = "worker-python"


def acl_rules(prefix: str, master_user: str) -> str:
    """The broker's ACL, the same rules as the deployed one
    (roles/ai_system/templates/mosquitto.acl.j2), on the protocol's topics."""
    topics = Topics(prefix)
    return (
        "# Every account: announce, report and log; read only its own task topic (%c is the\n"
        "# client id, which is the worker id) and the master's status.\n"
        f"pattern write {topics.register}\n"
        f"pattern write {topics.status}\n"
        f"pattern write {topics.logs}\n"
        f"pattern read {topics.tasks('%c')}\n"
        f"pattern read {topics.master_status}\n"
        "\n"
        "# The master: hands out tasks, hears registrations, status and logs, announces itself.\n"
        f"user {master_user}\n"
        f"topic write {topics.all_tasks}\n"
        f"topic read {topics.register}\n"
        f"topic read {topics.status}\n"
        f"topic read {topics.logs}\n"
        f"topic readwrite {topics.master_status}\n"
    )


def _write_private(path: Path, text: str) -> Path:
    """A file only its owner can read, created so (never world-readable, even briefly)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


class Mosquitto:
    """A throw-away Mosquitto on 127.0.0.1:``port``, without persistence.

    With ``accounts`` (user name -> password) it is closed like the deployed broker:
    anonymous clients refused, passwords hashed by ``mosquitto_passwd`` into a private
    file (never on a command line), and the deployed ACL. Without, it is open (the worker
    tests that play the master themselves).
    """

    def __init__(self, port: int, workdir: Path, sink: LineSink | None = None,
                 accounts: Mapping[str, str] | None = None, topic_prefix: str = "upb") -> None:
        self.port = port
        self.accounts = dict(accounts or {})
        self._workdir = workdir
        self._prefix = topic_prefix
        self._conf = workdir / "mosquitto.conf"
        self._sink = sink
        self._password_files: set[str] = set()
        self.process: ManagedProcess | None = None

    def _configure(self) -> None:
        lines = [f"listener {self.port} 127.0.0.1",
                 "persistence false",
                 # Small MQTT packets go out at once instead of meeting the clients' 40 ms
                 # delayed ACK (measured by the benchmark).
                 "set_tcp_nodelay true",
                 "log_dest stderr",
                 "log_type error", "log_type warning", "log_type notice"]
        if not self.accounts:
            lines.append("allow_anonymous true")
        else:
            passwd = _write_private(self._workdir / "mosquitto.passwd", "".join(
                f"{user}:{password}\n" for user, password in self.accounts.items()))
            subprocess.run([find_program("mosquitto_passwd", ["/usr/bin"]), "-U", str(passwd)],
                           check=True, capture_output=True)
            acl = _write_private(self._workdir / "mosquitto.acl",
                                 acl_rules(self._prefix, MASTER_ACCOUNT))
            lines += ["allow_anonymous false", f"password_file {passwd}", f"acl_file {acl}"]
            if os.geteuid() == 0:
                # Started as root it would drop to the mosquitto user, who cannot read
                # these private files; this broker listens on loopback only.
                lines.append("user root")
        self._conf.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 10.0) -> None:
        self._configure()
        binary = find_program("mosquitto", ["/usr/sbin", "/usr/local/sbin"])
        self.process = ManagedProcess(
            "mosquitto", [binary, "-c", str(self._conf)], os.environ, self._sink).start()
        wait_until(lambda: port_open(self.port), timeout, f"Mosquitto on port {self.port}",
                   [self.process])

    def password_file(self, user: str) -> Path:
        """A private file holding ``user``'s password, for a child's MQTT_PASSWORD_FILE.

        Written once: rewriting it for each child would truncate it under one that is
        reading it at start (a Go worker does within milliseconds) and log it in with an
        empty password.
        """
        path = self._workdir / f"{user}.password"
        if user not in self._password_files:
            _write_private(path, self.accounts[user])
            self._password_files.add(user)
        return path

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
