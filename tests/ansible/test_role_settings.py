"""A role given a setting outside its choices stops before doing anything, naming the setting and
what it may be (meta/argument_specs.yml, checked as each role starts)."""

from __future__ import annotations

import subprocess

import pytest
from templating import ROOT

WRONG = [  # role, setting, value, how it is refused
    ("ai_system", "ai_system_worker_mode", "everywhere", "must be one of: global, replicated"),
    ("ai_system", "ai_system_worker_kinds", "[python, cobol]",
     "must be one or more of: python, node, go, java. Got no match for: cobol"),
    ("ai_system", "ai_system_llm_provider", "llama",
     "must be one of: auto, offline, gemini, deepseek, openai"),
    ("ai_system", "ai_system_web_publish_mode", "nodeport", "must be one of: host, ingress"),
    ("docker", "docker_install_source", "snap", "must be one of: distribution, docker-ce"),
    ("pki", "pki_key_type", "DSA", "must be one of: ECC, RSA"),
]

TASK = """
    - name: Run {role} with {setting} {value}
      block:
        - name: Run the role
          ansible.builtin.include_role:
            name: upb.ai_system.{role}
          vars:
            {setting}: {value}
      rescue:
        - name: Go on with the next setting
          ansible.builtin.meta: noop
"""


@pytest.fixture(scope="module")
def said(tmp_path_factory: pytest.TempPathFactory) -> str:
    """What one run of every role with one wrong setting each printed (one run: ~5 s each)."""
    playbook = tmp_path_factory.mktemp("settings") / "play.yml"
    playbook.write_text("- hosts: localhost\n  gather_subset: [min, network]\n  tasks:"
                        + "".join(TASK.format(role=role, setting=setting, value=value)
                                  for role, setting, value, _ in WRONG))
    done = subprocess.run([str(ROOT / ".venv/bin/ansible-playbook"), "--check", str(playbook)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    return " ".join((done.stdout + done.stderr).split())


@pytest.mark.parametrize(("setting", "refusal"), [(wrong[1], wrong[3]) for wrong in WRONG])
def test_a_setting_outside_its_choices_is_refused_by_name(
        said: str, setting: str, refusal: str) -> None:
    assert f"value of {setting} {refusal}" in said, said
