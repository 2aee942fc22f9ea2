"""The operator's dashboard: closed without the operator token, live once signed in."""

from __future__ import annotations

import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest
import socketio
from support.chat import ChatClient
from support.system import SystemFactory, wait_idle

from ai_system.local.processes import wait_until
from ai_system.local.system import LocalSystem

pytestmark = pytest.mark.integration


def operator_token(system: LocalSystem) -> str:
    return (system.state_dir / "operator.token").read_text().strip()


def sign_in(system: LocalSystem, token: str) -> tuple[int, str]:
    """POST the sign-in form; (status, the cookie header to send back)."""
    request = urllib.request.Request(
        f"{system.url}/dashboard/login", data=urllib.parse.urlencode({"token": token}).encode())
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        cookie = exc.headers.get("Set-Cookie", "")
        return exc.code, cookie.split(";", 1)[0]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None  # the 303 and its cookie come back as an HTTPError


def dashboard_client(system: LocalSystem, cookie: str) -> tuple[socketio.Client, list[dict]]:
    states: list[dict] = []
    arrived = threading.Event()
    client = socketio.Client(reconnection=False)

    @client.on("dashboard-state", namespace="/dashboard")
    def on_state(data: dict) -> None:
        states.append(data)
        arrived.set()

    client.connect(system.url, namespaces=["/dashboard"], transports=["websocket"],
                   headers={"Cookie": cookie} if cookie else {}, wait_timeout=10)
    assert arrived.wait(10), "no dashboard-state arrived"
    return client, states


def test_the_dashboard_is_closed_to_anyone_without_the_operator_token(
        shared_system: LocalSystem) -> None:
    with pytest.raises(urllib.error.HTTPError) as page:
        urllib.request.urlopen(f"{shared_system.url}/dashboard", timeout=5)
    assert page.value.code == 401 and b"operator token" in page.value.read()
    assert sign_in(shared_system, "a-guess")[0] == 401
    with pytest.raises(socketio.exceptions.ConnectionError):
        dashboard_client(shared_system, "")
    with pytest.raises(socketio.exceptions.ConnectionError):
        dashboard_client(shared_system, "ai_operator=forged-cookie-value")


def sign_out(system: LocalSystem, cookie: str) -> int:
    request = urllib.request.Request(f"{system.url}/dashboard/logout", data=b"",
                                     headers={"Cookie": cookie})
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_signing_out_ends_the_session_its_cookie_named(shared_system: LocalSystem) -> None:
    _, kept = sign_in(shared_system, operator_token(shared_system))
    _, other = sign_in(shared_system, operator_token(shared_system))
    assert kept != other  # each sign-in is a session of its own
    assert sign_out(shared_system, kept) == 303
    # A copy of the cookie kept after signing out opens nothing; the other browser stays in.
    with pytest.raises(socketio.exceptions.ConnectionError):
        dashboard_client(shared_system, kept)
    client, _ = dashboard_client(shared_system, other)
    client.disconnect()


def test_guessing_the_token_is_slowed_down(system_factory: SystemFactory) -> None:
    system = system_factory(workers=1)
    codes = [sign_in(system, f"guess-{n}")[0] for n in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429
    assert sign_in(system, operator_token(system))[0] == 429  # even the right one, for now


def test_a_signed_in_operator_sees_workers_tasks_and_logs_live(
        system_factory: SystemFactory) -> None:
    system = system_factory(workers=2, simulated_seconds=0)
    status, cookie = sign_in(system, operator_token(system))
    assert status == 303 and cookie.startswith("ai_operator=")
    client, states = dashboard_client(system, cookie)
    try:
        first = states[0]
        assert {w["worker_id"] for w in first["workers"]} == set(system.workers)
        with ChatClient(system.url) as user:
            user.wait_answer(user.ask("Show me on the dashboard")["task_id"])
            session_prefix = user.session_id[:8]
        wait_idle(system)

        wait_until(lambda: any(s["recent_tasks"] and s["recent_tasks"][0]["session"]
                               == session_prefix for s in states), 10, "the task on the dashboard")
        task = next(s for s in states if s["recent_tasks"])["recent_tasks"][0]
        assert task["outcome"] == "answered" and task["worker"] in system.workers
        assert "Show me on the dashboard" not in str(states)  # never the question
        logs = [line for s in states for line in s["logs"]]
        assert any(line["source"].startswith("worker:") for line in logs)
        assert any(s["history"] for s in states[1:])  # the charts grow every second
    finally:
        client.disconnect()
