"""The original assignment's workers at the master's edge: ``worker.WorkerCallback``.

Such a worker calls ``/worker.WorkerCallback/SendResult`` with the original TaskResult: our
field numbers 1-8, where its field 5 is the user's key echoed back (dropped here, never stored),
and no task id. Its result is taken for the task the master handed that worker, if the session
matches, and counts only if it carries that task's result token (field 15, which a student can
add to the proto) or the operator accepts results without one (ACCEPT_UNTOKENED_RESULTS):
anyone who knows a worker id and a session id could forge those.

The compatibility is all here: without this module's service the master speaks only
``ai_system.rpc.WorkerCallback``.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Protocol

import grpc

from ai_system.master.results import ResultHandler, worker_result
from ai_system.master.worker_results import HeldTask
from ai_system.rpc import worker_callback_pb2 as pb

log = logging.getLogger(__name__)

SERVICE = "worker.WorkerCallback"


class Master(ResultHandler, Protocol):
    def held_task(self, worker_id: str, session_id: str) -> HeldTask | None: ...
    def count_untokened(self) -> None: ...


def service(master: Master, accept_untokened: bool) -> grpc.GenericRpcHandler:
    """``worker.WorkerCallback/SendResult``, parsed as our TaskResult."""
    def send_result(request: pb.TaskResult, context: grpc.ServicerContext) -> pb.ResultAck:
        request.DiscardUnknownFields()  # field 5: the user's key, echoed back
        result = worker_result(request)
        held = master.held_task(result.worker_id, result.session_id)
        untokened = (held is not None and held.assigned_to_it and not result.result_token
                     and accept_untokened)
        if held is not None:
            result = dataclasses.replace(
                result, task_id=held.task_id,
                result_token=held.result_token if untokened else result.result_token)
        ack = master.on_result(result)
        if ack.success and untokened:
            master.count_untokened()
            log.info("accepted a result without a result token from worker %r "
                     "(ACCEPT_UNTOKENED_RESULTS)", result.worker_id)
        return pb.ResultAck(success=ack.success, message=ack.message)

    return grpc.method_handlers_generic_handler(SERVICE, {
        "SendResult": grpc.unary_unary_rpc_method_handler(
            send_result, request_deserializer=pb.TaskResult.FromString,
            response_serializer=pb.ResultAck.SerializeToString),
    })
