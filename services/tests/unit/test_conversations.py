"""The conversation: each question carries the answered ones before it, within the budget."""

from __future__ import annotations

from ai_system.master.conversations import Conversations
from ai_system.master.dispatcher import Dispatcher
from ai_system.master.effects import Assign, Deliver, Effect, Persist
from ai_system.master.journal import ConversationStart, TaskRecord, Turn
from ai_system.protocol import WorkerRegistration

TTL = 3600.0


def make(turns: int = 10, chars: int = 10_000) -> Dispatcher:
    d = Dispatcher(grpc_endpoint="master:50051", task_timeout=30.0, max_attempts=3,
                   conversations=Conversations(turns, chars, TTL))
    d.register(0.0, WorkerRegistration(worker_id="w1", provider="offline"))
    return d


def ask(d: Dispatcher, task_id: str, query: str, now: float = 0.0,
        session: str = "s1") -> Assign:
    """Asked and handed to w1 (idle)."""
    [assign] = [e for e in d.submit(now, task_id=task_id, session_id=session, query=query,
                                    result_token=f"tok-{task_id}") if isinstance(e, Assign)]
    return assign


def answer(d: Dispatcher, task_id: str, response: str = "", error: str = "",
           now: float = 1.0) -> list[Effect]:
    from ai_system.master.worker_results import WorkerResult
    _, effects = d.result(now, WorkerResult(task_id=task_id, worker_id="w1",
                                            result_token=f"tok-{task_id}", response=response,
                                            error=error, error_kind="bad_key" if error else ""))
    return effects


def exchange(d: Dispatcher, task_id: str, query: str, response: str,
             session: str = "s1", now: float = 0.0) -> list[Effect]:
    ask(d, task_id, query, now=now, session=session)
    return answer(d, task_id, response, now=now + 1.0)


def test_a_question_carries_the_conversation_before_it_in_order() -> None:
    d = make()
    assert ask(d, "t1", "My name is Ana.").message.history == ()
    effects = answer(d, "t1", "Nice to meet you, Ana.")
    [delivered] = [e for e in effects if isinstance(e, Deliver)]
    assert delivered.payload()["context"] == ["t1"]
    message = ask(d, "t2", "What is my name?").message
    assert message.query == "What is my name?"
    assert message.history == ({"role": "user", "content": "My name is Ana."},
                               {"role": "assistant", "content": "Nice to meet you, Ana."})
    assert b'"history":[{"role":"user","content":"My name is Ana."}' in message.to_json()


def test_the_turn_is_journaled_before_the_answer_is_shown() -> None:
    d = make()
    effects = exchange(d, "t1", "q", "a")
    kinds = [type(e.record).__name__ if isinstance(e, Persist) else type(e).__name__
             for e in effects]
    assert kinds.index("Turn") < kinds.index("Deliver")
    [turn] = [e.record for e in effects if isinstance(e, Persist) and isinstance(e.record, Turn)]
    assert (turn.task_id, turn.session_id, turn.question, turn.answer) == ("t1", "s1", "q", "a")


def test_an_error_does_not_enter_the_conversation() -> None:
    d = make()
    exchange(d, "t1", "first", "one")
    ask(d, "t2", "second")
    effects = answer(d, "t2", error="The key was refused.")
    assert not [e for e in effects if isinstance(e, Persist) and isinstance(e.record, Turn)]
    assert [m["content"] for m in ask(d, "t3", "third").message.history] == ["first", "one"]


def test_the_oldest_turns_go_first_past_the_turn_budget() -> None:
    d = make(turns=2)
    for i in range(3):
        exchange(d, f"t{i}", f"q{i}", f"a{i}")
    assert [m["content"] for m in ask(d, "t9", "next").message.history] == [
        "q1", "a1", "q2", "a2"]
    assert d.context("s1") == ["t1", "t2"]


def test_past_the_character_budget_old_turns_go_and_the_question_stays_whole() -> None:
    d = make(chars=25)
    exchange(d, "t1", "a" * 10, "b" * 10)  # 20 characters
    exchange(d, "t2", "c" * 10, "d" * 10)  # 40 in all: t1 goes
    long_question = "x" * 100  # over the budget itself: still sent whole
    message = ask(d, "t3", long_question).message
    assert message.query == long_question
    assert [m["content"] for m in message.history] == ["c" * 10, "d" * 10]


def test_sessions_have_conversations_of_their_own() -> None:
    d = make()
    exchange(d, "t1", "I am Ana.", "Hello Ana.", session="ana")
    assert ask(d, "t2", "Who am I?", session="bea").message.history == ()


def test_a_new_conversation_forgets_and_a_late_answer_stays_out_of_it() -> None:
    d = make()
    exchange(d, "t1", "first", "one", now=0.0)
    ask(d, "t2", "asked before the new conversation", now=2.0)
    [start] = d.new_conversation(3.0, "s1")
    assert isinstance(start, Persist) and isinstance(start.record, ConversationStart)
    assert d.context("s1") == []
    effects = answer(d, "t2", "late answer", now=4.0)
    [delivered] = [e for e in effects if isinstance(e, Deliver)]
    assert delivered.payload()["context"] == []
    assert ask(d, "t3", "new topic", now=5.0).message.history == ()


def test_conversations_are_forgotten_after_their_time_to_live() -> None:
    d = make()
    exchange(d, "t1", "q", "a", now=0.0)
    assert d.forget_conversations(TTL / 2) == 0
    assert d.forget_conversations(TTL + 2.0) == 1
    assert ask(d, "t2", "again", now=TTL + 3.0).message.history == ()


def test_a_restarted_master_carries_the_conversations_into_the_open_tasks() -> None:
    d = Dispatcher(grpc_endpoint="master:50051", task_timeout=30.0, max_attempts=3,
                   conversations=Conversations(10, 10_000, TTL))
    queued = TaskRecord(task_id="open", session_id="s1", query="pending", request_id=None,
                        result_token="tok-open", has_key=False, created_at=5.0, attempt=0,
                        state="queued")
    turns = [Turn("t1", "s1", "forgotten", "x", at=1.0), Turn("t2", "s1", "kept", "y", at=3.0)]
    d.restore(10.0, [queued], turns, [ConversationStart("s1", at=2.0)])
    assert d.context("s1") == ["t2"]
    effects = d.register(10.0, WorkerRegistration(worker_id="w1", provider="offline"))
    [assign] = [e for e in effects if isinstance(e, Assign)]
    assert assign.message.task_id == "open"
    assert assign.message.history == ({"role": "user", "content": "kept"},
                                      {"role": "assistant", "content": "y"})


def test_without_conversations_every_question_goes_alone() -> None:
    d = make(turns=0)
    exchange(d, "t1", "q", "a")
    assert ask(d, "t2", "again").message.history == ()
    assert d.context("s1") == []
