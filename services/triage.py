"""Triage: a DSL moves a concern on (status), weighs it (risk level) and gives it to
someone (assignee), always with a reason.

DSLs and deputy DSLs of the concern's school only. The concern row is never touched: the
change is a compare-and-set on its ``concern_triage`` row (``UPDATE ... WHERE version =
:expected``), so of two DSLs sending the same ``If-Match`` exactly one wins and the other
gets a 412 with nothing written; each field that changes is then its own
``triage_event``. Allowed status moves are in ``models.triage``; any other is a 409.
Recorded: ``concern.triage`` once per pupil of the concern, in the same transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from models.concern import Person
from models.triage import (
    ALLOWED_MOVES,
    ConcernTriage,
    TriageChange,
    TriageEvent,
    TriageField,
    TriageStatus,
)
from models.user import DSL_ROLES, User
from services import audit, concerns
from services.concerns import ETAG_KIND, ReadConcern
from services.errors import Conflict, Forbidden, InvalidInput
from services.guidance import GuidanceLibrary
from services.preconditions import expected_version, stale
from services.principal import Principal


def require_dsl(principal: Principal) -> None:
    # The routers' guards decide first; this keeps a service safe from a caller that
    # forgot one.
    if principal.kind != "user" or not principal.is_dsl:
        raise Forbidden("Only DSLs and deputy DSLs may do this.")


def check_assignee(
    session: Session, principal: Principal, user_id: uuid.UUID, *, field: str = "assigned_to"
) -> Person:
    """``user_id`` must be an active DSL or deputy DSL of the caller's school (422)."""
    user = session.exec(
        select(User).where(
            col(User.id) == user_id,
            col(User.school_id) == principal.school_id,
            col(User.active).is_(True),
            col(User.role).in_([role.value for role in DSL_ROLES]),
        )
    ).one_or_none()
    if user is None:
        raise InvalidInput(
            f"{field} must be an active DSL or deputy DSL of your school.",
            loc=(field,),
            error_type="not_a_dsl",
        )
    return Person(id=user.id, display_name=user.display_name)


def _changes(
    session: Session, principal: Principal, current: ConcernTriage, change: TriageChange
) -> dict[TriageField, tuple[str | None, str | None]]:
    """Each field that changes, with its value before and after (as stored)."""
    sent = change.model_fields_set
    found: dict[TriageField, tuple[str | None, str | None]] = {}
    if "status" in sent:
        if change.status is None:
            raise InvalidInput("status cannot be cleared.", loc=("status",))
        before = TriageStatus(current.status)
        if change.status != before:
            allowed = ALLOWED_MOVES[before]
            if change.status not in allowed:
                moves = ", ".join(sorted(allowed))
                raise Conflict(
                    f"A concern cannot move from {before.value} to {change.status.value}. "
                    f"From {before.value} it may move to: {moves}.",
                    slug="invalid-transition",
                    extra={"status": before.value, "allowed": sorted(allowed)},
                )
            found[TriageField.status] = (before.value, change.status.value)
    if "risk_level" in sent:
        if change.risk_level is None:
            raise InvalidInput("risk_level cannot be cleared.", loc=("risk_level",))
        if change.risk_level.value != current.risk_level:
            found[TriageField.risk_level] = (current.risk_level, change.risk_level.value)
    if "assigned_to" in sent and change.assigned_to != current.assigned_to:
        if change.assigned_to is not None:
            check_assignee(session, principal, change.assigned_to)
        found[TriageField.assigned_to] = (
            str(current.assigned_to) if current.assigned_to else None,
            str(change.assigned_to) if change.assigned_to else None,
        )
    if not found:
        raise InvalidInput(
            "Nothing to change: send at least one of status, risk_level or assigned_to "
            "with a value different from the current one.",
            loc=(),
        )
    return found


def triage_concern(
    session: Session,
    *,
    principal: Principal,
    now: datetime,
    request_id: str | None,
    guidance: GuidanceLibrary,
    concern_id: uuid.UUID,
    change: TriageChange,
    if_match: str | None,
) -> ReadConcern:
    """Change a concern's triage state, with a reason; answers the concern as it now is
    and its new ETag.

    DSLs and deputy DSLs of the school (404 for a concern of another school). 428
    without ``If-Match``, 412 when it is not the current ETag (or another DSL changed it
    first), 409 for a status move that is not allowed, 422 for an assignee who is not an
    active DSL of the school or a request that changes nothing. Records one
    ``triage_event`` per changed field and ``concern.triage`` once per pupil."""
    require_dsl(principal)
    concern, current = concerns.load_with_triage(session, principal, concern_id)
    expected = expected_version(if_match, kind=ETAG_KIND, current=current.version, what="concern")
    changes = _changes(session, principal, current, change)
    values: dict[str, object] = {"version": expected + 1, "updated_at": now}
    for field, (_, after) in changes.items():
        values[field.value] = (
            uuid.UUID(after) if field is TriageField.assigned_to and after else after
        )
    result = session.execute(
        update(ConcernTriage)
        .where(
            col(ConcernTriage.concern_id) == concern.id,
            col(ConcernTriage.version) == expected,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise stale("concern")
    session.add_all(
        [
            TriageEvent(
                concern_id=concern.id,
                school_id=concern.school_id,
                field=field.value,
                from_value=before,
                to_value=after,
                reason=change.reason,
                recorded_by=principal.id,
                recorded_at=now,
            )
            for field, (before, after) in changes.items()
        ]
    )
    session.flush()
    answer = concerns.read_for_dsl(
        session, principal=principal, now=now, guidance=guidance, concern_id=concern.id
    )
    audit.record_many(
        session,
        actor=principal.actor,
        now=now,
        request_id=request_id,
        entries=[
            audit.AuditEntry(
                action="concern.triage",
                entity_type="concern",
                entity_id=concern.id,
                pupil_id=pupil_id,
            )
            for pupil_id in answer.concern.pupil_ids
        ],
    )
    return answer
