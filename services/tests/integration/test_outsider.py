"""What a curious student on the lab network can try, against the real processes.

The broker, the master and the workers run as `make run` runs them: accounts and the
deployed ACL on the broker, result tokens, server-issued sessions and abuse limits at the
master. Each test plays the outsider (or a worker account gone rogue) and checks that it
gets nothing, while the real users are served as before.
"""

from __future__ import annotations

import time
import uuid
from concurrent import futures
from pathlib import Path

import grpc
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from support.chat import ChatClient
from support.llm_stand_in import StandIn
from support.mqtt import probe_as
from support.system import SystemFactory, wait_idle

from ai_system.local.broker import WORKER_ACCOUNT
from ai_system.local.processes import wait_until
from ai_system.local.system import LocalSystem
from ai_system.protocol import EVENT_AI_RESPONSE, EVENT_TASK_ERROR, TaskMessage, Topics
from ai_system.rpc import worker_callback_pb2 as pb
from ai_system.rpc import worker_callback_pb2_grpc as pb_grpc

pytestmark = pytest.mark.integration

TOPICS = Topics()
# Time for a message the broker would have delivered to arrive: a failure bound only.
DELIVERY_GRACE_SECONDS = 1.0


def connect_result(port: int, username: str = "", password: str = "") -> mqtt.ReasonCode:
    """The CONNACK reason a client gets from the broker."""
    outcome: list[mqtt.ReasonCode] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"outsider-{uuid.uuid4().hex}")
    if username:
        client.username_pw_set(username, password)
    client.on_connect = lambda _c, _u, _f, reason, _p: outcome.append(reason)
    client.connect("127.0.0.1", port)
    deadline = time.monotonic() + 10
    while not outcome and time.monotonic() < deadline:
        client.loop(timeout=0.1)
    client.disconnect()
    assert outcome, "the broker never answered the connection"
    return outcome[0]


def test_the_broker_refuses_anonymous_clients_and_wrong_passwords(
        shared_system: LocalSystem) -> None:
    port = shared_system.config.mqtt_port
    assert connect_result(port).is_failure
    assert connect_result(port, WORKER_ACCOUNT, "guessed-password").is_failure
    assert not connect_result(port, WORKER_ACCOUNT,
                              shared_system.broker.accounts[WORKER_ACCOUNT]).is_failure


def test_a_worker_account_reads_only_its_own_tasks(shared_system: LocalSystem) -> None:
    """A rogue worker subscribes to everything: it hears nothing that is not its own."""
    wait_idle(shared_system)
    victim = next(iter(shared_system.workers))
    rogue = probe_as(shared_system, WORKER_ACCOUNT, client_id="rogue-worker",
                     topics=["upb/#", TOPICS.all_tasks, TOPICS.tasks(victim)])
    try:
        with ChatClient(shared_system.url) as user:
            acks = [user.ask(f"Private question {n}") for n in range(2)]
            for ack in acks:
                user.wait_answer(ack["task_id"])
        time.sleep(DELIVERY_GRACE_SECONDS)
        heard = [(topic, payload) for topic, payload in rogue.received]
    finally:
        rogue.close()
    assert all(not topic.startswith("upb/workers/python-worker") for topic, _ in heard), heard
    assert not any(b"Private question" in payload for _, payload in heard)


def test_a_worker_account_cannot_hand_out_tasks_or_speak_as_the_master(
        shared_system: LocalSystem) -> None:
    wait_idle(shared_system)
    victim = next(iter(shared_system.workers))
    listener = probe_as(shared_system, topics=[TOPICS.register])  # the master's account
    rogue = probe_as(shared_system, WORKER_ACCOUNT, client_id="rogue-publisher")
    try:
        # Accepted by the broker (QoS 1 is acknowledged) but delivered to nobody.
        rogue.publish(TOPICS.tasks(victim), b'{"worker_id": "%s", "session_id": "s", '
                      b'"query": "forged", "grpc_endpoint": "10.9.9.9:1"}' % victim.encode())
        rogue.publish(TOPICS.master_status, b'{"status": "online"}')
        time.sleep(DELIVERY_GRACE_SECONDS)
        re_registrations = listener.payloads(TOPICS.register)
    finally:
        rogue.close()
        listener.close()
    # A forged "master online" would make every worker register again: none did.
    assert re_registrations == []
    assert "forged" not in shared_system.workers[victim].output()
    assert shared_system.status()["tasks"]["forged_results"] == 0


@pytest.mark.parametrize("token", ["", "a-guessed-token"])
def test_a_forged_result_is_refused_and_the_real_answer_arrives_once(
        system_factory: SystemFactory, token: str) -> None:
    system = system_factory(workers=1, simulated_seconds=2)
    with ChatClient(system.url) as user, grpc.insecure_channel(system.grpc_target) as channel:
        task_id = user.ask("Who really answers?")["task_id"]
        forged = pb.TaskResult(
            task_id=task_id, worker_id=next(iter(system.workers)), session_id=user.session_id,
            ai_response="a forged answer", provider="offline", model="offline-echo",
            result_token=token)
        ack = pb_grpc.WorkerCallbackStub(channel).SendResult(forged, timeout=10)
        assert (ack.success, ack.message) == (False, "result token does not match the task")
        answer = user.wait_answer(task_id)
        wait_idle(system)
    assert "Who really answers?" in answer["response"]
    assert len(user.about(task_id, EVENT_AI_RESPONSE)) == 1
    assert system.status()["tasks"]["forged_results"] == 1


def test_the_public_status_names_no_task_or_session(shared_system: LocalSystem) -> None:
    with ChatClient(shared_system.url) as user:
        ack = user.ask("Is my session private?")
        user.wait_answer(ack["task_id"])
        status = str(shared_system.status())
    assert ack["task_id"] not in status and user.session_id not in status
    assert "task_id" not in status


def test_a_flood_from_one_session_is_refused_and_others_are_served_in_turn(
        system_factory: SystemFactory) -> None:
    system = system_factory(workers=2, simulated_seconds=1)
    with ChatClient(system.url) as flooder, ChatClient(system.url) as neighbour:
        acks = [flooder.ask(f"flood {n}") for n in range(100)]
        accepted = [ack["task_id"] for ack in acks if "task_id" in ack]
        refusals = [ack["error"] for ack in acks if "error" in ack]
        mine = neighbour.ask("Just one question")
        assert "task_id" in mine, mine
        answer = neighbour.wait_answer(mine["task_id"])
        for task_id in accepted:
            flooder.wait_answer(task_id)

    assert len(accepted) <= 5 and len(refusals) >= 95
    assert all("too fast" in error or "questions waiting" in error for error in refusals)
    # Each refusal was also a task-error for the asking page, and for nobody else.
    assert len([e for e in flooder.events(EVENT_TASK_ERROR) if e.data["task_id"] is None]) == len(
        refusals)
    assert neighbour.events(EVENT_TASK_ERROR) == []
    # Round-robin: the neighbour's question overtook the flooder's backlog.
    flood_done = [e.at for e in flooder.events(EVENT_AI_RESPONSE)]
    assert answer["task_id"] == mine["task_id"]
    assert neighbour.events(EVENT_AI_RESPONSE)[0].at < max(flood_done)
    status = system.status()["tasks"]
    assert status["rejected"] == len(refusals)


def test_many_sessions_from_one_address_are_paced(system_factory: SystemFactory) -> None:
    system = system_factory(workers=1, simulated_seconds=0, env={
        "ADDRESS_BURST": "3", "ADDRESS_RATE_PER_MINUTE": "1"})
    acks = []
    for n in range(4):
        with ChatClient(system.url) as user:  # a new session each time
            acks.append(user.ask(f"question {n}"))
    assert ["task_id" in ack for ack in acks] == [True, True, True, False]
    assert "network" in acks[3]["error"]
    assert system.status()["tasks"]["rejections"] == {"address_rate": 1}


@pytest.mark.parametrize("auth_kind", ["session_id", "forged_token", "token_of_another_secret"])
def test_knowing_a_session_id_gives_a_new_empty_session(
        system_factory: SystemFactory, auth_kind: str) -> None:
    system = system_factory(workers=1, simulated_seconds=2)
    victim = ChatClient(system.url).connect()
    victim_id, victim_token = victim.session_id, victim.session_token
    ack = victim.ask("A secret of mine", request_id="private")
    victim.disconnect()  # the answer will wait for the victim's return
    auth = {
        "session_id": {"session_id": victim_id},
        "forged_token": {"session_token": f"{victim_id}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
        "token_of_another_secret": {"session_token": victim_token[:-4] + "abcd"},
    }[auth_kind]
    with ChatClient(system.url, auth=auth) as intruder:
        assert intruder.session_id != victim_id
        with ChatClient(system.url, victim_token) as back:
            back.wait_answer(ack["task_id"])
        time.sleep(DELIVERY_GRACE_SECONDS)
    assert intruder.events(EVENT_AI_RESPONSE) == []
    assert all(e.data.get("task_id") != ack["task_id"] for e in intruder.events())


def test_a_users_key_is_written_to_no_file(system_factory: SystemFactory,
                                           tmp_path: Path) -> None:
    """The broker's and the master's folders and every log stay free of a user's key."""
    marker = f"AIzaSy-marker-{uuid.uuid4().hex}"
    with StandIn("gemini") as gemini:
        system = system_factory(workers=1, simulated_seconds=1, env={
            "LLM_BASE_URL": gemini.base_url, "LOG_LEVEL": "DEBUG", "MQTT_LOG_LEVEL": "DEBUG"})
        with ChatClient(system.url) as user:
            first = user.ask("Use my key", api_key=marker)
            queued = user.ask("And again, while the worker is busy", api_key=marker)
            user.wait_answer(first["task_id"])
            user.wait_answer(queued["task_id"])
        assert gemini.keys_seen == [marker, marker]
        # A master restart rereads the journal, the worker's broker session survives it.
        assert system.master is not None
        system.master.stop()
        system.start_master(wait=True)
    leaks = [path for path in system.workdir.rglob("*") if path.is_file()
             and marker.encode() in path.read_bytes()]
    assert leaks == []
    assert list(system.state_dir.glob("journal.db*")), "the journal was not written"
    for proc in system.processes():
        assert marker not in proc.output(), f"{proc.name} logged the key"


class _Catcher(pb_grpc.WorkerCallbackServicer):
    """An outsider's gRPC server, hoping a worker sends it an answer."""

    def __init__(self) -> None:
        self.results: list[pb.TaskResult] = []

    def SendResult(self, request: pb.TaskResult, context: grpc.ServicerContext) -> pb.ResultAck:
        self.results.append(request)
        return pb.ResultAck(success=True, message="thanks")


def test_a_task_naming_an_unknown_callback_endpoint_is_refused_by_the_worker(
        system_factory: SystemFactory) -> None:
    system = system_factory(workers=1, simulated_seconds=0)
    worker_id = next(iter(system.workers))
    catcher = _Catcher()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_WorkerCallbackServicer_to_server(catcher, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    # The master's own account could publish it (a compromised master, or a leaked password).
    probe = probe_as(system)
    try:
        probe.publish(TOPICS.tasks(worker_id), TaskMessage(
            worker_id=worker_id, session_id="s", query="Answer me on my own server",
            grpc_endpoint=f"127.0.0.1:{port}", task_id="forged-task",
            result_token="whatever").to_json())
        wait_until(lambda: "forged-task" in system.workers[worker_id].output(), 15,
                   "the worker to refuse the task")
        with ChatClient(system.url) as user:  # and it goes on serving real users
            user.wait_answer(user.ask("Are you still mine?")["task_id"])
    finally:
        probe.close()
        server.stop(0)
    assert catcher.results == []
    assert f"127.0.0.1:{port}" in system.workers[worker_id].output()
