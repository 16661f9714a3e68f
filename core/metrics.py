"""The metrics registry: domain counters and one ``CollectorRegistry`` per app.

``CONCERNS_CREATED`` and ``FAILED_LOGINS`` are process-wide: code that creates a concern or
refuses a sign-in increments them (``metrics.CONCERNS_CREATED.inc()``). Everything else
lives in one ``CollectorRegistry`` per app, so tests that build many apps never collide
and each app reports its own requests and its own database pool. The HTTP side (the
middleware and ``/metrics``) is ``api.metrics``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from sqlalchemy import Engine

# The "_created" timestamp series double every counter and histogram and say nothing a
# dashboard here needs (a counter reset shows in the counter itself).
disable_created_metrics()  # type: ignore[no-untyped-call]

# Not registered anywhere at import: each app's registry registers them (see Metrics).
CONCERNS_CREATED = Counter(
    "concernlog_concerns_created",
    "Concerns recorded",
    registry=None,
)
FAILED_LOGINS = Counter(
    "concernlog_failed_logins",
    "Sign-in attempts refused (wrong credentials or TOTP)",
    registry=None,
)

UNMATCHED_ROUTE = "unmatched"
_POOL_READINGS = ("size", "checkedout", "checkedin", "overflow")


class _PoolCollector(Collector):
    """The database pool, read at scrape time (QueuePool exposes these; others may not)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterable[Metric]:
        pool: Any = self.engine.pool
        if not all(callable(getattr(pool, name, None)) for name in _POOL_READINGS):
            return  # NullPool, StaticPool...: nothing meaningful to report
        # QueuePool counts overflow from -size while the pool fills; only > 0 means
        # connections opened beyond the pool size.
        readings = (
            ("concernlog_db_pool_size", "Connections the pool keeps", pool.size()),
            ("concernlog_db_pool_checked_out", "Connections in use", pool.checkedout()),
            ("concernlog_db_pool_checked_in", "Idle connections in the pool", pool.checkedin()),
            (
                "concernlog_db_pool_overflow",
                "Connections beyond the pool size",
                max(0, pool.overflow()),
            ),
        )
        for name, documentation, value in readings:
            yield GaugeMetricFamily(name, documentation, value=float(value))


class Metrics:
    """One app's metrics and the registry they are exposed from."""

    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "concernlog_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "concernlog_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.registry.register(CONCERNS_CREATED)
        self.registry.register(FAILED_LOGINS)
        self.registry.register(_PoolCollector(engine))

    def observe(self, *, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method, route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The registry's samples in the format the scraper asked for (OpenMetrics when its
        Accept header names it, else the Prometheus text format), and its content type."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type
