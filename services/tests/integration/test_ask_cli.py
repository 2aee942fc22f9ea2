"""``ai-system-ask``, the operator's command-line chat: what `make verify` asks the lab with."""

from __future__ import annotations

import json
import subprocess

import pytest
from support.ports import free_port
from support.system import wait_idle

from ai_system.local.processes import find_program
from ai_system.local.system import LocalSystem

pytestmark = pytest.mark.integration


def ask(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([find_program("ai-system-ask"), *argv], capture_output=True,
                          text=True, timeout=120, check=False)


def test_count_asks_as_that_many_users_at_once(shared_system: LocalSystem) -> None:
    wait_idle(shared_system)
    done = ask(shared_system.url, "Is the lab answering?", "--count", "2", "--timeout", "60")
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert [a["event"] for a in answers] == ["ai-response", "ai-response"]
    assert all("Is the lab answering?" in a["response"] for a in answers)
    # Asked at once, each question finds the other worker still busy: both workers answer.
    assert {a["worker_id"] for a in answers} == shared_system.workers.keys()


def test_a_chat_that_is_not_there_is_a_one_line_error() -> None:
    done = ask(f"http://127.0.0.1:{free_port()}", "Anyone?", "--timeout", "5")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("ai-system-ask: ") and len(done.stderr.splitlines()) == 1


def test_an_oversize_question_fails_with_the_chats_reason(shared_system: LocalSystem) -> None:
    done = ask(shared_system.url, "x" * 100_000, "--timeout", "30")
    assert done.returncode == 1
    assert "ai-system-ask: the chat refused the question: " in done.stderr


def test_a_question_left_behind_is_collected_later_in_its_session(
        shared_system: LocalSystem) -> None:
    wait_idle(shared_system)
    left = ask(shared_system.url, "Answer me when I am back", "--leave")
    assert left.returncode == 0, left.stderr
    ticket = json.loads(left.stdout)
    assert set(ticket) == {"session_token", "task_id"}
    done = ask(shared_system.url, "--resume", ticket["session_token"],
               "--task-id", ticket["task_id"], "--timeout", "60")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["task_id"] == ticket["task_id"]
    assert "Answer me when I am back" in answer["response"]


def test_resume_needs_a_task_id_and_no_question() -> None:
    done = ask("http://127.0.0.1:9", "--resume", "some-token")
    assert done.returncode == 2 and "--resume takes --task-id and no question" in done.stderr
