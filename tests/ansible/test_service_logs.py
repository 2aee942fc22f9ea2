"""The filter upb.ai_system.service_logs, run by Ansible itself on lines as docker prints them
(``docker service logs --timestamps --no-trunc``, format checked against Docker 28)."""

from __future__ import annotations

import pytest
from templating import filtered, template

TASK = "tbbqnt0hyhpc92rbtud0kz0y5"
NODE_ID = "0"  # docker 28 prints slot 0 for a global service's tasks
MASTER = [
    f"2026-12-02T21:28:29.306649088Z ai-system_master.1.{TASK}@manager1    | started",
    f"2026-12-02T21:28:31.000000000Z ai-system_master.1.{TASK}@manager1    | task given  ",
]
WORKER = [
    f"2026-12-02T21:28:30.100000000Z ai-system_worker-python.{NODE_ID}.{TASK}@worker3    | "
    "registered",
    f"2026-12-02T21:28:30.000000000Z ai-system_worker-python.{NODE_ID}.{TASK}@manager1    | "
    "registered | twice",
]


def service_logs(lines: list[str], node: str = "") -> list[str]:
    """The filter's result, through ansible's own templating (as the logs playbook uses it)."""
    return filtered("lines | upb.ai_system.service_logs(node)", {"lines": lines, "node": node})


def test_services_merge_into_plain_lines_oldest_first_without_task_ids() -> None:
    assert service_logs(MASTER + WORKER) == [
        "2026-12-02T21:28:29.306649088Z manager1 ai-system_master.1 started",
        "2026-12-02T21:28:30.000000000Z manager1 ai-system_worker-python registered | twice",
        "2026-12-02T21:28:30.100000000Z worker3 ai-system_worker-python registered",
        "2026-12-02T21:28:31.000000000Z manager1 ai-system_master.1 task given",
    ]


def test_a_node_keeps_only_its_tasks_lines() -> None:
    assert service_logs(MASTER + WORKER, "worker3") == [
        "2026-12-02T21:28:30.100000000Z worker3 ai-system_worker-python registered"]


def test_dockers_own_messages_come_first_unless_a_node_is_asked_for() -> None:
    note = "error from daemon in stream: Error grabbing logs: log file is gone"
    assert service_logs([*MASTER, note])[0] == note
    assert note not in service_logs([*MASTER, note], "manager1")


@pytest.mark.parametrize("bad", ["not a list", [1, 2]])
def test_what_is_not_a_list_of_lines_is_refused_clearly(bad: object) -> None:
    done = template("{{ lines | upb.ai_system.service_logs }}", {"lines": bad})
    assert done.returncode != 0 and "service_logs: " in done.stdout + done.stderr
