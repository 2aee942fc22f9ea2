"""The programs answer --help and --version without starting, and refuse unknown flags."""

from __future__ import annotations

import subprocess

import pytest

from ai_system import __version__
from ai_system.local.processes import find_program

SERVICES = ["ai-master", "ai-worker", "ai-system-local"]
PROGRAMS = [*SERVICES, "ai-system-ask"]
# What each program needs besides flags.
OPERANDS = {"ai-system-ask": ["http://127.0.0.1:9", "Hello?"]}


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([find_program(argv[0]), *argv[1:]], capture_output=True, text=True,
                          timeout=30, check=False)


@pytest.mark.parametrize("program", SERVICES)
def test_help_describes_the_program_and_where_its_settings_are(program: str) -> None:
    done = run(program, "--help")
    assert done.returncode == 0, done.stderr
    assert f"usage: {program}" in done.stdout and "services/README.md" in done.stdout


@pytest.mark.parametrize("program", PROGRAMS)
def test_version_prints_the_package_version(program: str) -> None:
    done = run(program, "--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"{program} {__version__}")


@pytest.mark.parametrize("program", PROGRAMS)
def test_an_unknown_flag_is_refused(program: str) -> None:
    done = run(program, *OPERANDS.get(program, []), "--no-such-flag")
    assert done.returncode == 2 and "unrecognized arguments: --no-such-flag" in done.stderr
