# Copyright: UPB Distributed Systems Lab
# MIT License (see galaxy.yml)
"""Callback upb.ai_system.progress: the default output, with waits that read as progress.

A task with ``until`` (a stack converging, a rolling update, workers registering) prints
``FAILED - RETRYING: ... (57 retries left)`` on every check with the default callback, which
reads as a failure. This one prints what is awaited and how far along it is instead:
``waiting 15 s for [manager1] Wait until every service runs ...: 9/12 tasks running``.
"""

from __future__ import annotations

import time
from typing import Any

from ansible.plugins.callback.default import CallbackModule as DefaultCallback

DOCUMENTATION = """
    name: progress
    type: stdout
    short_description: the default output, with waits shown as progress instead of retries
    description:
      - The default callback, except that each check of a task with C(until) prints how long it
        has waited and how far along the awaited thing is (swarm tasks running out of desired,
        nodes ready, the services still in a rolling update, workers registered, an HTTP
        status) instead of C(FAILED - RETRYING).
    extends_documentation_fragment:
      - default_callback
      - result_format_callback
    requirements:
      - set as stdout_callback in ansible.cfg (C(stdout_callback = upb.ai_system.progress))
"""


def describe(result: dict[str, Any]) -> str:
    """How far along a check's result is, from what the modules we wait on return."""
    tasks = result.get("results")
    if isinstance(tasks, list) and tasks and all(isinstance(t, dict) and "DesiredState" in t
                                                 for t in tasks):
        wanted = [t for t in tasks if t.get("DesiredState") == "Running"]
        running = sum(str(t.get("CurrentState", "")).startswith("Running") for t in wanted)
        return f"{running}/{len(wanted)} tasks running"
    services = result.get("services")
    if isinstance(services, list) and all(isinstance(s, dict) for s in services):
        updating = [s.get("Spec", {}).get("Name", "?") for s in services
                    if s.get("UpdateStatus", {}).get("State") in ("updating", "rollback_started")]
        return f"{len(updating)} of {len(services)} services updating" + (
            f" ({', '.join(sorted(updating))})" if updating else "")
    nodes = result.get("nodes")
    if isinstance(nodes, list) and nodes:
        ready = sum(n.get("Status", {}).get("State") == "ready" for n in nodes)
        return f"{ready}/{len(nodes)} nodes ready"
    body = result.get("json")
    if isinstance(body, dict) and isinstance(body.get("workers"), list):
        online = sum(w.get("state") != "offline" for w in body["workers"])
        return f"{online} workers registered"
    if isinstance(result.get("containers"), list):
        return f"{len(result['containers'])} containers left"
    if "status" in result and isinstance(result["status"], int):
        return f"HTTP {result['status']}" if result["status"] > 0 else "no answer yet"
    message = str(result.get("msg") or "").splitlines()
    return message[0][:120] if message else "not yet"


class CallbackModule(DefaultCallback):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "upb.ai_system.progress"

    def __init__(self) -> None:
        super().__init__()
        # (host, task uuid) -> when the task started on that host
        self._started: dict[tuple[str, str], float] = {}

    def v2_runner_on_start(self, host: Any, task: Any) -> None:
        self._started[(host.get_name(), task._uuid)] = time.monotonic()
        super().v2_runner_on_start(host, task)

    def v2_runner_retry(self, result: Any) -> None:
        started = self._started.get((result.host.get_name(), result.task._uuid))
        waited = f" {time.monotonic() - started:.0f} s" if started is not None else ""
        attempts, retries = result.result.get("attempts", 0), result.result.get("retries", 0)
        self._display.display(
            f"waiting{waited} for [{self.host_label(result)}] {result.task_name}: "
            f"{describe(result.result)} (check {attempts} of {retries})")
