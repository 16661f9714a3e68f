"""Referrals as the DSL desk reads them, each with its outcomes, in one query for the
outcomes whatever their number."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from models.concern import Person
from models.referral import (
    Referral,
    ReferralAgency,
    ReferralOutcome,
    ReferralOutcomePublic,
    ReferralPublic,
)


def outcomes_of(
    session: Session, referral_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[ReferralOutcome]]:
    """Each referral's outcomes, oldest recorded first."""
    found: dict[uuid.UUID, list[ReferralOutcome]] = defaultdict(list)
    if not referral_ids:
        return found
    for outcome in session.exec(
        select(ReferralOutcome)
        .where(col(ReferralOutcome.referral_id).in_(sorted(set(referral_ids))))
        .order_by(col(ReferralOutcome.recorded_at), col(ReferralOutcome.id))
    ):
        found[outcome.referral_id].append(outcome)
    return found


def shape(session: Session, referrals: Sequence[Referral]) -> list[ReferralPublic]:
    """``referrals`` with their outcomes, in the order given. Records nothing."""
    outcomes = outcomes_of(session, [referral.id for referral in referrals])
    shaped = []
    for referral in referrals:
        mine = outcomes[referral.id]
        latest = mine[-1] if mine else None
        shaped.append(
            ReferralPublic(
                id=referral.id,
                case_id=referral.case_id,
                agency=ReferralAgency(referral.agency),
                reference=referral.reference,
                made_at=referral.made_at,
                outcome=latest.outcome if latest else None,
                outcome_at=latest.outcome_at if latest else None,
                recorded_at=referral.recorded_at,
                recorded_by=Person(id=referral.recorded_by, display_name=referral.recorded_by_name),
                outcomes=[
                    ReferralOutcomePublic(
                        id=outcome.id,
                        outcome=outcome.outcome,
                        outcome_at=outcome.outcome_at,
                        recorded_at=outcome.recorded_at,
                        recorded_by=Person(
                            id=outcome.recorded_by, display_name=outcome.recorded_by_name
                        ),
                    )
                    for outcome in mine
                ],
                outcome_task_id=referral.outcome_task_id,
            )
        )
    return shaped


def _ordered(query: SelectOfScalar[Referral]) -> SelectOfScalar[Referral]:
    return query.order_by(col(Referral.made_at), col(Referral.recorded_at), col(Referral.id))


def of_case(session: Session, school_id: uuid.UUID, case_id: uuid.UUID) -> list[ReferralPublic]:
    """A case's referrals, by when they were made. Records nothing."""
    found = session.exec(
        _ordered(
            select(Referral).where(
                col(Referral.school_id) == school_id, col(Referral.case_id) == case_id
            )
        )
    )
    return shape(session, list(found))


def of_pupil(session: Session, school_id: uuid.UUID, pupil_id: uuid.UUID) -> list[ReferralPublic]:
    """Every referral on the pupil's cases, by when they were made. Records nothing."""
    found = session.exec(
        _ordered(
            select(Referral).where(
                col(Referral.school_id) == school_id, col(Referral.pupil_id) == pupil_id
            )
        )
    )
    return shape(session, list(found))
