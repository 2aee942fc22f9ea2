"""``ai-system-local``: the whole system on one machine, without Docker (``make run``).

Starts Mosquitto, the master and N workers as child processes, waits until the chat
answers and every worker registered, prints the chat URL, streams the children's logs
with a prefix, and stops everything on Ctrl-C or SIGTERM. The pieces (``ManagedProcess``,
``Mosquitto``, ``LocalSystem``) are what the integration tests and the benchmark use too.

Settings reach the children as environment variables (see README.md): the launcher sets
only ports, ids and per-worker files, and passes the rest of the caller's environment
through, so ``GEMINI_API_KEYS=... ai-system-local`` gives the workers real keys.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import errno
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ai_system import cli
from ai_system.master.kept_secrets import OPERATOR_TOKEN_FILE
from ai_system.protocol import Topics
from ai_system.supervisor import RESTART_DELAY_SECONDS, RestartPolicy

LineSink = Callable[[str, str], None]
"""Receives ``(process name, line)`` for every line a child writes."""

STOP_GRACE_SECONDS = 10.0


class StartupError(RuntimeError):
    """The system could not start: a port is taken, a program is missing or a child died."""


# --- one child process ---------------------------------------------------------------------

class ManagedProcess:
    """A child process whose output (stdout and stderr, merged) is kept and forwarded.

    Children run in their own session so a Ctrl-C in the terminal reaches only the
    launcher, which then stops them in order (workers first, the broker last).
    """

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str],
                 sink: LineSink | None = None, keep_lines: int = 20_000) -> None:
        self.name = name
        self.argv = argv
        self.env = dict(env)
        self._sink = sink
        self._lines: collections.deque[str] = collections.deque(maxlen=keep_lines)
        self._lines_lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> ManagedProcess:
        try:
            self._proc = subprocess.Popen(
                self.argv, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1,
                start_new_session=True)
        except OSError as exc:
            raise StartupError(
                f"cannot start {self.name} ({self.argv[0]}): {exc.strerror}") from None
        self._reader = threading.Thread(target=self._read, name=f"log-{self.name}", daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for raw in self._proc.stdout:
            line = raw.rstrip("\n")
            with self._lines_lock:
                self._lines.append(line)
            if self._sink is not None:
                self._sink(self.name, line)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc else None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def output(self) -> str:
        """Everything the child wrote so far (the last ``keep_lines`` lines)."""
        with self._lines_lock:
            return "\n".join(self._lines)

    def tail(self, lines: int = 15) -> str:
        with self._lines_lock:
            return "\n".join(list(self._lines)[-lines:])

    def wait(self, timeout: float) -> int:
        """Until the child exits by itself; its exit code (TimeoutExpired past ``timeout``)."""
        assert self._proc is not None
        code = self._proc.wait(timeout)
        self._join_reader()
        return code

    def kill(self) -> None:
        """SIGKILL, no goodbye: what a crash looks like to the rest of the system."""
        if self.alive():
            assert self._proc is not None
            self._proc.kill()
            self._proc.wait()
        self._join_reader()

    def terminate(self) -> None:
        """SIGTERM without waiting (``stop`` waits)."""
        if self.alive():
            assert self._proc is not None
            self._proc.terminate()

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> int | None:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL. Returns the exit code."""
        if self._proc is None:
            return None
        self.terminate()
        try:
            self._proc.wait(grace)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._join_reader()
        return self._proc.returncode

    def _join_reader(self) -> None:
        # The pipe closes when the child (and anything it forked) exits.
        if self._reader is not None:
            self._reader.join(timeout=5)


# --- ports and programs --------------------------------------------------------------------

def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_port_free(port: int, what: str) -> None:
    """Raise ``StartupError`` if something already listens on ``port`` (any address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR ignores connections in TIME_WAIT but not a listening socket.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartupError(
                    f"port {port} ({what}) is already in use; pick another with the option "
                    f"shown by --help, or stop whatever listens there") from None
            raise StartupError(f"port {port} ({what}) cannot be used: {exc.strerror}") from None


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def find_program(name: str, extra_dirs: Iterable[str] = ()) -> str:
    """``name`` beside this Python (the same virtualenv), on PATH, or in ``extra_dirs``."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name) or shutil.which(name, path=os.pathsep.join(extra_dirs))
    if not found:
        raise StartupError(f"{name} is not installed (looked beside {sys.executable}, on PATH "
                           f"and in {', '.join(extra_dirs) or 'no other place'})")
    return found


def wait_until(condition: Callable[[], bool], timeout: float, what: str,
               watch: Iterable[ManagedProcess] = (), interval: float = 0.1) -> None:
    """Poll ``condition``; fail early, with its last output, if a watched child dies."""
    deadline = time.monotonic() + timeout
    while True:
        for proc in watch:
            if not proc.alive():
                raise StartupError(
                    f"{proc.name} exited with code {proc.returncode} while waiting for {what}; "
                    f"its last output:\n{proc.tail()}")
        if condition():
            return
        if time.monotonic() > deadline:
            raise StartupError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# --- the broker ----------------------------------------------------------------------------

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


MASTER_ACCOUNT = "master"
WORKER_ACCOUNT = "worker-python"


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


# --- the whole system ----------------------------------------------------------------------

@dataclass
class LocalConfig:
    workers: int = 3
    web_port: int = 8888
    grpc_port: int = 50051
    mqtt_port: int = 1883
    web_host: str = "127.0.0.1"
    simulated_seconds: float | None = None  # None: the environment's value, else 10
    # The master's journal (STATE_DIR); None: a folder that goes with the system.
    state_dir: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)  # added to every child's environment
    # The worker program and its arguments; empty: ``ai-worker``. Any worker written against
    # protos/README.md that reads the same settings fits (the Node.js one, a student's).
    worker_command: tuple[str, ...] = ()
    worker_prefix: str = "python-worker-local"  # worker ids are <prefix>-<index>


def http_json(url: str, timeout: float = 2.0) -> tuple[int, Any]:
    """GET ``url``: (status, parsed JSON body); (0, None) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (OSError, ValueError):
        return 0, None


def online_workers(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The workers /api/status reports online, by worker id."""
    return {
        worker["worker_id"]: worker
        for worker in status.get("workers", [])
        if worker.get("state") != "offline"
    }


class LocalSystem:
    """Mosquitto, the master and ``config.workers`` workers as child processes.

    Use as a context manager, or call ``start()`` and ``stop()``. ``sink`` receives every
    output line of every child (the launcher prints them; tests may leave it None and read
    ``process.output()`` instead).
    """

    def __init__(self, config: LocalConfig, sink: LineSink | None = None,
                 base_env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self._sink = sink
        self._base_env = dict(os.environ if base_env is None else base_env)
        self._tmp = tempfile.TemporaryDirectory(prefix="ai-system-local-")
        self.workdir = Path(self._tmp.name)
        accounts = {MASTER_ACCOUNT: secrets.token_urlsafe(24),
                    WORKER_ACCOUNT: secrets.token_urlsafe(24)}
        self.broker = Mosquitto(config.mqtt_port, self.workdir, sink, accounts)
        self.state_dir = Path(config.state_dir or self.workdir / "state")
        # Prometheus metrics of each child (master, then worker ids), on loopback.
        self.metrics_ports: dict[str, int] = {}
        self.master: ManagedProcess | None = None
        self.workers: dict[str, ManagedProcess] = {}
        self._worker_index: dict[str, int] = {}

    # -- addresses -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.config.web_host in ("0.0.0.0", "") else self.config.web_host
        return f"http://{host}:{self.config.web_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.config.grpc_port}"

    def status(self) -> dict[str, Any]:
        """GET /api/status ({} while the master does not answer)."""
        code, body = http_json(f"{self.url}/api/status")
        return body if code == 200 and isinstance(body, dict) else {}

    def healthz(self) -> dict[str, Any]:
        code, body = http_json(f"{self.url}/healthz")
        return body if code == 200 and isinstance(body, dict) else {}

    def processes(self) -> list[ManagedProcess]:
        found = [self.broker.process, self.master, *self.workers.values()]
        return [proc for proc in found if proc is not None]

    # -- environment -----------------------------------------------------------------------
    def _common_env(self, account: str) -> dict[str, str]:
        env = {**self._base_env, **self.config.env}
        env.update(
            PYTHONUNBUFFERED="1",
            MQTT_HOST="127.0.0.1",
            MQTT_PORT=str(self.config.mqtt_port),
            MQTT_USERNAME=account,
            MQTT_PASSWORD_FILE=str(self.broker.password_file(account)),
            METRICS_HOST="127.0.0.1",
        )
        if self.config.simulated_seconds is not None:
            env["SIMULATED_WORK_SECONDS"] = str(self.config.simulated_seconds)
        return env

    def worker_id(self, index: int) -> str:
        return f"{self.config.worker_prefix}-{index}"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> LocalSystem:
        cfg = self.config
        if len({cfg.mqtt_port, cfg.web_port, cfg.grpc_port}) != 3:
            raise StartupError("the MQTT, web and gRPC ports must differ")
        for port, what in ((cfg.mqtt_port, "MQTT"), (cfg.web_port, "web chat"),
                           (cfg.grpc_port, "gRPC")):
            check_port_free(port, what)
        try:
            self.broker.start()
            self.start_master()
            for index in range(1, cfg.workers + 1):
                self.start_worker(index)
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def start_master(self, wait: bool = False, timeout: float = 60.0) -> ManagedProcess:
        env = self._common_env(MASTER_ACCOUNT)
        env.update(
            WEB_HOST=self.config.web_host,
            WEB_PORT=str(self.config.web_port),
            GRPC_PORT=str(self.config.grpc_port),
            GRPC_ADVERTISED_ENDPOINT=self.grpc_target,
            STATE_DIR=str(self.state_dir),
            METRICS_PORT=str(self._metrics_port("master")),
        )
        self.master = ManagedProcess("master", [find_program("ai-master")], env,
                                     self._sink).start()
        if wait:
            wait_until(lambda: bool(self.healthz().get("mqtt_connected")), timeout,
                       "the master's /healthz with the broker connected", [self.master])
        return self.master

    def start_worker(self, index: int, env: Mapping[str, str] | None = None,
                     program: Sequence[str] | None = None,
                     worker_id: str | None = None) -> ManagedProcess:
        """Start worker ``<worker_prefix>-<index>`` (again, if it was stopped); ``env``
        adds to or overrides its settings. ``program`` runs another worker than the
        system's (``worker_command``) with the same settings, under ``worker_id`` if given."""
        worker_id = worker_id or self.worker_id(index)
        child_env = self._common_env(WORKER_ACCOUNT)
        child_env.update(
            WORKER_ID=worker_id,
            HEALTH_FILE=str(self.workdir / f"{worker_id}.healthy"),
            GRPC_ENDPOINTS=self.grpc_target,
            METRICS_PORT=str(self._metrics_port(worker_id)),
        )
        child_env.update(env or {})
        argv = list(program or self.config.worker_command) or [find_program("ai-worker")]
        proc = ManagedProcess(f"worker-{index}", argv, child_env, self._sink).start()
        self.workers[worker_id] = proc
        self._worker_index[worker_id] = index
        return proc

    def restart(self, proc: ManagedProcess) -> ManagedProcess:
        """Start a stopped child again, as it was started: the broker on its port, the
        master on its journal, a worker under its id (a new instance: the master gives its
        task to another worker)."""
        if proc is self.broker.process:
            self.broker.start()
            assert self.broker.process is not None
            return self.broker.process
        if proc is self.master:
            return self.start_master()
        worker_id = next(wid for wid, running in self.workers.items() if running is proc)
        return self.start_worker(self._worker_index[worker_id], worker_id=worker_id)

    def _metrics_port(self, name: str) -> int:
        """The child's metrics port, the same across its restarts."""
        if name not in self.metrics_ports:
            self.metrics_ports[name] = free_port()
        return self.metrics_ports[name]

    def metrics(self, name: str = "master") -> str:
        """The child's Prometheus exposition ("" while it does not answer)."""
        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.metrics_ports[name]}/metrics", timeout=2) as page:
                return str(page.read().decode())
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until /healthz answers and every running worker shows online in /api/status."""
        assert self.master is not None
        wait_until(lambda: bool(self.healthz().get("mqtt_connected")), timeout,
                   "the master's /healthz with the broker connected", self.processes())
        expected = {wid for wid, proc in self.workers.items() if proc.alive()}
        wait_until(lambda: expected <= online_workers(self.status()).keys(), timeout,
                   f"{len(expected)} workers to register", self.processes())

    def stop(self) -> None:
        """Workers first (they report offline), then the master, then the broker."""
        for proc in self.workers.values():
            proc.terminate()  # all at once; each one's stop() below then only waits
        for proc in self.workers.values():
            proc.stop()
        if self.master is not None:
            self.master.stop()
        self.broker.stop()
        self._tmp.cleanup()

    def __enter__(self) -> LocalSystem:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the console script --------------------------------------------------------------------

class _Printer:
    """Prefixes each child's lines with its name; one lock so lines never interleave."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __call__(self, name: str, line: str) -> None:
        with self._lock:
            print(f"{name:>10} | {line}", flush=True)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.parser(
        "ai-system-local",
        "Run Mosquitto, the master and N workers on this machine (no Docker).")
    parser.add_argument("--workers", type=int, default=3, help="number of workers (3)")
    parser.add_argument("--web-port", type=int, default=8888, help="web chat port (8888)")
    parser.add_argument("--grpc-port", type=int, default=50051, help="master gRPC port (50051)")
    parser.add_argument("--mqtt-port", type=int, default=1883, help="Mosquitto port (1883)")
    parser.add_argument("--simulated-seconds", type=float, default=None,
                        help="simulated work per task (default: SIMULATED_WORK_SECONDS or 10)")
    parser.add_argument("--web-host", default=None,
                        help="address of the web chat (WEB_HOST, else 127.0.0.1)")
    parser.add_argument("--state-dir", default=None,
                        help="the master's journal: questions survive a restart of the "
                             "launcher (default: a temporary folder, gone at exit)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.simulated_seconds is not None and args.simulated_seconds < 0:
        parser.error("--simulated-seconds must not be negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    config = LocalConfig(
        workers=args.workers, web_port=args.web_port, grpc_port=args.grpc_port,
        mqtt_port=args.mqtt_port,
        web_host=args.web_host or os.environ.get("WEB_HOST", "").strip() or "127.0.0.1",
        simulated_seconds=args.simulated_seconds, state_dir=args.state_dir)
    stopping = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    system = LocalSystem(config, sink=_Printer())
    print(f"Starting Mosquitto (:{config.mqtt_port}), the master (:{config.web_port}, gRPC "
          f":{config.grpc_port}) and {config.workers} worker(s)…", flush=True)
    try:
        system.start()
    except StartupError as exc:
        print(f"ai-system-local: {exc}", file=sys.stderr)
        return 1
    print(_banner(system), flush=True)
    exit_code = _supervise(system, stopping)
    print("Stopping…", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        system.stop()
    return exit_code


def _banner(system: LocalSystem) -> str:
    """Where everything is, once it all runs."""
    token = system.state_dir / OPERATOR_TOKEN_FILE
    metrics = ", ".join(f"{name} http://127.0.0.1:{port}/metrics"
                        for name, port in system.metrics_ports.items())
    return (f"\n  Chat: {system.url}/\n"
            f"  Dashboard: {system.url}/dashboard (its token is in {token})\n"
            f"  Metrics: {metrics}\n"
            "  A child that stops is started again; Ctrl-C stops everything.\n")


def _supervise(system: LocalSystem, stopping: threading.Event) -> int:
    """Start each child that stops again, as the swarm would, until asked to stop; give up
    (exit status 1) on one that keeps dying."""
    policy = RestartPolicy()
    while not stopping.wait(0.5):
        for proc in [p for p in system.processes() if not p.alive()]:
            if not policy.allow(proc.name, time.monotonic()):
                print(f"ai-system-local: {proc.name} stopped {policy.count(proc.name) + 1} "
                      "times within a minute; stopping the rest. Its last lines:\n"
                      f"{proc.tail()}", file=sys.stderr)
                return 1
            print(f"ai-system-local: {proc.name} stopped (exit {proc.returncode}); "
                  f"starting it again in {RESTART_DELAY_SECONDS:g} s", file=sys.stderr)
            if stopping.wait(RESTART_DELAY_SECONDS):
                return 0
            try:
                system.restart(proc)
            except (StartupError, OSError) as exc:
                print(f"ai-system-local: could not start {proc.name} again: {exc}",
                      file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
