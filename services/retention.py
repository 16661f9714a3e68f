"""How long a child's file is kept, and what holds it longer (docs/adr/0091).

A child protection file is kept until the child's date of birth plus the school's number
of years (``RetentionSetting``; 25 when the school has set none). Past that date it is
due for destruction (``GET /retention/due``), unless a legal hold is in force. The DSL
desk only (``access.require_dsl``). Destroying a file is ``services.lifecycle.destruction``.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.errors import Conflict
from models.case import Case
from models.concern import ConcernPupil
from models.lifecycle import (
    DEFAULT_RETENTION_YEARS,
    ConcernErrorPupil,
    FileDestruction,
    LegalHold,
    LegalHoldPublic,
    LegalHoldRelease,
    RetentionDuePage,
    RetentionFile,
    RetentionSetting,
    RetentionSettingPublic,
)
from models.pupil import Pupil, display_name_column
from services import access, audit
from services.context import RequestContext
from services.pagination import decode_cursor, encode_cursor, invalid_cursor
from services.principal import Principal
from services.school_calendar import school_date

_PUPILS: sa.Table = Pupil.__table__  # type: ignore[attr-defined]
ON_HOLD = "legal-hold"
NOT_YET_DUE = "retention-not-passed"


def years_later(born: date, years: int) -> date:
    """``born`` plus ``years`` (29 February becomes 28 February in a year without one)."""
    try:
        return born.replace(year=born.year + years)
    except ValueError:
        return born.replace(year=born.year + years, day=28)


def retention_years(session: Session, school_id: uuid.UUID) -> int:
    """The school's number of years (``DEFAULT_RETENTION_YEARS`` unless it set one)."""
    setting = session.get(RetentionSetting, school_id)
    return DEFAULT_RETENTION_YEARS if setting is None else setting.years


def retain_until(session: Session, school_id: uuid.UUID, date_of_birth: date) -> date:
    """The last day the file of a child born on ``date_of_birth`` is kept."""
    return years_later(date_of_birth, retention_years(session, school_id))


def active_hold(session: Session, school_id: uuid.UUID, pupil_id: uuid.UUID) -> LegalHold | None:
    """The legal hold in force on the child's file, if any."""
    released = select(LegalHoldRelease.hold_id)
    return session.exec(
        select(LegalHold).where(
            col(LegalHold.school_id) == school_id,
            col(LegalHold.pupil_id) == pupil_id,
            col(LegalHold.id).not_in(released),
        )
    ).first()


def destruction_of(
    session: Session, school_id: uuid.UUID, pupil_id: uuid.UUID
) -> FileDestruction | None:
    return session.exec(
        select(FileDestruction).where(
            col(FileDestruction.school_id) == school_id, col(FileDestruction.pupil_id) == pupil_id
        )
    ).first()


def file_fields(session: Session, principal: Principal, pupil: Pupil) -> dict[str, Any]:
    """What a pupil answer shows the DSL desk of the child's file's lifecycle:
    ``retain_until``, ``on_legal_hold``, ``file_destroyed_at``."""
    if not access.sees_safeguarding_file(principal):
        return {}
    destroyed = destruction_of(session, pupil.school_id, pupil.id)
    return {
        "retain_until": retain_until(session, pupil.school_id, pupil.date_of_birth),
        "on_legal_hold": active_hold(session, pupil.school_id, pupil.id) is not None,
        "file_destroyed_at": destroyed.destroyed_at if destroyed else None,
    }


# --- the school's setting ------------------------------------------------------------------


def get_setting(session: Session, context: RequestContext) -> RetentionSettingPublic:
    """The school's retention period (the DSL desk)."""
    access.require_dsl(context.principal)
    setting = session.get(RetentionSetting, context.principal.school_id)
    if setting is None:
        return RetentionSettingPublic(years=DEFAULT_RETENTION_YEARS, default=True)
    return RetentionSettingPublic(years=setting.years, default=False)


def set_setting(session: Session, context: RequestContext, *, years: int) -> RetentionSettingPublic:
    """Set the school's retention period (the DSL desk); audited ``retention.setting``."""
    principal = context.principal
    access.require_dsl(principal)
    setting = session.get(RetentionSetting, principal.school_id)
    if setting is None:
        setting = RetentionSetting(
            school_id=principal.school_id,
            years=years,
            updated_by=principal.id,
            updated_at=context.now,
        )
    setting.years, setting.updated_by, setting.updated_at = years, principal.id, context.now
    session.add(setting)
    audit.record(
        session,
        actor=context.actor,
        action="retention.setting",
        now=context.now,
        entity_type="school",
        entity_id=principal.school_id,
        request_id=context.request_id,
    )
    return RetentionSettingPublic(years=years, default=False)


# --- files due --------------------------------------------------------------------------------


def _has_file(school_id: uuid.UUID) -> Any:
    """A condition on the pupil table: the child has a safeguarding file (a concern, one
    moved to them by a mark of entered in error, or a case)."""
    named = sa.exists().where(
        col(ConcernPupil.school_id) == school_id, col(ConcernPupil.pupil_id) == Pupil.id
    )
    moved = sa.exists().where(
        col(ConcernErrorPupil.school_id) == school_id, col(ConcernErrorPupil.pupil_id) == Pupil.id
    )
    cased = sa.exists().where(col(Case.school_id) == school_id, col(Case.pupil_id) == Pupil.id)
    return sa.or_(named, moved, cased)


def files_due(
    session: Session, context: RequestContext, *, limit: int, cursor: str | None
) -> RetentionDuePage:
    """The files of the school past their ``retain_until`` (today, in the service's
    clock) and not yet destroyed, longest past first (keyset pages on date of birth and
    id), each saying whether a legal hold is in force. The DSL desk only; records
    ``retention.due.read``: one event for the page, with the children listed (ADR
    0126)."""
    principal = context.principal
    access.require_dsl(principal)
    school_id = principal.school_id
    years = retention_years(session, school_id)
    today = school_date(context.now)  # the day in England, not in UTC
    # Born before this day: retain_until (born + years) is before today.
    born_by = years_later(today, -years)
    query = (
        sa.select(col(Pupil.id), display_name_column(_PUPILS), col(Pupil.date_of_birth))
        .where(
            col(Pupil.school_id) == school_id,
            col(Pupil.date_of_birth) < born_by,
            _has_file(school_id),
            ~sa.exists().where(
                col(FileDestruction.school_id) == school_id,
                col(FileDestruction.pupil_id) == Pupil.id,
            ),
        )
        .order_by(col(Pupil.date_of_birth), col(Pupil.id))
        .limit(limit + 1)
    )
    if cursor is not None:
        position = decode_cursor(cursor, fields=("date_of_birth", "id"))
        try:
            after_born = date.fromisoformat(str(position["date_of_birth"]))
            after_id = uuid.UUID(str(position["id"]))
        except ValueError:
            raise invalid_cursor() from None
        query = query.where(
            sa.or_(
                col(Pupil.date_of_birth) > after_born,
                sa.and_(col(Pupil.date_of_birth) == after_born, col(Pupil.id) > after_id),
            )
        )
    rows = list(session.execute(query).all())
    page = rows[:limit]
    held = {
        hold.pupil_id
        for hold in session.exec(
            select(LegalHold).where(
                col(LegalHold.school_id) == school_id,
                col(LegalHold.pupil_id).in_([row[0] for row in page]),
                col(LegalHold.id).not_in(select(LegalHoldRelease.hold_id)),
            )
        )
    }
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = encode_cursor({"date_of_birth": last[2].isoformat(), "id": str(last[0])})
    audit.record_page(
        session,
        actor=context.actor,
        action="retention.due.read",
        now=context.now,
        request_id=context.request_id,
        entity_type="pupil",
        entity_id=None,
        pupil_ids=[row[0] for row in page],
    )
    return RetentionDuePage(
        items=[
            RetentionFile(
                pupil_id=pupil_id,
                display_name=name,
                date_of_birth=born,
                retain_until=years_later(born, years),
                on_legal_hold=pupil_id in held,
            )
            for pupil_id, name, born in page
        ],
        next_cursor=next_cursor,
    )


# --- legal holds --------------------------------------------------------------------------------


def _hold_public(hold: LegalHold, release: LegalHoldRelease | None = None) -> LegalHoldPublic:
    return LegalHoldPublic(
        id=hold.id,
        pupil_id=hold.pupil_id,
        reason=hold.reason,
        placed_by={"id": hold.placed_by, "display_name": hold.placed_by_name or ""},
        placed_at=hold.placed_at,
        released_at=release.released_at if release else None,
        released_by=(
            {"id": release.released_by, "display_name": release.released_by_name or ""}
            if release
            else None
        ),
        release_reason=release.reason if release else None,
    )


def place_hold(
    session: Session, context: RequestContext, pupil: Pupil, *, reason: str, by_name: str
) -> LegalHoldPublic:
    """Put the child's file on legal hold (409 when one is already in force, or the file
    was destroyed). Audited ``pupil.legal_hold``."""
    if active_hold(session, pupil.school_id, pupil.id) is not None:
        raise Conflict("This child's file is already on legal hold.", slug=ON_HOLD)
    if destruction_of(session, pupil.school_id, pupil.id) is not None:
        raise Conflict("This child's file has been destroyed.", slug="file-destroyed")
    hold = LegalHold(
        school_id=pupil.school_id,
        pupil_id=pupil.id,
        reason=reason,
        placed_by=context.principal.id,
        placed_by_name=by_name,
        placed_at=context.now,
    )
    session.add(hold)
    _audit_pupil(session, context, "pupil.legal_hold", pupil.id)
    return _hold_public(hold)


def release_hold(
    session: Session, context: RequestContext, pupil: Pupil, *, reason: str, by_name: str
) -> LegalHoldPublic:
    """Lift the legal hold in force on the child's file (409 when there is none).
    Audited ``pupil.legal_hold_released``."""
    hold = active_hold(session, pupil.school_id, pupil.id)
    if hold is None:
        raise Conflict("This child's file is not on legal hold.", slug="no-legal-hold")
    release = LegalHoldRelease(
        hold_id=hold.id,
        school_id=pupil.school_id,
        reason=reason,
        released_by=context.principal.id,
        released_by_name=by_name,
        released_at=context.now,
    )
    session.add(release)
    _audit_pupil(session, context, "pupil.legal_hold_released", pupil.id)
    return _hold_public(hold, release)


def _audit_pupil(
    session: Session, context: RequestContext, action: str, pupil_id: uuid.UUID
) -> None:
    audit.record(
        session,
        actor=context.actor,
        action=action,
        now=context.now,
        entity_type="pupil",
        entity_id=pupil_id,
        pupil_id=pupil_id,
        request_id=context.request_id,
    )
