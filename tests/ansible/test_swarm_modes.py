"""The filter upb.ai_system.swarm_modes (roles/stack/tasks/deploy.yml): each service of a stack's
compose files by its swarm name, with its mode as a deployed service's Spec.Mode names it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from templating import filtered

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "plugins" / "filter"))

from swarm_modes import swarm_modes  # noqa: E402

COMPOSE = {
    "version": "3.8",
    "services": {
        "master": {"image": "master:1", "deploy": {"replicas": 1}},
        "worker-python": {"image": "worker:1", "deploy": {"mode": "global"}},
        "migrate": {"image": "master:1", "deploy": {"mode": "replicated-job"}},
        "sweep": {"image": "master:1", "deploy": {"mode": "global-job"}},
        "mosquitto": {"image": "eclipse-mosquitto:2"},
    },
}


def test_each_service_by_its_swarm_name_with_the_specs_mode() -> None:
    assert swarm_modes([COMPOSE], "ai-system") == {
        "ai-system_master": "Replicated",
        "ai-system_worker-python": "Global",
        "ai-system_migrate": "ReplicatedJob",
        "ai-system_sweep": "GlobalJob",
        "ai-system_mosquitto": "Replicated",
    }


@pytest.mark.parametrize("service", [{}, None, {"deploy": None}, {"deploy": {"replicas": 3}},
                                     {"deploy": {"mode": None}}])
def test_a_service_without_a_mode_is_replicated(service: object) -> None:
    assert swarm_modes([{"services": {"web": service}}], "s") == {"s_web": "Replicated"}


def test_any_sequence_of_files_will_do_as_jinja_map_passes_one() -> None:
    assert swarm_modes(iter([COMPOSE]), "ai-system") == swarm_modes([COMPOSE], "ai-system")


def test_a_later_file_replaces_a_service_as_a_whole() -> None:
    override = {"services": {"worker-python": {"environment": {"DEBUG": "1"}},
                             "extra": {"deploy": {"mode": "global"}}}}
    modes = swarm_modes([COMPOSE, override], "ai-system")
    assert modes["ai-system_worker-python"] == "Replicated"
    assert modes["ai-system_extra"] == "Global"
    assert len(modes) == 6


@pytest.mark.parametrize("composes", [[], [None], [{}], [{"services": None}], [{"volumes": {}}]])
def test_no_services_give_no_modes(composes: list[object]) -> None:
    assert swarm_modes(composes, "ai-system") == {}


@pytest.mark.parametrize(("composes", "stack"), [
    ({"services": {}}, "s"),
    ("services: {}", "s"),
    ([["not", "a", "mapping"]], "s"),
    ([{"services": ["web"]}], "s"),
    ([{"services": {"web": {"deploy": {"mode": 1}}}}], "s"),
    ([COMPOSE], ""),
])
def test_what_is_not_compose_files_and_a_stack_is_refused_clearly(composes: object,
                                                                   stack: str) -> None:
    with pytest.raises(AnsibleFilterError, match=r"^swarm_modes: "):
        swarm_modes(composes, stack)


def test_ansible_finds_it_by_its_fqcn_and_reads_parsed_yaml() -> None:
    # As deploy.yml reads the files; from_yaml makes an empty file None.
    compose = "services:\n  web:\n    deploy:\n      mode: global\n  db: {}\n"
    assert filtered("[compose, ''] | map('from_yaml') | upb.ai_system.swarm_modes('lab')",
                    {"compose": compose}) == {"lab_web": "Global", "lab_db": "Replicated"}
