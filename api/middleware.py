"""The HTTP shell as one pure-ASGI middleware: request ids, body size limit, retries after
a transient database conflict, security headers, metrics, access log.

Written against ASGI directly (not ``BaseHTTPMiddleware``) so a request costs one extra
function call, not an extra task and a copied body.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
import uuid
from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import (
    ATTEMPT_SCOPE_KEY,
    INTERNAL_ERROR_DETAIL,
    MAX_ATTEMPTS,
    PROBLEM_JSON,
    RetryRequest,
    problem_response,
)
from api.logs import log_unhandled
from api.metrics import route_template
from core.context import actor_id_var, request_id_var

if TYPE_CHECKING:
    from core.metrics import Metrics

access_log = logging.getLogger("concernlog.access")
error_log = logging.getLogger("concernlog.errors")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    # JSON answers need nothing from a browser; a page that sets its own policy (/docs) keeps it.
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
]
# Production only: sent from a developer's http://localhost it would pin localhost to https.
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


# The routes that take a file (ADR 0105): their bodies may be as large as an attachment
# and its multipart framing, and are streamed to a spool file, never kept for a retry.
_UPLOAD_PATH = re.compile(r"^/api/v1/(concerns|cases)/[^/]+/attachments/?$")
UPLOAD_FRAMING_BYTES = 64 * 1024


def is_upload(scope: Scope) -> bool:
    return scope.get("method") == "POST" and bool(_UPLOAD_PATH.match(scope.get("path", "")))


class _BodyTooLarge(HTTPException):
    """Raised from ``receive`` mid-stream; FastAPI re-raises HTTP exceptions from body
    parsing, so the app answers it as an ordinary 413 problem."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


class ShellMiddleware:
    """The HTTP shell, in one pure-ASGI layer around the app: gives every request an id,
    limits its body, runs it again after a transient database conflict, hardens its
    response headers, catches what escaped every handler, counts and times it for
    ``/metrics`` and writes one access-log line.

    One layer, not five: each layer of ASGI middleware is a call, a closure and a wrapped
    ``send`` per request, which a cached guidance ``304`` would mostly be made of
    (docs/adr/0112).

    The retries are safe because the session commits before any response byte is sent: a
    request that raises ``RetryRequest`` has saved nothing and said nothing. Its body (at
    most ``max_body_bytes``) is kept and replayed to the next attempt; at most
    ``MAX_ATTEMPTS`` runs, after which the error handler answers 503 with
    ``Retry-After``. An upload is not kept in memory to be sent again: one attempt, and a
    lost race is answered 503 (the client sends it again, with its Idempotency-Key)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_body_bytes: int,
        hsts: bool = False,
        max_upload_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes or max_body_bytes
        self.security_headers = [*_SECURITY_HEADERS, _HSTS] if hsts else _SECURITY_HEADERS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        headers = dict(scope.get("headers") or [])
        offered = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = offered if _REQUEST_ID.match(offered) else str(uuid.uuid4())
        id_token = request_id_var.set(request_id)
        actor_token = actor_id_var.set(None)
        status: int | None = None

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                response_headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in response_headers}
                response_headers.append((b"x-request-id", request_id.encode("latin-1")))
                response_headers.extend(h for h in self.security_headers if h[0] not in names)
                if b"cache-control" not in names:
                    # Anything not explicitly cacheable (the public guidance) may carry a
                    # child's details: never let a proxy or the device keep it.
                    response_headers.append((b"cache-control", b"no-store"))
                message["headers"] = response_headers
            await send(message)

        upload = is_upload(scope)
        limit = self.max_upload_bytes if upload else self.max_body_bytes
        try:
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                await self._too_large(send_wrapper, limit)
                return
            try:
                await self._attempts(scope, self._limited(receive, limit), send_wrapper, upload)
            except _BodyTooLarge:
                if status is None:
                    await self._too_large(send_wrapper, limit)
            except Exception as exc:
                log_unhandled(error_log, exc)
                if status is None:
                    response = problem_response(500, INTERNAL_ERROR_DETAIL, slug="internal-error")
                    await response(scope, receive, send_wrapper)
        finally:
            seconds = time.perf_counter() - started
            method = scope.get("method", "")
            route = route_template(scope)
            # Counted once, with the status the client got (500: it got nothing).
            self.metrics.observe(method=method, route=route, status=status or 500, seconds=seconds)
            access_log.info(
                "request",
                extra={
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                    "user_id": actor_id_var.get(),
                },
            )
            actor_id_var.reset(actor_token)
            request_id_var.reset(id_token)

    async def _attempts(self, scope: Scope, receive: Receive, send: Send, upload: bool) -> None:
        """The app, run again (at most ``MAX_ATTEMPTS`` times) while its transaction loses
        a race on the database (PostgreSQL serialization failure or deadlock, SQLite still
        locked after its busy timeout)."""
        if upload:
            scope[ATTEMPT_SCOPE_KEY] = MAX_ATTEMPTS
            await self.app(scope, receive, send)
            return
        received: list[Message] = []

        async def recording_receive() -> Message:
            message = await receive()
            received.append(message)
            return message

        for attempt in range(1, MAX_ATTEMPTS + 1):
            # Set on the shared scope (not a copy) so what the router put there (the
            # matched route, for the access log) is seen here afterwards.
            scope[ATTEMPT_SCOPE_KEY] = attempt
            if attempt == 1:
                this_receive: Receive = recording_receive
            else:
                this_receive = _replay(list(received), recording_receive)
            try:
                await self.app(scope, this_receive, send)
                return
            except RetryRequest:
                error_log.info(
                    "retrying after a transient database conflict", extra={"attempt": attempt}
                )
                await asyncio.sleep(random.uniform(0.005, 0.02) * attempt)  # noqa: S311

    def _limited(self, receive: Receive, limit: int) -> Receive:
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(limit)
            return message

        return limited_receive

    async def _too_large(self, send: Send, limit: int) -> None:
        response = problem_response(
            413,
            f"The request body is larger than {limit} bytes.",
            slug="payload-too-large",
            headers={"Connection": "close"},
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(response.body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": response.body})


def _replay(messages: list[Message], then: Receive) -> Receive:
    async def replaying_receive() -> Message:
        if messages:
            return messages.pop(0)
        return await then()

    return replaying_receive
