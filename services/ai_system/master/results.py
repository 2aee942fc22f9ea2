"""The gRPC side of the master: WorkerCallback.SendResult (and SendChunk, parts of an
answer as it is written), served from a thread pool.

The plain port serves the workers of the overlay network; an optional second port speaks
TLS (GRPC_TLS_PORT) for workers outside it. Both reach the same servicer, and every result
must carry its task's result token whichever way it comes.

Other services may be served beside it (``also``): the original assignment's
``worker.WorkerCallback`` (original.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent import futures
from pathlib import Path
from typing import Protocol

import grpc

from ai_system.master.worker_results import Ack, WorkerChunk, WorkerResult
from ai_system.rpc import worker_callback_pb2 as pb
from ai_system.rpc import worker_callback_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)


class ResultHandler(Protocol):
    def on_result(self, result: WorkerResult) -> Ack: ...
    def on_chunk(self, chunk: WorkerChunk) -> Ack: ...


class ResultServicer(pb_grpc.WorkerCallbackServicer):
    def __init__(self, handler: ResultHandler) -> None:
        self._handler = handler

    def SendResult(  # gRPC's method name
        self, request: pb.TaskResult, context: grpc.ServicerContext
    ) -> pb.ResultAck:
        ack = self._handler.on_result(worker_result(request))
        return pb.ResultAck(success=ack.success, message=ack.message)

    def SendChunk(  # gRPC's method name
        self, request: pb.TaskChunk, context: grpc.ServicerContext
    ) -> pb.ResultAck:
        ack = self._handler.on_chunk(WorkerChunk(
            task_id=request.task_id, worker_id=request.worker_id,
            result_token=request.result_token, attempt=request.attempt, seq=request.seq,
            text=request.text))
        return pb.ResultAck(success=ack.success, message=ack.message)


def worker_result(request: pb.TaskResult) -> WorkerResult:
    return WorkerResult(
        task_id=request.task_id,
        session_id=request.session_id,
        worker_id=request.worker_id,
        result_token=request.result_token,
        response=request.ai_response,
        error=request.error,
        error_kind=request.error_kind,
        provider=request.provider,
        model=request.model,
        processing_time_ms=request.processing_time_ms,
    )


def _bind(server: grpc.Server, port: int,
          credentials: grpc.ServerCredentials | None) -> int:
    """Listen on every interface (IPv6 and IPv4, or IPv4 alone); 0 if the port is taken."""
    for address in (f"[::]:{port}", f"0.0.0.0:{port}"):
        try:
            bound = (server.add_secure_port(address, credentials) if credentials is not None
                     else server.add_insecure_port(address))
        except RuntimeError:
            bound = 0
        if bound:
            return bound
    return 0


def tls_credentials(cert_file: str, key_file: str) -> grpc.ServerCredentials:
    """Server credentials from PEM files; raises OSError naming the file that is missing."""
    chain = Path(cert_file).read_bytes()
    key = Path(key_file).read_bytes()
    return grpc.ssl_server_credentials([(key, chain)])


def serve(handler: ResultHandler, port: int, max_workers: int = 8, tls_port: int = 0,
          tls: grpc.ServerCredentials | None = None,
          also: Sequence[grpc.GenericRpcHandler] = ()) -> grpc.Server:
    """Start the WorkerCallback server (and its TLS listener when ``tls_port`` is set);
    raise OSError if a port is taken."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        # Without this a second master could bind the same port and take half the results.
        options=[("grpc.so_reuseport", 0)],
    )
    pb_grpc.add_WorkerCallbackServicer_to_server(ResultServicer(handler), server)
    server.add_generic_rpc_handlers(also)
    if not _bind(server, port, None):
        raise OSError(f"cannot listen for gRPC on port {port} (GRPC_PORT): is it in use?")
    if tls_port and not _bind(server, tls_port, tls):
        raise OSError(f"cannot listen for gRPC with TLS on port {tls_port} (GRPC_TLS_PORT): "
                      "is it in use?")
    server.start()
    log.info("gRPC WorkerCallback listening on port %d%s", port,
             f" and with TLS on port {tls_port}" if tls_port else "")
    return server
