"""The master's HTTP API as the local launcher reads it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ai_system.local.api import http_json, online_workers

PAGES = {"/api/status": b'{"workers": []}', "/empty": b"", "/garbled": b"{not json"}


class _Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGES.get(self.path)
        self.send_response(404 if body is None else 200)
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args: object) -> None:
        pass  # keep the test output to the test's own


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_page_is_its_status_and_its_json(site: str) -> None:
    assert http_json(f"{site}/api/status") == (200, {"workers": []})
    assert http_json(f"{site}/empty") == (200, None)
    assert http_json(f"{site}/missing") == (404, None)


def test_no_answer_or_no_json_is_status_zero(site: str) -> None:
    assert http_json(f"{site}/garbled") == (0, None)
    with ThreadingHTTPServer(("127.0.0.1", 0), _Pages) as closed:
        port = closed.server_address[1]
    assert http_json(f"http://127.0.0.1:{port}/api/status") == (0, None)


def test_online_workers_are_every_worker_not_offline_by_id() -> None:
    status = {"workers": [{"worker_id": "a", "state": "idle"},
                          {"worker_id": "b", "state": "offline"},
                          {"worker_id": "c", "state": "busy"}]}
    assert list(online_workers(status)) == ["a", "c"]
    assert online_workers({}) == {}
