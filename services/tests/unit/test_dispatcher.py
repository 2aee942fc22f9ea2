"""The dispatcher's rules, walked through with an explicit clock: no sleeping, no I/O."""

from __future__ import annotations

import random

import pytest

from ai_system.master.dispatcher import Dispatcher
from ai_system.master.domain import RefusedError, UnknownWorkerError
from ai_system.master.effects import Assign, Deliver, Effect, Fail, Persist, Queued, Retrying
from ai_system.master.fairqueue import FairQueue
from ai_system.master.worker_results import Ack, HeldTask, WorkerChunk, WorkerResult
from ai_system.master.workers import WorkerRegistry
from ai_system.protocol import WorkerRegistration, WorkerStatus

TIMEOUT = 30.0
ENDPOINT = "master:50051"


def make(max_attempts: int = 3, **options: float) -> Dispatcher:
    return Dispatcher(grpc_endpoint=ENDPOINT, task_timeout=TIMEOUT, max_attempts=max_attempts,
                      stale_idle_grace=5.0, finished_memory=100, **options)  # type: ignore[arg-type]


def token(task_id: str) -> str:
    """The result token the tests hand each task (the service draws a random one)."""
    return f"token-of-{task_id}"


def acts(effects: list[Effect]) -> list[Effect]:
    """The effects other than journal records (tested on their own below)."""
    return [e for e in effects if not isinstance(e, Persist)]


def register(d: Dispatcher, worker_id: str, now: float = 0.0, status: str = "idle",
             node: str = "", instance: str = "") -> list[Effect]:
    return acts(d.register(now, WorkerRegistration(
        worker_id=worker_id, hostname=f"host-{worker_id}", node=node or f"node-{worker_id}",
        provider="offline", status=status, instance_id=instance,  # type: ignore[arg-type]
        user_key_provider="gemini")))


def status(d: Dispatcher, worker_id: str, state: str, task_id: str | None = None,
           now: float = 0.0) -> list[Effect]:
    """The worker's status at ``now``; a Last Will (offline naming no task) as it counts,
    at the end of its hold."""
    effects = d.status(now, WorkerStatus(worker_id=worker_id, status=state,  # type: ignore[arg-type]
                                         task_id=task_id))
    if state == "offline" and task_id is None:
        effects += d.expire(now + WorkerRegistry.WILL_HOLD_SECONDS)
    return acts(effects)


def submit(d: Dispatcher, task_id: str, now: float = 0.0, session: str = "s1",
           **extra: str) -> list[Effect]:
    return acts(d.submit(now, task_id=task_id, session_id=session, query=f"question {task_id}",
                         result_token=token(task_id), **extra))


def result(d: Dispatcher, task_id: str, worker_id: str, now: float = 0.0,
           **extra: object) -> tuple[Ack, list[Effect]]:
    extra.setdefault("result_token", token(task_id))
    ack, effects = d.result(now, WorkerResult(task_id=task_id, worker_id=worker_id,
                                              **extra))  # type: ignore[arg-type]
    return ack, acts(effects)


def expire(d: Dispatcher, now: float) -> list[Effect]:
    return acts(d.expire(now))


def assigns(effects: list[Effect]) -> list[tuple[str, str, int]]:
    """(task, worker, attempt) of every Assign, in order."""
    return [(e.message.task_id, e.message.worker_id, e.message.attempt)
            for e in effects if isinstance(e, Assign)]


def of_type(effects: list[Effect], kind: type) -> list:
    return [e for e in effects if isinstance(e, kind)]


def worker_state(d: Dispatcher, worker_id: str) -> dict:
    return next(w for w in d.snapshot()["workers"] if w["worker_id"] == worker_id)


# --- submission, queueing and fairness ---------------------------------------------------

def test_a_question_goes_to_an_idle_worker_with_the_full_task_message() -> None:
    d = make()
    register(d, "w1")
    effects = submit(d, "t1", now=100.0, session="sess", api_key="k-secret", request_id="r1")
    assert len(effects) == 1 and isinstance(effects[0], Assign)
    message = effects[0].message
    assert (message.worker_id, message.session_id, message.task_id) == ("w1", "sess", "t1")
    assert (message.query, message.api_key, message.grpc_endpoint) == (
        "question t1", "k-secret", ENDPOINT)
    assert message.attempt == 1
    assert message.timestamp == 100_000
    assert worker_state(d, "w1")["state"] == "busy"


def test_without_workers_questions_queue_in_order_with_one_based_positions() -> None:
    d = make()
    positions = [of_type(submit(d, f"t{i}", session=f"s{i}", request_id=f"r{i}"), Queued)[0]
                 for i in range(3)]
    assert [(q.task_id, q.position, q.session_id) for q in positions] == [
        ("t0", 1, "s0"), ("t1", 2, "s1"), ("t2", 3, "s2")]
    assert positions[1].payload() == {"task_id": "t1", "position": 2, "request_id": "r1"}
    assert d.snapshot()["queue_depth"] == 3


def test_a_registering_worker_takes_the_oldest_queued_question() -> None:
    d = make()
    submit(d, "t1")
    submit(d, "t2")
    assert assigns(register(d, "w1")) == [("t1", "w1", 1)]
    assert d.snapshot()["queue_depth"] == 1


def test_a_result_frees_the_worker_and_hands_it_the_next_question_at_once() -> None:
    d = make()
    register(d, "w1")
    submit(d, "t1")
    submit(d, "t2")
    ack, effects = result(d, "t1", "w1", response="answer")
    assert ack == Ack(True, "result delivered")
    assert assigns(effects) == [("t2", "w1", 1)]


def test_the_longest_idle_worker_gets_the_next_question() -> None:
    d = make()
    for worker_id in ("w1", "w2", "w3"):
        register(d, worker_id)
    assert assigns(submit(d, "t1")) == [("t1", "w1", 1)]
    assert assigns(submit(d, "t2")) == [("t2", "w2", 1)]
    result(d, "t1", "w1")  # w1 is idle again, but after w3
    assert assigns(submit(d, "t3")) == [("t3", "w3", 1)]
    assert assigns(submit(d, "t4")) == [("t4", "w1", 1)]


def test_heartbeats_do_not_move_an_idle_worker_to_the_back() -> None:
    d = make()
    register(d, "w1")
    register(d, "w2")
    status(d, "w1", "idle")
    register(d, "w1")  # a re-registration, e.g. after the master came back online
    assert assigns(submit(d, "t1")) == [("t1", "w1", 1)]


def test_queue_positions_report_only_what_changed() -> None:
    d = make()
    register(d, "w1")
    submit(d, "t1")
    for task_id in ("t2", "t3", "t4"):
        submit(d, task_id)
    assert d.queue_positions() == []
    result(d, "t1", "w1")  # t2 leaves the queue: t3 and t4 move up
    updates = of_type(d.queue_positions(), Queued)
    assert [(q.task_id, q.position) for q in updates] == [("t3", 1), ("t4", 2)]
    assert d.queue_positions() == []


# --- results ---------------------------------------------------------------------------

def test_the_answer_goes_to_the_asking_session_with_its_metadata() -> None:
    d = make()
    register(d, "w1", node="node-a")
    submit(d, "t0", now=0.0)  # keeps w1 busy so t1 waits in the queue
    submit(d, "t1", now=1.0, session="sess-1", request_id="r1")
    result(d, "t0", "w1", now=3.5)
    ack, effects = result(d, "t1", "w1", now=5.0, response="42", provider="gemini",
                          model="gemini-2.5-flash", processing_time_ms=1234,
                          session_id="whatever the worker says")
    assert ack.success
    [answer] = of_type(effects, Deliver)
    assert answer.session_id == "sess-1"  # the master's record, not the worker's claim
    assert answer.payload() == {
        "task_id": "t1", "response": "42", "worker_id": "w1", "node": "node-a",
        "provider": "gemini", "model": "gemini-2.5-flash", "processing_time_ms": 1234,
        "queue_wait_ms": 2500, "context": [], "request_id": "r1"}
    snapshot = d.snapshot()
    assert snapshot["tasks"]["completed"] == 2
    assert worker_state(d, "w1") | {"last_seen": 0} == {
        "worker_id": "w1", "node": "node-a", "hostname": "host-w1", "language": "python",
        "provider": "offline", "user_key_provider": "gemini", "state": "idle", "task_id": None,
        "task_seconds": None, "completed": 2, "last_seen": 0}


def test_a_provider_error_reaches_the_user_and_is_not_retried() -> None:
    d = make()
    register(d, "w1")
    submit(d, "t1", request_id="r1")
    ack, effects = result(d, "t1", "w1", error="The API key was rejected.")
    assert ack.success
    [failure] = of_type(effects, Fail)
    assert failure.payload() == {"task_id": "t1", "error": "The API key was rejected.",
                                 "request_id": "r1"}
    assert d.snapshot()["queue_depth"] == 0
    assert worker_state(d, "w1")["state"] == "idle"


def test_a_result_for_an_unknown_task_is_refused() -> None:
    d = make()
    register(d, "w1")
    ack, effects = result(d, "nope", "w1")
    assert ack == Ack(False, "unknown task") and effects == []
    assert d.snapshot()["tasks"]["unknown_results"] == 1


def test_a_duplicate_result_is_acknowledged_and_ignored() -> None:
    d = make()
    register(d, "w1")
    submit(d, "t1")
    result(d, "t1", "w1", response="first")
    ack, effects = result(d, "t1", "w1", response="second")
    assert ack == Ack(True, "duplicate ignored")
    assert of_type(effects, Deliver) == []
    assert d.snapshot()["tasks"]["duplicates"] == 1


# --- workers going offline and attempts -------------------------------------------------

def test_an_offline_workers_task_goes_to_the_front_of_the_queue_with_the_next_attempt() -> None:
    d = make()
    register(d, "w1")
    submit(d, "t1")
    submit(d, "t2")
    effects = status(d, "w1", "offline", "t1")
    assert assigns(effects) == []
    assert d.snapshot()["queue_depth"] == 2
    assert worker_state(d, "w1")["state"] == "offline"
    assert [(q.task_id, q.position) for q in of_type(d.queue_positions(), Queued)] == [
        ("t1", 1), ("t2", 2)]
    assert assigns(register(d, "w2")) == [("t1", "w2", 2)]
    assert d.snapshot()["tasks"]["requeued"] == 1


def test_an_offline_workers_task_goes_straight_to_an_idle_worker() -> None:
    d = make()
    register(d, "w1")
    register(d, "w2")
    submit(d, "t1")
    assert assigns(status(d, "w1", "offline")) == [("t1", "w2", 2)]


def test_tasks_handed_back_by_stopping_workers_do_not_use_up_the_attempts() -> None:
    """A rolling update stops the workers one after another, each giving its task back."""
    d = make(max_attempts=2)
    for n in range(1, 5):
        register(d, f"w{n}")
    submit(d, "t1")
    for n in range(1, 4):  # each holder stops in turn, naming the task it hands back
        assert assigns(status(d, f"w{n}", "offline", "t1")) == [("t1", f"w{n + 1}", n + 1)]
    assert d.snapshot()["tasks"]["failed"] == 0
    # Lost to failures (Last Wills name no task), attempts still run out.
    assert assigns(status(d, "w4", "offline")) == []
    assert d.snapshot()["tasks"]["queued"] == 1
    register(d, "w1")
    [failure] = of_type(status(d, "w1", "offline"), Fail)
    assert failure.task_id == "t1" and "2 attempts" in failure.error


def test_attempts_exhausted_the_user_gets_a_clear_error() -> None:
    d = make(max_attempts=2)
    register(d, "w1")
    submit(d, "t1", request_id="r1")
    status(d, "w1", "offline")
    register(d, "w1")  # back: takes attempt 2
    effects = status(d, "w1", "offline")
    [failure] = of_type(effects, Fail)
    assert failure.task_id == "t1" and failure.request_id == "r1"
    assert "2 attempts" in failure.error
    assert d.snapshot()["tasks"]["failed"] == 1
    # A late answer for it is a duplicate, not a second delivery.
    assert result(d, "t1", "w1")[0] == Ack(True, "duplicate ignored")


def test_a_late_answer_from_the_first_attempt_wins_and_the_second_is_a_duplicate() -> None:
    d = make()
    register(d, "w1")
    register(d, "w2")
    submit(d, "t1")
    status(d, "w1", "offline")  # t1 goes to w2 (attempt 2); w1 was only cut off
    register(d, "w1", status="busy")
    ack, effects = result(d, "t1", "w1", response="from w1")
    assert ack.success
    assert [a.worker_id for a in of_type(effects, Deliver)] == ["w1"]
    # w2 is still working on t1 and gets nothing new until it is done with it.
    submit(d, "t2")
    assert worker_state(d, "w2")["task_id"] == "t1"
    ack, effects = result(d, "t1", "w2", response="from w2")
    assert ack == Ack(True, "duplicate ignored")
    assert of_type(effects, Deliver) == []
    assert assigns(effects) == [("t2", "w2", 1)]


def test_a_late_answer_for_a_requeued_task_still_waiting_completes_it() -> None:
    d = make()
    register(d, "w1")
    submit(d, "t1")
    submit(d, "t2")
    status(d, "w1", "offline")  # t1 back in the queue, nobody to take it
    ack, effects = result(d, "t1", "w1", response="late")
    assert ack.success and of_type(effects, Deliver)
    assert d.snapshot()["queue_depth"] == 1
    assert assigns(register(d, "w2")) == [("t2", "w2", 1)]


def test_an_idle_worker_going_offline_and_back_needs_no_requeue() -> None:
    d = make()
    register(d, "w1")
    assert status(d, "w1", "offline") == []
    assert assigns(submit(d, "t1")) == []
    assert assigns(register(d, "w1")) == [("t1", "w1", 1)]


# --- idle and busy reports ---------------------------------------------------------------

def test_idle_with_the_held_task_means_its_result_never_arrived() -> None:
    d = make()
    register(d, "w1")
    register(d, "w2")
    submit(d, "t1")
    assert assigns(status(d, "w1", "idle", "t1")) == [("t1", "w2", 2)]


def test_a_stale_idle_for_a_previous_task_is_ignored() -> None:
    d = make()
    register(d, "w1")
    submit(d, "t1")
    submit(d, "t2")
    result(d, "t1", "w1")  # w1 takes t2 at once
    assert status(d, "w1", "idle", "t1") == []  # sent before t2 reached it
    assert worker_state(d, "w1")["task_id"] == "t2"


def test_idle_without_task_right_after_a_hand_over_is_stale() -> None:
    d = make()
    submit(d, "t1")
    register(d, "w1", now=10.0)  # takes t1; its first idle report was already on the way
    assert status(d, "w1", "idle", None, now=10.1) == []
    assert worker_state(d, "w1")["task_id"] == "t1"


def test_idle_without_task_long_after_a_hand_over_means_it_restarted() -> None:
    d = make()
    register(d, "w1", now=0.0)
    submit(d, "t1", now=0.0)
    register(d, "w1", now=20.0)  # registration alone does not change the assignment
    assert worker_state(d, "w1")["task_id"] == "t1"
    effects = status(d, "w1", "idle", None, now=20.0)
    assert assigns(effects) == [("t1", "w1", 2)]


def test_idle_naming_an_older_task_long_after_a_hand_over_means_the_task_was_lost() -> None:
    d = make()
    register(d, "w1", now=0.0)
    submit(d, "t1", now=0.0)
    result(d, "t1", "w1", now=1.0)
    submit(d, "t2", now=2.0)  # published while the broker restarted: never arrived
    assert status(d, "w1", "idle", "t1", now=3.0) == []
    assert assigns(status(d, "w1", "idle", "t1", now=8.0)) == [("t2", "w1", 2)]


def test_busy_is_informational_for_the_held_task() -> None:
    d = make()
    register(d, "w1")
    submit(d, "t1")
    assert status(d, "w1", "busy", "t1", now=7.0) == []
    state = worker_state(d, "w1")
    assert (state["state"], state["task_id"], state["last_seen"]) == ("busy", "t1", 7000)


def test_busy_on_something_not_handed_to_it_blocks_a_worker_until_idle() -> None:
    d = make()
    register(d, "w1")
    status(d, "w1", "busy", "old-task")
    assert assigns(submit(d, "t1")) == []
    assert assigns(status(d, "w1", "idle", "old-task")) == [("t1", "w1", 1)]


def test_unknown_workers_are_rejected() -> None:
    d = make()
    with pytest.raises(UnknownWorkerError):
        status(d, "ghost", "idle")
    with pytest.raises(UnknownWorkerError):
        status(d, "ghost", "offline")
    assert d.snapshot()["workers"] == []


# --- deadlines -------------------------------------------------------------------------

def test_a_task_past_its_deadline_is_requeued_and_the_worker_waits_for_idle() -> None:
    d = make()
    register(d, "w1", now=0.0)
    register(d, "w2", now=0.0)
    submit(d, "t1", now=0.0)  # w1
    submit(d, "t2", now=1.0)  # w2
    assert expire(d, TIMEOUT - 0.1) == []
    effects = expire(d, TIMEOUT)
    assert assigns(effects) == []  # w1 is not trusted with new work, w2 is busy
    assert worker_state(d, "w1")["state"] == "busy"
    assert d.snapshot()["queue_depth"] == 1
    _, effects = result(d, "t2", "w2", now=TIMEOUT + 1)
    assert assigns(effects) == [("t1", "w2", 2)]
    # w1 reports idle at last: free again.
    assert status(d, "w1", "idle", "t1", now=TIMEOUT + 2) == []
    assert worker_state(d, "w1")["state"] == "idle"


def test_deadlines_count_attempts_too() -> None:
    d = make(max_attempts=1)
    register(d, "w1")
    submit(d, "t1", request_id="r1")
    [failure] = of_type(expire(d, TIMEOUT + 1), Fail)
    assert failure.task_id == "t1"


def test_a_deadline_restarts_with_each_attempt() -> None:
    d = make()
    register(d, "w1", now=0.0)
    register(d, "w2", now=0.0)
    submit(d, "t1", now=0.0)
    status(d, "w1", "offline", now=TIMEOUT - 1)  # w2 takes attempt 2 now
    assert expire(d, TIMEOUT + 1) == []
    assert worker_state(d, "w2")["task_id"] == "t1"
    assert d.snapshot()["queue_depth"] == 0


# --- MQTT reconnection and bounded memory -----------------------------------------------

def test_after_the_broker_connection_changes_a_worker_gets_tasks_once_heard_from() -> None:
    d = make()
    register(d, "w1")
    register(d, "w2")
    d.broker_changed()
    assert assigns(submit(d, "t1")) == []
    assert assigns(register(d, "w2")) == [("t1", "w2", 1)]
    submit(d, "t2")
    assert assigns(status(d, "w1", "idle")) == [("t2", "w1", 1)]


def test_the_reconnect_keeps_running_assignments() -> None:
    d = make()
    register(d, "w1")
    submit(d, "t1")
    d.broker_changed()
    assert result(d, "t1", "w1")[0] == Ack(True, "result delivered")


def test_finished_tasks_are_remembered_only_up_to_a_bound() -> None:
    d = make()
    register(d, "w1")
    for i in range(150):
        submit(d, f"t{i}")
        result(d, f"t{i}", "w1")
    assert result(d, "t149", "w1")[0].message == "duplicate ignored"
    assert result(d, "t0", "w1")[0] == Ack(False, "unknown task")


def will(d: Dispatcher, worker_id: str, now: float) -> list[Effect]:
    """A Last Will as the broker sends it, before its hold is over."""
    return acts(d.status(now, WorkerStatus(worker_id=worker_id, status="offline")))


def test_a_last_will_counts_after_its_hold() -> None:
    d = make()
    register(d, "w1")
    register(d, "w2")
    assert assigns(submit(d, "t1")) == [("t1", "w1", 1)]
    status(d, "w1", "busy", "t1")
    assert will(d, "w1", now=1.0) == []
    assert worker_state(d, "w1")["state"] == "busy"  # not yet counted
    assert assigns(submit(d, "t2", now=1.5)) == [("t2", "w2", 1)]
    register(d, "w3", now=1.6)
    assert expire(d, 1.5) == []
    assert assigns(expire(d, 1.0 + WorkerRegistry.WILL_HOLD_SECONDS)) == [("t1", "w3", 2)]
    assert worker_state(d, "w1")["state"] == "offline"
    assert d.requeued == 1


def test_wills_from_a_broker_that_stops_lose_no_attempt() -> None:
    # Stopping, mosquitto sends every client's Last Will, the living ones' too; then the
    # master loses it. The workers come back with the next broker, still on their tasks.
    d = make(max_attempts=1)
    register(d, "w1", instance="i1")
    register(d, "w2", instance="i2")
    assert assigns(submit(d, "t1")) == [("t1", "w1", 1)]
    status(d, "w1", "busy", "t1")
    assert will(d, "w1", now=1.0) == [] and will(d, "w2", now=1.0) == []
    d.broker_changed()  # the master lost that broker
    assert expire(d, 5.0) == []  # the wills were dropped with it
    register(d, "w1", now=6.0, status="busy", instance="i1")
    register(d, "w2", now=6.0, instance="i2")
    ack, effects = result(d, "t1", "w1", now=7.0, response="still here")
    assert ack.success and [e.response for e in of_type(effects, Deliver)] == ["still here"]
    assert (d.requeued, d.failed) == (0, 0)


def test_a_worker_gets_no_task_while_its_will_is_held_and_stays_if_heard_from() -> None:
    d = make()
    register(d, "w1")
    will(d, "w1", now=1.0)
    assert assigns(submit(d, "t1", now=1.2)) == []  # queued
    assert assigns(register(d, "w1", now=1.5)) == [("t1", "w1", 1)]  # it reconnected at once
    assert expire(d, 10.0) == []
    assert worker_state(d, "w1")["state"] == "busy"


def test_workers_offline_for_long_are_forgotten() -> None:
    d = Dispatcher(grpc_endpoint=ENDPOINT, task_timeout=TIMEOUT, max_attempts=3,
                   forget_offline_after=60.0)
    register(d, "old", now=0.0)
    register(d, "alive", now=0.0)
    status(d, "old", "offline", now=10.0 - WorkerRegistry.WILL_HOLD_SECONDS)  # counts at 10
    assert d.forget_offline(69.0) == []
    assert d.forget_offline(70.0) == ["old"]
    assert [w["worker_id"] for w in d.snapshot()["workers"]] == ["alive"]
    with pytest.raises(UnknownWorkerError):
        status(d, "old", "idle", now=71.0)


def test_the_snapshot_counts_tasks() -> None:
    d = make()
    register(d, "w1")
    submit(d, "t1")
    submit(d, "t2")
    tasks = d.snapshot()["tasks"]
    assert (tasks["submitted"], tasks["assigned"], tasks["queued"]) == (2, 1, 1)


def test_the_snapshot_says_when_the_last_answer_came_in_wall_clock_ms() -> None:
    d = make(wall_offset=1_000.0)
    register(d, "w1")
    submit(d, "t1")
    assert d.snapshot()["last_answer"] is None
    result(d, "t1", "w1", now=2.5)
    assert d.snapshot()["last_answer"] == 1_002_500


# --- a long random run: the invariants hold whatever the order of events ----------------

@pytest.mark.parametrize("seed", range(20))
def test_random_runs_answer_every_question_exactly_once(seed: int) -> None:
    rng = random.Random(seed)
    d = make(max_attempts=3)
    workers = [f"w{i}" for i in range(4)]
    inbox: dict[str, list[tuple[str, int]]] = {w: [] for w in workers}  # received tasks
    last_done: dict[str, str | None] = dict.fromkeys(workers)
    outcomes: dict[str, int] = {}
    now = 0.0
    submitted = 0

    def apply(effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Assign):
                inbox[effect.message.worker_id].append(
                    (effect.message.task_id, effect.message.attempt))
            elif isinstance(effect, Deliver | Fail):
                outcomes[effect.task_id] = outcomes.get(effect.task_id, 0) + 1

    def answer(worker_id: str) -> None:
        task_id, _ = inbox[worker_id].pop(0)
        _, effects = result(d, task_id, worker_id, now=now, response="r")
        apply(effects)
        last_done[worker_id] = task_id
        apply(status(d, worker_id, "idle", task_id, now=now))

    for worker_id in workers:
        apply(register(d, worker_id, now=now))
    for _ in range(400):
        now += rng.choice((0.1, 1.0, 3.0))
        worker_id = rng.choice(workers)
        action = rng.random()
        if action < 0.35:
            apply(submit(d, f"t{submitted}", now=now))
            submitted += 1
        elif action < 0.65 and inbox[worker_id]:
            answer(worker_id)
        elif action < 0.72:
            apply(status(d, worker_id, "offline", now=now))
            if rng.random() < 0.5:
                inbox[worker_id].clear()  # it died; otherwise a blip: it may answer late
        elif action < 0.80:
            apply(register(d, worker_id, now=now))
            apply(status(d, worker_id, "idle", last_done[worker_id], now=now))
        elif action < 0.88:
            apply(expire(d, now + TIMEOUT * rng.random()))
        elif action < 0.94 and last_done[worker_id]:
            apply(result(d, last_done[worker_id], worker_id, now=now)[1])  # a duplicate
        else:
            apply(d.queue_positions())
        snapshot = d.snapshot()
        held = [w["task_id"] for w in snapshot["workers"] if w["task_id"]]
        assert len(held) == len(set(held)), "a task is held by two workers"
        idle = [w for w in snapshot["workers"] if w["state"] == "idle"]
        assert not (idle and snapshot["queue_depth"]), "a question waits beside an idle worker"
        assert all(count == 1 for count in outcomes.values()), "a task answered twice"

    # Everyone comes back and works until nothing is left.
    for worker_id in workers:
        apply(register(d, worker_id, now=now))
        apply(status(d, worker_id, "idle", last_done[worker_id], now=now))
    for _ in range(10 * submitted):
        busy = [w for w in workers if inbox[w]]
        if not busy:
            now += TIMEOUT + 1
            apply(expire(d, now))
            for worker_id in workers:
                apply(status(d, worker_id, "idle", last_done[worker_id], now=now))
            if not any(inbox.values()):
                break
            continue
        answer(rng.choice(busy))
    assert d.snapshot()["tasks"]["queued"] == d.snapshot()["tasks"]["assigned"] == 0
    assert sorted(outcomes) == sorted(f"t{i}" for i in range(submitted))
    assert set(outcomes.values()) == {1}


# --- the journal: every change is recorded before it is acted on ------------------------

def records(effects: list[Effect]) -> list[tuple[str, str]]:
    """(task, state) of every journal record, in order."""
    return [(e.record.task_id, e.record.state) for e in effects if isinstance(e, Persist)]


def test_each_change_of_a_task_is_recorded_before_the_effects_that_follow_it() -> None:
    d = make()
    effects = d.submit(0.0, task_id="t1", session_id="s1", query="q", result_token="tok",
                       api_key="secret-key")
    assert [type(e) for e in effects] == [Persist, Queued]
    assert records(effects) == [("t1", "queued")]
    queued = effects[0].record  # type: ignore[union-attr]
    assert (queued.query, queued.has_key, queued.result_token) == ("q", True, "tok")
    assert "secret-key" not in repr(queued) and "secret-key" not in str(vars(queued))

    effects = d.register(1.0, WorkerRegistration(worker_id="w1", instance_id="i1"))
    assert [type(e) for e in effects] == [Persist, Assign]
    assigned = effects[0].record  # type: ignore[union-attr]
    assert (assigned.state, assigned.worker_id, assigned.worker_instance, assigned.attempt) == (
        "assigned", "w1", "i1", 1)

    _, effects = d.result(2.0, WorkerResult(task_id="t1", worker_id="w1", result_token="tok",
                                            response="42"))
    assert [type(e) for e in effects] == [Persist, Deliver]
    finished = effects[0].record  # type: ignore[union-attr]
    assert (finished.state, finished.event, finished.query) == ("finished", "ai-response", "")
    assert finished.payload == effects[1].payload()  # type: ignore[union-attr]


# --- forged results -----------------------------------------------------------------------

@pytest.mark.parametrize("forged_token", ["", "guessed", token("t1") + "x"])
def test_a_result_without_the_tasks_token_is_refused_and_the_real_one_still_counts(
        forged_token: str) -> None:
    d = make()
    register(d, "w1")
    submit(d, "t1")
    ack, effects = result(d, "t1", "w1", response="forged", result_token=forged_token)
    assert ack == Ack(False, "result token does not match the task") and effects == []
    assert worker_state(d, "w1")["task_id"] == "t1"
    ack, effects = result(d, "t1", "w1", response="real")
    assert ack.success
    assert [a.response for a in of_type(effects, Deliver)] == ["real"]
    assert d.snapshot()["tasks"]["forged_results"] == 1


def test_a_forged_duplicate_of_a_finished_task_is_refused_too() -> None:
    d = make()
    register(d, "w1")
    submit(d, "t1")
    result(d, "t1", "w1")
    assert result(d, "t1", "w1", result_token="guessed")[0].success is False
    assert result(d, "t1", "w1")[0] == Ack(True, "duplicate ignored")


# --- fairness and limits -------------------------------------------------------------------

def test_one_sessions_backlog_does_not_delay_another_sessions_question() -> None:
    d = make()
    register(d, "w1")
    register(d, "w2")
    for i in range(10):
        submit(d, f"flood{i}", session="flooder")  # two handed out, eight wait
    submit(d, "mine", session="quiet")
    handed_out: list[str] = []
    for _ in range(3):  # each worker finishes its task and takes the next in turn
        for worker in ("w1", "w2"):
            _, effects = result(d, worker_state(d, worker)["task_id"], worker)
            handed_out += [task for task, _, _ in assigns(effects)]
    assert handed_out.index("mine") <= 2  # after at most one flood task per worker


def test_the_fair_queue_serves_sessions_in_turn() -> None:
    q = FairQueue()
    for task_id, session in (("a1", "a"), ("a2", "a"), ("b1", "b"), ("a3", "a"), ("c1", "c")):
        q.push(session, task_id)
    assert list(q.order()) == ["a1", "b1", "c1", "a2", "a3"]
    assert [q.position(s) for s in "abc"] == [5, 2, 3]
    q.push_front("c", "c0")  # taken back from a worker: first in line, its session next
    assert q.pop() == "c0"
    assert q.remove("a", "a2") and not q.remove("a", "a2")
    assert [q.pop() for _ in range(len(q))] == ["a1", "b1", "c1", "a3"]
    assert q.pop() is None and not q


def test_queued_positions_follow_the_round_robin_order() -> None:
    d = make()
    positions = {}
    for task_id, session in (("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"), ("c1", "c"),
                             ("b2", "b")):
        positions[task_id] = of_type(submit(d, task_id, session=session), Queued)[0].position
    # Each was told its place on arrival; later arrivals of other sessions move a's down.
    assert positions == {"a1": 1, "a2": 2, "a3": 3, "b1": 2, "c1": 3, "b2": 5}
    updates = {q.task_id: q.position for q in of_type(d.queue_positions(), Queued)}
    assert updates == {"a2": 4, "a3": 6}
    order = [assigns(register(d, f"w{i}"))[0][0] for i in range(6)]
    assert order == ["a1", "b1", "c1", "a2", "b2", "a3"]


def test_a_session_with_too_many_questions_waiting_is_refused_others_are_not() -> None:
    d = make(max_pending_per_session=2)
    submit(d, "t1", session="s1")
    submit(d, "t2", session="s1")
    with pytest.raises(RefusedError) as refused:
        submit(d, "t3", session="s1")
    assert refused.value.reason == "too_many_pending" and "2 questions" in str(refused.value)
    assert of_type(submit(d, "u1", session="s2"), Queued)
    assert d.snapshot()["tasks"]["rejections"] == {"too_many_pending": 1}
    register(d, "w1")
    result(d, "t1", "w1")  # answered: s1 may ask again
    assert submit(d, "t3", session="s1")


def test_a_full_queue_refuses_new_questions() -> None:
    d = make(max_queued=3)
    for i in range(3):
        submit(d, f"t{i}", session=f"s{i}")
    with pytest.raises(RefusedError) as refused:
        submit(d, "t3", session="s3")
    assert refused.value.reason == "queue_full"
    assert d.snapshot()["tasks"]["rejected"] == 1


# --- retryable provider errors -------------------------------------------------------------

def test_a_retryable_error_waits_a_backoff_then_goes_to_another_worker() -> None:
    d = make(retry_backoff=2.0)
    register(d, "w1")
    register(d, "w2")
    submit(d, "t1", request_id="r1")  # w1
    ack, effects = result(d, "t1", "w1", now=1.0, error="Gemini answered 503.",
                          error_kind="upstream")
    assert ack == Ack(True, "error recorded, retrying")
    [retrying] = of_type(effects, Retrying)
    assert retrying.payload() == {"task_id": "t1", "error": "Gemini answered 503.",
                                  "attempt": 1, "max_attempts": 3, "retry_in_ms": 2000,
                                  "request_id": "r1"}
    assert of_type(effects, Fail) == [] and assigns(effects) == []
    assert d.snapshot()["tasks"]["retrying"] == 1
    assert expire(d, 2.9) == []
    # w1 has been idle longest, but it already failed this question.
    assert assigns(expire(d, 3.0)) == [("t1", "w2", 2)]


def test_the_user_sees_the_provider_error_once_the_attempts_are_used_up() -> None:
    d = make(max_attempts=2, retry_backoff=1.0)
    register(d, "w1")
    submit(d, "t1")
    result(d, "t1", "w1", now=0.0, error="Rate-limited.", error_kind="rate_limited")
    assert assigns(expire(d, 1.0)) == [("t1", "w1", 2)]  # the only worker there is
    ack, effects = result(d, "t1", "w1", now=2.0, error="Rate-limited again.",
                          error_kind="rate_limited")
    assert ack == Ack(True, "error recorded")
    assert [f.error for f in of_type(effects, Fail)] == ["Rate-limited again."]


def test_a_bad_key_is_the_users_answer_at_once() -> None:
    d = make()
    register(d, "w1")
    submit(d, "t1")
    _, effects = result(d, "t1", "w1", error="The key was rejected.", error_kind="bad_key")
    assert [f.error for f in of_type(effects, Fail)] == ["The key was rejected."]
    assert of_type(effects, Retrying) == []


def test_a_retryable_error_from_an_earlier_attempt_is_not_the_answer() -> None:
    d = make()
    register(d, "w1")
    register(d, "w2")
    submit(d, "t1")
    status(d, "w1", "offline")  # t1 goes to w2
    register(d, "w1", status="busy")
    ack, effects = result(d, "t1", "w1", error="timeout", error_kind="timeout")
    assert ack == Ack(True, "retry already under way") and of_type(effects, Fail) == []
    _, effects = result(d, "t1", "w2", response="fine")
    assert [a.response for a in of_type(effects, Deliver)] == ["fine"]


# --- restarted workers and a restarted master ---------------------------------------------

def test_a_worker_registering_as_a_new_process_gives_its_task_back_at_once() -> None:
    d = make()
    register(d, "w1", instance="first-life")
    register(d, "w2", instance="x")
    submit(d, "t1", now=0.0)  # w1
    assert register(d, "w1", now=1.0, instance="first-life") == []  # a reconnection
    assert worker_state(d, "w1")["task_id"] == "t1"
    assert assigns(register(d, "w1", now=2.0, instance="second-life")) == [("t1", "w2", 2)]


def restored(history: list[Effect], now: float = 100.0,
             **options: float) -> tuple[Dispatcher, list[Effect], list]:
    """A new dispatcher rebuilt from the last record of each task in ``history``."""
    last = {}
    for effect in history:
        if isinstance(effect, Persist):
            last[effect.record.task_id] = effect.record
    fresh = make(**options)
    effects, finished = fresh.restore(now, sorted(last.values(), key=lambda r: r.created_at))
    return fresh, effects, finished


def test_a_restarted_master_rebuilds_its_queue_and_hand_overs_from_the_journal() -> None:
    d = make()
    history: list[Effect] = []
    history += d.register(0.0, WorkerRegistration(worker_id="w1"))
    for i, session in enumerate(("s1", "s2", "s1")):
        history += d.submit(float(i), task_id=f"t{i}", session_id=session, query=f"q{i}",
                            result_token=token(f"t{i}"))
    _, effects = d.result(5.0, WorkerResult(task_id="t0", worker_id="w1",
                                            result_token=token("t0"), response="a0"))
    history += effects  # t0 finished, t1 handed to w1, t2 waits
    fresh, effects, finished = restored(history)
    assert effects == [] and [r.task_id for r in finished] == ["t0"]
    assert fresh.snapshot()["tasks"]["queued"] == 1
    # The old master's worker answers its task: accepted.
    fresh.register(101.0, WorkerRegistration(worker_id="w1", status="busy"))
    ack, effects = fresh.result(102.0, WorkerResult(task_id="t1", worker_id="w1",
                                                    result_token=token("t1"), response="a1"))
    assert ack.success and [e.task_id for e in effects if isinstance(e, Deliver)] == ["t1"]
    assert assigns(effects) == [("t2", "w1", 1)]
    assert fresh.result(103.0, WorkerResult(task_id="t0", worker_id="w1",
                                            result_token=token("t0")))[0].message == (
        "duplicate ignored")


def test_a_restored_hand_over_whose_worker_never_returns_is_requeued_soon() -> None:
    d = make()
    history = d.register(0.0, WorkerRegistration(worker_id="w1"))
    history += d.submit(0.0, task_id="t1", session_id="s1", query="q", result_token="tok")
    fresh, _, _ = restored(history, now=100.0, restore_grace=15.0)
    assert expire(fresh, 114.0) == []
    register(fresh, "w2", now=114.5)
    assert assigns(expire(fresh, 115.0)) == [("t1", "w2", 2)]


def test_a_waiting_question_with_the_users_key_fails_after_a_restart() -> None:
    d = make()
    history = d.submit(0.0, task_id="t1", session_id="s1", query="q", result_token="tok",
                       api_key="users-key", request_id="r1")
    history += d.submit(0.0, task_id="t2", session_id="s1", query="q", result_token="tok2")
    fresh, effects, _ = restored(history)
    [failure] = of_type(effects, Fail)
    assert failure.task_id == "t1" and "never written to disk" in failure.error
    assert records(effects) == [("t1", "finished")]
    assert assigns(register(fresh, "w1", now=101.0)) == [("t2", "w1", 1)]


def test_a_hand_over_to_a_worker_that_died_unnoticed_comes_back_soon() -> None:
    d = make(ack_timeout=10.0)
    register(d, "w1")
    register(d, "w2")
    submit(d, "t1", now=0.0)  # w1
    status(d, "w1", "busy", "t1", now=0.5)  # w1 acknowledges its hand-overs
    result(d, "t1", "w1", now=1.0)
    assert assigns(submit(d, "t2", now=2.0)) == [("t2", "w2", 1)]  # idle longest
    assert assigns(submit(d, "t3", now=2.0)) == [("t3", "w1", 1)]
    status(d, "w2", "busy", "t2", now=2.1)
    # w1 never acknowledges t3 (its node died, its Last Will not yet due).
    assert expire(d, 11.9) == []
    effects = expire(d, 12.0)
    assert assigns(effects) == []  # w2 is busy; t3 waits at the front
    assert worker_state(d, "w1")["state"] == "busy"  # blocked until heard from
    assert assigns(result(d, "t2", "w2", now=13.0)[1]) == [("t3", "w2", 2)]


def acknowledging(d: Dispatcher, *worker_ids: str) -> None:
    """Register workers that have shown they acknowledge their hand-overs (one task each)."""
    for worker_id in worker_ids:
        register(d, worker_id)
    for worker_id in worker_ids:
        assert assigns(submit(d, f"warm-{worker_id}")) == [(f"warm-{worker_id}", worker_id, 1)]
        status(d, worker_id, "busy", f"warm-{worker_id}")
        result(d, f"warm-{worker_id}", worker_id)


def test_hand_overs_to_workers_of_a_dead_node_do_not_use_up_the_attempts() -> None:
    # A node died with three idle workers on it; their Last Wills are not yet due. Each
    # takes the task in turn and never starts it; a live worker still answers it.
    d = make(max_attempts=3, ack_timeout=10.0)
    acknowledging(d, "dead1", "dead2", "dead3", "live")
    assert assigns(submit(d, "t1", now=0.0)) == [("t1", "dead1", 1)]
    assert assigns(expire(d, 10.0)) == [("t1", "dead2", 2)]
    assert assigns(expire(d, 20.0)) == [("t1", "dead3", 3)]
    assert assigns(expire(d, 30.0)) == [("t1", "live", 4)]
    ack, effects = result(d, "t1", "live", now=31.0)
    assert ack.success and of_type(effects, Deliver) and not of_type(effects, Fail)


def test_a_worker_that_keeps_not_starting_a_task_uses_up_its_attempts() -> None:
    d = make(max_attempts=3, ack_timeout=10.0)
    acknowledging(d, "w1")
    submit(d, "t1", now=0.0)
    now, failures = 0.0, []
    for _ in range(4):  # forgiven once, then each miss counts
        now += 10.0
        failures += of_type(expire(d, now), Fail)
        status(d, "w1", "idle", "warm-w1", now=now)  # heard from again: it gets the task back
    [failure] = failures
    assert "3 attempts were lost" in failure.error


def test_a_worker_that_never_acknowledges_is_only_held_to_the_deadline() -> None:
    d = make(ack_timeout=10.0)  # e.g. PUBLISH_TASK_STATUS=false
    register(d, "w1")
    submit(d, "t1", now=0.0)
    assert expire(d, 20.0) == []
    assert worker_state(d, "w1")["task_id"] == "t1"


# --- streamed chunks -------------------------------------------------------------------------

def chunk(d: Dispatcher, task_id: str, worker_id: str, seq: int, attempt: int = 1,
          token_value: str | None = None) -> tuple[Ack, list[Effect]]:
    return d.chunk(0.0, WorkerChunk(task_id=task_id, worker_id=worker_id, seq=seq,
                                    text=f"part {seq} ", attempt=attempt,
                                    result_token=token(task_id) if token_value is None
                                    else token_value))


def test_chunks_of_the_current_attempt_reach_the_session_others_are_refused() -> None:
    d = make()
    register(d, "w1")
    register(d, "w2")
    submit(d, "t1", request_id="r1")  # w1, attempt 1
    ack, effects = chunk(d, "t1", "w1", 0)
    assert ack.success
    assert [e.payload() for e in effects] == [
        {"task_id": "t1", "seq": 0, "text": "part 0 ", "attempt": 1, "request_id": "r1"}]
    assert chunk(d, "t1", "w1", 1, token_value="guessed")[0].success is False
    status(d, "w1", "offline")  # attempt 2 goes to w2
    assert chunk(d, "t1", "w1", 2)[0] == Ack(False, "not the current attempt")
    assert chunk(d, "t1", "w2", 0, attempt=2)[0].success
    result(d, "t1", "w2", response="all of it")
    assert chunk(d, "t1", "w2", 1, attempt=2)[0] == Ack(False, "unknown task")


def test_the_task_a_worker_holds_is_found_by_its_session() -> None:
    d = make()
    register(d, "w1")
    register(d, "w2")
    submit(d, "t1", session="sess-1")  # w1
    assert d.held_task("w1", "sess-1") == HeldTask("t1", token("t1"), assigned_to_it=True)
    assert d.held_task("w1", "other") is None
    assert d.held_task("w2", "sess-1") is None
    assert d.held_task("nobody", "sess-1") is None
    result(d, "t1", "w1")
    assert d.held_task("w1", "sess-1") is None
