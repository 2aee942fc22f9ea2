"""The dashboard's operator sessions: opened by the token, ended by signing out or by time."""

from __future__ import annotations

from ai_system.master.dashboard import OPERATOR_SESSION_SECONDS, OPERATOR_SESSIONS, OperatorAuth


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_only_the_operator_token_is_accepted() -> None:
    auth = OperatorAuth("the-token")
    assert auth.check_token("the-token")
    assert not auth.check_token("the-token ") and not auth.check_token("")


def test_a_session_lasts_until_signed_out() -> None:
    auth = OperatorAuth("t")
    first, second = auth.open_session(), auth.open_session()
    assert first != second and auth.check_cookie(first) and auth.check_cookie(second)
    auth.close_session(first)
    assert not auth.check_cookie(first) and auth.check_cookie(second)
    auth.close_session("never-issued")  # signing out twice, or with a stale cookie: nothing


def test_a_session_ends_after_its_lifetime() -> None:
    clock = Clock()
    auth = OperatorAuth("t", clock)
    session = auth.open_session()
    clock.now = OPERATOR_SESSION_SECONDS - 1
    assert auth.check_cookie(session)
    clock.now = OPERATOR_SESSION_SECONDS + 1
    assert not auth.check_cookie(session)


def test_no_cookie_a_forged_one_or_another_masters_opens_a_session() -> None:
    auth = OperatorAuth("t")
    assert not auth.check_cookie(None) and not auth.check_cookie("")
    assert not auth.check_cookie("forged-cookie-value")
    # A restarted master keeps none of the sessions before it.
    assert not auth.check_cookie(OperatorAuth("t").open_session())


def test_the_sessions_kept_are_bounded_and_the_oldest_end_first() -> None:
    auth = OperatorAuth("t")
    sessions = [auth.open_session() for _ in range(OPERATOR_SESSIONS + 1)]
    assert not auth.check_cookie(sessions[0])
    assert all(auth.check_cookie(s) for s in sessions[1:])
