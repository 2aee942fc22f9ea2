# Copyright: UPB Distributed Systems Lab
# MIT License (see galaxy.yml)
"""Filter upb.ai_system.swarm_modes: each service of a stack's compose files by its swarm name,
with its mode as swarm's service spec says it.

Compose says ``deploy.mode: global`` (or replicated, replicated-job, global-job; replicated when
left out); a deployed service's ``Spec.Mode`` has one key, Global, Replicated, ReplicatedJob or
GlobalJob. Swarm cannot switch a service between modes: the stack role compares the two and
replaces a service whose mode changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ansible.errors import AnsibleFilterError

# Documentation: swarm_modes.yml beside this file.

DEFAULT_MODE = "replicated"


def _spec_mode(mode: str) -> str:
    """replicated-job -> ReplicatedJob, global -> Global."""
    return "".join(part.capitalize() for part in mode.split("-"))


def swarm_modes(composes: object, stack: str) -> dict[str, str]:
    """``<stack>_<service>`` -> the spec's mode, for every service of the ``composes`` (parsed
    compose files, in the order they are deployed: a later file's service replaces an earlier
    one of the same name, as a whole)."""
    if isinstance(composes, (str, Mapping)) or not isinstance(composes, Iterable):
        raise AnsibleFilterError("swarm_modes: expects the list of the parsed compose files")
    if not isinstance(stack, str) or not stack:
        raise AnsibleFilterError("swarm_modes: the stack's name must be a non-empty string")
    services: dict[str, object] = {}
    for index, compose in enumerate(composes):
        if compose is None:  # an empty file
            continue
        if not isinstance(compose, Mapping):
            raise AnsibleFilterError(f"swarm_modes: compose file {index} is not a mapping")
        found = compose.get("services") or {}
        if not isinstance(found, Mapping):
            raise AnsibleFilterError(f"swarm_modes: the services of compose file {index} "
                                     "are not a mapping")
        services.update(found)
    modes = {}
    for name, service in services.items():
        deploy = service.get("deploy") if isinstance(service, Mapping) else None
        mode = (deploy.get("mode") if isinstance(deploy, Mapping) else None) or DEFAULT_MODE
        if not isinstance(mode, str):
            raise AnsibleFilterError(f"swarm_modes: service {name}: deploy.mode is not text: "
                                     f"{mode!r}")
        modes[f"{stack}_{name}"] = _spec_mode(mode)
    return modes


class FilterModule:
    def filters(self) -> dict[str, object]:
        return {"swarm_modes": swarm_modes}
