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

Drivers: sqlite3 (WAL, ``synchronous=FULL``, foreign keys), one connection whose whole
transactions run on one thread beside the event loop (``BENCH_LIMIT_SQLITE=loop``: on the
loop itself); psycopg 3 (async) on PostgreSQL, a small pool of its own
(``BENCH_LIMIT_PG_POOL``, default 4), the lookups sent in one pipelined round trip and the
writes with the ``COMMIT`` in a second. Served exactly as ``bench.bare_app``.

    CONCERNLOG_DATABASE_URL=... CONCERNLOG_SECRET_KEY=... python -m bench.limit_app --port 8102
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import uuid_utils.compat as uuid_compat
from fastapi import FastAPI, Request, Response
from jose import jwt
from jose.exceptions import JOSEError
from pydantic_core import to_json

from bench.bare_app import serve
from guidance import GUIDANCE_DIR
from services.audit.chain import hash_of

API = "/api/v1"
ISSUER = os.environ.get("CONCERNLOG_JWT_ISSUER", "concernlog")
AUDIENCE = os.environ.get("CONCERNLOG_JWT_AUDIENCE", "concernlog-api")
RECORDERS = frozenset({"staff", "dsl", "deputy_dsl"})
DSLS = frozenset({"dsl", "deputy_dsl"})
PRIVILEGED = frozenset({"dsl", "deputy_dsl", "admin"})
PAGE_MAX = 100
TOKENS_KEPT = 4096


class Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def problem(status: int, detail: str) -> Response:
    body = {"type": "about:blank", "status": status, "detail": detail}
    return Response(to_json(body), status, media_type="application/problem+json")


def answer(status: int, body: Any) -> Response:
    return Response(to_json(body), status, media_type="application/json")


# --- tokens ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Caller:
    id: uuid.UUID
    school_id: uuid.UUID
    role: str
    version: int
    expires: float
    not_before: float


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


# --- the guidance the concerns cite ------------------------------------------------------------


@dataclass(frozen=True)
class Edition:
    version: str
    category: str
    texts: dict[str, str]
    always: list[dict[str, Any]]
    in_danger: list[dict[str, Any]]


def load_guidance() -> dict[str, Edition]:
    editions = {}
    for path in sorted(GUIDANCE_DIR.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        actions = document.get("actions", [])
        editions[document["key"]] = Edition(
            version=str(document["version"]),
            category=document["category"],
            texts={item["id"]: item["text"] for item in document["indicators"]},
            always=[a for a in actions if a.get("when") == "always"],
            in_danger=[a for a in actions if a.get("when") in ("always", "immediate_danger")],
        )
    return editions


# --- the two databases' spellings ----------------------------------------------------------------


class Dialect:
    """How ids and times go in and come out of one database."""

    name = "sqlite"
    lock_head = "SELECT seq, hash FROM audit_chain_head WHERE school_id = ?"

    def sql(self, statement: str) -> str:
        return statement

    def id_in(self, value: uuid.UUID | None) -> Any:
        return None if value is None else value.hex

    def id_obj(self, value: Any) -> uuid.UUID:
        return uuid.UUID(hex=value)

    def id_text(self, value: Any) -> str | None:
        if value is None:
            return None
        v = value
        return f"{v[:8]}-{v[8:12]}-{v[12:16]}-{v[16:20]}-{v[20:]}"

    def time_in(self, value: datetime) -> Any:
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    def time_obj(self, value: Any) -> datetime:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)

    def time_text(self, value: Any) -> str:
        return f"{value[:10]}T{value[11:]}Z"

    def date_obj(self, value: Any) -> date:
        return date.fromisoformat(value)


class PostgresDialect(Dialect):
    name = "postgresql"
    lock_head = "SELECT seq, hash FROM audit_chain_head WHERE school_id = %s FOR UPDATE"

    def sql(self, statement: str) -> str:
        return statement.replace("?", "%s")

    def id_in(self, value: uuid.UUID | None) -> Any:
        return value

    def id_obj(self, value: Any) -> uuid.UUID:
        return value  # type: ignore[no-any-return]

    def id_text(self, value: Any) -> str | None:
        return None if value is None else str(value)

    def time_in(self, value: datetime) -> Any:
        return value

    def time_obj(self, value: Any) -> datetime:
        return value  # type: ignore[no-any-return]

    def time_text(self, value: Any) -> str:
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")  # type: ignore[no-any-return]

    def date_obj(self, value: Any) -> date:
        return value  # type: ignore[no-any-return]


# --- statements ----------------------------------------------------------------------------------

READ_USER = (
    "SELECT active, school_id, token_version, role, mfa_enrolled, display_name "
    "FROM user_account WHERE id = ?"
)
CONCERN_COLUMNS = (
    "c.id, c.recorded_by, c.recorded_by_name, c.recorded_at, c.observed_at, c.guidance_key, "
    "c.guidance_version, c.categories, c.description, c.location, c.immediate_danger, "
    "c.police_contacted, t.status, t.risk_level, t.assigned_to, a.display_name "
    "FROM concern c JOIN concern_triage t ON t.concern_id = c.id "
    "LEFT JOIN user_account a ON a.id = t.assigned_to "
)
ONE_CONCERN = "SELECT " + CONCERN_COLUMNS + "WHERE c.id = ? AND c.school_id = ?"
ONE_OWN_CONCERN = ONE_CONCERN + " AND c.recorded_by = ?"
PAGE = "SELECT " + CONCERN_COLUMNS + "WHERE c.school_id = ? ORDER BY c.recorded_at DESC, c.id DESC LIMIT ?"
OWN_PAGE = (
    "SELECT " + CONCERN_COLUMNS + "WHERE c.school_id = ? AND c.recorded_by = ? "
    "ORDER BY c.recorded_at DESC, c.id DESC LIMIT ?"
)
# The page's ids, for its lookups in the same round trip.
PAGE_IDS = "SELECT id FROM concern WHERE school_id = ? ORDER BY recorded_at DESC, id DESC LIMIT ?"
OWN_PAGE_IDS = (
    "SELECT id FROM concern WHERE school_id = ? AND recorded_by = ? "
    "ORDER BY recorded_at DESC, id DESC LIMIT ?"
)
PUPIL_NAME = "COALESCE(NULLIF(p.preferred_name, ''), p.given_name) || ' ' || p.family_name"
PUPILS_OF = (
    "SELECT cp.concern_id, cp.pupil_id FROM concern_pupil cp WHERE cp.concern_id IN ({}) "
    "ORDER BY cp.concern_id, cp.position"
)
PUPILS_NAMED_OF = (
    "SELECT cp.concern_id, cp.pupil_id, " + PUPIL_NAME + ", p.year_group "
    "FROM concern_pupil cp JOIN pupil p ON p.id = cp.pupil_id WHERE cp.concern_id IN ({}) "
    "ORDER BY cp.concern_id, cp.position"
)
INDICATORS_OF = (
    "SELECT concern_id, indicator_id FROM concern_indicator WHERE concern_id IN ({}) "
    "ORDER BY concern_id, position"
)
ADDENDA_OF = (
    "SELECT concern_id, id, text, reason, recorded_by, recorded_by_name, recorded_at "
    "FROM addendum WHERE concern_id IN ({}) ORDER BY concern_id, recorded_at"
)
SCHOOL_PUPILS = (
    "SELECT p.id, p.date_of_birth, " + PUPIL_NAME + ", p.year_group FROM pupil p "
    "WHERE p.school_id = ? AND p.id IN ({})"
)
INSERT_CONCERN = (
    "INSERT INTO concern (id, school_id, recorded_by, recorded_by_name, recorded_at, "
    "observed_at, guidance_key, guidance_version, categories, description, location, "
    "immediate_danger, police_contacted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_PUPIL = (
    "INSERT INTO concern_pupil (concern_id, pupil_id, school_id, position, observed_at) "
    "VALUES (?, ?, ?, ?, ?)"
)
INSERT_INDICATOR = (
    "INSERT INTO concern_indicator (concern_id, indicator_id, school_id, observed_at, "
    "position) VALUES (?, ?, ?, ?, ?)"
)
INSERT_CATEGORY = (
    "INSERT INTO concern_category (concern_id, category_id, school_id, observed_at) "
    "VALUES (?, ?, ?, ?)"
)
INSERT_TRIAGE = (
    "INSERT INTO concern_triage (concern_id, school_id, status, risk_level, assigned_to, "
    "recorded_at, immediate_danger, version, updated_at) "
    "VALUES (?, ?, 'new', NULL, NULL, ?, ?, 1, ?)"
)
INSERT_EVENT = (
    "INSERT INTO audit_event (id, school_id, seq, occurred_at, actor_type, actor_id, "
    "actor_role, action, entity_type, entity_id, pupil_id, request_id, run_id, outcome, "
    "prev_hash, hash, occurrences, digest) "
    "VALUES (?, ?, ?, ?, 'user', ?, ?, ?, ?, ?, ?, ?, NULL, 'success', ?, ?, NULL, ?)"
)
INSERT_PAGE_PUPIL = (
    "INSERT INTO bench_audit_page_pupil (event_id, school_id, pupil_id) VALUES (?, ?, ?)"
)
MOVE_HEAD = "UPDATE audit_chain_head SET seq = ?, hash = ? WHERE school_id = ?"
PAGE_PUPIL_TABLE = (
    "CREATE TABLE IF NOT EXISTS bench_audit_page_pupil (event_id {0} NOT NULL, "
    "school_id {0} NOT NULL, pupil_id {0} NOT NULL, PRIMARY KEY (event_id, pupil_id))",
    "CREATE INDEX IF NOT EXISTS ix_bench_audit_page_pupil_school_pupil "
    "ON bench_audit_page_pupil (school_id, pupil_id, event_id)",
)


def _marks(count: int) -> str:
    return ", ".join("?" * count)


# --- what a request does, apart from the database ----------------------------------------------

Lookups = list[tuple[str, str, tuple[Any, ...]]]
Writes = list[tuple[str, list[tuple[Any, ...]]]]


@dataclass
class Work:
    """One request's transaction: what to read after the account and the chain head, and
    ``decide``, which turns what was read into the answer, the writes and the audit
    entries (action, entity id, pupil id, digest, child pupil ids)."""

    lookups: Lookups
    decide: Callable[
        [Any, dict[str, list[Any]]], tuple[Response, list[tuple[Any, ...]], datetime, Writes]
    ]


def check_account(caller: Caller, row: Any, d: Dialect) -> None:
    if (
        row is None
        or not row[0]
        or d.id_obj(row[1]) != caller.school_id
        or row[2] != caller.version
        or row[3] != caller.role
    ):
        raise Refused(401, "The bearer token is no longer valid; sign in again.")
    if caller.role in PRIVILEGED and not row[4]:
        raise Refused(403, "Finish enrolling in multi-factor authentication first.")


def audit_writes(
    d: Dialect,
    caller: Caller,
    head: Any,
    now: datetime,
    entries: list[tuple[Any, ...]],
) -> Writes:
    """The events after the locked head, chained and hashed as concernlog's, and the head's
    move. ``entries``: (action, entity id, pupil id, digest, page pupils)."""
    seq, prev = int(head[0]), head[1]
    events, children = [], []
    request_id = str(uuid_compat.uuid7())
    for action, entity_id, pupil_id, digest, page_pupils in entries:
        seq += 1
        event_id = uuid_compat.uuid7()
        values = {
            "school_id": caller.school_id,
            "seq": seq,
            "occurred_at": now,
            "actor_type": "user",
            "actor_id": caller.id,
            "actor_role": caller.role,
            "action": action,
            "entity_type": "concern",
            "entity_id": entity_id,
            "pupil_id": pupil_id,
            "request_id": request_id,
            "run_id": None,
            "outcome": "success",
            "digest": digest,
            "prev_hash": prev,
        }
        digest_of = hash_of(values)
        events.append(
            (
                d.id_in(event_id),
                d.id_in(caller.school_id),
                seq,
                d.time_in(now),
                d.id_in(caller.id),
                caller.role,
                action,
                "concern",
                d.id_in(entity_id),
                d.id_in(pupil_id),
                request_id,
                prev,
                digest_of,
                digest,
            )
        )
        children += [(d.id_in(event_id), d.id_in(caller.school_id), p) for p in page_pupils]
        prev = digest_of
    writes: Writes = [(INSERT_EVENT, events)]
    if children:
        writes.append((INSERT_PAGE_PUPIL, children))
    writes.append((MOVE_HEAD, [(seq, prev, d.id_in(caller.school_id))]))
    return writes


class Shaper:
    """Concern rows and their lookups as the API shows them, as plain dicts."""

    def __init__(self, d: Dialect, guidance: dict[str, Edition]) -> None:
        self.d = d
        self.guidance = guidance

    def shape(
        self, caller: Caller, rows: list[Any], found: dict[str, list[Any]], now: datetime
    ) -> list[dict[str, Any]]:
        d = self.d
        dsl = caller.role in DSLS
        pupils: dict[Any, list[Any]] = {}
        for row in found["pupils"]:
            pupils.setdefault(row[0], []).append(row)
        indicators: dict[Any, list[str]] = {}
        for concern_id, indicator in found["indicators"]:
            indicators.setdefault(concern_id, []).append(indicator)
        addenda: dict[Any, list[dict[str, Any]]] = {}
        for a in found["addenda"]:
            addenda.setdefault(a[0], []).append(
                {
                    "id": d.id_text(a[1]),
                    "text": a[2],
                    "reason": a[3],
                    "recorded_by": {"id": d.id_text(a[4]), "display_name": a[5]},
                    "recorded_at": d.time_text(a[6]),
                }
            )
        shaped = []
        for row in rows:
            cid = row[0]
            edition = self.guidance.get(row[5])
            ids = indicators.get(cid, [])
            texts = edition.texts if edition is not None else {}
            theirs = pupils.get(cid, [])
            item = {
                "id": d.id_text(cid),
                "pupil_ids": [d.id_text(p[1]) for p in theirs],
                "pupils": (
                    [{"id": d.id_text(p[1]), "display_name": p[2], "year_group": p[3]} for p in theirs]
                    if dsl
                    else None
                ),
                "guidance_key": row[5],
                "guidance_version": row[6],
                "indicators": ids,
                "indicator_texts": {i: texts[i] for i in ids if i in texts},
                "categories": row[7].split(",") if row[7] else [],
                "description": row[8],
                "observed_at": d.time_text(row[4]),
                "location": row[9],
                "immediate_danger": bool(row[10]),
                "police_contacted": bool(row[11]),
                "recorded_at": d.time_text(row[3]),
                "recorded_by": {"id": d.id_text(row[1]), "display_name": row[2]},
                "status": row[12],
                "risk_level": row[13] if dsl else None,
                "assigned_to": (
                    {"id": d.id_text(row[14]), "display_name": row[15]}
                    if dsl and row[14] is not None
                    else None
                ),
                "waiting_hours": (
                    round((now - d.time_obj(row[3])).total_seconds() / 3600, 1)
                    if dsl and row[12] == "new"
                    else None
                ),
                "addenda": addenda.get(cid, []),
                "actions": (
                    []
                    if edition is None
                    else (edition.in_danger if row[10] else edition.always)
                ),
            }
            shaped.append(item)
        return shaped


def _lookups_of(d: Dialect, dsl: bool, subquery: str, params: tuple[Any, ...]) -> Lookups:
    pupils = PUPILS_NAMED_OF if dsl else PUPILS_OF
    return [
        ("pupils", d.sql(pupils.format(subquery)), params),
        ("indicators", d.sql(INDICATORS_OF.format(subquery)), params),
        ("addenda", d.sql(ADDENDA_OF.format(subquery)), params),
    ]


def read_work(d: Dialect, shaper: Shaper, caller: Caller, concern_id: uuid.UUID) -> Work:
    dsl = caller.role in DSLS
    cid, school = d.id_in(concern_id), d.id_in(caller.school_id)
    if dsl:
        lookups = [("concern", d.sql(ONE_CONCERN), (cid, school))]
    else:
        lookups = [("concern", d.sql(ONE_OWN_CONCERN), (cid, school, d.id_in(caller.id)))]
    lookups += _lookups_of(d, dsl, "?", (cid,))

    def decide(_user: Any, found: dict[str, list[Any]]) -> Any:
        if not found["concern"]:
            raise Refused(404, "There is no concern with that id.")
        now = datetime.now(UTC)
        (item,) = shaper.shape(caller, found["concern"], found, now)
        entries = [
            ("concern.read", concern_id, d.id_obj(p[1]), None, ()) for p in found["pupils"]
        ]
        return answer(200, item), entries, now, []

    return Work(lookups, decide)


def list_work(d: Dialect, shaper: Shaper, caller: Caller, limit: int) -> Work:
    dsl = caller.role in DSLS
    school = d.id_in(caller.school_id)
    if dsl:
        page, ids, params = PAGE, PAGE_IDS, (school, limit + 1)
    else:
        page, ids, params = OWN_PAGE, OWN_PAGE_IDS, (school, d.id_in(caller.id), limit + 1)
    lookups = [("concern", d.sql(page), params), *_lookups_of(d, dsl, ids, params)]

    def decide(_user: Any, found: dict[str, list[Any]]) -> Any:
        now = datetime.now(UTC)
        rows = found["concern"]
        page_rows = rows[:limit]
        items = shaper.shape(caller, page_rows, found, now)
        next_cursor = None
        if len(rows) > limit:
            last = page_rows[-1]
            cursor = {"sort": "-recorded_at", "at": d.time_text(last[3]), "id": d.id_text(last[0])}
            next_cursor = base64.urlsafe_b64encode(json.dumps(cursor).encode()).decode()
        # The page's pupils (its lookups found those of the extra row too: left out).
        on_page = {r[0] for r in page_rows}
        seen = sorted({p[1] for p in found["pupils"] if p[0] in on_page})
        digest = hashlib.sha256(",".join(d.id_text(p) or "" for p in seen).encode()).hexdigest()
        entries = [("concern.list", None, None, digest, seen)]
        return answer(200, {"items": items, "next_cursor": next_cursor}), entries, now, []

    return Work(lookups, decide)


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


def create_work(d: Dialect, shaper: Shaper, caller: Caller, new: dict[str, Any]) -> Work:
    if caller.role not in RECORDERS:
        raise Refused(403, "Your role does not record concerns.")
    pupils: list[uuid.UUID] = new["pupils"]
    school = d.id_in(caller.school_id)
    lookups = [
        (
            "school_pupils",
            d.sql(SCHOOL_PUPILS.format(_marks(len(pupils)))),
            (school, *(d.id_in(p) for p in pupils)),
        )
    ]

    def decide(user: Any, found: dict[str, list[Any]]) -> Any:
        known = {d.id_obj(row[0]): row for row in found["school_pupils"]}
        missing = [p for p in pupils if p not in known]
        if missing:
            raise Refused(422, f"There is no pupil of your school with id {missing[0]}.")
        observed: datetime = new["observed_at"]
        if any(observed.date() < d.date_obj(row[1]) for row in known.values()):
            raise Refused(422, "Field observed_at is before a pupil's date of birth.")
        now = datetime.now(UTC)
        edition: Edition = new["edition"]
        concern_id = uuid_compat.uuid7()
        cid, at, seen = d.id_in(concern_id), d.time_in(now), d.time_in(observed)
        writes: Writes = [
            (
                INSERT_CONCERN,
                [
                    (
                        cid,
                        school,
                        d.id_in(caller.id),
                        user[5],
                        at,
                        seen,
                        new["edition_key"],
                        edition.version,
                        ",".join(new["categories"]),
                        new["description"],
                        new["location"],
                        new["immediate_danger"],
                        new["police_contacted"],
                    )
                ],
            ),
            (INSERT_PUPIL, [(cid, d.id_in(p), school, i, seen) for i, p in enumerate(pupils)]),
            (INSERT_CATEGORY, [(cid, c, school, seen) for c in new["categories"]]),
            (INSERT_TRIAGE, [(cid, school, at, new["immediate_danger"], at)]),
        ]
        if new["indicators"]:
            writes.append(
                (
                    INSERT_INDICATOR,
                    [(cid, i, school, seen, n) for n, i in enumerate(new["indicators"])],
                )
            )
        dsl = caller.role in DSLS
        item = {
            "id": str(concern_id),
            "pupil_ids": [str(p) for p in pupils],
            "pupils": (
                [
                    {"id": str(p), "display_name": known[p][2], "year_group": known[p][3]}
                    for p in pupils
                ]
                if dsl
                else None
            ),
            "guidance_key": new["edition_key"],
            "guidance_version": edition.version,
            "indicators": new["indicators"],
            "indicator_texts": {i: edition.texts[i] for i in new["indicators"]},
            "categories": new["categories"],
            "description": new["description"],
            "observed_at": observed.isoformat().replace("+00:00", "Z"),
            "location": new["location"],
            "immediate_danger": new["immediate_danger"],
            "police_contacted": new["police_contacted"],
            "recorded_at": now.isoformat().replace("+00:00", "Z"),
            "recorded_by": {"id": str(caller.id), "display_name": user[5]},
            "status": "new",
            "risk_level": None,
            "assigned_to": None,
            "waiting_hours": 0.0 if dsl else None,
            "addenda": [],
            "actions": edition.in_danger if new["immediate_danger"] else edition.always,
        }
        entries = [("concern.create", concern_id, p, None, ()) for p in pupils]
        return answer(201, item), entries, now, writes

    return Work(lookups, decide)


# --- the two drivers ------------------------------------------------------------------------------


def _outcome(
    work: Work, d: Dialect, caller: Caller, user: Any, head: Any, found: dict[str, list[Any]]
) -> tuple[Response, Writes]:
    check_account(caller, user, d)
    if head is None:
        raise Refused(409, "The school has no audit chain.")
    response, entries, now, writes = work.decide(user, found)
    return response, writes + audit_writes(d, caller, head, now, entries)


class SqliteStore:
    """One sqlite3 connection; each request's whole transaction on one thread."""

    def __init__(self, path: str, on_loop: bool) -> None:
        self.d = Dialect()
        self.connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA busy_timeout=5000",
        ):
            self.connection.execute(pragma)
        for statement in PAGE_PUPIL_TABLE:
            self.connection.execute(statement.format("CHAR(32)"))
        self.on_loop = on_loop
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        self.thread.shutdown(wait=True)
        self.connection.close()

    def _transaction(self, caller: Caller, work: Work) -> Response:
        db = self.connection
        db.execute("BEGIN IMMEDIATE")
        try:
            user = db.execute(READ_USER, (caller.id.hex,)).fetchone()
            head = db.execute(self.d.lock_head, (caller.school_id.hex,)).fetchone()
            found = {name: db.execute(sql, params).fetchall() for name, sql, params in work.lookups}
            response, writes = _outcome(work, self.d, caller, user, head, found)
            for statement, rows in writes:
                if len(rows) == 1:
                    db.execute(statement, rows[0])
                else:
                    db.executemany(statement, rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return response

    async def run(self, caller: Caller, work: Work) -> Response:
        if self.on_loop:
            return self._transaction(caller, work)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.thread, self._transaction, caller, work)


class PostgresStore:
    """psycopg 3 async connections in a small pool; two round trips a request."""

    def __init__(self, url: str, size: int) -> None:
        self.d = PostgresDialect()
        self.url = url
        self.size = size
        self.idle: asyncio.LifoQueue[psycopg.AsyncConnection[Any]] = asyncio.LifoQueue()

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(self.url)

    async def open(self) -> None:
        first = await self._connect()
        async with first.transaction():
            for statement in PAGE_PUPIL_TABLE:
                await first.execute(statement.format("UUID"))  # type: ignore[arg-type]
        self.idle.put_nowait(first)
        for _ in range(self.size - 1):
            self.idle.put_nowait(await self._connect())

    async def close(self) -> None:
        while not self.idle.empty():
            await self.idle.get_nowait().close()

    async def run(self, caller: Caller, work: Work) -> Response:
        conn = await self.idle.get()
        try:
            if conn.broken or conn.closed:
                conn = await self._connect()
            try:
                return await self._transaction(conn, caller, work)
            except BaseException:
                if not conn.broken:
                    await conn.rollback()
                raise
        finally:
            self.idle.put_nowait(conn)

    async def _transaction(
        self, conn: psycopg.AsyncConnection[Any], caller: Caller, work: Work
    ) -> Response:
        d = self.d
        async with conn.pipeline() as pipeline:
            user_cursor = await conn.execute(d.sql(READ_USER), (caller.id,))
            head_cursor = await conn.execute(d.lock_head, (caller.school_id,))
            cursors = [(name, await conn.execute(sql, params)) for name, sql, params in work.lookups]  # type: ignore[arg-type]
            await pipeline.sync()
            user = await user_cursor.fetchone()
            head = await head_cursor.fetchone()
            found = {name: await cursor.fetchall() for name, cursor in cursors}
            response, writes = _outcome(work, d, caller, user, head, found)
            cursor = conn.cursor()
            for statement, rows in writes:
                await cursor.executemany(d.sql(statement), rows)  # type: ignore[arg-type]
            await conn.commit()
        return response


# --- the app ---------------------------------------------------------------------------------------


def _store() -> SqliteStore | PostgresStore:
    url = os.environ["CONCERNLOG_DATABASE_URL"]
    if url.startswith("sqlite:///"):
        return SqliteStore(url.removeprefix("sqlite:///"), os.environ.get("BENCH_LIMIT_SQLITE") == "loop")
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
