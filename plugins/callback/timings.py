# Copyright: UPB Distributed Systems Lab
# MIT License (see galaxy.yml)
"""Callback upb.ai_system.timings: how long each play and task took, as one JSON line per run.

ansible.posix.profile_tasks prints the slowest tasks for a reader; this one records every play
and task of a playbook run in a file that a program reads (scripts/run-tests.py prints where a
test run's time went from it), and prints the plays' times at the end of the run.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: timings
    type: aggregate
    short_description: the time of every play and task, appended to a JSON-lines file
    description:
      - A task's time runs from its start to the start of the next task (or the end of its
        play), over all hosts; the wall-clock time the run spent on it, loops and retries included.
      - At the end of the run, prints each play's time and, if I(file) is set, appends one JSON
        object to it with the keys C(playbook), C(scenario) (Molecule's scenario name when Molecule
        runs the playbook), C(start), C(seconds), C(ok) and C(plays), a list of objects with the
        keys C(name), C(seconds) and C(tasks), a list of objects with the keys C(name) and
        C(seconds).
    requirements:
      - enable it in ansible.cfg (C(callbacks_enabled = upb.ai_system.timings))
    options:
      file:
        description: The JSON-lines file each run appends its record to; none is written when unset.
        env:
          - name: AI_SYSTEM_TIMINGS_FILE
        ini:
          - section: callback_timings
            key: file
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "upb.ai_system.timings"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._playbook = ""
        self._start = time.time()
        self._plays: list[dict[str, Any]] = []
        self._mark = time.monotonic()  # when the open play or task began

    def v2_playbook_on_start(self, playbook: Any) -> None:
        self._playbook = os.path.relpath(playbook._file_name)
        self._start = time.time()

    def _close_task(self) -> None:
        now = time.monotonic()
        if self._plays and self._plays[-1]["tasks"]:
            task = self._plays[-1]["tasks"][-1]
            if task["seconds"] is None:
                task["seconds"] = round(now - self._mark, 3)
        self._mark = now

    def _close_play(self) -> None:
        self._close_task()
        if self._plays and self._plays[-1]["seconds"] is None:
            play = self._plays[-1]
            play["seconds"] = round(time.monotonic() - play.pop("_began"), 3)

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self._close_play()
        self._plays.append({"name": play.get_name().strip(), "seconds": None,
                            "_began": time.monotonic(), "tasks": []})

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._close_task()
        role = task._role.get_name() if task._role else ""
        name = task.get_name().strip()
        self._plays[-1]["tasks"].append(
            {"name": f"{role} : {name}" if role and not name.startswith(role) else name,
             "seconds": None})

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self.v2_playbook_on_task_start(task, False)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        self._close_play()
        ok = not any(stats.failures.values()) and not any(stats.dark.values())
        record = {"playbook": self._playbook,
                  "scenario": os.environ.get("MOLECULE_SCENARIO_NAME", ""),
                  "start": round(self._start, 3), "seconds": round(time.time() - self._start, 3),
                  "ok": ok, "plays": self._plays}
        for play in self._plays:
            self._display.display(f"{play['seconds']:8.1f} s  play: {play['name']}")
        path = self.get_option("file")
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
