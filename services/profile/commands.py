"""Reading and replacing a pupil's profile, its history, and blanking it when the child's
file is destroyed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.clock import utcnow
from core.errors import NotFound
from models.profile import ProfileBody, ProfileHistoryPage, ProfilePublic, PupilProfileVersion
from models.pupil import Pupil
from services import access, audit, pupils
from services.audit import probes
from services.concerns import people_by_id
from services.context import RequestContext
from services.pagination import decode_cursor, encode_cursor, invalid_cursor
from services.preconditions import etag, expected_version
from services.profile.versions import (
    BLANK,
    ETAG_KIND,
    current_profile,
    empty,
    newest,
    public,
    stored_lists,
)


@dataclass(frozen=True)
class ReadProfile:
    profile: ProfilePublic
    etag: str


def _record(
    session: Session,
    context: RequestContext,
    *,
    action: str,
    pupil_id: uuid.UUID,
    entity_id: uuid.UUID | None,
) -> None:
    audit.record(
        session,
        actor=context.actor,
        action=action,
        now=context.now,
        entity_type="profile",
        entity_id=entity_id,
        pupil_id=pupil_id,
        request_id=context.request_id,
    )


def _pupil(
    session: Session, context: RequestContext, pupil_id: uuid.UUID, *, lock: bool = False
) -> None:
    """404 (noted as a probe) unless the pupil is of the caller's school; with ``lock``,
    the pupil's row is held until the transaction ends, so that two changes of one
    profile are written one after the other."""
    with probes.watched(context, kind="pupil", record_id=pupil_id):
        if not lock:
            pupils.require_pupil_in_school(session, context.principal, pupil_id)
            return
        found = session.exec(
            select(Pupil.id)
            .where(
                col(Pupil.id) == pupil_id,
                col(Pupil.school_id) == context.principal.school_id,
            )
            .with_for_update()
        ).one_or_none()
        if found is None:
            raise NotFound("There is no pupil with that id.")


def get_profile(session: Session, context: RequestContext, *, pupil_id: uuid.UUID) -> ReadProfile:
    """The pupil's profile and its ETag (``"profile-0"`` when none was written). DSLs and
    deputy DSLs of the pupil's school; records ``profile.read`` with the pupil."""
    access.require_profile_reader(context.principal)
    _pupil(session, context, pupil_id)
    row = newest(session, context.principal.school_id, pupil_id)
    profile = empty(pupil_id) if row is None else public(row)
    _record(
        session,
        context,
        action="profile.read",
        pupil_id=pupil_id,
        entity_id=row.id if row else None,
    )
    return ReadProfile(profile, etag(ETAG_KIND, profile.version))


def put_profile(
    session: Session,
    context: RequestContext,
    *,
    pupil_id: uuid.UUID,
    body: ProfileBody,
    if_match: str | None,
) -> ReadProfile:
    """Replace the pupil's whole profile: write its next version (the others are kept).
    DSLs and deputy DSLs of the pupil's school; ``If-Match`` with the profile's ETag (428
    without, 412 when it changed since). Records ``profile.update`` with the pupil; the
    chronology shows the new version as a profile change."""
    principal = context.principal
    access.require_profile_reader(principal)
    _pupil(session, context, pupil_id, lock=True)
    current = newest(session, principal.school_id, pupil_id)
    version = current.version if current is not None else 0
    expected_version(if_match, kind=ETAG_KIND, current=version, what="profile")
    me = people_by_id(session, principal.school_id, [principal.id]).get(principal.id)
    if me is None:
        raise NotFound("Your account no longer exists.")
    lists = stored_lists(body)
    row = PupilProfileVersion(
        school_id=principal.school_id,
        pupil_id=pupil_id,
        version=version + 1,
        statuses=lists["statuses"],
        people=lists["people"],
        professionals=lists["professionals"],
        recorded_by=principal.id,
        recorded_by_name=me.display_name,
        recorded_at=context.now,
    )
    session.add(row)
    session.flush()
    _record(session, context, action="profile.update", pupil_id=pupil_id, entity_id=row.id)
    return ReadProfile(public(row), etag(ETAG_KIND, row.version))


def profile_history(
    session: Session,
    context: RequestContext,
    *,
    pupil_id: uuid.UUID,
    limit: int,
    cursor: str | None,
) -> ProfileHistoryPage:
    """Every version of the pupil's profile, newest first, with who wrote it and when.
    DSLs and deputy DSLs of the pupil's school; records ``profile.history`` with the
    pupil."""
    access.require_profile_reader(context.principal)
    _pupil(session, context, pupil_id)
    query = select(PupilProfileVersion).where(
        col(PupilProfileVersion.school_id) == context.principal.school_id,
        col(PupilProfileVersion.pupil_id) == pupil_id,
    )
    if cursor is not None:
        before = decode_cursor(cursor, fields=("version",))["version"]
        if not isinstance(before, int) or isinstance(before, bool):
            raise invalid_cursor()
        query = query.where(col(PupilProfileVersion.version) < before)
    rows = list(
        session.exec(query.order_by(col(PupilProfileVersion.version).desc()).limit(limit + 1))
    )
    page = rows[:limit]
    next_cursor = encode_cursor({"version": page[-1].version}) if len(rows) > limit else None
    _record(session, context, action="profile.history", pupil_id=pupil_id, entity_id=None)
    return ProfileHistoryPage(items=[public(row) for row in page], next_cursor=next_cursor)


def profile_for_file(
    session: Session, context: RequestContext, *, pupil_id: uuid.UUID
) -> ProfilePublic:
    """The pupil's profile as it is, for the export (which checks the pupil and records
    its own event). DSLs and deputy DSLs."""
    access.require_profile_reader(context.principal)
    return current_profile(session, context.principal.school_id, pupil_id)


_VERSIONS: sa.Table = PupilProfileVersion.__table__  # type: ignore[attr-defined]


def erase_profile(
    session: Session, school_id: uuid.UUID, pupil_id: uuid.UUID, *, now: datetime | None = None
) -> int:
    """Blank the content of every version of the pupil's profile (the destruction of a
    child's file): each keeps its id, number, who wrote it and when, and its lists become
    empty, marked erased at ``now``. In the caller's transaction; the caller checks who
    may and records the destruction. Returns how many versions were blanked."""
    result = session.connection().execute(
        sa.update(_VERSIONS)
        .where(_VERSIONS.c.school_id == school_id, _VERSIONS.c.pupil_id == pupil_id)
        .values(
            statuses=BLANK,
            people=BLANK,
            professionals=BLANK,
            erased_at=now if now is not None else utcnow(),
        )
    )
    return int(result.rowcount or 0)
