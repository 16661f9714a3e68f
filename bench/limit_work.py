"""What each of the limit anchor's requests does apart from the database
(``bench.limit_app``): the account check, the audit events chained after the locked head
(hashed by ``services.audit.chain.hash_of``, so ``verify_chain`` accepts them), the
concerns shaped as plain dicts, and the create's body checked by hand."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import uuid_utils.compat as uuid_compat
from pydantic_core import to_json
from starlette.responses import Response

from bench.limit_db import (
    ADDENDA_OF,
    INDICATORS_OF,
    INSERT_CATEGORY,
    INSERT_CONCERN,
    INSERT_EVENT,
    INSERT_INDICATOR,
    INSERT_PAGE_PUPIL,
    INSERT_PUPIL,
    INSERT_TRIAGE,
    MOVE_HEAD,
    ONE_CONCERN,
    ONE_OWN_CONCERN,
    OWN_PAGE,
    OWN_PAGE_IDS,
    PAGE,
    PAGE_IDS,
    PUPILS_NAMED_OF,
    PUPILS_OF,
    SCHOOL_PUPILS,
    Caller,
    Dialect,
    Refused,
    marks,
)
from guidance import GUIDANCE_DIR
from services.audit.chain import hash_of

RECORDERS = frozenset({"staff", "dsl", "deputy_dsl"})
DSLS = frozenset({"dsl", "deputy_dsl"})
PRIVILEGED = frozenset({"dsl", "deputy_dsl", "admin"})


def answer(status: int, body: Any) -> Response:
    return Response(to_json(body), status, media_type="application/json")


# --- the guidance the concerns cite --------------------------------------------------------------


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


# --- what a request does, apart from the database ------------------------------------------------

Lookups = list[tuple[str, str, tuple[Any, ...]]]
Writes = list[tuple[str, list[tuple[Any, ...]]]]


@dataclass
class Work:
    """One request's transaction: what to read after the account and the chain head, and
    ``decide``, which turns what was read into the writes, the audit entries (action,
    entity id, pupil id, digest, child pupil ids) and ``render``, which shapes the answer
    from what was read once the transaction has committed (not holding the chain head
    while it shapes a page)."""

    lookups: Lookups
    decide: Callable[
        [Any, dict[str, list[Any]]],
        tuple[Callable[[], Response], list[tuple[Any, ...]], datetime, Writes],
    ]

    def finish(
        self, d: Dialect, caller: Caller, user: Any, head: Any, found: dict[str, list[Any]]
    ) -> tuple[Callable[[], Response], Writes]:
        """With the account's row, the locked chain head and the lookups' rows: how to
        render the answer, and every write, the audit events and the head's move last."""
        check_account(caller, user, d)
        if head is None:
            raise Refused(409, "The school has no audit chain.")
        render, entries, now, writes = self.decide(user, found)
        return render, writes + audit_writes(d, caller, head, now, entries)


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
                    [
                        {"id": d.id_text(p[1]), "display_name": p[2], "year_group": p[3]}
                        for p in theirs
                    ]
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
                    [] if edition is None else (edition.in_danger if row[10] else edition.always)
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
    own: tuple[Any, ...] = (cid, school, d.id_in(caller.id))
    one = (
        ("concern", d.sql(ONE_CONCERN), own[:2])
        if dsl
        else ("concern", d.sql(ONE_OWN_CONCERN), own)
    )
    lookups = [one, *_lookups_of(d, dsl, "?", (cid,))]

    def decide(_user: Any, found: dict[str, list[Any]]) -> Any:
        if not found["concern"]:
            raise Refused(404, "There is no concern with that id.")
        now = datetime.now(UTC)
        entries = [("concern.read", concern_id, d.id_obj(p[1]), None, ()) for p in found["pupils"]]

        def render() -> Response:
            (item,) = shaper.shape(caller, found["concern"], found, now)
            return answer(200, item)

        return render, entries, now, []

    return Work(lookups, decide)


def list_work(d: Dialect, shaper: Shaper, caller: Caller, limit: int) -> Work:
    dsl = caller.role in DSLS
    school = d.id_in(caller.school_id)
    params: tuple[Any, ...] = (school, limit + 1)
    page, ids = PAGE, PAGE_IDS
    if not dsl:
        page, ids, params = OWN_PAGE, OWN_PAGE_IDS, (school, d.id_in(caller.id), limit + 1)
    lookups = [("concern", d.sql(page), params), *_lookups_of(d, dsl, ids, params)]

    def decide(_user: Any, found: dict[str, list[Any]]) -> Any:
        now = datetime.now(UTC)
        rows = found["concern"]
        page_rows = rows[:limit]
        # The page's pupils (its lookups found those of the extra row too: left out).
        on_page = {r[0] for r in page_rows}
        seen = sorted({p[1] for p in found["pupils"] if p[0] in on_page})
        digest = hashlib.sha256(",".join(d.id_text(p) or "" for p in seen).encode()).hexdigest()
        entries = [("concern.list", None, None, digest, seen)]

        def render() -> Response:
            items = shaper.shape(caller, page_rows, found, now)
            next_cursor = None
            if len(rows) > limit:
                last = page_rows[-1]
                at, last_id = d.time_text(last[3]), d.id_text(last[0])
                cursor = {"sort": "-recorded_at", "at": at, "id": last_id}
                next_cursor = base64.urlsafe_b64encode(json.dumps(cursor).encode()).decode()
            return answer(200, {"items": items, "next_cursor": next_cursor})

        return render, entries, now, []

    return Work(lookups, decide)


def create_work(d: Dialect, shaper: Shaper, caller: Caller, new: dict[str, Any]) -> Work:
    if caller.role not in RECORDERS:
        raise Refused(403, "Your role does not record concerns.")
    pupils: list[uuid.UUID] = new["pupils"]
    school = d.id_in(caller.school_id)
    lookups = [
        (
            "school_pupils",
            d.sql(SCHOOL_PUPILS.format(marks(len(pupils)))),
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
        return (lambda: answer(201, item)), entries, now, writes

    return Work(lookups, decide)
