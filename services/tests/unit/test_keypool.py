"""KeyPool: round-robin, cool-down after 429, every key cooling; keys never shown."""

from __future__ import annotations

import pytest

from ai_system.worker.providers.errors import QuotaExhaustedError
from ai_system.worker.providers.keys import KeyPool


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_round_robin_over_all_keys() -> None:
    pool = KeyPool(["k1", "k2", "k3"], cooldown_seconds=60, clock=FakeClock())
    assert [pool.acquire("gemini") for _ in range(7)] == [
        "k1", "k2", "k3", "k1", "k2", "k3", "k1"]


def test_a_cooling_key_is_skipped_until_its_cool_down_ends() -> None:
    clock = FakeClock()
    pool = KeyPool(["k1", "k2"], cooldown_seconds=60, clock=clock)
    pool.cool_down(pool.acquire("gemini"))
    assert [pool.acquire("gemini") for _ in range(3)] == ["k2", "k2", "k2"]
    clock.now += 59.9
    assert pool.acquire("gemini") == "k2"
    clock.now += 0.1
    assert {pool.acquire("gemini"), pool.acquire("gemini")} == {"k1", "k2"}


def test_all_keys_cooling_raise_a_quota_error_saying_when_to_retry() -> None:
    clock = FakeClock()
    pool = KeyPool(["secret-one", "secret-two"], cooldown_seconds=60, clock=clock)
    pool.cool_down("secret-one")
    clock.now += 20
    pool.cool_down("secret-two")
    with pytest.raises(QuotaExhaustedError) as caught:
        pool.acquire("deepseek")
    message = str(caught.value)
    assert "All 2 deepseek API keys" in message
    assert "try again in 40 s" in message
    assert "secret" not in message
    clock.now += 40
    assert pool.acquire("deepseek") == "secret-one"


def test_retry_after_is_zero_while_a_key_is_usable() -> None:
    clock = FakeClock()
    pool = KeyPool(["k1", "k2"], cooldown_seconds=30, clock=clock)
    pool.cool_down("k1")
    assert pool.retry_after() == 0.0


def test_an_empty_pool_has_nothing_to_give() -> None:
    pool = KeyPool([], cooldown_seconds=30, clock=FakeClock())
    assert len(pool) == 0
    with pytest.raises(QuotaExhaustedError):
        pool.acquire("openai")


def test_repr_hides_the_keys() -> None:
    pool = KeyPool(["sk-very-secret"], cooldown_seconds=30)
    assert repr(pool) == "KeyPool(1 keys)"
    assert "sk-very-secret" not in repr(pool) + str(pool)
