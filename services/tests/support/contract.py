"""protos/mqtt.schema.json, the MQTT side of the contract: each message against its definition."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA_FILE = Path(__file__).resolve().parents[3] / "protos" / "mqtt.schema.json"
SCHEMA: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
# Each message's definition as a schema of its own, its references still resolved in $defs.
_VALIDATORS = {
    name: Draft202012Validator({"$schema": SCHEMA["$schema"], "$defs": SCHEMA["$defs"],
                                "$ref": topic["message"]})
    for name, topic in SCHEMA["x-topics"].items()}


def topic_of(name: str, prefix: str = "upb", worker_id: str = "+") -> str:
    """The topic of ``name`` (a key of x-topics) under ``prefix``."""
    return str(SCHEMA["x-topics"][name]["topic"]).format(prefix=prefix, worker_id=worker_id)


def problems(name: str, payload: bytes | str | dict[str, Any]) -> list[str]:
    """What is wrong with a ``name`` message (a key of x-topics): [] when it conforms."""
    try:
        data = payload if isinstance(payload, dict) else json.loads(payload)
    except ValueError as exc:
        return [f"not JSON: {exc}"]
    return [f"{'/'.join(map(str, error.absolute_path)) or '(message)'}: {error.message}"
            for error in _VALIDATORS[name].iter_errors(data)]
