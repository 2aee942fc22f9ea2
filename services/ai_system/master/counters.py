"""The master's running totals of questions and results, for /api/status, the metrics and
the dashboard's charts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Counters:
    submitted: int = 0
    completed: int = 0  # answered, including answers that carry a provider error
    failed: int = 0  # attempts exhausted
    requeued: int = 0
    retried: int = 0  # sent back after a retryable provider error
    duplicates: int = 0
    unknown_results: int = 0
    forged_results: int = 0  # the result token did not match
    untokened_results: int = 0  # accepted without a token (ACCEPT_UNTOKENED_RESULTS)
    rejected: Counter[str] = field(default_factory=Counter)  # refusals by reason
    # Provider failures the workers reported, by (provider, error kind).
    provider_errors: Counter[tuple[str, str]] = field(default_factory=Counter)

    def snapshot(self) -> dict[str, Any]:
        """The totals, the refusals (in all and by reason) and the provider errors."""
        return {
            **{name: value for name, value in vars(self).items()
               if not isinstance(value, Counter)},
            "rejected": sum(self.rejected.values()),
            "rejections": dict(self.rejected),
            "provider_errors": [
                {"provider": provider, "kind": kind, "count": count}
                for (provider, kind), count in self.provider_errors.items()],
        }
