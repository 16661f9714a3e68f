"""A pupil's chronology, a page at a time or whole (for the export)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import Session

from core.errors import InvalidInput
from db.batch import Batch
from models.chronology import ChronologyItem, ChronologyPage
from services import audit, pupils
from services.access import require_dsl
from services.audit import probes
from services.chronology.entries import ENTRY_PAGES, cursor_position
from services.chronology.items import load_items
from services.context import RequestContext
from services.pagination import encode_cursor
from services.principal import Principal


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
            parameters.update(cursor_position(cursor))
        except InvalidInput:
            if check_pupil:  # another school's pupil is a 404, whatever the cursor
                pupils.require_pupil_in_school(session, principal, pupil_id)
            raise
    if limit is not None:
        parameters["page_limit"] = limit + 1
    batch = Batch()
    if check_pupil:
        batch.add("pupil", *pupils.pupil_check(principal, pupil_id))
    batch.add("entries", ENTRY_PAGES[(cursor is not None, limit is not None)], parameters)
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
    items = load_items(session, principal=principal, pupil_id=pupil_id, rows=page)
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
    pupil's school; records ``chronology.read`` with the pupil. The 404 of a pupil of
    another school or none leaves a ``security.probe`` (``services.audit.probes``)."""
    principal, now, request_id = context.principal, context.now, context.request_id
    require_dsl(principal)
    with probes.watched(context, kind="pupil", record_id=pupil_id):
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
