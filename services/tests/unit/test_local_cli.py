"""``ai-system-local``'s options and the banner it prints once everything runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ai_system.local.cli import _banner, _parse_args
from ai_system.local.system import LocalConfig, LocalSystem


def test_the_defaults_are_the_documented_ports_and_three_workers() -> None:
    args = _parse_args([])
    assert (args.workers, args.web_port, args.grpc_port, args.mqtt_port) == (3, 8888, 50051, 1883)
    assert (args.simulated_seconds, args.web_host, args.state_dir) == (None, None, None)


@pytest.mark.parametrize(("argv", "error"), [
    (["--workers", "0"], "--workers must be at least 1"),
    (["--simulated-seconds", "-1"], "--simulated-seconds must not be negative"),
])
def test_impossible_options_are_refused(argv: list[str], error: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        _parse_args(argv)
    assert exit_.value.code == 2 and error in capsys.readouterr().err


@pytest.fixture
def unstarted() -> Iterator[LocalSystem]:
    system = LocalSystem(LocalConfig(web_port=8890, web_host="0.0.0.0", state_dir="/srv/state"))
    yield system
    system.stop()  # removes its working folder


def test_the_banner_shows_the_chat_the_dashboards_token_and_the_metrics(
        unstarted: LocalSystem) -> None:
    unstarted.metrics_ports.update({"master": 9101, "python-worker-local-1": 9102})
    banner = _banner(unstarted)
    assert "Chat: http://127.0.0.1:8890/\n" in banner
    assert "Dashboard: http://127.0.0.1:8890/dashboard (its token is in /srv/state/" in banner
    assert ("Metrics: master http://127.0.0.1:9101/metrics, "
            "python-worker-local-1 http://127.0.0.1:9102/metrics") in banner
