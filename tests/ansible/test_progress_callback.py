"""The stdout callback upb.ai_system.progress: waits read as progress, not as failures.

Run by ansible-playbook itself (the checkout's ansible.cfg names it), on a task that has to be
checked three times; and its reading of what the swarm modules return."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "plugins" / "callback"))

from progress import describe  # noqa: E402

WAIT = re.compile(r"^waiting \d+ s for \[localhost\] Wait for the third check: .+ "
                  r"\(check (?P<check>\d) of 6\)$")  # 5 retries: 6 checks at most
PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Wait for the third check
      ansible.builtin.shell: >-
        n=$(cat {counter} 2>/dev/null || echo 0); echo $((n + 1)) > {counter}; test "$n" -ge 2
      register: check
      until: check.rc == 0
      retries: 5
      delay: 0
      changed_when: false
"""


def test_each_check_of_a_wait_says_how_long_and_which_check_it_is(tmp_path: Path) -> None:
    playbook = tmp_path / "wait.yml"
    playbook.write_text(PLAY.format(counter=tmp_path / "counter"))
    done = subprocess.run([str(ROOT / ".venv/bin/ansible-playbook"), str(playbook)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    waits = [WAIT.match(line) for line in done.stdout.splitlines() if line.startswith("waiting")]
    assert [match and match["check"] for match in waits] == ["1", "2"], done.stdout
    assert "FAILED - RETRYING" not in done.stdout


def test_swarm_tasks_count_as_running_out_of_desired() -> None:
    tasks = [{"DesiredState": "Running", "CurrentState": "Running 3 seconds ago"},
             {"DesiredState": "Running", "CurrentState": "Preparing 1 second ago"},
             {"DesiredState": "Shutdown", "CurrentState": "Shutdown 1 minute ago"}]
    assert describe({"results": tasks}) == "1/2 tasks running"


def test_the_services_still_updating_are_named() -> None:
    services = [{"Spec": {"Name": "ai-system_master"}, "UpdateStatus": {"State": "updating"}},
                {"Spec": {"Name": "ai-system_mosquitto"}, "UpdateStatus": {"State": "completed"}},
                {"Spec": {"Name": "ai-system_worker-go"}}]
    assert describe({"services": services}) == "1 of 3 services updating (ai-system_master)"
    assert describe({"services": services[1:]}) == "0 of 2 services updating"


def test_nodes_workers_and_http_answers() -> None:
    assert describe({"nodes": [{"Status": {"State": "ready"}}, {"Status": {"State": "down"}}]}) \
        == "1/2 nodes ready"
    assert describe({"json": {"workers": [{"state": "idle"}, {"state": "offline"}]}}) == (
        "1 workers registered")
    assert describe({"status": -1, "msg": "Status code was -1"}) == "no answer yet"
    assert describe({"status": 503}) == "HTTP 503"
