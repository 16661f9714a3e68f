"""Destroying a child's file when its time has come (docs/adr/0092).

Only past its ``retain_until`` and with no legal hold in force (a 409 naming which);
step-up required (the route's ``StepUp``). Every eraser of ``erasers.ERASERS`` runs in the
request's one transaction, with the ``file_destruction`` row and the audit event: all of
it or none of it.
"""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlmodel import Session, col, select

from core.errors import Conflict, NotFound
from models.concern import ConcernPupil
from models.lifecycle import (
    ConcernErrorMark,
    ConcernErrorPupil,
    DestructionPublic,
    FileDestruction,
    LegalHoldPublic,
)
from models.pupil import Pupil
from models.user import User
from services import access, audit, pupils, retention
from services.attachments import FileStore
from services.audit import probes
from services.audit.recording import lock_chain_head
from services.context import RequestContext
from services.lifecycle.erasers import ERASERS, DoomedFile
from services.school_calendar import school_date


def concerns_of_the_file(
    session: Session, school_id: uuid.UUID, pupil_id: uuid.UUID
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """The concerns in the child's file: those about the child alone (to erase), and
    those also about a child whose file is kept (left whole). A concern marked entered in
    error is about the children its mark names; one recorded in error (about no child) is
    in the file of each child it named."""
    named = set(
        session.exec(
            select(ConcernPupil.concern_id).where(
                col(ConcernPupil.school_id) == school_id, col(ConcernPupil.pupil_id) == pupil_id
            )
        ).all()
    )
    moved_here = set(
        session.exec(
            select(ConcernErrorPupil.concern_id).where(
                col(ConcernErrorPupil.school_id) == school_id,
                col(ConcernErrorPupil.pupil_id) == pupil_id,
            )
        ).all()
    )
    candidates = list(named | moved_here)
    if not candidates:
        return [], []
    marked = set(
        session.exec(
            select(ConcernErrorMark.concern_id).where(
                col(ConcernErrorMark.concern_id).in_(candidates)
            )
        ).all()
    )
    about: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for concern_id, other in session.exec(
        select(ConcernPupil.concern_id, ConcernPupil.pupil_id).where(
            col(ConcernPupil.concern_id).in_([c for c in candidates if c not in marked])
        )
    ):
        about[concern_id].add(other)
    for concern_id, other in session.exec(
        select(ConcernErrorPupil.concern_id, ConcernErrorPupil.pupil_id).where(
            col(ConcernErrorPupil.concern_id).in_([c for c in candidates if c in marked])
        )
    ):
        about[concern_id].add(other)
    destroyed = set(
        session.exec(
            select(FileDestruction.pupil_id).where(col(FileDestruction.school_id) == school_id)
        ).all()
    )
    erase: list[uuid.UUID] = []
    kept: list[uuid.UUID] = []
    for concern_id in sorted(candidates):
        # Moved by its mark to other children: in their files now, not this one's. (A
        # mark that names nobody, recorded in error, leaves it in this child's file.)
        if concern_id in marked and concern_id not in moved_here and about[concern_id]:
            continue
        others = about[concern_id] - {pupil_id} - destroyed
        (kept if others else erase).append(concern_id)
    return erase, kept


def caller_name(session: Session, context: RequestContext) -> str:
    """The caller's display name now, to be stored on what they write (ADR 0056)."""
    user = session.get(User, context.principal.id)
    if user is None:
        raise NotFound("Your account no longer exists.")
    return user.display_name


def the_pupil(session: Session, context: RequestContext, pupil_id: uuid.UUID) -> Pupil:
    """The pupil of the caller's school, for the DSL desk (404 otherwise, leaving a
    ``security.probe``)."""
    access.require_dsl(context.principal)
    with probes.watched(context, kind="pupil", record_id=pupil_id):
        return pupils.pupil_in_school(session, context.principal, pupil_id)


def destroy_file(
    session: Session,
    context: RequestContext,
    *,
    pupil_id: uuid.UUID,
    reason: str,
    files: FileStore,
) -> DestructionPublic:
    """Destroy the child's file: every eraser of ``ERASERS`` leaves its records as
    tombstones, and a ``file_destruction`` row says who, when and why. The DSL desk of the
    child's school (404 otherwise), past ``retain_until`` (409 ``retention-not-passed``),
    with no legal hold in force (409 ``legal-hold``), once (409 ``file-destroyed``).
    Concerns also about a child whose file is kept are left whole (``kept_shared``).
    Audited ``pupil.file_destroyed``; all in the request's one transaction."""
    pupil = the_pupil(session, context, pupil_id)
    school_id = pupil.school_id
    # Serialised with every other write of the school's (its audit chain's head): two
    # destructions, or a hold and a destruction, of one file never interleave.
    lock_chain_head(session, school_id=school_id)
    if retention.destruction_of(session, school_id, pupil.id) is not None:
        raise Conflict("This child's file has already been destroyed.", slug="file-destroyed")
    until = retention.retain_until(session, school_id, pupil.date_of_birth)
    if school_date(context.now) <= until:  # the day in England, not in UTC
        raise Conflict(
            f"This child's file is kept until {until.isoformat()}; it may be destroyed "
            "only after that date.",
            slug=retention.NOT_YET_DUE,
            extra={"retain_until": until.isoformat()},
        )
    hold = retention.active_hold(session, school_id, pupil.id)
    if hold is not None:
        raise Conflict(
            "This child's file is on legal hold (since "
            f"{hold.placed_at.date().isoformat()}); lift the hold before destroying it.",
            slug=retention.ON_HOLD,
            extra={"legal_hold_id": str(hold.id)},
        )
    erase, kept = concerns_of_the_file(session, school_id, pupil.id)
    doomed = DoomedFile(
        school_id=school_id,
        pupil_id=pupil.id,
        concern_ids=tuple(erase),
        now=context.now,
        files=files,
    )
    erased = {kind: eraser(session, doomed) for kind, eraser in ERASERS}
    name = caller_name(session, context)
    destruction = FileDestruction(
        school_id=school_id,
        pupil_id=pupil.id,
        reason=reason,
        retain_until=until,
        destroyed_by=context.principal.id,
        destroyed_by_name=name,
        destroyed_at=context.now,
        records=sum(erased.values()),
    )
    session.add(destruction)
    audit.record(
        session,
        actor=context.actor,
        action="pupil.file_destroyed",
        now=context.now,
        entity_type="pupil",
        entity_id=pupil.id,
        pupil_id=pupil.id,
        request_id=context.request_id,
    )
    return DestructionPublic(
        id=destruction.id,
        pupil_id=pupil.id,
        reason=reason,
        retain_until=until,
        destroyed_at=context.now,
        destroyed_by={"id": context.principal.id, "display_name": name},
        records=destruction.records,
        erased=erased,
        kept_shared=kept,
    )


def place_hold(
    session: Session, context: RequestContext, *, pupil_id: uuid.UUID, reason: str
) -> LegalHoldPublic:
    """Put the child's file on legal hold (the DSL desk; see ``retention.place_hold``)."""
    pupil = the_pupil(session, context, pupil_id)
    lock_chain_head(session, school_id=pupil.school_id)
    return retention.place_hold(
        session, context, pupil, reason=reason, by_name=caller_name(session, context)
    )


def release_hold(
    session: Session, context: RequestContext, *, pupil_id: uuid.UUID, reason: str
) -> LegalHoldPublic:
    """Lift the legal hold on the child's file (the DSL desk; ``retention.release_hold``)."""
    pupil = the_pupil(session, context, pupil_id)
    lock_chain_head(session, school_id=pupil.school_id)
    return retention.release_hold(
        session, context, pupil, reason=reason, by_name=caller_name(session, context)
    )
