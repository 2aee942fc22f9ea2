"""The stack role's restore-check entry point, run by ansible-playbook on a backup folder as
backup.yml writes one: an intact backup passes, a damaged one is refused with its file named."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from templating import ROOT

PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Check the backup
      ansible.builtin.include_role:
        name: upb.ai_system.stack
        tasks_from: restore-check
      vars:
        stack_name: demo
        stack_restore_path: {backup}
        stack_backup_volumes: [data]
"""


def _backup(folder: Path) -> Path:
    folder.mkdir()
    files = {"demo-stack.yml": b"services: {}\n", "demo_data.tar.gz": b"not empty"}
    for name, content in files.items():
        (folder / name).write_bytes(content)
    manifest = {"format": 1, "stack": "demo",
                "volumes": {"data": {"archive": "demo_data.tar.gz", "owner": 0, "mode": "0700"}},
                "files": {name: hashlib.sha256(content).hexdigest()
                          for name, content in files.items()}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _check(tmp_path: Path, backup: Path) -> subprocess.CompletedProcess[str]:
    playbook = tmp_path / "check.yml"
    playbook.write_text(PLAY.format(backup=backup))
    return subprocess.run([str(ROOT / ".venv/bin/ansible-playbook"), str(playbook)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def test_an_intact_backup_passes(tmp_path: Path) -> None:
    done = _check(tmp_path, _backup(tmp_path / "backup"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_damaged_backup_is_refused_naming_its_file(tmp_path: Path) -> None:
    backup = _backup(tmp_path / "backup")
    with (backup / "demo_data.tar.gz").open("ab") as archive:
        archive.write(b"x")
    done = _check(tmp_path, backup)
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode != 0
    assert "demo_data.tar.gz is missing or differ" in said, said


def test_a_backup_missing_a_file_is_refused_naming_it(tmp_path: Path) -> None:
    backup = _backup(tmp_path / "backup")
    (backup / "demo-stack.yml").unlink()
    done = _check(tmp_path, backup)
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode != 0
    assert "demo-stack.yml is missing or differ" in said, said
