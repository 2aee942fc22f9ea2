"""Fixtures shared by every test: free ports, whole local systems, artifact paths.

A system is the real thing (``ai_system.local.system.LocalSystem``): Mosquitto, ``ai-master``
and ``ai-worker`` processes on free ports. Workers run the offline provider with short
simulated work, so queueing is visible and the suite stays quick. When a test fails, the
children's output is written to test-artifacts/logs/.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from support import ports
from support.system import ARTIFACTS, SystemFactory, make_system, save_logs

from ai_system.local import system as local_system
from ai_system.local.system import LocalSystem

# The launcher picks its children's metrics ports itself: from this process's block too, so
# that pytest processes running side by side never share one (support/ports.py).
local_system.free_port = ports.free_port

FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
        item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        item.stash.setdefault(FAILED, True)
    return report


@pytest.fixture
def system_factory(request: pytest.FixtureRequest) -> Iterator[SystemFactory]:
    """Start systems inside one test; all are stopped (logs kept on failure) at its end."""
    started: list[LocalSystem] = []

    def factory(**kwargs: object) -> LocalSystem:
        system = make_system(**kwargs)  # type: ignore[arg-type]
        started.append(system)
        return system

    yield factory
    for system in started:
        if request.node.stash.get(FAILED, False):
            save_logs(system, request.node.nodeid)
        system.stop()


@pytest.fixture(scope="session")
def shared_system() -> Iterator[LocalSystem]:
    """One system with two workers for every test that leaves it as it found it.

    Its logs always go to test-artifacts/logs/shared-system/ (one start saves seconds
    per test; the logs tell which test disturbed it, if one ever does).
    """
    system = make_system(workers=2)
    yield system
    save_logs(system, "shared-system")
    system.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
