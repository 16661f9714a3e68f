"""A pupil's chronology: every concern, addendum, triage change, case event, action and
decision about the child, in the order things happened.

DSLs and deputy DSLs of the pupil's school only (a pupil of another school is a 404).
Order: ``occurred_at`` (a concern's ``observed_at``, an action's ``occurred_at``, for the
rest the moment it was recorded), then ``recorded_at``, then the entry's id (time-ordered
UUIDs), so the order is total and a backdated concern sits where it happened. Pages are
keyset-based on that triple. A concern about several children is in each one's
chronology, with its addenda and triage changes.

One SQL ``UNION ALL`` over the six sources finds a page's entries (each arm an index
lookup by school and pupil), sent with the check that the pupil is of the school; the
page's rows are then loaded with one query per source, sent together, and one for the
people, whatever the page's size (on PostgreSQL three round trips for the page, see
``db.batch.Batch``; then the audit event's). Records ``chronology.read``
(with the pupil) for a page; the export records its own event.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ConfigDict, TypeAdapter
from sqlalchemy import ColumnElement, Subquery, and_, literal_column, or_, union_all
from sqlmodel import Session, col, select

from core.errors import InvalidInput
from db.batch import Batch
from db.prepared import Prepared
from models.case import CaseAction, CaseDecision, CaseEvent
from models.chronology import ChronologyItem, ChronologyPage, ChronologyType
from models.concern import Addendum, Concern, ConcernPupil, Person
from models.triage import TriageEvent, TriageField
from services import audit, concerns, pupils
from services.access import require_dsl
from services.context import RequestContext
from services.pagination import decode_cursor, encode_cursor, invalid_cursor
from services.principal import Principal

# Links in the chronology point into the API (services do not know the router's prefix;
# api.main mounts everything under this).
API_BASE = "/api/v1"
SUMMARY_MAX = 280

_CASE_EVENT_TYPES = {
    "opened": ChronologyType.case_opened,
    "concern_linked": ChronologyType.case_concern_linked,
    "level_changed": ChronologyType.case_level_changed,
    "closed": ChronologyType.case_closed,
    "reopened": ChronologyType.case_reopened,
}


def _kind(name: str) -> ColumnElement[str]:
    # A constant of our own, never input.
    return literal_column(f"'{name}'").label("kind")


def _arm(kind: str, entry_id: Any, occurred_at: Any, recorded_at: Any) -> Any:
    """One source's entries, as the union's columns."""
    return select(
        _kind(kind),
        col(entry_id).label("entry_id"),
        col(occurred_at).label("occurred_at"),
        col(recorded_at).label("recorded_at"),
    )


def _entries() -> Subquery:
    """Every entry about the pupil ``:pupil_id`` of the school ``:school_id``: built once
    (building this union per request cost more than running it)."""
    school: sa.BindParameter[uuid.UUID] = sa.bindparam("school_id")
    pupil_id: sa.BindParameter[uuid.UUID] = sa.bindparam("pupil_id")
    about_pupil = (
        col(ConcernPupil.school_id) == school,
        col(ConcernPupil.pupil_id) == pupil_id,
    )
    by_pupil = [
        _arm(kind, table.id, occurred_at, table.recorded_at)
        .join(ConcernPupil, col(ConcernPupil.concern_id) == concern_id)
        .where(*about_pupil)
        for kind, table, concern_id, occurred_at in (
            ("concern", Concern, col(Concern.id), col(Concern.observed_at)),
            ("addendum", Addendum, col(Addendum.concern_id), col(Addendum.recorded_at)),
            ("triage", TriageEvent, col(TriageEvent.concern_id), col(TriageEvent.recorded_at)),
        )
    ]
    in_cases = [
        _arm(kind, table.id, occurred_at, table.recorded_at).where(
            table.school_id == school, table.pupil_id == pupil_id
        )
        for kind, table, occurred_at in (
            ("case_event", CaseEvent, col(CaseEvent.recorded_at)),
            ("action", CaseAction, col(CaseAction.occurred_at)),
            ("decision", CaseDecision, col(CaseDecision.recorded_at)),
        )
    ]
    return union_all(*by_pupil, *in_cases).subquery("entry")


_ENTRIES = _entries()


def _entry_pages(*, after: bool, limited: bool) -> Prepared:
    """A page of ``_ENTRIES``, in order: after the position ``:after_occurred_at``,
    ``:after_recorded_at``, ``:after_id`` (a cursor's) when ``after``, and at most
    ``:page_limit`` rows when ``limited``."""
    entries = _ENTRIES
    occurred, recorded, entry = entries.c.occurred_at, entries.c.recorded_at, entries.c.entry_id
    query = sa.select(entries.c.kind, entry, occurred, recorded).order_by(occurred, recorded, entry)
    if after:
        occurred_at: sa.BindParameter[datetime] = sa.bindparam("after_occurred_at")
        recorded_at: sa.BindParameter[datetime] = sa.bindparam("after_recorded_at")
        query = query.where(
            or_(
                occurred > occurred_at,
                and_(
                    occurred == occurred_at,
                    or_(
                        recorded > recorded_at,
                        and_(recorded == recorded_at, entry > sa.bindparam("after_id")),
                    ),
                ),
            )
        )
    if limited:
        query = query.limit(sa.bindparam("page_limit", type_=sa.Integer))
    return Prepared(query)


# Built once, for (after a cursor, limited): a page and the whole (the export).
_ENTRY_PAGES = {
    (after, limited): _entry_pages(after=after, limited=limited)
    for after in (False, True)
    for limited in (False, True)
}


def _after(cursor: str) -> dict[str, Any]:
    """The position a cursor holds, as the parameters of ``_entry_pages(after=True)``."""
    position = decode_cursor(cursor, fields=("occurred_at", "recorded_at", "id"))
    try:
        occurred_at = datetime.fromisoformat(str(position["occurred_at"]))
        recorded_at = datetime.fromisoformat(str(position["recorded_at"]))
        after_id = uuid.UUID(str(position["id"]))
    except ValueError:
        raise invalid_cursor() from None
    if occurred_at.tzinfo is None or recorded_at.tzinfo is None:
        raise invalid_cursor()
    return {
        "after_occurred_at": occurred_at,
        "after_recorded_at": recorded_at,
        "after_id": after_id,
    }


def _by_id(model: Any) -> Prepared:
    table: sa.Table = model.__table__
    return Prepared(sa.select(table).where(table.c.id.in_(sa.bindparam("ids", expanding=True))))


# The rows of a page's entries of each source but concerns (``concerns.add_pupil_outlines``).
_SOURCES = {
    "addendum": _by_id(Addendum),
    "triage": _by_id(TriageEvent),
    "case_event": _by_id(CaseEvent),
    "action": _by_id(CaseAction),
    "decision": _by_id(CaseDecision),
}


# At most this many ids in one IN list: an export's whole chronology may list thousands of
# one kind, and SQLite takes at most 32,766 parameters in a statement.
IDS_PER_QUERY = 1024


def _padded(ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """``ids`` with its last id repeated up to the next power of two: an ``IN`` list of the
    same ids, but one SQL text per power of two, not one per length (a prepared statement
    keeps the text for each length it is given)."""
    size = 1 << (len(ids) - 1).bit_length()
    return ids + [ids[-1]] * (size - len(ids))


def _id_lists(ids: list[uuid.UUID]) -> list[list[uuid.UUID]]:
    """``ids`` as padded ``IN`` lists of at most ``IDS_PER_QUERY``."""
    return [_padded(ids[i : i + IDS_PER_QUERY]) for i in range(0, len(ids), IDS_PER_QUERY)]


def _shorten(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SUMMARY_MAX else flat[: SUMMARY_MAX - 1] + "…"


def _label(value: str | None) -> str:
    return value.replace("_", " ") if value else "none"


# A page's entries are shaped as plain dicts and validated in one call into pydantic-core,
# which builds them faster than ``model_construct`` calls in Python for each entry's three
# models, and every value is still checked against the model
# (docs/adr/0038-shaping-answers-in-one-validation.md).
# Inputs stay out of its errors: stored text must never reach the log.
_ITEMS: TypeAdapter[list[ChronologyItem]] = TypeAdapter(
    list[ChronologyItem], config=ConfigDict(hide_input_in_errors=True)
)


def _concern_href(concern_id: uuid.UUID) -> dict[str, Any]:
    return dict(type="concern", id=concern_id, href=f"{API_BASE}/concerns/{concern_id}")


def _case_href(case_id: uuid.UUID) -> dict[str, Any]:
    return dict(type="case", id=case_id, href=f"{API_BASE}/cases/{case_id}")


def _concern_item(concern: Any, indicators: list[str], by: Person) -> dict[str, Any]:
    signs = f" ({', '.join(indicators)})" if indicators else ""
    return dict(
        id=concern.id,
        type=ChronologyType.concern,
        occurred_at=concern.observed_at,
        recorded_at=concern.recorded_at,
        by=by,
        source=_concern_href(concern.id),
        summary=_shorten(f"Concern{signs}: {concern.description}"),
        details=dict(
            description=concern.description,
            indicators=indicators,
            location=concern.location,
            immediate_danger=concern.immediate_danger,
            police_contacted=concern.police_contacted,
        ),
    )


def _triage_summary(event: Any, people: dict[uuid.UUID, Person]) -> str:
    # ``event``: a row of triage_event (``_SOURCES``).
    if event.field == TriageField.assigned_to:

        def name(value: str | None) -> str:
            person = people.get(uuid.UUID(value)) if value else None
            return person.display_name if person else "nobody"

        change = f"Assigned to {name(event.to_value)} (was {name(event.from_value)})"
    else:
        what = "Status" if event.field == TriageField.status else "Risk level"
        change = f"{what} {_label(event.from_value)} → {_label(event.to_value)}"
    return _shorten(f"{change}. Reason: {event.reason}")


def _case_event_summary(event: Any) -> str:
    # ``event``: a row of case_event (``_SOURCES``).
    if event.kind == "opened":
        return _shorten(f"Case opened at level {_label(event.to_value)}: {event.text}")
    if event.kind == "concern_linked":
        return "Concern linked to the case"
    if event.kind == "level_changed":
        return _shorten(
            f"Case level {_label(event.from_value)} → {_label(event.to_value)}. "
            f"Reason: {event.reason}"
        )
    if event.kind == "closed":
        return _shorten(f"Case closed. Outcome: {event.text} Reason: {event.reason}")
    return _shorten(f"Case reopened. Reason: {event.reason}")


def _load(
    session: Session,
    *,
    principal: Principal,
    pupil_id: uuid.UUID,
    rows: Sequence[Any],
) -> list[ChronologyItem]:
    """Shape a page's entries: one query per source that has entries on the page, sent
    together (one round trip on PostgreSQL), then one for the people."""
    wanted: dict[str, list[uuid.UUID]] = defaultdict(list)
    for row in rows:
        wanted[row.kind].append(row.entry_id)
    batch = Batch()
    concern_rows = [row for row in rows if row.kind == "concern"]
    if concern_rows:
        concerns.add_pupil_outlines(
            batch,
            principal,
            pupil_id=pupil_id,
            # A concern's entry occurs when it was observed.
            observed_from=min(row.occurred_at for row in concern_rows),
            observed_to=max(row.occurred_at for row in concern_rows),
        )
    loads: dict[str, str] = {}  # each query's name in the batch: the source it loads
    for kind, statement in _SOURCES.items():
        for n, ids in enumerate(_id_lists(wanted[kind])):
            loads[f"{kind}.{n}"] = kind
            batch.add(f"{kind}.{n}", statement, {"ids": ids})
    found = batch.run(session)
    shown = concerns.outlines_from(found)
    loaded: dict[str, dict[uuid.UUID, Any]] = defaultdict(dict)
    for name, kind in loads.items():
        loaded[kind].update((row.id, row) for row in found[name])
    addenda = loaded["addendum"]
    triage_events = loaded["triage"]
    case_events = loaded["case_event"]
    actions = loaded["action"]
    decisions = loaded["decision"]
    user_ids: set[uuid.UUID] = {concern.recorded_by for concern, _ in shown.values()}
    for group in (addenda, triage_events, case_events, actions, decisions):
        user_ids.update(row.recorded_by for row in group.values())
    for event in triage_events.values():
        if event.field == TriageField.assigned_to:
            user_ids.update(uuid.UUID(v) for v in (event.from_value, event.to_value) if v)
    people = concerns.people_by_id(session, principal.school_id, user_ids)

    items: list[dict[str, Any]] = []
    for row in rows:
        entry_id = row.entry_id
        if row.kind == "concern":
            concern, indicators = shown[entry_id]
            items.append(_concern_item(concern, indicators, people[concern.recorded_by]))
        elif row.kind == "addendum":
            addendum = addenda[entry_id]
            items.append(
                dict(
                    id=addendum.id,
                    type=ChronologyType.addendum,
                    occurred_at=addendum.recorded_at,
                    recorded_at=addendum.recorded_at,
                    by=people[addendum.recorded_by],
                    source=_concern_href(addendum.concern_id),
                    summary=_shorten(f"Addendum: {addendum.text}"),
                    details=dict(
                        text=addendum.text, reason=addendum.reason, concern_id=addendum.concern_id
                    ),
                )
            )
        elif row.kind == "triage":
            event = triage_events[entry_id]
            items.append(
                dict(
                    id=event.id,
                    type=ChronologyType.triage,
                    occurred_at=event.recorded_at,
                    recorded_at=event.recorded_at,
                    by=people[event.recorded_by],
                    source=_concern_href(event.concern_id),
                    summary=_triage_summary(event, people),
                    details=dict(
                        field=event.field,
                        from_value=event.from_value,
                        to_value=event.to_value,
                        reason=event.reason,
                        concern_id=event.concern_id,
                    ),
                )
            )
        elif row.kind == "case_event":
            case_event = case_events[entry_id]
            items.append(
                dict(
                    id=case_event.id,
                    type=_CASE_EVENT_TYPES[case_event.kind],
                    occurred_at=case_event.recorded_at,
                    recorded_at=case_event.recorded_at,
                    by=people[case_event.recorded_by],
                    source=_case_href(case_event.case_id),
                    summary=_case_event_summary(case_event),
                    details=dict(
                        text=case_event.text,
                        reason=case_event.reason,
                        from_value=case_event.from_value,
                        to_value=case_event.to_value,
                        concern_id=case_event.concern_id,
                        case_id=case_event.case_id,
                    ),
                )
            )
        elif row.kind == "action":
            action = actions[entry_id]
            with_whom = f", with {action.with_whom}" if action.with_whom else ""
            items.append(
                dict(
                    id=action.id,
                    type=ChronologyType.action,
                    occurred_at=action.occurred_at,
                    recorded_at=action.recorded_at,
                    by=people[action.recorded_by],
                    source=_case_href(action.case_id),
                    summary=_shorten(
                        f"Action ({_label(action.type)}{with_whom}): {action.description}"
                    ),
                    details=dict(
                        action_type=action.type,
                        description=action.description,
                        with_whom=action.with_whom,
                        case_id=action.case_id,
                    ),
                )
            )
        else:
            decision = decisions[entry_id]
            items.append(
                dict(
                    id=decision.id,
                    type=ChronologyType.decision,
                    occurred_at=decision.recorded_at,
                    recorded_at=decision.recorded_at,
                    by=people[decision.recorded_by],
                    source=_case_href(decision.case_id),
                    summary=_shorten(f"Decision: {decision.decision} Reason: {decision.reason}"),
                    details=dict(
                        decision=decision.decision, reason=decision.reason, case_id=decision.case_id
                    ),
                )
            )
    return _ITEMS.validate_python(items)


def _page(
    session: Session,
    *,
    principal: Principal,
    pupil_id: uuid.UUID,
    limit: int | None,
    cursor: str | None,
    check_pupil: bool,
) -> ChronologyPage:
    """A page of the chronology (all of it when ``limit`` is None). With ``check_pupil``,
    a 404 unless the pupil is of the caller's school, checked with the page's first query
    (one round trip on PostgreSQL)."""
    parameters: dict[str, Any] = {"school_id": principal.school_id, "pupil_id": pupil_id}
    if cursor is not None:
        try:
            parameters.update(_after(cursor))
        except InvalidInput:
            if check_pupil:  # another school's pupil is a 404, whatever the cursor
                pupils.require_pupil_in_school(session, principal, pupil_id)
            raise
    if limit is not None:
        parameters["page_limit"] = limit + 1
    batch = Batch()
    if check_pupil:
        batch.add("pupil", *pupils.pupil_check(principal, pupil_id))
    batch.add("entries", _ENTRY_PAGES[(cursor is not None, limit is not None)], parameters)
    found = batch.run(session)
    if check_pupil:
        pupils.require_found(found["pupil"])
    rows = found["entries"]
    page = rows if limit is None else rows[:limit]
    next_cursor = None
    if limit is not None and len(rows) > limit:
        last = page[-1]
        next_cursor = encode_cursor(
            {
                "occurred_at": last.occurred_at.isoformat(),
                "recorded_at": last.recorded_at.isoformat(),
                "id": str(last.entry_id),
            }
        )
    items = _load(session, principal=principal, pupil_id=pupil_id, rows=page)
    return ChronologyPage(items=items, next_cursor=next_cursor)


def get_chronology(
    session: Session,
    context: RequestContext,
    *,
    pupil_id: uuid.UUID,
    limit: int,
    cursor: str | None = None,
) -> ChronologyPage:
    """One page of the pupil's chronology, oldest first. DSLs and deputy DSLs of the
    pupil's school; records ``chronology.read`` with the pupil."""
    principal, now, request_id = context.principal, context.now, context.request_id
    require_dsl(principal)
    page = _page(
        session,
        principal=principal,
        pupil_id=pupil_id,
        limit=limit,
        cursor=cursor,
        check_pupil=True,
    )
    audit.record(
        session,
        actor=principal.actor,
        action="chronology.read",
        now=now,
        entity_type="pupil",
        entity_id=pupil_id,
        pupil_id=pupil_id,
        request_id=request_id,
    )
    return page


def whole_chronology(
    session: Session,
    *,
    principal: Principal,
    pupil_id: uuid.UUID,
) -> list[ChronologyItem]:
    """Every entry of the pupil's chronology, oldest first (for the export, which checks
    the pupil and records its own event)."""
    require_dsl(principal)
    return _page(
        session,
        principal=principal,
        pupil_id=pupil_id,
        limit=None,
        cursor=None,
        check_pupil=False,
    ).items
