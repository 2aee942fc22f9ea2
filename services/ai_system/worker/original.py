"""The original assignment's master, as this worker's results meet it.

Such a master serves SendResult only as ``/worker.WorkerCallback/SendResult`` (package
``worker``) and answers ours with UNIMPLEMENTED. Its TaskResult has our field numbers 1-8, so
the same message serves. (Its tasks carry no task id, which protocol.original_task_id supplies,
and it publishes no status, so the worker registers again with every heartbeat: bus.py.)
"""

from __future__ import annotations

import grpc

from ai_system.rpc.worker_callback_pb2 import ResultAck, TaskResult

SEND_RESULT = "/worker.WorkerCallback/SendResult"


def send_result(channel: grpc.Channel) -> grpc.UnaryUnaryMultiCallable[TaskResult, ResultAck]:
    """SendResult by the original assignment's name, on ``channel``."""
    return channel.unary_unary(SEND_RESULT, request_serializer=TaskResult.SerializeToString,
                               response_deserializer=ResultAck.FromString)
