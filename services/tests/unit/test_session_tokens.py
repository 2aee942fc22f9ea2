"""Session tokens: only a token the master issued resumes a session; ids alone give nothing."""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

import pytest

from ai_system.master.kept_secrets import (
    SESSION_SECRET_FILE,
    kept_secret,
    operator_token,
    session_secret,
)
from ai_system.master.session_tokens import SessionTokens


def test_a_new_session_has_a_uuid_and_a_token_that_resumes_it() -> None:
    tokens = SessionTokens(b"secret")
    session_id, token = tokens.new_session()
    assert str(uuid.UUID(session_id)) == session_id
    assert tokens.session_of(token) == session_id
    assert token != session_id


@pytest.mark.parametrize("forged", [
    None, 42, "", "no-dot-at-all", "5b1f0c52-0d55-4c1e-9a51-3f7f0f1a2b3c",
    "5b1f0c52-0d55-4c1e-9a51-3f7f0f1a2b3c.", ".mac-without-session", "x" * 500,
])
def test_anything_but_an_issued_token_is_refused(forged: object) -> None:
    assert SessionTokens(b"secret").session_of(forged) is None


def test_a_token_for_one_session_does_not_fit_another() -> None:
    tokens = SessionTokens(b"secret")
    _, token = tokens.new_session()
    second, _ = tokens.new_session()
    _, _, mac = token.rpartition(".")
    assert tokens.session_of(f"{second}.{mac}") is None


def test_a_token_issued_by_an_earlier_release_still_resumes_its_session() -> None:
    # Browsers keep their token across an upgrade of the master: its format must not change.
    issued = "5b1f0c52-0d55-4c1e-9a51-3f7f0f1a2b3c.G6M-sXFlGmTkhUdMzZR1NKGVRKJDUoTEZ7_3Uistpms"
    assert SessionTokens(b"secret").session_of(issued) == "5b1f0c52-0d55-4c1e-9a51-3f7f0f1a2b3c"


def test_another_secret_does_not_recognise_the_token() -> None:
    _, token = SessionTokens(b"one").new_session()
    assert SessionTokens(b"two").session_of(token) is None


def test_the_secret_is_made_once_in_the_state_dir_and_kept_private(tmp_path: Path) -> None:
    first = session_secret("", str(tmp_path))
    assert session_secret("", str(tmp_path)) == first
    mode = stat.S_IMODE(os.stat(tmp_path / SESSION_SECRET_FILE).st_mode)
    assert mode == 0o600


def test_a_new_secret_is_the_one_every_later_read_gives(tmp_path: Path) -> None:
    # Random bytes may begin or end with what a read strips (a space, a newline).
    made = kept_secret("", str(tmp_path), "edge.key", lambda: b" \nsecret\t", "test secret")
    assert made == kept_secret("", str(tmp_path), "edge.key", lambda: b"other", "test secret")


def test_a_configured_secret_wins_and_no_state_dir_means_a_fresh_secret(
        tmp_path: Path) -> None:
    assert session_secret("given", str(tmp_path)) == b"given"
    assert not (tmp_path / SESSION_SECRET_FILE).exists()
    assert session_secret("", "") != session_secret("", "")


def test_the_operator_token_is_kept_as_text_beside_the_session_secret(tmp_path: Path) -> None:
    token = operator_token("", str(tmp_path))
    assert len(token) >= 32 and token == operator_token("", str(tmp_path))
    assert token.isprintable() and operator_token("mine", str(tmp_path)) == "mine"
