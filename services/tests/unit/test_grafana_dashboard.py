"""The Grafana dashboard shipped with the role asks only for metrics the services expose."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import generate_latest

from ai_system.master.metrics import MasterMetrics
from ai_system.worker.metrics import WorkerMetrics
from ai_system.worker.providers.keys import KeyPool

DASHBOARD = (Path(__file__).resolve().parents[3]
             / "roles/ai_system/files/grafana-dashboard.json")
SNAPSHOT = {
    "tasks": {"submitted": 0, "completed": 0, "failed": 0, "requeued": 0, "retried": 0,
              "duplicates": 0, "unknown_results": 0, "forged_results": 0, "untokened_results": 0,
              "retrying": 0,
              "assigned": 0, "rejections": {"session_rate": 1},
              "provider_errors": [{"provider": "gemini", "kind": "timeout", "count": 1}]},
    "queue_depth": 0, "queue_oldest_seconds": 0.0, "workers": [],
    "sessions": {"sessions": 0, "connections": 0}, "mqtt_connected": True, "journal": True,
}


def exposed() -> set[str]:
    master = MasterMetrics()
    master.watch(lambda: SNAPSHOT)
    worker = WorkerMetrics()
    worker.watch_keys("gemini", KeyPool(["k"], 60))
    worker.provider_seconds.labels("gemini")
    worker.provider_errors.labels("gemini", "timeout")
    text = (generate_latest(master.registry) + generate_latest(worker.registry)).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines()
            if line and not line.startswith("#")}


def test_every_panel_queries_metrics_that_exist() -> None:
    names = exposed()
    panels = json.loads(DASHBOARD.read_text())["panels"]
    assert len(panels) >= 10
    for panel in panels:
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            used = set(re.findall(r"\bai_(?:system|worker)_\w+", target["expr"]))
            assert used, f"panel {panel['title']!r} queries no ai-system metric"
            assert used <= names, (panel["title"], used - names)
