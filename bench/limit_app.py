"""The "limit" anchor of issue 23: concernlog's three hot endpoints written by hand on the
same stack, doing the same durable work and no more.

- ``POST /api/v1/concerns``: the concern, its ``concern_pupil``, ``concern_indicator``
  and ``concern_category`` rows, its triage row (status ``new``) and one
  ``concern.create`` audit event per pupil, in one transaction, committed with fsync.
- ``GET /api/v1/concerns/{id}``: the concern as its recorder (or a DSL) may see it, with
  its pupils, indicators and addenda; one ``concern.read`` event per pupil.
- ``GET /api/v1/concerns?limit=50``: a page, newest recorded first (the DSLs' whole
  school, staff their own), with the same lookups and the pupils' names for DSLs; ONE
  ``concern.list`` event for the page (issue 23's accepted answer (b)): the pupils on the
  page go in a child table, and the event's ``digest`` is the SHA-256 of their sorted
  ids, so the chain's hash covers them (concernlog has no such child table yet; this app
  makes its own, ``bench_audit_page_pupil``, with the index "who read this child's file"
  needs).

Every request: the bearer token checked with python-jose (one key, ``algorithms=
["HS256"]``, issuer, audience and the required claims; a verified token remembered by its
text, its expiry checked each time, as concernlog does), then, as the transaction's first
statement, the account re-read (exists, active, same school, role and token version). The
audit events are appended to concernlog's own ``audit_event`` table after its
``audit_chain_head`` row, locked (PostgreSQL: ``SELECT ... FOR UPDATE``; SQLite: the
transaction is ``BEGIN IMMEDIATE``), hashed by ``services.audit.chain.hash_of``, so
``verify_chain`` accepts them. Not done (concernlog does them; none is durable work of the
three endpoints): idempotency keys, alerts' outbox rows, the pattern rules' queue, SQLite's
search terms, the entered-in-error marks, the security-probe counts of 404s, request ids
from a header, any middleware.

Three modules: this one (the tokens, the routes), ``bench.limit_work`` (what each request
does apart from the database) and ``bench.limit_db`` (the statements and the drivers).
Drivers: sqlite3 (WAL, ``synchronous=FULL``, foreign keys), one connection whose whole
transactions run on one thread beside the event loop (``BENCH_LIMIT_SQLITE=loop``: on the
loop itself); psycopg 3 (async) on PostgreSQL, a small pool of its own
(``BENCH_LIMIT_PG_POOL``, default 4), the lookups sent in one pipelined round trip and the
writes with the ``COMMIT`` in a second. Served exactly as ``bench.bare_app``.

    CONCERNLOG_DATABASE_URL=... CONCERNLOG_SECRET_KEY=... python -m bench.limit_app --port 8102
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request, Response
from jose import jwt
from jose.exceptions import JOSEError
from pydantic_core import to_json

from bench.bare_app import serve
from bench.limit_db import Caller, PostgresStore, Refused, SqliteStore
from bench.limit_work import (
    RECORDERS,
    Edition,
    Shaper,
    create_work,
    list_work,
    load_guidance,
    read_work,
)

API = "/api/v1"
ISSUER = os.environ.get("CONCERNLOG_JWT_ISSUER", "concernlog")
AUDIENCE = os.environ.get("CONCERNLOG_JWT_AUDIENCE", "concernlog-api")
PAGE_MAX = 100
TOKENS_KEPT = 4096


def _parse_moment(value: Any) -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None or "T" not in value.upper():
        raise ValueError
    return moment


CREATE_FIELDS = frozenset(
    {
        "pupil_ids",
        "guidance_key",
        "indicators",
        "categories",
        "description",
        "observed_at",
        "location",
        "immediate_danger",
        "police_contacted",
    }
)


def parse_create(body: bytes, guidance: dict[str, Edition]) -> dict[str, Any]:
    """The request body checked by hand: 422 naming the field on anything wrong."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise Refused(422, "The body is not JSON.") from exc
    if not isinstance(data, dict):
        raise Refused(422, "The body must be a JSON object.")
    unknown = set(data) - CREATE_FIELDS
    if unknown:
        raise Refused(422, f"Unknown field: {sorted(unknown)[0]}.")

    def bad(name: str) -> Refused:
        return Refused(422, f"Field {name} is missing or not valid.")

    pupil_ids = data.get("pupil_ids")
    if not isinstance(pupil_ids, list) or not 1 <= len(pupil_ids) <= 20:
        raise bad("pupil_ids")
    try:
        pupils = [uuid.UUID(p) for p in pupil_ids]
    except (TypeError, ValueError, AttributeError) as exc:
        raise bad("pupil_ids") from exc
    if len(set(pupils)) != len(pupils):
        raise bad("pupil_ids")
    edition = guidance.get(data.get("guidance_key"))  # type: ignore[arg-type]
    if edition is None:
        raise bad("guidance_key")
    indicators = data.get("indicators", [])
    if (
        not isinstance(indicators, list)
        or len(indicators) > 50
        or len(set(map(str, indicators))) != len(indicators)
        or any(not isinstance(i, str) or i not in edition.texts for i in indicators)
    ):
        raise bad("indicators")
    categories = data.get("categories") or [edition.category]
    if not isinstance(categories, list) or any(
        not isinstance(c, str) or not 0 < len(c) <= 64 for c in categories
    ):
        raise bad("categories")
    description = data.get("description")
    if not isinstance(description, str) or not description.strip() or len(description) > 20_000:
        raise bad("description")
    location = data.get("location")
    if location is not None and (not isinstance(location, str) or len(location) > 500):
        raise bad("location")
    try:
        observed_at = _parse_moment(data.get("observed_at"))
    except ValueError as exc:
        raise bad("observed_at") from exc
    now = datetime.now(UTC)
    if observed_at > now + timedelta(minutes=5) or observed_at.year < 1900:
        raise bad("observed_at")
    flags = []
    for name in ("immediate_danger", "police_contacted"):
        if not isinstance(data.get(name), bool):
            raise bad(name)
        flags.append(data[name])
    return {
        "pupils": pupils,
        "edition_key": data["guidance_key"],
        "edition": edition,
        "indicators": indicators,
        "categories": categories,
        "description": description,
        "location": location,
        "observed_at": observed_at.astimezone(UTC),
        "immediate_danger": flags[0],
        "police_contacted": flags[1],
    }


def problem(status: int, detail: str) -> Response:
    body = {"type": "about:blank", "status": status, "detail": detail}
    return Response(to_json(body), status, media_type="application/problem+json")


class Tokens:
    """Access tokens as concernlog mints them, verified once per token text."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.verified: dict[str, Caller] = {}
        self.lock = threading.Lock()

    def caller(self, authorization: str | None) -> Caller:
        if not authorization or not authorization.startswith("Bearer "):
            raise Refused(401, "Bearer token required.")
        token = authorization[7:]
        caller = self.verified.get(token)
        if caller is None:
            caller = self._verify(token)
            with self.lock:
                if len(self.verified) >= TOKENS_KEPT:
                    del self.verified[next(iter(self.verified))]
                self.verified[token] = caller
        now = datetime.now(UTC).timestamp()
        if caller.expires <= now or caller.not_before > now:
            raise Refused(401, "The bearer token has expired.")
        return caller

    def _verify(self, token: str) -> Caller:
        if len(token) > 8192:
            raise Refused(401, "The bearer token is not valid.")
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={
                    "require_exp": True,
                    "require_iat": True,
                    "require_aud": True,
                    "require_iss": True,
                    "require_sub": True,
                    "require_jti": True,
                    "verify_exp": False,  # checked on every request, against now
                    "verify_nbf": False,
                },
            )
            if claims.get("typ") != "access" or claims.get("stp", "user") != "user":
                raise Refused(401, "The bearer token is not valid.")
            if claims.get("scope") == "mfa-enrollment":
                raise Refused(403, "Finish enrolling in multi-factor authentication first.")
            return Caller(
                id=uuid.UUID(str(claims["sub"])),
                school_id=uuid.UUID(str(claims["school_id"])),
                role=str(claims["role"]),
                version=int(claims["ver"]),
                expires=float(claims["exp"]),
                not_before=float(claims.get("nbf", claims["iat"])),
            )
        except (JOSEError, KeyError, TypeError, ValueError) as exc:
            raise Refused(401, "The bearer token is not valid.") from exc


# --- the app -------------------------------------------------------------------------------------


def _store() -> SqliteStore | PostgresStore:
    url = os.environ["CONCERNLOG_DATABASE_URL"]
    if url.startswith("sqlite:///"):
        on_loop = os.environ.get("BENCH_LIMIT_SQLITE") == "loop"
        return SqliteStore(url.removeprefix("sqlite:///"), on_loop)
    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    return PostgresStore(plain, int(os.environ.get("BENCH_LIMIT_PG_POOL", "4")))


def app_factory() -> FastAPI:
    tokens = Tokens(os.environ["CONCERNLOG_SECRET_KEY"])
    guidance = load_guidance()
    store = _store()
    d = store.d
    shaper = Shaper(d, guidance)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await store.open()
        try:
            yield
        finally:
            await store.close()

    app = FastAPI(
        title="limit anchor", openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan
    )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(API + "/concerns/{concern_id}")
    async def read(concern_id: str, request: Request) -> Response:
        try:
            caller = tokens.caller(request.headers.get("authorization"))
            if caller.role not in RECORDERS:
                raise Refused(403, "Your role does not read concerns.")
            try:
                wanted = uuid.UUID(concern_id)
            except ValueError as exc:
                raise Refused(404, "There is no concern with that id.") from exc
            return await store.run(caller, read_work(d, shaper, caller, wanted))
        except Refused as refused:
            return problem(refused.status, refused.detail)

    @app.get(API + "/concerns")
    async def listing(request: Request) -> Response:
        try:
            caller = tokens.caller(request.headers.get("authorization"))
            if caller.role not in RECORDERS:
                raise Refused(403, "Your role does not read concerns.")
            try:
                limit = int(request.query_params.get("limit", "50"))
            except ValueError as exc:
                raise Refused(422, "limit must be a whole number.") from exc
            if not 1 <= limit <= PAGE_MAX:
                raise Refused(422, f"limit must be between 1 and {PAGE_MAX}.")
            return await store.run(caller, list_work(d, shaper, caller, limit))
        except Refused as refused:
            return problem(refused.status, refused.detail)

    @app.post(API + "/concerns")
    async def create(request: Request) -> Response:
        try:
            caller = tokens.caller(request.headers.get("authorization"))
            if caller.role not in RECORDERS:
                raise Refused(403, "Your role does not record concerns.")
            if len(request.headers.get("content-length") or "") > 7:
                raise Refused(413, "The body is too large.")
            new = parse_create(await request.body(), guidance)
            return await store.run(caller, create_work(d, shaper, caller, new))
        except Refused as refused:
            return problem(refused.status, refused.detail)

    return app


def main(argv: list[str] | None = None) -> None:
    serve("bench.limit_app:app_factory", argv, "Serve the limit anchor (issue 23)")


if __name__ == "__main__":
    main()
