"""Prometheus metrics of a running master and worker, scraped as Prometheus would."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.chat import ChatClient
from support.system import SystemFactory, wait_idle

from ai_system.local.api import http_json

pytestmark = pytest.mark.integration


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_question_shows_in_the_master_and_worker_metrics(
        system_factory: SystemFactory) -> None:
    system = system_factory(workers=1, simulated_seconds=0)
    with ChatClient(system.url) as user:
        user.wait_answer(user.ask("Count me")["task_id"])
    wait_idle(system)
    master = samples(system.metrics("master"))
    worker = samples(system.metrics(next(iter(system.workers))))
    assert master[("ai_system_tasks_completed_total", ())] == 1
    assert master[("ai_system_task_latency_seconds_count", ())] == 1
    assert master[("ai_system_workers", (("language", "python"), ("state", "idle")))] == 1
    assert master[("ai_system_mqtt_connected", ())] == 1
    assert master[("ai_system_journal_enabled", ())] == 1
    assert worker[("ai_worker_tasks_total", (("outcome", "answered"),))] == 1
    assert worker[("ai_worker_provider_seconds_count", (("provider", "offline"),))] == 1
    assert worker[("ai_worker_busy", ())] == 0
    # The published web port does not show them.
    assert http_json(system.url + "/metrics")[0] == 404
