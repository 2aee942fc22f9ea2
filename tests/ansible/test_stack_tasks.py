"""The filters upb.ai_system.task_nodes, crowded_nodes (roles/ai_system/tasks/verify.yml: how
the workers are placed) and service_containers (roles/ai_system/tasks/ask.yml: a container with
the chat client), on tasks and containers as community.docker lists them."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from templating import filtered

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "plugins" / "filter"))

from stack_tasks import crowded_nodes, service_containers, task_nodes  # noqa: E402

STACK = "ai-system"


def task(name: str, node: str, desired: str = "Running") -> dict[str, str]:
    """One task as docker_stack_task_info lists it (docker stack ps --format json)."""
    return {"ID": "x1y2z3", "Name": f"{STACK}_{name}", "Node": node, "DesiredState": desired,
            "CurrentState": "Running 2 minutes ago", "Error": "", "Image": "img", "Ports": ""}


TASKS = [
    task("master.1", "manager1"),
    task("worker-python.1", "worker1"),
    task("worker-python.2", "worker2"),
    task("worker-python.3", "worker1"),
    task("worker-python.2", "worker3", desired="Shutdown"),  # the task that one replaced
    task("worker-python-extra.1", "worker3"),  # another service, whose name begins alike
    task("worker-node.1", "worker2"),
    task("worker-python.4", ""),  # no node took it yet
]


def test_the_nodes_of_a_services_tasks_that_are_to_run_one_entry_a_task() -> None:
    assert task_nodes(TASKS, STACK, "worker-python") == ["worker1", "worker2", "worker1", ""]
    assert task_nodes(TASKS, STACK, "master") == ["manager1"]


def test_a_global_services_tasks_are_named_by_node_id() -> None:
    tasks = [task("worker-go.k3j9x0yq2w1e", "worker1"), task("worker-go.p8m2n4b6v7c1", "worker2")]
    assert task_nodes(tasks, STACK, "worker-go") == ["worker1", "worker2"]


def test_no_tasks_or_another_stack_give_no_nodes() -> None:
    assert task_nodes([], STACK, "worker-python") == []
    assert task_nodes(TASKS, "other", "worker-python") == []
    assert task_nodes(TASKS, STACK, "worker-java") == []


def test_a_node_with_more_tasks_than_it_may_hold_is_crowded() -> None:
    nodes = task_nodes(TASKS, STACK, "worker-python")
    assert crowded_nodes(nodes, 1) == ["worker1"]
    assert crowded_nodes(nodes, 2) == []
    assert crowded_nodes(["b", "a", "a", "b", "c"], "1") == ["b", "a"]  # as first seen


def test_no_tasks_crowd_no_node() -> None:
    assert crowded_nodes([], 2) == []
    assert crowded_nodes([], 0) == []


def container(name: str) -> dict[str, object]:
    """One container as docker_host_info lists it (docker's summary: names begin with /)."""
    return {"Id": "c0ffee", "Names": [f"/{name}"], "Image": "img", "State": "running"}


CONTAINERS = [
    container(f"{STACK}_worker-python.2.tbbqnt0hyhpc92rbtud0kz0y5"),
    container(f"{STACK}_mosquitto.1.abcdefghijklmnopqrstuvwxy"),
    container(f"{STACK}_master.1.zyxwvutsrqponmlkjihgfedcb"),
    container(f"{STACK}_worker-python-extra.1.abcdefghijklmnopqrstuvwxy"),
    container("ai-systemx_master.1.abcdefghijklmnopqrstuvwxy"),
    container("registry"),
    {"Id": "d00d", "Names": [], "Image": "img"},
]


def test_the_containers_of_the_services_sorted_the_master_first() -> None:
    assert service_containers(CONTAINERS, STACK, ["master", "worker-python"]) == [
        f"{STACK}_master.1.zyxwvutsrqponmlkjihgfedcb",
        f"{STACK}_worker-python.2.tbbqnt0hyhpc92rbtud0kz0y5",
    ]


def test_a_stack_name_is_not_a_pattern() -> None:
    assert service_containers([container("a.b_master.1.x"), container("aXb_master.1.y")],
                              "a.b", ["master"]) == ["a.b_master.1.x"]


def test_no_containers_of_the_services_give_none() -> None:
    assert service_containers([], STACK, ["master"]) == []
    assert service_containers(CONTAINERS, STACK, ["worker-java"]) == []


@pytest.mark.parametrize(("call", "name"), [
    (lambda: task_nodes("tasks", STACK, "master"), "task_nodes"),
    (lambda: task_nodes([1], STACK, "master"), "task_nodes"),
    (lambda: task_nodes(TASKS, "", "master"), "task_nodes"),
    (lambda: task_nodes(TASKS, STACK, ""), "task_nodes"),
    (lambda: crowded_nodes("worker1", 2), "crowded_nodes"),
    (lambda: crowded_nodes(["worker1"], "two"), "crowded_nodes"),
    (lambda: service_containers({"containers": []}, STACK, ["master"]), "service_containers"),
    (lambda: service_containers(CONTAINERS, STACK, "master"), "service_containers"),
    (lambda: service_containers(CONTAINERS, STACK, []), "service_containers"),
])
def test_what_they_cannot_read_is_refused_clearly(call: Callable[[], object], name: str) -> None:
    with pytest.raises(AnsibleFilterError, match=rf"^{name}: "):
        call()


def test_ansible_finds_them_by_their_fqcn() -> None:
    assert filtered(
        "{'nodes': tasks | upb.ai_system.task_nodes(stack, 'worker-python'),"
        " 'crowded': tasks | upb.ai_system.task_nodes(stack, 'worker-python')"
        " | upb.ai_system.crowded_nodes(1),"
        " 'clients': containers | upb.ai_system.service_containers(stack, ['master'])}",
        {"tasks": TASKS, "containers": CONTAINERS, "stack": STACK},
    ) == {"nodes": ["worker1", "worker2", "worker1", ""], "crowded": ["worker1"],
          "clients": [f"{STACK}_master.1.zyxwvutsrqponmlkjihgfedcb"]}
