"""Recording a referral on a case, its outcome later, and listing a case's referrals."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session, col, select

from core.errors import Conflict, InvalidInput, NotFound
from models.case import Case, CaseStatus
from models.referral import (
    Referral,
    ReferralCreate,
    ReferralList,
    ReferralOutcome,
    ReferralOutcomeCreate,
    ReferralPublic,
)
from services import access, audit
from services.audit import probes
from services.concerns import people_by_id
from services.context import RequestContext
from services.referrals.shaping import of_case, of_pupil, shape

# A moment a request gives may be this far ahead of the server's clock (as for actions).
FUTURE_MINUTES = 5


def _record(session: Session, context: RequestContext, *, action: str, referral: Referral) -> None:
    audit.record(
        session,
        actor=context.actor,
        action=action,
        now=context.now,
        entity_type="referral",
        entity_id=referral.id,
        pupil_id=referral.pupil_id,
        request_id=context.request_id,
    )


def _case(session: Session, context: RequestContext, case_id: uuid.UUID) -> Case:
    """The case of the caller's school (404, noted as a probe, otherwise)."""
    with probes.watched(context, kind="case", record_id=case_id):
        case = session.exec(
            select(Case).where(
                col(Case.id) == case_id, col(Case.school_id) == context.principal.school_id
            )
        ).one_or_none()
        if case is None:
            raise NotFound("There is no case with that id.")
    return case


def _my_name(session: Session, context: RequestContext) -> str:
    principal = context.principal
    me = people_by_id(session, principal.school_id, [principal.id]).get(principal.id)
    if me is None:
        raise NotFound("Your account no longer exists.")
    return me.display_name


def _not_ahead(moment: datetime, now: datetime, field: str) -> None:
    if (moment - now).total_seconds() > FUTURE_MINUTES * 60:
        raise InvalidInput(
            f"{field} is in the future (more than {FUTURE_MINUTES} minutes ahead).",
            loc=(field,),
            error_type="in_future",
        )


def _outcome_after_made(outcome_at: datetime, made_at: datetime) -> None:
    if outcome_at < made_at:
        raise InvalidInput(
            "outcome_at is before the referral was made (made_at).",
            loc=("outcome_at",),
            error_type="before_made_at",
        )


def add_referral(
    session: Session, context: RequestContext, *, case_id: uuid.UUID, body: ReferralCreate
) -> ReferralPublic:
    """Record a referral made on an open case of the school (404 for another school's or
    none; 409 when closed), with its outcome when it is known already. ``made_at`` and
    ``outcome_at`` not more than 5 minutes ahead; ``outcome_at`` (now when not given) not
    before ``made_at`` (422). Records ``referral.create`` (and ``referral.outcome``) with
    the case's pupil."""
    access.require_profile_reader(context.principal)
    now = context.now
    case = _case(session, context, case_id)
    if case.status != CaseStatus.open:
        raise Conflict(
            "The case is closed. Reopen it (POST /cases/{id}/reopen, with a reason) before "
            "recording a referral on it.",
            slug="case-closed",
        )
    _not_ahead(body.made_at, now, "made_at")
    name = _my_name(session, context)
    referral = Referral(
        case_id=case.id,
        school_id=case.school_id,
        pupil_id=case.pupil_id,
        agency=body.agency.value,
        reference=body.reference,
        made_at=body.made_at,
        recorded_by=context.principal.id,
        recorded_by_name=name,
        recorded_at=now,
    )
    session.add(referral)
    session.flush()
    _record(session, context, action="referral.create", referral=referral)
    if body.outcome is not None:
        _add_outcome(
            session,
            context,
            referral,
            ReferralOutcomeCreate(outcome=body.outcome, outcome_at=body.outcome_at),
            name=name,
        )
    (public,) = shape(session, [referral])
    return public


def _add_outcome(
    session: Session,
    context: RequestContext,
    referral: Referral,
    body: ReferralOutcomeCreate,
    *,
    name: str,
) -> None:
    outcome_at = body.outcome_at or context.now
    _not_ahead(outcome_at, context.now, "outcome_at")
    _outcome_after_made(outcome_at, referral.made_at)
    session.add(
        ReferralOutcome(
            referral_id=referral.id,
            case_id=referral.case_id,
            school_id=referral.school_id,
            pupil_id=referral.pupil_id,
            outcome=body.outcome,
            outcome_at=outcome_at,
            recorded_by=context.principal.id,
            recorded_by_name=name,
            recorded_at=context.now,
        )
    )
    session.flush()
    _record(session, context, action="referral.outcome", referral=referral)


def record_outcome(
    session: Session,
    context: RequestContext,
    *,
    case_id: uuid.UUID,
    referral_id: uuid.UUID,
    body: ReferralOutcomeCreate,
) -> ReferralPublic:
    """Record a referral's outcome (append-only: an earlier outcome stays as written, the
    newest is the referral's outcome). On an open or closed case of the school; 404 for a
    referral not on that case. Records ``referral.outcome`` with the case's pupil."""
    access.require_profile_reader(context.principal)
    case = _case(session, context, case_id)
    with probes.watched(context, kind="case", record_id=case_id):
        referral = session.exec(
            select(Referral).where(
                col(Referral.id) == referral_id,
                col(Referral.case_id) == case.id,
                col(Referral.school_id) == case.school_id,
            )
        ).one_or_none()
        if referral is None:
            raise NotFound("There is no referral with that id on this case.")
    _add_outcome(session, context, referral, body, name=_my_name(session, context))
    (public,) = shape(session, [referral])
    return public


def list_referrals(
    session: Session, context: RequestContext, *, case_id: uuid.UUID
) -> ReferralList:
    """The case's referrals, by when they were made, each with its outcomes. Records
    ``referral.list`` with the case's pupil."""
    access.require_profile_reader(context.principal)
    case = _case(session, context, case_id)
    items = of_case(session, case.school_id, case.id)
    audit.record(
        session,
        actor=context.actor,
        action="referral.list",
        now=context.now,
        entity_type="case",
        entity_id=case.id,
        pupil_id=case.pupil_id,
        request_id=context.request_id,
    )
    return ReferralList(items=items)


def referrals_of_case(
    session: Session, context: RequestContext, case_id: uuid.UUID
) -> list[ReferralPublic]:
    """A case's referrals for the case's own representation (the DSL desk only). Records
    nothing: the case read records itself."""
    access.require_profile_reader(context.principal)
    return of_case(session, context.principal.school_id, case_id)


def referrals_for_file(
    session: Session, context: RequestContext, *, pupil_id: uuid.UUID
) -> list[ReferralPublic]:
    """Every referral on the pupil's cases, by when made, for the export (which checks the
    pupil and records its own event). DSLs and deputy DSLs."""
    access.require_profile_reader(context.principal)
    return of_pupil(session, context.principal.school_id, pupil_id)
