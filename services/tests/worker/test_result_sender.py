"""ResultSender against a real gRPC server: a stopping worker does not wait for a hung master."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from ai_system.config import WorkerSettings
from ai_system.rpc import worker_callback_pb2 as pb
from ai_system.rpc import worker_callback_pb2_grpc as pb_grpc
from ai_system.worker.callback import ResultSender


class HungMaster(pb_grpc.WorkerCallbackServicer):
    """Takes every result and answers only once released."""

    def __init__(self) -> None:
        self.received = threading.Event()
        self.release = threading.Event()

    def SendResult(self, request: pb.TaskResult,  # gRPC's method name
                   context: grpc.ServicerContext) -> pb.ResultAck:
        self.received.set()
        self.release.wait(60)
        return pb.ResultAck(success=True, message="late")


@pytest.fixture
def hung_master() -> Iterator[tuple[HungMaster, str]]:
    servicer = HungMaster()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_WorkerCallbackServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"127.0.0.1:{port}"
    servicer.release.set()
    server.stop(0)


def test_closing_the_sender_ends_a_call_the_master_does_not_answer(
        hung_master: tuple[HungMaster, str]) -> None:
    servicer, endpoint = hung_master
    settings = WorkerSettings.from_env({
        "WORKER_ID": "w1", "GRPC_ENDPOINTS": endpoint, "GRPC_TIMEOUT_SECONDS": "60",
        "TASK_TIMEOUT_SECONDS": "600"})
    sender = ResultSender(settings, threading.Event())
    outcome: list[bool] = []
    call = threading.Thread(target=lambda: outcome.append(
        sender.send(endpoint, pb.TaskResult(task_id="t1", worker_id="w1"))))
    call.start()
    assert servicer.received.wait(10), "the result never reached the master"

    sender.close()
    call.join(30)  # the call's deadline is 60 s away, and the master hangs for 60 s

    assert not call.is_alive(), "send() still waits for the master after close()"
    assert outcome == [False]
    assert not sender.send(endpoint, pb.TaskResult(task_id="t2", worker_id="w1"))
