"""The master's HTTP API as the launcher (and the tests) read it: plain GETs of JSON."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any


def http_json(url: str, timeout: float = 2.0) -> tuple[int, Any]:
    """GET ``url``: (status, parsed JSON body); (0, None) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (OSError, ValueError):
        return 0, None


def online_workers(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The workers /api/status reports online, by worker id."""
    return {
        worker["worker_id"]: worker
        for worker in status.get("workers", [])
        if worker.get("state") != "offline"
    }
