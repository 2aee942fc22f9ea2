"""``ai-master``: the web chat, the MQTT dispatcher and the gRPC result server in one process.

Start-up order: listen on the web and gRPC ports first (a taken port fails fast, before
anything is announced), then connect to MQTT, which publishes master/status online.
SIGTERM or SIGINT stops it cleanly: master/status offline, gRPC drained with a grace
period, then the web server.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading

from werkzeug.serving import WSGIRequestHandler, make_server

from ai_system.config import MasterSettings, load_or_report
from ai_system.master.app import create_app
from ai_system.master.bus import MasterBus
from ai_system.master.results import serve
from ai_system.master.service import MasterService
from ai_system.mqtt import MqttLogHandler, configure_logging
from ai_system.signals import stop_on_signals

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


def main() -> int:
    settings = load_or_report(MasterSettings.from_env, "ai-master")
    if settings is None:
        return 2
    configure_logging("master", settings.log_level)
    # One line per HTTP request (every Socket.IO poll) is noise, and would reach MQTT.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    service = MasterService(settings)
    bus = MasterBus(settings.mqtt, service)
    app, socketio = create_app(service, settings.max_query_chars, lambda: bus.connected)
    try:
        web = make_server(settings.web_host, settings.web_port, app, threaded=True,
                          request_handler=_RequestHandler)
        grpc_server = serve(service, settings.grpc_port)
    except OSError as exc:
        log.error("cannot start: %s (WEB_PORT %d, GRPC_PORT %d)",
                  exc, settings.web_port, settings.grpc_port)
        return 1

    # python-socketio's emit directly: the outbox runs outside any Flask request context.
    service.start(bus.publish_task,
                  lambda event, payload, room: socketio.server.emit(event, payload, to=room))
    logging.getLogger().addHandler(MqttLogHandler(
        bus.client, bus.topics.logs, "master", settings.mqtt_log_level))
    bus.start()

    stop = stop_on_signals()
    web_thread = threading.Thread(target=web.serve_forever, name="web", daemon=True)
    web_thread.start()
    log.info("web chat on http://%s:%d/, gRPC on port %d, results via %s",
             settings.web_host, settings.web_port, settings.grpc_port,
             settings.grpc_advertised_endpoint)
    stop.wait()

    log.info("stopping")
    bus.stop()
    grpc_server.stop(GRPC_GRACE_SECONDS).wait()
    service.stop()
    web.shutdown()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
