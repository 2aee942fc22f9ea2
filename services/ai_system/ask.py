"""``ai-system-ask``: ask a chat one question, as the browser does; print the answer as JSON.

A real Socket.IO client connects to the master's published web port, emits the user's query
(with the user's own API key when --api-key is given) and waits for the answer (or the error)
addressed to its own session. Exit status 1 with the reason on stderr when the answer is an
error (unless --accept-error: then the error is printed as the answer, with "event" telling
which one came) or does not come in time.

    ai-system-ask http://10.1.2.166:31663 "What is MQTT?" --timeout 120
    ai-system-ask http://10.1.2.166:31663 "Hi" --api-key marker-123 --accept-error
    ai-system-ask http://10.1.2.166:31663 "Who answers?" --count 12   (one JSON line each)

The stack's verify runs it in the master's container against the published port.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import socketio

from ai_system.cli import parser as cli_parser
from ai_system.protocol import EVENT_AI_RESPONSE, EVENT_TASK_ERROR, EVENT_USER_QUERY


def ask(url: str, question: str, timeout: float, api_key: str = "",
        accept_error: bool = False) -> dict[str, object]:
    """Return the ``ai-response`` payload for ``question``; raise RuntimeError otherwise."""
    deadline = time.monotonic() + timeout
    query: dict[str, object] = {"query": question}
    if api_key:
        query["api_key"] = api_key
    with socketio.SimpleClient() as client:
        client.connect(url, wait_timeout=timeout)
        client.emit(EVENT_USER_QUERY, query)
        while (left := deadline - time.monotonic()) > 0:
            try:
                event, *args = client.receive(timeout=left)
            except socketio.exceptions.TimeoutError:
                break
            payload = args[0] if args else {}
            if event == EVENT_AI_RESPONSE:
                return {**payload, "event": event}
            if event == EVENT_TASK_ERROR and accept_error:
                return {**payload, "event": event}
            if event == EVENT_TASK_ERROR:
                raise RuntimeError(f"the chat answered with an error: {payload}")
    raise RuntimeError(f"no {EVENT_AI_RESPONSE} within {timeout:.0f} s")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = cli_parser("ai-system-ask", "Ask a chat one question as a browser does and print "
                        "the answer as JSON.", epilog=None)
    parser.add_argument("url", help="the chat's base URL, e.g. http://10.1.2.166:31663")
    parser.add_argument("question")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait")
    parser.add_argument("--api-key", default="",
                        help="the user's own API key, sent with the question")
    parser.add_argument("--accept-error", action="store_true",
                        help="print a task-error as the answer instead of failing")
    parser.add_argument("--count", type=_positive, default=1,
                        help="ask this many times, one after another (the longest-idle worker "
                             "answers each: as many as there are workers reach them all)")
    options = parser.parse_args(argv)
    try:
        for _ in range(options.count):
            answer = ask(options.url, options.question, options.timeout, options.api_key,
                         options.accept_error)
            print(json.dumps(answer), flush=True)
    except (RuntimeError, socketio.exceptions.ConnectionError) as error:
        print(f"ai-system-ask: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
