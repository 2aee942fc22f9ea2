"""Free TCP ports for tests that run on several processes at once (pytest-xdist).

The kernel's choice (binding port 0, as ``ai_system.local.ports.free_port`` does) can hand
two processes the same port between one of them asking and its child binding it. Each pytest
process takes ports from a block of its own instead, in turn, skipping any that is in use.
The blocks lie below the kernel's ephemeral range (32768 and up), which clients' connections
draw from.
"""

from __future__ import annotations

import itertools
import os
import socket

FIRST = 20000
BLOCK = 1500  # ports per process: 8 processes fit below 32000


def _block() -> itertools.cycle[int]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # gw0, gw1, ... under xdist
    index = int(worker.removeprefix("gw")) if worker.removeprefix("gw").isdigit() else 0
    start = FIRST + (index % 8) * BLOCK
    return itertools.cycle(range(start, start + BLOCK))


_ports = _block()


def free_port() -> int:
    """The next port of this process's block that nobody listens on (any address)."""
    for port in itertools.islice(_ports, BLOCK):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in this process's block of {BLOCK}")
