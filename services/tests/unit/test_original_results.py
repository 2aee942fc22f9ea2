"""The original assignment's SendResult (``worker.WorkerCallback``, no task id) at a real gRPC
server in front of the master's service: taken for the task its worker holds, with its token
or the operator's consent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeAlias

import grpc
import pytest
from support.ports import free_port
from support.recorder import Recorder

from ai_system.config import MasterSettings
from ai_system.master import original
from ai_system.master.results import serve
from ai_system.master.service import MasterService
from ai_system.master.session_tokens import SessionTokens
from ai_system.protocol import TaskMessage, WorkerRegistration
from ai_system.rpc import worker_callback_pb2 as pb

SESSION = "0d9d6f3e-4f6c-4a55-8d0e-1f2a3b4c5d6e"
Send: TypeAlias = "grpc.UnaryUnaryMultiCallable[pb.TaskResult, pb.ResultAck]"


def master(accept_untokened: bool) -> Iterator[tuple[MasterService, Recorder, Send]]:
    port = free_port()
    service = MasterService(MasterSettings.from_env({}), SessionTokens(b"test"))
    published = Recorder()
    service.start(published, Recorder())
    server = serve(service, port, also=[original.service(service, accept_untokened)])
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    send = channel.unary_unary(
        f"/{original.SERVICE}/SendResult", request_serializer=pb.TaskResult.SerializeToString,
        response_deserializer=pb.ResultAck.FromString)
    service.connect("sid-1", SESSION)
    for worker_id in ("w1", "w2"):
        service.on_register(WorkerRegistration(worker_id=worker_id))
    service.submit("sid-1", "question")
    published.wait_for(lambda calls: len(calls) == 1)
    try:
        yield service, published, send
    finally:
        channel.close()
        server.stop(0)
        service.stop()


@pytest.fixture(params=[False, True], ids=["refused", "accepted"])
def untokened(request: pytest.FixtureRequest) -> Iterator[tuple[MasterService, Recorder, Send]]:
    yield from master(accept_untokened=request.param)


@pytest.fixture
def strict() -> Iterator[tuple[MasterService, Recorder, Send]]:
    yield from master(accept_untokened=False)


def test_a_result_without_token_counts_for_its_holder_only_where_the_operator_accepts_it(
        untokened: tuple[MasterService, Recorder, Send],
        request: pytest.FixtureRequest) -> None:
    service, published, send = untokened
    accepted = request.node.callspec.id == "accepted"
    holder = published.calls[0][0]
    other = "w2" if holder == "w1" else "w1"
    for worker_id, session in ((other, SESSION), (holder, "another-session")):
        ack = send(pb.TaskResult(worker_id=worker_id, session_id=session, ai_response="forged"),
                   timeout=5)
        assert ack.success is False
    ack = send(pb.TaskResult(worker_id=holder, session_id=SESSION, ai_response="hi"), timeout=5)
    assert (ack.success, ack.message) == (
        (True, "result delivered") if accepted
        else (False, "result token does not match the task"))
    assert service.snapshot()["tasks"]["untokened_results"] == int(accepted)


def test_a_result_carrying_its_token_counts_without_the_operators_consent(
        strict: tuple[MasterService, Recorder, Send]) -> None:
    service, published, send = strict
    holder, payload = published.calls[0]
    token = TaskMessage.from_json(payload).result_token
    ack = send(pb.TaskResult(worker_id=holder, session_id=SESSION, ai_response="hi",
                             result_token=token), timeout=5)
    assert (ack.success, ack.message) == (True, "result delivered")
    assert service.snapshot()["tasks"]["untokened_results"] == 0
