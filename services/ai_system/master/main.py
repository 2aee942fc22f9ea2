"""``ai-master``: the web chat, the MQTT dispatcher and the gRPC result server in one process.

Start-up order: open the journal and rebuild the queue from it, listen on the web and gRPC
ports (a taken port fails fast, before anything is announced), then connect to MQTT,
which publishes master/status online and brings every worker's registration back.
SIGTERM or SIGINT stops it cleanly: no more questions (browsers are disconnected and ask
the next master), results still accepted during the gRPC grace period, master/status
offline, the outbox drained into the journal, the journal closed.
"""

from __future__ import annotations

import logging
import socket
import sqlite3
import sys
import threading
from typing import Any

from prometheus_client import start_http_server
from werkzeug.serving import WSGIRequestHandler, make_server

from ai_system.cli import parser
from ai_system.config import MasterSettings, load_or_report
from ai_system.master import original
from ai_system.master.app import create_app
from ai_system.master.bus import MasterBus
from ai_system.master.journal import Journal, JournalError, open_journal
from ai_system.master.kept_secrets import OPERATOR_TOKEN_FILE, operator_token, session_secret
from ai_system.master.metrics import MasterMetrics
from ai_system.master.results import serve, tls_credentials
from ai_system.master.service import MasterService
from ai_system.master.session_tokens import SessionTokens
from ai_system.master.snapshot import snapshot
from ai_system.mqtt import MqttLogHandler, configure_logging
from ai_system.signals import stop_on_signals, wait_for_stop

log = logging.getLogger("ai_system.master")

GRPC_GRACE_SECONDS = 5.0


class _RequestHandler(WSGIRequestHandler):
    def setup(self) -> None:
        super().setup()
        # Socket.IO writes small frames back to back (the ack, then events): with Nagle on,
        # the second waits for the browser's delayed ACK, 40 ms later.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_dropped(self, error: BaseException, environ: object = None) -> None:
        # A finished WebSocket ends its HTTP connection; without this, werkzeug parses
        # the client's last WebSocket frames as a new request and logs a 400 error.
        self.close_connection = True


def _open_state(settings: MasterSettings) -> tuple[Journal | None, bytes, str]:
    """The journal, the session secret and the operator token; without a usable STATE_DIR,
    memory only (said loudly: a restart then loses the queue and every session)."""
    journal = None
    if settings.state_dir:
        try:
            journal = open_journal(settings.state_dir)
        except JournalError as exc:
            log.error("running WITHOUT a journal: %s", exc)
    else:
        log.warning("STATE_DIR is not set: questions and sessions live in memory only")
    kept_in = settings.state_dir if journal is not None else ""
    try:
        secret = session_secret(settings.session_secret, kept_in)
        token = operator_token(settings.operator_token, kept_in)
    except OSError as exc:
        log.error("cannot keep secrets in %s (%s): sessions end with this process",
                  settings.state_dir, exc.strerror)
        secret, token = session_secret("", ""), operator_token("", "")
        kept_in = ""
    if not settings.operator_token:
        if kept_in:
            log.info("the operator token of /dashboard is in %s/%s", kept_in, OPERATOR_TOKEN_FILE)
        else:
            log.warning("/dashboard is closed: set OPERATOR_TOKEN (or STATE_DIR) to open it")
    return journal, secret, token


def _snapshot(settings: MasterSettings, into: str) -> int:
    if not settings.state_dir:
        print("ai-master --snapshot: STATE_DIR is not set, there is no state to copy",
              file=sys.stderr)
        return 2
    try:
        names = snapshot(settings.state_dir, into)
    except (OSError, sqlite3.Error) as exc:
        print(f"ai-master --snapshot: cannot copy {settings.state_dir} into {into}: {exc}",
              file=sys.stderr)
        return 1
    print(f"snapshot of {settings.state_dir} in {into}: {', '.join(names) or 'nothing'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    arguments = parser("ai-master", "The ai-system's master: the web chat, the MQTT "
                       "dispatcher and the gRPC result server in one process.")
    arguments.add_argument(
        "--snapshot", metavar="DIR",
        help="write a consistent copy of STATE_DIR (the journal through SQLite's online "
             "backup) into DIR while a master runs, and exit; make backup uses it")
    options = arguments.parse_args(argv)
    settings = load_or_report(MasterSettings.from_env, "ai-master")
    if settings is None:
        return 2
    if options.snapshot:
        return _snapshot(settings, options.snapshot)
    configure_logging("master", settings.log_level)
    # One line per HTTP request (every Socket.IO poll) is noise, and would reach MQTT.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    journal, secret, token = _open_state(settings)
    metrics = MasterMetrics()
    service = MasterService(settings, SessionTokens(secret), journal, observe=metrics.observe)
    service.restore()
    bus = MasterBus(settings.mqtt, service)
    metrics.watch(lambda: {**service.snapshot(), "mqtt_connected": bus.connected})

    def health() -> dict[str, Any]:
        return {"healthy": bus.disconnected_for() < settings.broker_grace_seconds,
                "mqtt_connected": bus.connected, "journal": journal is not None}

    app, socketio = create_app(service, settings.max_query_chars, health, token)
    # python-socketio's Server, which SocketIO(app) made: Flask-SocketIO's stubs leave the
    # attribute out (typeshed counts it internal), and python-socketio has no types anyway.
    sio_server = socketio.server  # type: ignore[attr-defined]
    try:
        tls = (tls_credentials(settings.grpc_tls_cert_file, settings.grpc_tls_key_file)
               if settings.grpc_tls_port else None)
        web = make_server(settings.web_host, settings.web_port, app, threaded=True,
                          request_handler=_RequestHandler)
        grpc_server = serve(service, settings.grpc_port, tls_port=settings.grpc_tls_port,
                            tls=tls, also=[original.service(
                                service, settings.accept_untokened_results)])
        if settings.metrics_port:
            metrics_server, _ = start_http_server(settings.metrics_port, settings.metrics_host,
                                                  registry=metrics.registry)
    except OSError as exc:
        log.error("cannot start: %s (WEB_PORT %d, GRPC_PORT %d, GRPC_TLS_PORT %d, "
                  "METRICS_PORT %d)", exc, settings.web_port, settings.grpc_port,
                  settings.grpc_tls_port, settings.metrics_port)
        return 1

    # python-socketio's emit directly: the outbox runs outside any Flask request context.
    service.start(bus.publish_task,
                  lambda event, payload, room: sio_server.emit(event, payload, to=room))
    logging.getLogger().addHandler(MqttLogHandler(
        bus.client, bus.topics.logs, "master", settings.mqtt_log_level))
    bus.start()

    stop = stop_on_signals()
    web_thread = threading.Thread(target=web.serve_forever, name="web", daemon=True)
    web_thread.start()
    log.info("web chat on http://%s:%d/, gRPC on port %d, results via %s, metrics on %s",
             settings.web_host, settings.web_port, settings.grpc_port,
             settings.grpc_advertised_endpoint,
             f"port {settings.metrics_port}" if settings.metrics_port else "no port")
    wait_for_stop(stop)

    log.info("stopping: no more questions")
    for sid in service.close_intake():
        sio_server.disconnect(sid)
    web.shutdown()
    grpc_server.stop(GRPC_GRACE_SECONDS).wait()
    bus.stop()
    service.stop()
    if settings.metrics_port:
        metrics_server.shutdown()
    if journal is not None:
        journal.close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
