"""Reading and acknowledging pattern flags (the DSL desk's), and their explanation.

A flag explains itself in plain words from its evidence: which signs, in the wording of
the guidance each concern cites, who noticed each (by the name they wrote it under),
when, and on which concern. Reading flags is audited, one event per page with the
children shown (``flag.read``, ADR 0126); acknowledging one is audited
(``flag.acknowledge``), ids only.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.errors import Conflict, NotFound
from db.prepared import Prepared
from models.concern import Concern
from models.pattern import (
    PROMPT_NOTE,
    FlagAcknowledge,
    FlagPage,
    FlagPublic,
    FlagStatus,
    PatternFlag,
    PatternFlagEvidence,
    PatternRule,
)
from models.pupil import Pupil, display_name_column
from models.user import User
from services import access, audit
from services.context import RequestContext
from services.pagination import decode_cursor, encode_cursor, invalid_cursor
from services.patterns.evaluation import acknowledged_evidence
from services.patterns.settings import rules_of
from services.school_calendar import SCHOOL_ZONE

FLAGS: sa.Table = PatternFlag.__table__  # type: ignore[attr-defined]
EVIDENCE: sa.Table = PatternFlagEvidence.__table__  # type: ignore[attr-defined]
CONCERNS: sa.Table = Concern.__table__  # type: ignore[attr-defined]
PUPILS: sa.Table = Pupil.__table__  # type: ignore[attr-defined]
USERS: sa.Table = User.__table__  # type: ignore[attr-defined]

_COLUMNS = (
    FLAGS.c.id,
    FLAGS.c.pupil_id,
    FLAGS.c.rule,
    FLAGS.c.status,
    FLAGS.c.raised_at,
    FLAGS.c.reopened_at,
    FLAGS.c.acknowledged_at,
    FLAGS.c.acknowledged_by,
    FLAGS.c.acknowledged_by_name,
    FLAGS.c.acknowledged_reason,
)


def _day(moment: datetime) -> str:
    local = moment.astimezone(SCHOOL_ZONE)
    return f"{local.day} {local:%B %Y}"


def explain(
    rule: str, evidence: Sequence[dict[str, Any]], *, window_days: int, at: datetime
) -> str:
    """A flag's explanation, in plain words for a DSL (see the module docstring)."""
    signs = "; ".join(
        f"\u201c{item['indicator_text']}\u201d ({item['recorded_by']['display_name']}, "
        f"{_day(item['observed_at'])}, concern {item['concern_id']})"
        if item["indicator"]
        else f"a concern naming no sign ({item['recorded_by']['display_name']}, "
        f"{_day(item['observed_at'])}, concern {item['concern_id']})"
        for item in evidence
    )
    staff = len({item["recorded_by"]["id"] for item in evidence})
    people = "1 member of staff" if staff == 1 else f"{staff} members of staff"
    period = f"the {window_days} days to {_day(at)}"
    if rule == PatternRule.distinct_signs.value:
        count = len({item["indicator"] for item in evidence})
        opening = f"{count} different signs were noticed by {people} in {period}"
    elif rule == PatternRule.high_weight.value:
        opening = f"A sign the school marks as high-weight was noticed by {people} in {period}"
    else:
        count = len({item["concern_id"] for item in evidence})
        opening = (
            f"{count} concerns were logged by {people} in {period}, more than in the "
            f"{window_days} days before"
        )
    return f"{opening}: {signs}. {PROMPT_NOTE}"


def shape(session: Session, context: RequestContext, rows: Sequence[Any]) -> list[FlagPublic]:
    """Flag rows as the API shows them: their evidence and pupils in two queries, the
    guidance's wording from the library."""
    if not rows:
        return []
    school_id = context.principal.school_id
    connection = session.connection()
    found = connection.execute(
        sa.select(
            EVIDENCE.c.flag_id,
            EVIDENCE.c.concern_id,
            EVIDENCE.c.indicator_id,
            CONCERNS.c.recorded_by,
            CONCERNS.c.recorded_by_name,
            CONCERNS.c.observed_at,
            CONCERNS.c.guidance_key,
            CONCERNS.c.guidance_version,
        )
        .join_from(EVIDENCE, CONCERNS, CONCERNS.c.id == EVIDENCE.c.concern_id)
        .where(
            EVIDENCE.c.flag_id.in_([row.id for row in rows]),
            EVIDENCE.c.school_id == school_id,
            CONCERNS.c.school_id == school_id,
        )
        .order_by(CONCERNS.c.observed_at, EVIDENCE.c.concern_id, EVIDENCE.c.indicator_id)
    ).all()
    names: dict[uuid.UUID, str] = dict(
        connection.execute(
            sa.select(PUPILS.c.id, display_name_column(PUPILS)).where(
                PUPILS.c.id.in_({row.pupil_id for row in rows}), PUPILS.c.school_id == school_id
            )
        ).all()
    )
    cited = context.guidance.cited(
        session, school_id, {(e.guidance_key, e.guidance_version) for e in found}
    )
    evidence: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for e in found:
        edition = cited.get(e.guidance_key, e.guidance_version)
        indicator = e.indicator_id or None
        text = None
        if indicator is not None:
            text = edition.texts_of([indicator]).get(indicator, indicator) if edition else indicator
        evidence[e.flag_id].append(
            {
                "concern_id": e.concern_id,
                "indicator": indicator,
                "indicator_text": text,
                "recorded_by": {"id": e.recorded_by, "display_name": e.recorded_by_name or ""},
                "observed_at": e.observed_at,
            }
        )
    window = rules_of(session, school_id).window_days
    shaped = []
    for row in rows:
        items = evidence[row.id]
        acknowledged = None
        if row.acknowledged_at is not None:
            acknowledged = {
                "at": row.acknowledged_at,
                "by": {"id": row.acknowledged_by, "display_name": row.acknowledged_by_name or ""},
                "reason": row.acknowledged_reason or "",
            }
        shaped.append(
            FlagPublic.model_validate(
                {
                    "id": row.id,
                    "pupil_id": row.pupil_id,
                    "pupil": {"id": row.pupil_id, "display_name": names.get(row.pupil_id, "")},
                    "rule": row.rule,
                    "status": row.status,
                    "raised_at": row.raised_at,
                    "reopened_at": row.reopened_at,
                    "explanation": explain(
                        row.rule,
                        items,
                        window_days=window,
                        at=row.reopened_at or row.raised_at,
                    ),
                    "evidence": items,
                    "acknowledged": acknowledged,
                }
            )
        )
    return shaped


def _audit_read(session: Session, context: RequestContext, flags: Sequence[FlagPublic]) -> None:
    audit.record_page(
        session,
        actor=context.actor,
        action="flag.read",
        now=context.now,
        request_id=context.request_id,
        entity_type="pattern_flag",
        entity_id=None,
        pupil_ids=[flag.pupil_id for flag in flags],
    )


def list_flags(
    session: Session,
    context: RequestContext,
    *,
    status: FlagStatus | None,
    pupil_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> FlagPage:
    """The school's flags, oldest raised first (keyset pages by id), of ``status`` and
    ``pupil_id`` when given. DSLs and deputy DSLs. Audits ``flag.read``: one event, with
    the children shown."""
    access.require_patterns(context.principal)
    query = sa.select(*_COLUMNS).where(FLAGS.c.school_id == context.principal.school_id)
    if status is not None:
        query = query.where(FLAGS.c.status == status.value)
    if pupil_id is not None:
        query = query.where(FLAGS.c.pupil_id == pupil_id)
    if cursor is not None:
        try:
            after = uuid.UUID(str(decode_cursor(cursor, fields=("id",))["id"]))
        except ValueError:
            raise invalid_cursor() from None
        query = query.where(FLAGS.c.id > after)
    rows = session.connection().execute(query.order_by(FLAGS.c.id).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = shape(session, context, rows)
    _audit_read(session, context, items)
    next_cursor = encode_cursor({"id": str(rows[-1].id)}) if more else None
    return FlagPage(items=items, next_cursor=next_cursor)


# The inbox's open flags, oldest first, read in the inbox's own batch (``services.inbox``).
OPEN_FLAGS = Prepared(
    sa.select(*_COLUMNS)
    .where(
        FLAGS.c.school_id == sa.bindparam("flags_school_id"),
        FLAGS.c.status == FlagStatus.open.value,
    )
    .order_by(FLAGS.c.id)
    .limit(sa.bindparam("flags_limit", type_=sa.Integer))
)


def open_flags_parameters(context: RequestContext, *, limit: int) -> dict[str, Any]:
    """``OPEN_FLAGS``'s parameters for the caller's school (the DSL desk's)."""
    access.require_patterns(context.principal)
    return {"flags_school_id": context.principal.school_id, "flags_limit": limit}


def acknowledge_flag(
    session: Session, context: RequestContext, *, flag_id: uuid.UUID, body: FlagAcknowledge
) -> FlagPublic:
    """Acknowledge an open flag with a reason: it is not raised again for the evidence it
    has now; new evidence reopens it. DSLs and deputy DSLs of its school (404 for another
    school's); an acknowledged flag is a 409 (``flag-acknowledged``). Changes no concern.
    Audits ``flag.acknowledge``."""
    principal = context.principal
    access.require_patterns(principal)
    connection = session.connection()
    row = connection.execute(
        sa.select(*_COLUMNS).where(FLAGS.c.id == flag_id, FLAGS.c.school_id == principal.school_id)
    ).first()
    if row is None:
        raise NotFound("No such flag.")
    if row.status != FlagStatus.open.value:
        raise Conflict("The flag is acknowledged already.", slug="flag-acknowledged")
    name = connection.execute(
        sa.select(USERS.c.display_name).where(USERS.c.id == principal.id)
    ).scalar_one()
    lines, print_ = acknowledged_evidence(session, flag_id)
    updated = connection.execute(
        sa.update(FLAGS)
        .where(FLAGS.c.id == flag_id, FLAGS.c.status == FlagStatus.open.value)
        .values(
            status=FlagStatus.acknowledged.value,
            acknowledged_evidence=lines,
            acknowledged_fingerprint=print_,
            acknowledged_at=context.now,
            acknowledged_by=principal.id,
            acknowledged_by_name=name,
            acknowledged_reason=body.reason,
        )
    ).rowcount
    if updated != 1:
        raise Conflict("The flag is acknowledged already.", slug="flag-acknowledged")
    audit.record(
        session,
        actor=context.actor,
        action="flag.acknowledge",
        now=context.now,
        entity_type="pattern_flag",
        entity_id=flag_id,
        pupil_id=row.pupil_id,
        request_id=context.request_id,
    )
    fresh = connection.execute(sa.select(*_COLUMNS).where(FLAGS.c.id == flag_id)).one()
    return shape(session, context, [fresh])[0]
