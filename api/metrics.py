"""Prometheus metrics: request counts and latency, the database pool, and domain counters.

``CONCERNS_CREATED`` and ``FAILED_LOGINS`` are process-wide: code that creates a concern or
refuses a sign-in increments them (``metrics.CONCERNS_CREATED.inc()``). Everything else
lives in one ``CollectorRegistry`` per app, so tests that build many apps never collide
and each app reports its own requests and its own database pool.

Labels are route *templates* (``/api/v1/concerns/{concern_id}``), never raw paths: an id in
a label would leak which records are looked at, and would grow the series without bound.

``/metrics`` sits beside the API, not in it (no ``/api/v1`` prefix, not in the OpenAPI
document). With ``CONCERNLOG_METRICS_TOKEN`` set it wants ``Authorization: Bearer
<token>``; in production without a token it answers only loopback callers, and 404 to
everyone else, as if it were not there.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from api.config import Settings

if TYPE_CHECKING:
    # Type-only, so that any layer (a service counting what it did) can import the counters
    # without pulling in the web framework.
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from api.db import Database

# The "_created" timestamp series double every counter and histogram and say nothing a
# dashboard here needs (a counter reset shows in the counter itself).
disable_created_metrics()

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

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterable[Metric]:
        pool: Any = self.database.engine.pool
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

    def __init__(self, database: Database) -> None:
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
        self.registry.register(_PoolCollector(database))

    def observe(self, *, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method, route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The registry's samples in the format the scraper asked for (OpenMetrics when its
        Accept header names it, else the Prometheus text format), and its content type."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


def route_template(scope: Scope) -> str:
    """The matched route's full path template (``/api/v1/guidance/{key}``), or
    ``unmatched``: never the raw path.

    FastAPI resolves included routers lazily, so ``scope["route"]`` holds the route as
    its own router declared it (``/guidance/{key}``, without the ``/api/v1`` inclusion
    prefix); the route as included, with its full template, is kept beside it in the
    ``fastapi`` scope entry. Older FastAPI versions flatten routers eagerly and only have
    ``scope["route"]``, which then carries the full template."""
    fastapi_scope = scope.get("fastapi")
    included = (
        fastapi_scope.get("effective_route_context") if isinstance(fastapi_scope, dict) else None
    )
    for route in (included, scope.get("route")):
        template = getattr(route, "path_format", None) or getattr(route, "path", None)
        if isinstance(template, str) and template:
            return template
    return UNMATCHED_ROUTE


class MetricsMiddleware:
    """Pure ASGI: counts and times every HTTP request by route template and status."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before it answers

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.observe(
                method=str(scope.get("method", "")),
                route=route_template(scope),
                status=status,
                seconds=time.perf_counter() - started,
            )


def is_loopback(host: str | None) -> bool:
    """Whether a client address is this machine (127.0.0.0/8, ::1, ::ffff:127.x.y.z)."""
    if host is None:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # not an address at all ("testclient", a unix socket path)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def metrics_refusal(
    settings: Settings, *, authorization: str | None, client_host: str | None
) -> int | None:
    """Why a scrape is refused (401 or 404), or None when it may read the metrics.

    A configured token is always required, compared in constant time. Without one,
    production answers loopback callers only (404 to others, as for any unknown path);
    development and test answer everyone."""
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    if token:
        scheme, _, offered = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            offered.strip().encode("utf-8"), token.encode("utf-8")
        ):
            return 401
        return None
    if settings.env == "production" and not is_loopback(client_host):
        return 404
    return None


async def metrics_endpoint(request: Request) -> Response:
    """``GET /metrics``: the app's registry in the Prometheus text format."""
    from starlette.responses import Response

    from api.errors import problem_response

    settings: Settings = request.app.state.settings
    refusal = metrics_refusal(
        settings,
        authorization=request.headers.get("authorization"),
        client_host=request.client.host if request.client else None,
    )
    if refusal == 401:
        return problem_response(
            401,
            "A valid metrics bearer token is required.",
            slug="unauthenticated",
            title="Authentication required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if refusal == 404:
        return problem_response(404, "There is nothing at this address.")
    metrics: Metrics = request.app.state.metrics
    body, content_type = metrics.exposition(request.headers.get("accept"))
    return Response(body, headers={"Content-Type": content_type})
