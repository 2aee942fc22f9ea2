"""Helpers for the collection's plugins, run by Ansible itself (ansible.cfg of this checkout)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def template(expression: str, variables: dict[str, object]) -> subprocess.CompletedProcess[str]:
    """``ansible localhost -m debug -a msg=<expression>`` with ``variables`` as extra vars."""
    return subprocess.run(
        [str(ROOT / ".venv/bin/ansible"), "localhost", "-m", "ansible.builtin.debug",
         "-a", f"msg={expression}", "-e", json.dumps(variables), "-o"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def filtered(expression: str, variables: dict[str, object]) -> object:
    """The value of ``expression | to_json``, read back."""
    done = template(f"{{{{ {expression} | to_json }}}}", variables)
    assert done.returncode == 0, done.stdout + done.stderr
    reply = json.loads(done.stdout.split(" => ", 1)[1])
    return json.loads(reply["msg"]) if isinstance(reply["msg"], str) else reply["msg"]
