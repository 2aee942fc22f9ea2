"""The health file and ``python -m ai_system.worker.health``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from ai_system.worker.health import HealthFile


def run_check(path: Path, heartbeat: str = "10") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HEALTH_FILE": str(path), "HEARTBEAT_SECONDS": heartbeat}
    return subprocess.run([sys.executable, "-m", "ai_system.worker.health"], env=env,
                          capture_output=True, text=True, check=False)


def test_fresh_file_is_healthy_missing_or_stale_is_not(tmp_path: Path) -> None:
    path = tmp_path / "healthy"
    assert run_check(path).returncode == 1
    HealthFile(str(path)).touch()
    assert run_check(path).returncode == 0
    old = time.time() - 31
    os.utime(path, (old, old))
    stale = run_check(path)
    assert stale.returncode == 1
    assert "older than 3 heartbeats" in stale.stderr
    HealthFile(str(path)).touch()
    assert run_check(path).returncode == 0
    HealthFile(str(path)).remove()
    assert run_check(path).returncode == 1


def test_bad_settings_are_unhealthy_with_the_reason(tmp_path: Path) -> None:
    result = run_check(tmp_path / "healthy", heartbeat="often")
    assert result.returncode == 1
    assert "HEARTBEAT_SECONDS must be a number" in result.stderr
