"""Body maps: where on a child's body marks were seen (outlines front, back, left, right
and head; positions as fractions of the outline's box), on a concern. Immutable once
recorded: a later observation is another body map (ADR 0106)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter
from sqlmodel import Session, col, select

from core.errors import NotFound
from models.attachment import BodyMap, BodyMapCreate, BodyMapPublic, BodyMark
from models.concern import ConcernPupil, Person
from services import audit
from services.attachments.records import record_of
from services.concerns import people_by_id
from services.context import RequestContext

_MARKS = TypeAdapter(list[BodyMark])


def shaped(row: BodyMap) -> BodyMapPublic:
    return BodyMapPublic(
        id=row.id,
        concern_id=row.concern_id,
        marks=_MARKS.validate_json(row.marks),
        recorded_at=row.recorded_at,
        recorded_by=Person(id=row.recorded_by, display_name=row.recorded_by_name or ""),
    )


def create_body_map(
    session: Session, context: RequestContext, *, concern_id: uuid.UUID, body_map: BodyMapCreate
) -> BodyMapPublic:
    """Record a body map on a concern: its recorder or the DSL desk of its school (404 for
    anyone else). Records ``body_map.create`` once per pupil of the concern."""
    principal = context.principal
    record = record_of(session, context, concern_id=concern_id)
    me = people_by_id(session, principal.school_id, [principal.id]).get(principal.id)
    if me is None:
        raise NotFound("Your account no longer exists.")
    marks = [mark.model_dump(mode="json", exclude_none=True) for mark in body_map.marks]
    row = BodyMap(
        school_id=record.school_id,
        concern_id=concern_id,
        marks=json.dumps(marks, separators=(",", ":"), ensure_ascii=False),
        recorded_by=principal.id,
        recorded_by_name=me.display_name,
        recorded_at=context.now,
    )
    session.add(row)
    session.flush()
    audit.record_per_pupil(
        session,
        actor=context.actor,
        action="body_map.create",
        now=context.now,
        request_id=context.request_id,
        entity_type="body_map",
        entity_id=row.id,
        pupil_ids=record.audited_pupils,
    )
    return shaped(row)


def list_body_maps(
    session: Session, context: RequestContext, *, concern_id: uuid.UUID
) -> list[BodyMapPublic]:
    """The body maps of a concern the caller may read, oldest first; records
    ``body_map.list`` once per pupil of the concern."""
    record = record_of(session, context, concern_id=concern_id)
    rows = session.exec(
        select(BodyMap)
        .where(col(BodyMap.school_id) == record.school_id, col(BodyMap.concern_id) == concern_id)
        .order_by(col(BodyMap.recorded_at), col(BodyMap.id))
    ).all()
    audit.record_per_pupil(
        session,
        actor=context.actor,
        action="body_map.list",
        now=context.now,
        request_id=context.request_id,
        entity_type="concern",
        entity_id=concern_id,
        pupil_ids=record.audited_pupils,
    )
    return [shaped(row) for row in rows]


def body_maps_of_pupil(
    session: Session, school_id: uuid.UUID, pupil_id: uuid.UUID
) -> list[BodyMapPublic]:
    """Every body map on the pupil's concerns, oldest first: for the export, whose caller
    has checked the DSL desk's access and records the export."""
    concern_ids = select(ConcernPupil.concern_id).where(
        col(ConcernPupil.school_id) == school_id, col(ConcernPupil.pupil_id) == pupil_id
    )
    rows = session.exec(
        select(BodyMap)
        .where(col(BodyMap.school_id) == school_id, col(BodyMap.concern_id).in_(concern_ids))
        .order_by(col(BodyMap.recorded_at), col(BodyMap.id))
    ).all()
    return [shaped(row) for row in rows]


def erase_body_maps(
    session: Session,
    school_id: uuid.UUID,
    pupil_id: uuid.UUID,
    *,
    only_concerns: Sequence[uuid.UUID] | None = None,
) -> int:
    """For the destruction of a child's file past retention: the body maps on the pupil's
    concerns (or on ``only_concerns`` of them: a concern also about a child whose file is
    kept keeps its body maps) lose their marks (kept: ids, concern, who recorded them and
    when). The caller checks that destruction may be done and records it. Returns how
    many were erased."""
    concern_ids: Any = (
        list(only_concerns)
        if only_concerns is not None
        else select(ConcernPupil.concern_id).where(
            col(ConcernPupil.school_id) == school_id, col(ConcernPupil.pupil_id) == pupil_id
        )
    )
    rows = session.exec(
        select(BodyMap).where(
            col(BodyMap.school_id) == school_id, col(BodyMap.concern_id).in_(concern_ids)
        )
    ).all()
    for row in rows:
        row.marks = "[]"
        session.add(row)
    session.flush()
    return len(rows)
