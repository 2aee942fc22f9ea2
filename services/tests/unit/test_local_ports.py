"""The local launcher's ports: a taken one is refused by name before anything starts."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ai_system.local.ports import check_port_free, free_port, port_open
from ai_system.local.processes import StartupError


def test_a_port_something_listens_on_is_refused_and_found_open() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert port_open(port)
        with pytest.raises(StartupError, match=rf"port {port} \(web chat\) is already in use"):
            check_port_free(port, "web chat")


def test_a_free_port_can_be_listened_on_and_nothing_answers_there() -> None:
    port = free_port()
    assert not port_open(port)
    check_port_free(port, "MQTT")


def test_free_ports_lie_below_the_range_outgoing_connections_take_and_differ() -> None:
    ports = {free_port() for _ in range(50)}
    assert len(ports) == 50
    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    low = int(ephemeral[0])
    assert max(ports) < low
