"""Ask the deployed chat one question, as the browser does, and print the answer as JSON.

A real Socket.IO client connects to the master's published web port, emits the user's query
and waits for the answer (or the error) addressed to its own session. Exit status 1 with the
reason on stderr when the answer is an error or does not come in time.

    python ask_chat.py http://172.30.10.10:31663 "What is MQTT?" --timeout 120
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import socketio

from ai_system.protocol import EVENT_AI_RESPONSE, EVENT_TASK_ERROR, EVENT_USER_QUERY


def ask(url: str, question: str, timeout: float) -> dict[str, object]:
    """Return the ``ai-response`` payload for ``question``; raise RuntimeError otherwise."""
    deadline = time.monotonic() + timeout
    with socketio.SimpleClient() as client:
        client.connect(url, wait_timeout=timeout)
        client.emit(EVENT_USER_QUERY, {"query": question})
        while (left := deadline - time.monotonic()) > 0:
            try:
                event, *args = client.receive(timeout=left)
            except socketio.exceptions.TimeoutError:
                break
            payload = args[0] if args else {}
            if event == EVENT_AI_RESPONSE:
                return payload
            if event == EVENT_TASK_ERROR:
                raise RuntimeError(f"the chat answered with an error: {payload}")
    raise RuntimeError(f"no {EVENT_AI_RESPONSE} within {timeout:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the chat's base URL, e.g. http://172.30.10.10:31663")
    parser.add_argument("question")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait")
    options = parser.parse_args()
    try:
        answer = ask(options.url, options.question, options.timeout)
    except (RuntimeError, socketio.exceptions.ConnectionError) as error:
        print(f"ask_chat: {error}", file=sys.stderr)
        return 1
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
