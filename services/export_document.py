"""The exported file as one document (``models.chronology.PupilFile``): read once, then
rendered by each format's section renderers (``services.export_sections``).

Reads: the school and its DSLs, the pupil, the whole chronology, every concern about the
pupil in full (one batch for all of them), each case with its actions and decisions.
Records nothing: the export and the subject access export record their own events.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session, col, select

from core.errors import NotFound
from models.chronology import (
    CaseOnFile,
    ChronologyItem,
    ChronologyType,
    DSLOnFile,
    PupilFile,
    SchoolOnFile,
)
from models.concern import ConcernPublic, Person
from models.profile import ProfilePublic
from models.pupil import Pupil, PupilPublic
from models.school import School
from models.user import Role, User
from services import cases, chronology, concerns, profile, referrals
from services.attachments import exporting
from services.context import RequestContext
from services.export_sections import SECTION_KEYS
from services.export_text import is_administrative

_ROLE_NAMES = {Role.dsl: "Designated safeguarding lead", Role.deputy_dsl: "Deputy DSL"}


def school_on_file(session: Session, school_id: uuid.UUID) -> SchoolOnFile:
    """The school, by name and URN, and its active DSLs and deputies (DSLs first, then by
    name) with their work addresses."""
    school = session.get(School, school_id)
    if school is None:
        raise NotFound("Your school no longer exists.")
    people = session.exec(
        select(User).where(
            col(User.school_id) == school_id,
            col(User.role).in_([Role.dsl.value, Role.deputy_dsl.value]),
            col(User.active).is_(True),
        )
    ).all()
    ordered = sorted(people, key=lambda u: (u.role != Role.dsl.value, u.display_name, u.id))
    return SchoolOnFile(
        name=school.name,
        urn=school.urn,
        dsls=[
            DSLOnFile(display_name=u.display_name, role=_ROLE_NAMES[Role(u.role)], email=u.email)
            for u in ordered
        ],
    )


def generator(session: Session, context: RequestContext) -> Person:
    """The caller, as the file names who generated it."""
    principal = context.principal
    me = concerns.people_by_id(session, principal.school_id, [principal.id]).get(principal.id)
    if me is None:
        raise NotFound("Your account no longer exists.")
    return Person(id=me.id, display_name=me.display_name)


def _as_of(items: list[ChronologyItem], as_of: datetime | None) -> list[ChronologyItem]:
    return items if as_of is None else [i for i in items if i.recorded_at <= as_of]


def _concerns(
    session: Session,
    context: RequestContext,
    items: list[ChronologyItem],
    as_of: datetime | None,
) -> list[ConcernPublic]:
    """The concerns of the chronology's entries in full, in its order; without what the
    desk alone needs (hours waiting change with the clock), and with only the addenda
    recorded by ``as_of``."""
    ids = [item.id for item in items if item.type is ChronologyType.concern]
    shown = concerns.shape_concerns_by_id(session, context, concern_ids=ids)
    return [
        concern.model_copy(
            update={
                "waiting_hours": None,
                "addenda": [a for a in concern.addenda if as_of is None or a.recorded_at <= as_of],
            }
        )
        for concern in shown
    ]


def _cases(
    session: Session, context: RequestContext, pupil_id: uuid.UUID, as_of: datetime | None
) -> list[CaseOnFile]:
    found = []
    for case in cases.cases_of_pupil(session, context, pupil_id=pupil_id):
        if as_of is not None and case.opened_at > as_of:
            continue
        shown = CaseOnFile.model_validate(
            case.model_dump(exclude={"concerns", "tasks", "history", "actions", "decisions"})
            | {
                "actions": [a for a in case.actions if as_of is None or a.recorded_at <= as_of],
                "decisions": [d for d in case.decisions if as_of is None or d.recorded_at <= as_of],
            }
        )
        found.append(shown)
    return found


def build_file(
    session: Session,
    context: RequestContext,
    *,
    pupil: Pupil,
    generated_at: datetime,
    generated_by: Person,
    as_of: datetime | None = None,
) -> PupilFile:
    """The pupil's whole file (the caller must be of the DSL desk of the pupil's school,
    checked by the caller), with only what was recorded by ``as_of`` when it is given."""
    principal = context.principal
    whole = _as_of(
        chronology.whole_chronology(session, principal=principal, pupil_id=pupil.id), as_of
    )
    return PupilFile(
        generated_at=generated_at,
        generated_by=generated_by,
        school=school_on_file(session, principal.school_id),
        sections=list(SECTION_KEYS),
        pupil=PupilPublic.of(pupil),
        chronology=[item for item in whole if not is_administrative(item)],
        concerns=_concerns(session, context, whole, as_of),
        actions_and_decisions=_cases(session, context, pupil.id, as_of),
        administrative_events=[item for item in whole if is_administrative(item)],
        profile=_profile(session, context, pupil.id, as_of),
        attachments=[
            found
            for found in exporting.attachments_of_pupil(session, principal.school_id, pupil.id)
            if as_of is None or found.uploaded_at <= as_of
        ],
        body_maps=[
            found
            for found in exporting.body_maps_of_pupil(session, principal.school_id, pupil.id)
            if as_of is None or found.recorded_at <= as_of
        ],
        referrals=[
            referral
            for referral in referrals.referrals_for_file(session, context, pupil_id=pupil.id)
            if as_of is None or referral.recorded_at <= as_of
        ],
    )


def _profile(
    session: Session, context: RequestContext, pupil_id: uuid.UUID, as_of: datetime | None
) -> ProfilePublic | None:
    """The safeguarding profile as it is; in an export as of a moment, only if it was
    written by then (a later version is a change the export's notice reports)."""
    found = profile.profile_for_file(session, context, pupil_id=pupil_id)
    if as_of is not None and found.recorded_at is not None and found.recorded_at > as_of:
        return None
    return found
