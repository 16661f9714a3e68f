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
from typing import Any

import sqlalchemy as sa
from sqlalchemy import update
from sqlmodel import Session, col

from core.errors import Conflict, InvalidInput
from db.batch import sent_together
from db.prepared import Prepared
from models.concern import Person
from models.triage import (
    ALLOWED_MOVES,
    ConcernTriage,
    TriageChange,
    TriageEvent,
    TriageField,
    TriageStatus,
)
from models.user import User
from services import access, audit, concerns
from services.audit import probes
from services.concerns import ETAG_KIND, ReadConcern
from services.context import RequestContext
from services.preconditions import etag, expected_version, stale
from services.principal import Principal

_USERS: sa.Table = User.__table__  # type: ignore[attr-defined]
_EVENTS: sa.Table = TriageEvent.__table__  # type: ignore[attr-defined]
_INSERT_EVENTS = Prepared(sa.insert(_EVENTS))
_ASSIGNEE_ROLES = sorted(role.value for role in access.ASSIGNEES)
_ACTIVE_ASSIGNEE = Prepared(
    sa.select(_USERS.c.id, _USERS.c.display_name).where(
        _USERS.c.id == sa.bindparam("user_id"),
        _USERS.c.school_id == sa.bindparam("school_id"),
        _USERS.c.active.is_(True),
        _USERS.c.role.in_(sa.bindparam("dsl_roles", expanding=True)),
    )
)


def _assignee_parameters(principal: Principal, user_id: uuid.UUID) -> dict[str, Any]:
    """The parameters of ``_ACTIVE_ASSIGNEE`` for ``user_id`` (its rows go to ``_assignee``):
    whom a concern or case may be given is ``services.access``'s rule."""
    return {"user_id": user_id, "school_id": principal.school_id, "dsl_roles": _ASSIGNEE_ROLES}


def _assignee(rows: list[Any], *, field: str) -> Person:
    if not rows:
        raise InvalidInput(
            f"{field} must be an active DSL or deputy DSL of your school.",
            loc=(field,),
            error_type="not_a_dsl",
        )
    ((user_id, display_name),) = rows
    return Person(id=user_id, display_name=display_name)


def check_assignee(
    session: Session, principal: Principal, user_id: uuid.UUID, *, field: str = "assigned_to"
) -> Person:
    """``user_id`` must be an active DSL or deputy DSL of the caller's school (422). A
    prebuilt statement: it does not flush the session's pending ORM changes first."""
    rows = _ACTIVE_ASSIGNEE.rows(session, _assignee_parameters(principal, user_id))
    return _assignee(rows, field=field)


def _changes(
    current: Any, change: TriageChange, assignee_rows: list[Any]
) -> tuple[dict[TriageField, tuple[str | None, str | None]], Person | None]:
    """Each field that changes, with its value before and after (as stored), and the new
    assignee if one is given. ``current`` is the concern's row with its triage state;
    ``assignee_rows``, what ``_ACTIVE_ASSIGNEE`` found of the assignee asked for."""
    sent = change.model_fields_set
    assignee = None
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
            assignee = _assignee(assignee_rows, field="assigned_to")
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
    return found, assignee


def triage_concern(
    session: Session,
    context: RequestContext,
    *,
    concern_id: uuid.UUID,
    change: TriageChange,
    if_match: str | None,
) -> ReadConcern:
    """Change a concern's triage state, with a reason; answers the concern as it now is
    and its new ETag.

    DSLs and deputy DSLs of the school (404 for a concern of another school, which leaves
    a ``security.probe``: ``services.audit.probes``). 428
    without ``If-Match``, 412 when it is not the current ETag (or another DSL changed it
    first), 409 for a status move that is not allowed, 422 for an assignee who is not an
    active DSL of the school or a request that changes nothing. Records one
    ``triage_event`` per changed field and ``concern.triage`` once per pupil.

    Each event keeps the caller's name, and for a change of assignee the names of both
    assignees, as they are now (docs/adr/0056).

    On PostgreSQL four round trips after the account check: the concern with its lookups
    (and the caller's name, the new assignee, and the audit chain's head); the
    compare-and-set; the events with the audit events; the commit."""
    principal = context.principal
    now = context.now
    access.require_dsl(principal)
    batch = concerns.add_caller(concerns.lookup_concern(principal, concern_id), principal)
    given = change.assigned_to if "assigned_to" in change.model_fields_set else None
    if given:
        batch.add("assignee", _ACTIVE_ASSIGNEE, _assignee_parameters(principal, given))
    found = audit.read_with_head_locked(session, school_id=principal.school_id, batch=batch)
    with probes.watched(context, kind="concern", record_id=concern_id):
        current = concerns.concern_row(found)
    recorded_by = concerns.caller_as_recorder(principal, found)
    expected = expected_version(
        if_match, kind=ETAG_KIND, current=current.triage_version, what="concern"
    )
    changes, assignee = _changes(current, change, found.get("assignee", []))
    values: dict[str, Any] = {"version": expected + 1, "updated_at": now}
    for field, (_, after) in changes.items():
        values[field.value] = (
            uuid.UUID(after) if field is TriageField.assigned_to and after else after
        )
    result = session.execute(
        update(ConcernTriage)
        .where(
            col(ConcernTriage.concern_id) == current.id,
            col(ConcernTriage.version) == expected,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise stale("concern")
    # Who wrote each change, and whom it took the concern from and gave it to, under the
    # names they have as it is written: the event keeps them whatever they are called later.
    names: dict[TriageField, tuple[str | None, str | None]] = {}
    if TriageField.assigned_to in changes:
        had = concerns.persons(found["assignees"]).get(current.assigned_to)
        names[TriageField.assigned_to] = (
            had.display_name if had else None,
            assignee.display_name if assignee else None,
        )
    events = [
        TriageEvent(
            concern_id=current.id,
            school_id=current.school_id,
            field=field.value,
            from_value=before,
            to_value=after,
            from_name=names.get(field, (None, None))[0],
            to_name=names.get(field, (None, None))[1],
            reason=change.reason,
            recorded_by=principal.id,
            recorded_by_name=recorded_by.display_name,
            recorded_at=now,
        ).model_dump()
        for field, (before, after) in changes.items()
    ]
    # The concern as it now is: the triage columns just written, and the new assignee.
    written = {key: value for key, value in values.items() if key not in ("version", "updated_at")}
    public = concerns.shape_concern(
        session,
        context,
        current._replace(**written, triage_version=expected + 1),
        found,
        assignees=[assignee] if assignee else [],
    )
    with sent_together(session):
        _INSERT_EVENTS.insert_many(session, events)
        audit.record_per_pupil(
            session,
            actor=context.actor,
            action="concern.triage",
            now=now,
            request_id=context.request_id,
            entity_type="concern",
            entity_id=current.id,
            pupil_ids=public.pupil_ids,
        )
    return ReadConcern(concern=public, etag=etag(ETAG_KIND, expected + 1))
