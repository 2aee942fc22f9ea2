"""Each chat session's conversation: the answered questions the model is given again.

A turn is a question and the answer delivered for it; a failed question or an error never
becomes one. Each session keeps only what the next question will carry: its newest turns
within the budget (``max_turns`` turns and ``max_chars`` characters, the oldest dropped
first; the new question itself is bounded apart, by MAX_QUERY_CHARS). A session's turns
are forgotten ``ttl`` seconds after its last one, and at once when the user starts a new
conversation; an answer to a question asked before that start does not join the new one.
Pure logic with wall-clock times (the journal's): the dispatcher calls it under the lock.
"""

from __future__ import annotations

from collections import OrderedDict, deque

from ai_system.master.journal import ConversationStart, Turn
from ai_system.protocol import ChatMessage

# Sessions with a conversation in memory; past this the least recently answered is dropped.
MAX_SESSIONS = 10_000


class Conversations:
    def __init__(self, max_turns: int, max_chars: int, ttl: float,
                 max_sessions: int = MAX_SESSIONS) -> None:
        self._max_turns = max_turns
        self._max_chars = max_chars
        self._ttl = ttl
        self._max_sessions = max_sessions
        # Least recently answered first, so expiry and the session cap pop from the front.
        self._turns: OrderedDict[str, deque[Turn]] = OrderedDict()
        # Each session's messages, made once per answer rather than once per question.
        self._history: dict[str, tuple[ChatMessage, ...]] = {}
        self._started: dict[str, float] = {}  # session id -> its conversation's start

    def history(self, session_id: str) -> tuple[ChatMessage, ...]:
        """The messages a new question of the session carries, oldest first."""
        return self._history.get(session_id, ())

    def context(self, session_id: str) -> list[str]:
        """The task ids of the turns a new question carries, oldest first (for the page)."""
        return [turn.task_id for turn in self._turns.get(session_id, ())]

    def add(self, turn: Turn, asked_at: float) -> bool:
        """Record an answered question (``asked_at``: when it was asked); False if it belongs
        to a conversation the user has since left, or the budget keeps no turn."""
        if not self._max_turns or asked_at < self._started.get(turn.session_id, 0.0):
            return False
        turns = self._turns.pop(turn.session_id, None) or deque()
        turns.append(turn)
        chars = sum(len(t.question) + len(t.answer) for t in turns)
        while turns and (len(turns) > self._max_turns or chars > self._max_chars):
            chars -= len(turns[0].question) + len(turns[0].answer)
            turns.popleft()
        if turns:
            self._turns[turn.session_id] = turns
            self._history[turn.session_id] = tuple(
                message for t in turns for message in (
                    ChatMessage(role="user", content=t.question),
                    ChatMessage(role="assistant", content=t.answer)))
        else:
            self._history.pop(turn.session_id, None)
        while len(self._turns) > self._max_sessions:
            self._history.pop(self._turns.popitem(last=False)[0], None)
        return bool(turns)

    def start(self, start: ConversationStart) -> None:
        """The user began a new conversation: earlier turns are no longer given."""
        self._turns.pop(start.session_id, None)
        self._history.pop(start.session_id, None)
        self._started[start.session_id] = start.at

    def purge(self, now: float) -> int:
        """Forget conversations whose last turn is older than the time to live; return how
        many went."""
        gone = 0
        while self._turns:
            session_id, turns = next(iter(self._turns.items()))
            if turns[-1].at > now - self._ttl:
                break
            del self._turns[session_id]
            self._history.pop(session_id, None)
            gone += 1
        for session_id in [s for s, at in self._started.items() if at <= now - self._ttl]:
            del self._started[session_id]
        return gone

    def __len__(self) -> int:
        return len(self._turns)
