"""Graceful shutdown on SIGTERM (docker stop, swarm updates) and SIGINT (Ctrl-C)."""

from __future__ import annotations

import signal
import threading
from types import FrameType


def stop_on_signals() -> threading.Event:
    """An event that SIGTERM or SIGINT sets; the main thread waits on it, then cleans up."""
    stop = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()  # nothing else: the handler may interrupt a thread holding a log lock

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return stop


def wait_for_stop(stop: threading.Event) -> None:
    """Block until ``stop`` is set, in steps of a second: a signal the kernel delivers to
    another thread (one of gRPC's, say) does not wake a main thread blocked in one long
    wait, and Python runs its handler only once that thread is back in the interpreter."""
    while not stop.wait(1.0):
        pass
