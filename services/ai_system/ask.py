"""``ai-system-ask``: ask a chat one question, as the browser does; print the answer as JSON.

A real Socket.IO client connects to the master's published web port, emits the user's query
(with the user's own API key when --api-key is given) and waits for the answer (or the error)
to that question, in its own session. Exit status 1 with the reason on stderr when the chat
refuses the question, the answer is an error (unless --accept-error: then the error is printed
as the answer, with "event" telling which one came) or does not come in time.

    ai-system-ask http://10.1.2.166:31663 "What is MQTT?" --timeout 120
    ai-system-ask http://10.1.2.166:31663 "Hi" --api-key marker-123 --accept-error
    ai-system-ask http://10.1.2.166:31663 "Who answers?" --count 12   (12 users at once)

Ask now and collect later, as a browser that closes its tab and comes back does (a restore or
update drill): --leave prints {session_token, task_id} once the chat took the question, and
--resume TOKEN --task-id ID waits in that session for that answer.

The stack's verify runs it in the master's container against the published port.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

import socketio

from ai_system.cli import parser as cli_parser
from ai_system.protocol import EVENT_AI_RESPONSE, EVENT_SESSION, EVENT_TASK_ERROR, EVENT_USER_QUERY


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def left(self) -> float:
        return self._end - time.monotonic()


def _receive(client: socketio.SimpleClient, deadline: _Deadline) -> tuple[str, dict[str, Any]]:
    """The next event and its payload; TimeoutError when the deadline passes."""
    left = deadline.left()
    if left <= 0:
        raise TimeoutError
    try:
        event, *args = client.receive(timeout=left)
    except socketio.exceptions.TimeoutError:
        raise TimeoutError from None
    payload = args[0] if args and isinstance(args[0], dict) else {}
    return event, payload


def _join(client: socketio.SimpleClient, url: str, deadline: _Deadline,
          session_token: str | None = None) -> dict[str, Any]:
    """Connect (resuming the session of ``session_token``) and return the session event."""
    client.connect(url, auth={"session_token": session_token} if session_token else None,
                   wait_timeout=max(deadline.left(), 1.0))
    try:
        while True:
            event, payload = _receive(client, deadline)
            if event == EVENT_SESSION:
                return payload
    except TimeoutError:
        raise RuntimeError(f"the chat opened no session within {deadline.seconds:.0f} s") from None


def _submit(client: socketio.SimpleClient, question: str, api_key: str,
            deadline: _Deadline) -> str:
    """Emit the question; its task id, or RuntimeError with the chat's reason."""
    query: dict[str, object] = {"query": question}
    if api_key:
        query["api_key"] = api_key
    ack = client.call(EVENT_USER_QUERY, query, timeout=max(deadline.left(), 1.0))
    if not isinstance(ack, dict) or not ack.get("task_id"):
        reason = ack.get("error") if isinstance(ack, dict) else ack
        raise RuntimeError(f"the chat refused the question: {reason}")
    return str(ack["task_id"])


def _answer(client: socketio.SimpleClient, task_id: str, deadline: _Deadline,
            accept_error: bool) -> dict[str, object]:
    """Wait for the answer to ``task_id`` (an error raises unless ``accept_error``)."""
    try:
        while True:
            event, payload = _receive(client, deadline)
            if payload.get("task_id") != task_id:
                continue
            if event == EVENT_AI_RESPONSE or (event == EVENT_TASK_ERROR and accept_error):
                return {**payload, "event": event}
            if event == EVENT_TASK_ERROR:
                raise RuntimeError(f"the chat answered with an error: {payload}")
    except TimeoutError:
        raise RuntimeError(f"no {EVENT_AI_RESPONSE} within {deadline.seconds:.0f} s") from None


def ask(url: str, question: str, timeout: float, api_key: str = "",
        accept_error: bool = False) -> dict[str, object]:
    """Return the ``ai-response`` payload for ``question``; raise RuntimeError otherwise."""
    deadline = _Deadline(timeout)
    with socketio.SimpleClient() as client:
        _join(client, url, deadline)
        task_id = _submit(client, question, api_key, deadline)
        return _answer(client, task_id, deadline, accept_error)


def leave(url: str, question: str, timeout: float, api_key: str = "") -> dict[str, object]:
    """Ask and disconnect once the chat took the question: ``{session_token, task_id}``."""
    deadline = _Deadline(timeout)
    with socketio.SimpleClient() as client:
        session = _join(client, url, deadline)
        return {"session_token": session.get("session_token"),
                "task_id": _submit(client, question, api_key, deadline)}


def collect(url: str, session_token: str, task_id: str, timeout: float,
            accept_error: bool = False) -> dict[str, object]:
    """Resume a session and wait for the answer to one of its questions."""
    deadline = _Deadline(timeout)
    with socketio.SimpleClient() as client:
        _join(client, url, deadline, session_token)
        return _answer(client, task_id, deadline, accept_error)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _answers(options: argparse.Namespace) -> Iterator[dict[str, object]]:
    """What the options ask for, one result at a time (each printed as it comes)."""
    if options.resume:
        yield collect(options.url, options.resume, options.task_id, options.timeout,
                      options.accept_error)
        return
    if options.leave:
        for _ in range(options.count):
            yield leave(options.url, options.question, options.timeout, options.api_key)
        return
    # As many users at once, each in a session of its own: the idle workers take one each.
    with ThreadPoolExecutor(max_workers=options.count) as pool:
        asked = [pool.submit(ask, options.url, options.question, options.timeout,
                             options.api_key, options.accept_error)
                 for _ in range(options.count)]
        for done in as_completed(asked):
            yield done.result()


def main(argv: list[str] | None = None) -> int:
    parser = cli_parser("ai-system-ask", "Ask a chat one question as a browser does and print "
                        "the answer as JSON.", epilog=None)
    parser.add_argument("url", help="the chat's base URL, e.g. http://10.1.2.166:31663")
    parser.add_argument("question", nargs="?", help="the question (not with --resume)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait")
    parser.add_argument("--api-key", default="",
                        help="the user's own API key, sent with the question")
    parser.add_argument("--accept-error", action="store_true",
                        help="print a task-error as the answer instead of failing")
    parser.add_argument("--count", type=_positive, default=1,
                        help="ask this many times at once, each in a session of its own, as that "
                             "many users would (with as many idle workers, each answers one)")
    parser.add_argument("--leave", action="store_true",
                        help="print {session_token, task_id} once the question is taken, "
                             "without waiting for the answer")
    parser.add_argument("--resume", metavar="SESSION_TOKEN",
                        help="wait in that session for the answer to --task-id")
    parser.add_argument("--task-id", help="with --resume: the question whose answer to wait for")
    options = parser.parse_args(argv)
    if options.resume and (options.question or not options.task_id):
        parser.error("--resume takes --task-id and no question")
    if not options.resume and not options.question:
        parser.error("the question is required (or --resume with --task-id)")
    try:
        for answer in _answers(options):
            print(json.dumps(answer), flush=True)
    except (RuntimeError, socketio.exceptions.ConnectionError) as error:
        print(f"ai-system-ask: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
