"""TCP ports on this machine: a free one, a taken one refused, an open one found."""

from __future__ import annotations

import errno
import random
import socket

from ai_system.local.processes import StartupError

# Below the kernel's ephemeral range (32768 and up), from which every outgoing connection takes
# its local port: a port chosen there can be taken by one between the choice and the child binding
# it (seen under load: a worker's metrics port already in use). The tests' blocks start at 20000.
_CHOICES = range(10000, 20000)
_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port nobody listens on (any address) that this process has not handed out."""
    for port in random.sample(_CHOICES, 100):
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise StartupError(f"no free TCP port between {_CHOICES.start} and {_CHOICES.stop - 1}")


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
