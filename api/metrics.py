"""Prometheus metrics over HTTP: the route template requests are counted by (the shell,
``api.middleware``, counts and times them), and ``/metrics``.

The registry and the counters are ``core.metrics``.

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
from typing import TYPE_CHECKING

from core.metrics import UNMATCHED_ROUTE, Metrics
from core.settings import Settings

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import Scope


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
