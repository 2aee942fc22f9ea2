# Copyright: UPB Distributed Systems Lab
# MIT License (see galaxy.yml)
"""Filter upb.ai_system.service_logs: the lines of ``docker service logs --timestamps`` of
several services merged into plain lines in time order, optionally those of one node only.

docker prints ``<RFC 3339 time> <service>.<slot>.<task>@<node>    | <message>``; each service's
output comes on its own, stdout and stderr apart. An operator reading a lab wants one story:
``<time> <node> <service>.<slot> <message>``, oldest first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ansible.errors import AnsibleFilterError

# Documentation: service_logs.yml beside this file.

_LINE = re.compile(
    r"^(?:(?P<time>\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d)) )?"
    r"(?P<task>[^\s@|]+)@(?P<node>[^\s|]+)\s*\| ?(?P<message>.*)$")
# <service>.<slot>.<task id>; a global service's tasks have slot 0 (or the node's id): the ids
# and that slot say nothing an operator needs, the node's name is printed beside.
_TASK_ID = re.compile(r"(?:\.0|\.[a-z0-9]{25})?\.[a-z0-9]{25}$")


def service_logs(lines: object, node: str = "") -> list[str]:
    """Plain ``<time> <node> <task> <message>`` lines, oldest first; with ``node``, only the
    lines of the tasks on that node. Lines that are not a task's (docker's own errors) are
    kept as they are, first."""
    if isinstance(lines, str) or not isinstance(lines, Iterable):
        raise AnsibleFilterError("service_logs: expects a list of lines")
    notes: list[str] = []
    entries: list[tuple[str, int, str]] = []
    for index, line in enumerate(lines):
        if not isinstance(line, str):
            raise AnsibleFilterError(f"service_logs: line {index} is not text: {line!r}")
        match = _LINE.match(line)
        if match is None:
            if line.strip() and not node:
                notes.append(line.rstrip())
            continue
        if node and match["node"] != node:
            continue
        task = _TASK_ID.sub("", match["task"])
        time = match["time"] or ""
        text = " ".join(part for part in (time, match["node"], task, match["message"].rstrip())
                        if part)
        entries.append((time, index, text))
    # RFC 3339 in UTC sorts as text; the index keeps a service's own order for equal times.
    return notes + [text for _, _, text in sorted(entries)]


class FilterModule:
    def filters(self) -> dict[str, object]:
        return {"service_logs": service_logs}
