"""The peer ``make bench-compare`` measures this system against: Celery on Redis.

Redis is both broker and result backend, as a lab would otherwise deploy a task queue, and
the one task does nothing but return its argument, so what is measured is what Celery and
Redis cost per task: the counterpart of this system's offline provider without simulated
work. Celery's settings are its defaults (JSON, prefetch, acknowledgements, one result
backend connection per client thread).

bench/compare.py starts the worker as ``celery --workdir bench -A celery_peer worker
--pool threads --concurrency W`` with Redis's URL in ``BENCH_REDIS_URL``, and points its
own clients at the same Redis with ``point_at``.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

URL_VARIABLE = "BENCH_REDIS_URL"

app = Celery("celery_peer")
# Keeps Celery's default (retry the broker at start) without its deprecation warning.
app.conf.broker_connection_retry_on_startup = True


def point_at(url: str) -> None:
    """Broker and result backend both on the Redis at ``url`` (before the first task)."""
    app.conf.update(broker_url=url, result_backend=url)


point_at(os.environ.get(URL_VARIABLE, "redis://127.0.0.1:6379/0"))


@app.task
def echo(value: Any) -> Any:
    """Returns its argument: no work, so Celery's and Redis's own cost is all there is."""
    return value
