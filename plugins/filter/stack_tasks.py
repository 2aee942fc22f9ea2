# Copyright: UPB Distributed Systems Lab
# MIT License (see galaxy.yml)
"""Filters upb.ai_system.task_nodes (the nodes a service's tasks run on), crowded_nodes (the
nodes that hold too many of them) and service_containers (the containers of some services of a
stack, as a node's docker lists them).

Swarm names a stack's service ``<stack>_<service>``, its tasks ``<stack>_<service>.<slot>`` (a
global service's ``.<node id>``) and their containers ``<task name>.<task id>``: a task or a
container is a service's when its name starts with ``<stack>_<service>.``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from ansible.errors import AnsibleFilterError

# Documentation: task_nodes.yml, crowded_nodes.yml and service_containers.yml beside this file.


def _of_service(name: str, stack: str, service: str) -> bool:
    return name.startswith(f"{stack}_{service}.")


def _services(filter_name: str, stack: object, services: object) -> list[str]:
    """The names of the services, checked (with the stack's)."""
    if not isinstance(stack, str) or not stack:
        raise AnsibleFilterError(f"{filter_name}: the stack's name must be a non-empty string")
    names = [] if isinstance(services, str) or not isinstance(services, Iterable) else [*services]
    if not names or not all(isinstance(name, str) and name for name in names):
        raise AnsibleFilterError(f"{filter_name}: expects service names, not {services!r}")
    return names


def task_nodes(tasks: object, stack: str, service: str) -> list[str]:
    """The nodes of the tasks of ``<stack>_<service>`` among ``tasks`` (docker stack ps, as
    community.docker.docker_stack_task_info lists it) that are to run: one entry a task, in
    their order, "" for a task no node took yet."""
    if not isinstance(tasks, list) or not all(isinstance(task, Mapping) for task in tasks):
        raise AnsibleFilterError(
            "task_nodes: expects the list of a stack's tasks (docker_stack_task_info)")
    _services("task_nodes", stack, [service])
    return [str(task.get("Node") or "") for task in tasks
            if task.get("DesiredState") == "Running"
            and _of_service(str(task.get("Name", "")), stack, service)]


def crowded_nodes(nodes: object, most: int) -> list[str]:
    """The nodes that stand more than ``most`` times in ``nodes`` (one entry a task), in the
    order each first stands there."""
    if isinstance(nodes, str) or not isinstance(nodes, Iterable):
        raise AnsibleFilterError("crowded_nodes: expects a list of nodes, one entry a task")
    try:
        most = int(most)
    except (TypeError, ValueError):
        raise AnsibleFilterError(
            f"crowded_nodes: the most tasks a node may hold must be a number, not {most!r}"
        ) from None
    return [node for node, count in Counter(nodes).items() if count > most]


def service_containers(containers: object, stack: str, services: object) -> list[str]:
    """The names of the ``containers`` (a node's, as community.docker.docker_host_info lists
    them) of tasks of ``<stack>_<service>`` for any of ``services``, sorted."""
    if not isinstance(containers, list) or not all(
            isinstance(container, Mapping) for container in containers):
        raise AnsibleFilterError(
            "service_containers: expects the list of a node's containers (docker_host_info)")
    wanted = _services("service_containers", stack, services)
    names = [str(container["Names"][0]).removeprefix("/") for container in containers
             if container.get("Names")]
    return sorted(name for name in names
                  if any(_of_service(name, stack, service) for service in wanted))


class FilterModule:
    """Filters of upb.ai_system over a stack's tasks and containers."""

    def filters(self) -> dict[str, object]:
        return {
            "task_nodes": task_nodes,
            "crowded_nodes": crowded_nodes,
            "service_containers": service_containers,
        }
