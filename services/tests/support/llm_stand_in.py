"""Local HTTP stand-ins for the LLM APIs, speaking their real wire formats.

``StandIn`` serves OpenAI's POST /v1/chat/completions (key in ``Authorization: Bearer``;
with ``"stream": true``, server-sent ``chat.completion.chunk`` events and ``[DONE]``) or
Gemini's POST /v1[beta]/models/{model}:generateContent and :streamGenerateContent?alt=sse
(key in ``x-goog-api-key``), with the bodies the real services send for success, a rejected
key, 429 and server errors.
Each key gets a behaviour; every request is recorded so tests can see which key was used.
An answer quotes the question and, like a model that reads the conversation, what the user
said earlier in it.
Besides HTTP statuses: "slow" answers after ``slow_seconds``; "html-502" is what a proxy in
front of the API says when the API is down; "trickle" sends the headers, then one byte
of whitespace every 0.1 s until ``release()``, then the answer: no single read ever times
out, so the call hangs on although each SDK read has its timeout.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SLOW_SECONDS = 3.0


@dataclass(frozen=True)
class Seen:
    path: str
    key: str
    body: dict[str, Any]


def _openai_error(status: int, key: str) -> dict[str, Any]:
    # OpenAI's own 401 message quotes part of the key; ours quotes all of it, on purpose.
    errors = {
        401: ("invalid_request_error", "invalid_api_key",
              f"Incorrect API key provided: {key}. You can find your API key at "
              "https://platform.openai.com/account/api-keys."),
        403: ("invalid_request_error", "unsupported_country_region_territory",
              "Country, region, or territory not supported"),
        429: ("requests", "rate_limit_exceeded",
              "Rate limit reached for requests. Please try again in 20s."),
        500: ("server_error", None, f"The server had an error processing key {key}."),
        503: ("server_error", None, "The engine is currently overloaded, please try again later"),
    }
    kind, code, message = errors[status]
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _gemini_error(status: int, key: str) -> dict[str, Any]:
    errors = {
        # What Google really answers for an invalid key: 400 with reason API_KEY_INVALID.
        400: ("INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
              [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID", "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"}}]),
        403: ("PERMISSION_DENIED", "Permission denied: Consumer has been suspended.", []),
        429: ("RESOURCE_EXHAUSTED",
              "You exceeded your current quota, please check your plan and billing details.",
              []),
        500: ("INTERNAL", f"An internal error has occurred for key {key}.", []),
        503: ("UNAVAILABLE", "The model is overloaded. Please try again later.", []),
    }
    status_name, message, details = errors[status]
    error: dict[str, Any] = {"code": status, "message": message, "status": status_name}
    if details:
        error["details"] = details
    return {"error": error}


Behaviour = str | int


class StandIn:
    """One fake API server; ``behaviour[key]`` is "ok", "slow", "trickle", "html-502" or an
    HTTP status, or a list of them taken one per request (the last one stays)."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.behaviour: dict[str, Behaviour | list[Behaviour]] = {}
        self.seen: list[Seen] = []
        self.slow_seconds = SLOW_SECONDS
        # Between the pieces of a streamed answer (a word each).
        self.stream_pause_seconds = 0.0
        self._released = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        port = self._server.server_address[1]
        self.base_url = (f"http://127.0.0.1:{port}/v1" if dialect == "openai"
                         else f"http://127.0.0.1:{port}")
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    def __enter__(self) -> StandIn:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    @property
    def keys_seen(self) -> list[str]:
        return [seen.key for seen in self.seen]

    def release(self) -> None:
        """Lets every "trickle" answer finish."""
        self._released.set()

    def next_behaviour(self, key: str) -> Behaviour:
        planned = self.behaviour.get(key, "ok")
        if not isinstance(planned, list):
            return planned
        return planned.pop(0) if len(planned) > 1 else planned[0]

    def respond(self, path: str, key: str, body: dict[str, Any],
                behaviour: Behaviour) -> tuple[int, dict[str, Any]]:
        self.seen.append(Seen(path, key, body))
        if behaviour == "slow":
            time.sleep(self.slow_seconds)
        elif behaviour not in ("ok", "trickle", "html-502"):
            status = int(behaviour)
            maker = _openai_error if self.dialect == "openai" else _gemini_error
            return status, maker(status, key)
        return 200, self._success(path, body)

    def answer_text(self, body: dict[str, Any]) -> str:
        if self.dialect == "openai":
            said = [m["content"] for m in body["messages"] if m["role"] == "user"]
        else:
            said = [c["parts"][0]["text"] for c in body["contents"] if c.get("role") != "model"]
        answer = f"stand-in answer: {said[-1]}"
        if len(said) > 1:
            answer += " (you said before: " + " ".join(f'"{text}"' for text in said[:-1]) + ")"
        return answer

    def stream_events(self, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The server-sent events of a streamed answer, a word per event."""
        words = re.findall(r"\S+\s*", self.answer_text(body))
        if self.dialect == "openai":
            def event(delta: dict[str, str], finish: str | None) -> dict[str, Any]:
                return {"id": "chatcmpl-standin-1", "object": "chat.completion.chunk",
                        "created": int(time.time()), "model": body["model"],
                        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            return ([event({"role": "assistant", "content": ""}, None)]
                    + [event({"content": word}, None) for word in words]
                    + [event({}, "stop")])
        model = path.split("?", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]
        return [{"candidates": [{"content": {"parts": [{"text": word}], "role": "model"},
                                 **({"finishReason": "STOP"} if last else {}), "index": 0}],
                 "modelVersion": model}
                for last, word in ((i == len(words) - 1, w) for i, w in enumerate(words))]

    def _success(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        text = self.answer_text(body)
        if self.dialect == "openai":
            return {
                "id": "chatcmpl-standin-1",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }],
                "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
            }
        model = path.rsplit("/", 1)[-1].split(":", 1)[0]
        return {
            "candidates": [{
                "content": {"parts": [{"text": text}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 7,
                              "totalTokenCount": 12},
            "modelVersion": model,
        }

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                if stand_in.dialect == "openai":
                    key = self.headers.get("Authorization", "").removeprefix("Bearer ")
                else:
                    key = self.headers.get("x-goog-api-key", "")
                behaviour = stand_in.next_behaviour(key)
                status, payload = stand_in.respond(self.path, key, body, behaviour)
                data = json.dumps(payload).encode()
                streamed = bool(body.get("stream")) or "streamGenerateContent" in self.path
                try:
                    if behaviour == "trickle":
                        self._trickle(data, stand_in.stream_events(self.path, body)
                                      if streamed else None)
                        return
                    if behaviour == "html-502":
                        self._html_502()
                        return
                    if status == 200 and streamed:
                        self._stream(stand_in.stream_events(self.path, body))
                        return
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left, as the timeout test intends

            def _trickle(self, data: bytes, events: list[dict[str, Any]] | None) -> None:
                # A byte at a time until released: each read is quick, the whole never ends.
                if events is not None:  # a stream: SSE comments, then the events
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    while not stand_in._released.wait(0.1):
                        self.wfile.write(b":\n")
                        self.wfile.flush()
                    self._events(events)
                    return
                # HTTP/1.0 without Content-Length: the body ends when the connection does.
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                while not stand_in._released.wait(0.1):
                    self.wfile.write(b" ")  # JSON may start with any amount of whitespace
                    self.wfile.flush()
                self.wfile.write(data)

            def _stream(self, events: list[dict[str, Any]]) -> None:
                # HTTP/1.0: the event stream ends when the connection closes.
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                self._events(events)

            def _events(self, events: list[dict[str, Any]]) -> None:
                for event in events:
                    self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
                    self.wfile.flush()
                    if stand_in.stream_pause_seconds:
                        time.sleep(stand_in.stream_pause_seconds)
                if stand_in.dialect == "openai":
                    self.wfile.write(b"data: [DONE]\n\n")

            def _html_502(self) -> None:
                page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
                self.send_response(502)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def serve_lines() -> None:
    """``python3 llm_stand_in.py openai|gemini``: one stand-in for tests in another language
    (the Node.js worker's). Prints ``{"base_url": ...}``, then answers one JSON line per
    command line on stdin: ``{"behaviour": {key: behaviour}}`` (merged), ``{"slow_seconds":
    s}``, ``{"release": true}``, ``{"seen": true}`` (the requests so far, then forgotten).
    Ends with stdin."""
    import sys

    with StandIn(sys.argv[1]) as stand_in:
        print(json.dumps({"base_url": stand_in.base_url}), flush=True)
        for line in sys.stdin:
            command = json.loads(line)
            stand_in.behaviour.update(command.get("behaviour", {}))
            stand_in.slow_seconds = command.get("slow_seconds", stand_in.slow_seconds)
            if command.get("release"):
                stand_in.release()
            reply: dict[str, Any] = {"ok": True}
            if command.get("seen"):
                reply["seen"] = [{"path": s.path, "key": s.key, "body": s.body}
                                 for s in stand_in.seen]
                stand_in.seen.clear()
            print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    serve_lines()
