"""The gRPC side of the master: WorkerCallback.SendResult, served from a thread pool."""

from __future__ import annotations

import logging
from concurrent import futures
from typing import Protocol

import grpc

from ai_system.master.dispatcher import Ack, WorkerResult
from ai_system.rpc import worker_callback_pb2 as pb
from ai_system.rpc import worker_callback_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)


class ResultHandler(Protocol):
    def on_result(self, result: WorkerResult) -> Ack: ...


class ResultServicer(pb_grpc.WorkerCallbackServicer):
    def __init__(self, handler: ResultHandler) -> None:
        self._handler = handler

    def SendResult(  # gRPC's method name
        self, request: pb.TaskResult, context: grpc.ServicerContext
    ) -> pb.ResultAck:
        ack = self._handler.on_result(WorkerResult(
            task_id=request.task_id,
            session_id=request.session_id,
            worker_id=request.worker_id,
            response=request.ai_response,
            error=request.error,
            provider=request.provider,
            model=request.model,
            processing_time_ms=request.processing_time_ms,
        ))
        return pb.ResultAck(success=ack.success, message=ack.message)


def serve(handler: ResultHandler, port: int, max_workers: int = 8) -> grpc.Server:
    """Start the WorkerCallback server on every interface; raise OSError if the port is taken."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        # Without this a second master could bind the same port and take half the results.
        options=[("grpc.so_reuseport", 0)],
    )
    pb_grpc.add_WorkerCallbackServicer_to_server(ResultServicer(handler), server)
    try:
        bound = server.add_insecure_port(f"[::]:{port}")
    except RuntimeError:
        bound = 0
    if not bound:  # no IPv6 on this host
        try:
            bound = server.add_insecure_port(f"0.0.0.0:{port}")
        except RuntimeError:
            bound = 0
    if not bound:
        raise OSError(f"cannot listen for gRPC on port {port} (GRPC_PORT): is it in use?")
    server.start()
    log.info("gRPC WorkerCallback listening on port %d", port)
    return server
