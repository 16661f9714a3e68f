"""A pupil's profile versions as stored, and as read: the JSON text each list is kept in,
the newest version, the statuses that hold on a day. Records nothing."""

from __future__ import annotations

import json
import uuid
from datetime import date

from pydantic import TypeAdapter
from sqlmodel import Session, col, select

from models.concern import Person
from models.profile import (
    ProfileBody,
    ProfilePerson,
    ProfileProfessional,
    ProfilePublic,
    PupilProfileVersion,
)
from models.profile_status import ProfileStatus

ETAG_KIND = "profile"
# What an erased version's lists hold: nothing.
BLANK = "[]"

_STATUSES: TypeAdapter[list[ProfileStatus]] = TypeAdapter(list[ProfileStatus])
_PEOPLE: TypeAdapter[list[ProfilePerson]] = TypeAdapter(list[ProfilePerson])
_PROFESSIONALS: TypeAdapter[list[ProfileProfessional]] = TypeAdapter(list[ProfileProfessional])


def stored_lists(body: ProfileBody) -> dict[str, str]:
    """The body's three lists as the JSON text the row keeps (``from`` spelt as sent)."""
    return {
        "statuses": _STATUSES.dump_json(body.statuses, by_alias=True).decode("utf-8"),
        "people": _PEOPLE.dump_json(body.people).decode("utf-8"),
        "professionals": _PROFESSIONALS.dump_json(body.professionals).decode("utf-8"),
    }


def statuses_of(row: PupilProfileVersion) -> list[ProfileStatus]:
    return _STATUSES.validate_python(json.loads(row.statuses))


def public(row: PupilProfileVersion) -> ProfilePublic:
    """A stored version as the DSL desk reads it."""
    return ProfilePublic(
        pupil_id=row.pupil_id,
        version=row.version,
        statuses=statuses_of(row),
        people=_PEOPLE.validate_python(json.loads(row.people)),
        professionals=_PROFESSIONALS.validate_python(json.loads(row.professionals)),
        recorded_at=row.recorded_at,
        recorded_by=Person(id=row.recorded_by, display_name=row.recorded_by_name),
        erased=row.erased_at is not None,
    )


def empty(pupil_id: uuid.UUID) -> ProfilePublic:
    """The profile of a pupil none was ever written for: version 0."""
    return ProfilePublic(
        pupil_id=pupil_id,
        version=0,
        statuses=[],
        people=[],
        professionals=[],
        recorded_at=None,
        recorded_by=None,
    )


def newest(
    session: Session, school_id: uuid.UUID, pupil_id: uuid.UUID
) -> PupilProfileVersion | None:
    """The pupil's newest profile version (their profile), or None."""
    return session.exec(
        select(PupilProfileVersion)
        .where(
            col(PupilProfileVersion.school_id) == school_id,
            col(PupilProfileVersion.pupil_id) == pupil_id,
        )
        .order_by(col(PupilProfileVersion.version).desc())
        .limit(1)
    ).one_or_none()


def current_profile(session: Session, school_id: uuid.UUID, pupil_id: uuid.UUID) -> ProfilePublic:
    """The pupil's profile as it is (version 0 when none was written). Records nothing:
    the caller decides whether the reader may see it and audits the read."""
    row = newest(session, school_id, pupil_id)
    return empty(pupil_id) if row is None else public(row)


def statuses_on(
    session: Session, school_id: uuid.UUID, pupil_id: uuid.UUID, day: date
) -> list[ProfileStatus]:
    """The statuses of the pupil's profile that hold on ``day`` (begun, not ended), in
    the order the profile lists them. Records nothing."""
    row = newest(session, school_id, pupil_id)
    if row is None:
        return []
    return [status for status in statuses_of(row) if status.holds_on(day)]
