"""Hypothesis strategies for outside input, biased towards the shapes the parsers expect."""

from __future__ import annotations

import json

from hypothesis import strategies as st

FIELDS = ["worker_id", "session_id", "query", "api_key", "grpc_endpoint", "timestamp",
          "task_id", "attempt", "result_token", "status", "language", "hostname", "node",
          "provider", "instance_id", "source", "message", "level"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=30) | st.sampled_from(["idle", "busy", "offline", "online"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=8)
objects = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), json_values,
                          max_size=8)
payloads = (objects.map(lambda data: json.dumps(data).encode())
            | st.binary(max_size=64)
            | json_values.map(lambda data: json.dumps(data).encode()))
