"""Reading the audit log, and verifying its hash chain."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from models.audit import (
    GENESIS_HASH,
    AuditChainHead,
    AuditEvent,
    AuditEventPublic,
    AuditEventPupil,
    AuditVerification,
)
from services import access, pagination
from services.audit.chain import HASHED_FIELDS, hash_of
from services.audit.probes import summarise_closed_windows
from services.audit.recording import record
from services.context import RequestContext
from services.principal import Principal

# Rows fetched per query when verifying, so that a chain of millions of events is walked
# in constant memory.
VERIFY_BATCH_SIZE = 5000


@dataclass(frozen=True)
class AuditPage:
    """One page of the audit log, newest first; ``next_cursor`` is None on the last page."""

    items: list[AuditEventPublic]
    next_cursor: str | None


def _seq_from_cursor(cursor: str) -> int:
    """The sequence number a cursor continues below; 422 for anything we did not issue."""
    seq = pagination.decode_cursor(cursor, fields=("seq",))["seq"]
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise pagination.invalid_cursor()
    return seq


_EVENTS: sa.Table = AuditEvent.__table__  # type: ignore[attr-defined]
_PUPILS: sa.Table = AuditEventPupil.__table__  # type: ignore[attr-defined]


def _page_query(
    school_id: uuid.UUID,
    filters: list[sa.ColumnElement[bool]],
    *,
    pupil_id: uuid.UUID | None,
    before_seq: int | None,
    limit: int,
) -> sa.Select[Any]:
    """One statement: the page's events (newest first, ``limit`` of them) that pass
    ``filters`` (on the event's own columns), each with the pupils of its page
    (``listed_pupils``: their ids joined by commas, in no order; null for none).

    By pupil, the events about the child (``audit_event.pupil_id``) and the pages the
    child was on (``audit_event_pupil``) are each a backward range of a (school, pupil,
    seq) index cut at ``limit`` rows, then merged: "who read this child's file" costs a
    page of index entries, however long the child's trail (ADR 0126)."""
    events = _EVENTS.c
    before = [] if before_seq is None else [events.seq < before_seq]
    if pupil_id is None:
        page = (
            sa.select(_EVENTS)
            .where(events.school_id == school_id, *before, *filters)
            .order_by(events.seq.desc())
            .limit(limit)
            .subquery("page")
        )
    else:
        own = (
            sa.select(events.seq)
            .where(events.school_id == school_id, events.pupil_id == pupil_id, *before, *filters)
            .order_by(events.seq.desc())
            .limit(limit)
            .subquery("own")
        )
        listed_on = sa.select(_PUPILS.c.seq).where(
            _PUPILS.c.school_id == school_id, _PUPILS.c.pupil_id == pupil_id
        )
        if before_seq is not None:
            listed_on = listed_on.where(_PUPILS.c.seq < before_seq)
        if filters:  # the event's: read it for them
            listed_on = listed_on.join(
                _EVENTS, sa.and_(events.school_id == school_id, events.seq == _PUPILS.c.seq)
            ).where(*filters)
        listed = listed_on.order_by(_PUPILS.c.seq.desc()).limit(limit).subquery("listed")
        seqs = sa.union_all(sa.select(own.c.seq), sa.select(listed.c.seq))
        page = (
            sa.select(_EVENTS)
            .where(events.school_id == school_id, events.seq.in_(seqs))
            .order_by(events.seq.desc())
            .limit(limit)
            .subquery("page")
        )
    # A page's pupils as one text per event (``group_concat`` on SQLite, ``string_agg`` on
    # PostgreSQL), not a row per pupil: 50 events of ~45 pupils each would be 2,000+ rows,
    # each repeating the event's columns.
    pupils = (
        sa.select(sa.func.aggregate_strings(sa.cast(_PUPILS.c.pupil_id, sa.String), ","))
        .where(_PUPILS.c.school_id == page.c.school_id, _PUPILS.c.seq == page.c.seq)
        .scalar_subquery()
    )
    return sa.select(page, pupils.label("listed_pupils")).order_by(page.c.seq.desc())


def list_events(
    session: Session,
    context: RequestContext,
    *,
    actor_id: uuid.UUID | None = None,
    action: str | None = None,
    entity_type: str | None = None,
    entity_id: uuid.UUID | None = None,
    pupil_id: uuid.UUID | None = None,
    occurred_from: datetime | None = None,
    occurred_to: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> AuditPage:
    """The caller's school's audit events, newest first (by sequence number), filtered.

    For audit readers (dsl, deputy_dsl, admin; the router guards the role). Only the
    caller's school is ever visible. ``occurred_from`` is inclusive and ``occurred_to``
    exclusive. ``pupil_id`` finds the events about the child and the pages of lists the
    child was on (``pupil_ids``, ADR 0126), in one query. The read itself is recorded as
    ``audit.read`` (with the pupil filter, if any: who looked at the trail of which child)
    after the page is taken, so it appears on the next read, not this one. An admin's
    page never says which child an event is about (``access.audit_entity_shown``): their
    pupil and child-record ids are null, their ``pupil_ids`` empty.
    The counts of probe windows that have closed are put in the chain first
    (``services.audit.probes``): a reader sees every closed minute's count."""
    access.require_audit_reader(context.principal)
    principal, now, request_id = context.principal, context.now, context.request_id
    access.require_audit_filter(
        principal, pupil_id=pupil_id, entity_type=entity_type, entity_id=entity_id
    )
    summarise_closed_windows(session, school_id=principal.school_id, now=now)
    events = _EVENTS.c
    filters: list[sa.ColumnElement[bool]] = []
    if actor_id is not None:
        filters.append(events.actor_id == actor_id)
    if action is not None:
        filters.append(events.action == action)
    if entity_type is not None:
        filters.append(events.entity_type == entity_type)
    if entity_id is not None:
        filters.append(events.entity_id == entity_id)
    if occurred_from is not None:
        filters.append(events.occurred_at >= occurred_from)
    if occurred_to is not None:
        filters.append(events.occurred_at < occurred_to)
    # One extra row tells whether another page follows without a count query.
    statement = _page_query(
        principal.school_id,
        filters,
        pupil_id=pupil_id,
        before_seq=None if cursor is None else _seq_from_cursor(cursor),
        limit=limit + 1,
    )
    rows = session.connection().execute(statement).all()
    items = [_as_seen_by(principal, row._mapping) for row in rows[:limit]]
    next_cursor = pagination.encode_cursor({"seq": items[-1].seq}) if len(rows) > limit else None
    record(
        session,
        actor=principal.actor,
        action="audit.read",
        now=now,
        entity_type="audit_log",
        pupil_id=pupil_id,
        request_id=request_id,
    )
    return AuditPage(items=items, next_cursor=next_cursor)


def _as_seen_by(principal: Principal, row: Mapping[Any, Any]) -> AuditEventPublic:
    """The event as the caller may see it."""
    listed = row["listed_pupils"]
    # Sorted as text: the same order as the ids' (hex digits, with or without dashes).
    shown = AuditEventPublic.model_validate(
        {**row, "pupil_ids": sorted(listed.split(",")) if listed else []}
    )
    if access.sees_which_child(principal):
        return shown
    entity_id = shown.entity_id if access.audit_entity_shown(principal, shown.entity_type) else None
    return shown.model_copy(update={"pupil_id": None, "pupil_ids": [], "entity_id": entity_id})


# --- verifying -------------------------------------------------------------------------------


def _events_from(
    session: Session, *, school_id: uuid.UUID, through_seq: int, batch_size: int
) -> Iterator[Mapping[Any, Any]]:
    """Every event of the school with seq <= ``through_seq``, in seq order, a batch per
    query (keyset on the (school_id, seq) unique index: no OFFSET, no ORM objects); a
    page's event with its ``pupil_ids``, the batch's rows of ``audit_event_pupil`` read
    by one more query (a range of its primary key)."""
    columns = [col(getattr(AuditEvent, name)) for name in (*HASHED_FIELDS, "hash")]
    pupils = _PUPILS.c
    # The session's own connection (same transaction), with Core rows: SQLModel's exec()
    # has no typing for a 15-column select.
    connection = session.connection()
    after = 0
    while True:
        batch = connection.execute(
            sa.select(*columns)
            .where(col(AuditEvent.school_id) == school_id)
            .where(col(AuditEvent.seq) > after)
            .where(col(AuditEvent.seq) <= through_seq)
            .order_by(col(AuditEvent.seq))
            .limit(batch_size)
        ).all()
        listed: dict[int, list[uuid.UUID]] = {}
        if batch:
            for seq, pupil_id in connection.execute(
                sa.select(pupils.seq, pupils.pupil_id).where(
                    pupils.school_id == school_id,
                    pupils.seq > after,
                    pupils.seq <= batch[-1].seq,
                )
            ):
                listed.setdefault(seq, []).append(pupil_id)
        for row in batch:
            on_page = listed.get(row.seq)
            yield row._mapping if on_page is None else {**row._mapping, "pupil_ids": on_page}
        if len(batch) < batch_size:
            return
        after = batch[-1].seq


def chain_head(session: Session, *, school_id: uuid.UUID) -> tuple[int, str]:
    """The school's chain head (last sequence number and hash), as committed; reads only."""
    # Columns, not the ORM object: a head cached in the session would hide later appends.
    row = session.exec(
        select(AuditChainHead.seq, AuditChainHead.hash).where(AuditChainHead.school_id == school_id)
    ).one()
    return row[0], row[1]


def verify_chain(
    session: Session, *, school_id: uuid.UUID, batch_size: int = VERIFY_BATCH_SIZE
) -> AuditVerification:
    """Walk one school's chain in sequence order and say whether it is intact.

    Every event must carry the next sequence number (1, 2, ... without a gap), link to
    the previous event's hash (the first to the genesis hash) and hash to its stored
    ``hash``; the chain head must name the last event. Stops at the first break and
    reports its sequence number (for a missing row, the number that is missing);
    ``events_checked`` counts the rows read up to there. Reads only; runs in constant
    memory, ``batch_size`` rows per query.

    The head is read first and only events up to it are walked, so appends committed
    while a long walk runs (PostgreSQL) neither break nor lengthen the verification."""
    head_seq, head_hash = chain_head(session, school_id=school_id)
    expected_seq = 1
    prev_hash = GENESIS_HASH
    checked = 0
    for event in _events_from(
        session, school_id=school_id, through_seq=head_seq, batch_size=batch_size
    ):
        checked += 1
        if event["seq"] != expected_seq:
            return AuditVerification(ok=False, events_checked=checked, first_bad_seq=expected_seq)
        if event["prev_hash"] != prev_hash or hash_of(event) != event["hash"]:
            return AuditVerification(ok=False, events_checked=checked, first_bad_seq=expected_seq)
        prev_hash = event["hash"]
        expected_seq += 1
    if expected_seq - 1 != head_seq:
        # Rows at the end of the chain are missing: the head names a later event.
        return AuditVerification(ok=False, events_checked=checked, first_bad_seq=expected_seq)
    if prev_hash != head_hash:
        return AuditVerification(ok=False, events_checked=checked, first_bad_seq=head_seq or 1)
    # A row beyond the head was never appended through record(). Read the newest row
    # before re-reading the head so that a legitimate append in between is not mistaken
    # for one.
    # So was a page's pupil of an event beyond it.
    newest = max(
        (
            seq
            for seq in session.connection()
            .execute(
                sa.union_all(
                    sa.select(sa.func.max(_EVENTS.c.seq)).where(_EVENTS.c.school_id == school_id),
                    sa.select(sa.func.max(_PUPILS.c.seq)).where(_PUPILS.c.school_id == school_id),
                )
            )
            .scalars()
            if seq is not None
        ),
        default=None,
    )
    if newest is not None and newest > head_seq:
        head_seq, _ = chain_head(session, school_id=school_id)
        if newest > head_seq:
            return AuditVerification(ok=False, events_checked=checked, first_bad_seq=head_seq + 1)
    return AuditVerification(ok=True, events_checked=checked, first_bad_seq=None)


def check_chain(session: Session, context: RequestContext) -> AuditVerification:
    """Verify the caller's school's chain (see ``verify_chain``) for an audit reader, and
    record that they did (``audit.verify``, outcome ``failure`` when it is broken)."""
    access.require_audit_reader(context.principal)
    principal, now, request_id = context.principal, context.now, context.request_id
    result = verify_chain(session, school_id=principal.school_id)
    record(
        session,
        actor=principal.actor,
        action="audit.verify",
        now=now,
        entity_type="audit_log",
        request_id=request_id,
        outcome="success" if result.ok else "failure",
    )
    return result
