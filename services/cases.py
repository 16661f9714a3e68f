"""Cases: the child protection file a DSL opens from concerns, and everything done in it.

DSLs and deputy DSLs of the case's school only; a case of another school is a 404.

Every change to a case (linking concerns, an action, a decision, closing, reopening, a
level change) needs ``If-Match`` with the case's ETag (428 without, 412 when stale) and
is a compare-and-set on ``safeguarding_case.version``, so two DSLs never overwrite each
other. Each change also writes its own never-changed row (``case_event``,
``case_action`` or ``case_decision``) with who, when and why. A closed case takes no
change but reopening (409).

Audit, ids only, in the same transaction, ``pupil_id`` always set: ``case.create``,
``case.link``, ``case.action``, ``case.decision``, ``case.close``, ``case.reopen``,
``case.level`` for writes; ``case.read`` for a case read and ``case.list`` once per pupil
on a listed page (one event without a pupil for an empty page).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, or_, update
from sqlmodel import Session, col, select

from core.errors import Conflict, InvalidInput, NotFound
from models.case import (
    ActionCreate,
    ActionPublic,
    Case,
    CaseAction,
    CaseClose,
    CaseConcern,
    CaseCreate,
    CaseDecision,
    CaseEvent,
    CaseEventKind,
    CaseEventPublic,
    CaseLevel,
    CaseLevelChange,
    CaseLink,
    CasePublic,
    CaseReopen,
    CaseStatus,
    CaseSummary,
    DecisionCreate,
    DecisionPublic,
)
from models.concern import ConcernIndicator, ConcernPupil, Person
from models.pupil import Pupil
from services import audit, concerns
from services.access import require_dsl
from services.context import RequestContext
from services.guidance import GuidanceLibrary
from services.pagination import decode_cursor, encode_cursor, invalid_cursor
from services.preconditions import etag, expected_version, stale
from services.principal import Principal
from services.triage import check_assignee

ETAG_KIND = "case"
FUTURE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class ReadCase:
    case: CasePublic
    etag: str


@dataclass(frozen=True)
class CaseFilters:
    """``GET /cases`` filters; all given must match (a tuple: any of its values)."""

    statuses: tuple[CaseStatus, ...] = ()
    levels: tuple[CaseLevel, ...] = ()
    pupil_id: uuid.UUID | None = None
    assigned_to: uuid.UUID | None = None
    indicators: tuple[str, ...] = ()  # any linked concern shows one of them
    opened_from: datetime | None = None  # inclusive
    opened_to: datetime | None = None  # exclusive


@dataclass(frozen=True)
class CaseListPage:
    items: list[CaseSummary]
    next_cursor: str | None


# --- loading and shaping ------------------------------------------------------------------


def _case(session: Session, principal: Principal, case_id: uuid.UUID) -> Case:
    found = session.exec(
        select(Case)
        .where(col(Case.id) == case_id, col(Case.school_id) == principal.school_id)
        # After a compare-and-set UPDATE the row must be read as it now is.
        .execution_options(populate_existing=True)
    ).one_or_none()
    if found is None:
        raise NotFound("There is no case with that id.")
    return found


def _linked(session: Session, case_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    linked: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for link in session.exec(
        select(CaseConcern)
        .where(col(CaseConcern.case_id).in_(case_ids))
        .order_by(col(CaseConcern.linked_at), col(CaseConcern.concern_id))
    ):
        linked[link.case_id].append(link.concern_id)
    return linked


def _summary(
    case: Case, *, concern_ids: list[uuid.UUID], people: dict[uuid.UUID, Person]
) -> CaseSummary:
    return CaseSummary(
        id=case.id,
        pupil_id=case.pupil_id,
        status=CaseStatus(case.status),
        level=CaseLevel(case.level),
        summary=case.summary,
        assigned_to=people.get(case.assigned_to) if case.assigned_to else None,
        opened_by=people[case.opened_by],
        opened_at=case.opened_at,
        closed_at=case.closed_at,
        outcome=case.outcome,
        concern_ids=concern_ids,
    )


def _summaries(session: Session, principal: Principal, cases: Sequence[Case]) -> list[CaseSummary]:
    """Shape listed cases in two queries whatever their number."""
    if not cases:
        return []
    linked = _linked(session, [case.id for case in cases])
    people = concerns.people_by_id(
        session,
        principal.school_id,
        [case.opened_by for case in cases]
        + [case.assigned_to for case in cases if case.assigned_to is not None],
    )
    return [_summary(case, concern_ids=linked[case.id], people=people) for case in cases]


def render_case(
    session: Session,
    *,
    principal: Principal,
    now: datetime,
    guidance: GuidanceLibrary,
    case: Case,
) -> CasePublic:
    """The whole case: linked concerns, actions, decisions and history. Records nothing."""
    concern_ids = _linked(session, [case.id])[case.id]
    actions = list(
        session.exec(
            select(CaseAction)
            .where(col(CaseAction.case_id) == case.id)
            .order_by(col(CaseAction.occurred_at), col(CaseAction.recorded_at), col(CaseAction.id))
        )
    )
    decisions = list(
        session.exec(
            select(CaseDecision)
            .where(col(CaseDecision.case_id) == case.id)
            .order_by(col(CaseDecision.recorded_at), col(CaseDecision.id))
        )
    )
    history = list(
        session.exec(
            select(CaseEvent)
            .where(col(CaseEvent.case_id) == case.id)
            .order_by(col(CaseEvent.recorded_at), col(CaseEvent.id))
        )
    )
    people = concerns.people_by_id(
        session,
        case.school_id,
        [case.opened_by]
        + ([case.assigned_to] if case.assigned_to else [])
        + [action.recorded_by for action in actions]
        + [decision.recorded_by for decision in decisions]
        + [event.recorded_by for event in history],
    )
    summary = _summary(case, concern_ids=concern_ids, people=people)
    return CasePublic(
        **summary.model_dump(),
        concerns=concerns.shape_concerns_by_id(
            session,
            RequestContext(principal=principal, now=now, request_id=None, guidance=guidance),
            concern_ids=concern_ids,
        ),
        actions=[
            ActionPublic(
                id=action.id,
                type=action.type,  # type: ignore[arg-type]
                description=action.description,
                occurred_at=action.occurred_at,
                with_whom=action.with_whom,
                recorded_at=action.recorded_at,
                recorded_by=people[action.recorded_by],
            )
            for action in actions
        ],
        decisions=[
            DecisionPublic(
                id=decision.id,
                decision=decision.decision,
                reason=decision.reason,
                recorded_at=decision.recorded_at,
                recorded_by=people[decision.recorded_by],
            )
            for decision in decisions
        ],
        history=[
            CaseEventPublic(
                id=event.id,
                kind=CaseEventKind(event.kind),
                from_value=event.from_value,
                to_value=event.to_value,
                concern_id=event.concern_id,
                text=event.text,
                reason=event.reason,
                recorded_at=event.recorded_at,
                recorded_by=people[event.recorded_by],
            )
            for event in history
        ],
    )


def _read(
    session: Session, *, principal: Principal, now: datetime, guidance: GuidanceLibrary, case: Case
) -> ReadCase:
    return ReadCase(
        case=render_case(session, principal=principal, now=now, guidance=guidance, case=case),
        etag=etag(ETAG_KIND, case.version),
    )


def _record(
    session: Session,
    principal: Principal,
    *,
    action: str,
    now: datetime,
    request_id: str | None,
    case: Case,
    entity_type: str = "case",
    entity_id: uuid.UUID | None = None,
) -> None:
    audit.record(
        session,
        actor=principal.actor,
        action=action,
        now=now,
        entity_type=entity_type,
        entity_id=entity_id or case.id,
        pupil_id=case.pupil_id,
        request_id=request_id,
    )


# --- checks -----------------------------------------------------------------------------------


def _check_pupil(session: Session, principal: Principal, pupil_id: uuid.UUID) -> None:
    found = session.exec(
        select(Pupil.id).where(
            col(Pupil.id) == pupil_id, col(Pupil.school_id) == principal.school_id
        )
    ).one_or_none()
    if found is None:
        raise InvalidInput(
            f"There is no pupil of your school with id {pupil_id}.",
            loc=("pupil_id",),
            error_type="unknown_pupil",
        )


def _check_concerns(
    session: Session, principal: Principal, pupil_id: uuid.UUID, concern_ids: Sequence[uuid.UUID]
) -> None:
    """Every concern must be of the caller's school and about this pupil (422)."""
    if not concern_ids:
        return
    found = set(
        session.exec(
            select(ConcernPupil.concern_id).where(
                col(ConcernPupil.concern_id).in_(concern_ids),
                col(ConcernPupil.school_id) == principal.school_id,
                col(ConcernPupil.pupil_id) == pupil_id,
            )
        )
    )
    missing = [
        (i, concern_id) for i, concern_id in enumerate(concern_ids) if concern_id not in found
    ]
    if not missing:
        return
    names = ", ".join(str(concern_id) for _, concern_id in missing)
    detail = f"There is no concern about this pupil in your school with id {names}."
    raise InvalidInput(
        detail,
        extra={
            "errors": [
                {"loc": ["body", "concern_ids", i], "msg": detail, "type": "unknown_concern"}
                for i, _ in missing
            ],
            "unknown_concern_ids": [str(concern_id) for _, concern_id in missing],
        },
    )


def _not_in_future(moment: datetime, now: datetime, field: str) -> None:
    if moment > now + FUTURE_TOLERANCE:
        raise InvalidInput(f"{field} is in the future (more than 5 minutes ahead).", loc=(field,))


def _must_be_open(case: Case) -> None:
    if case.status != CaseStatus.open:
        raise Conflict(
            "The case is closed. Reopen it (POST /cases/{id}/reopen, with a reason) first.",
            slug="case-closed",
        )


def _compare_and_set(
    session: Session, case: Case, *, expected: int, now: datetime, **values: object
) -> None:
    """Bump the case's version (and set ``values``) only if nobody changed it since the
    caller read version ``expected``; 412 otherwise, before anything else is written."""
    result = session.execute(
        update(Case)
        .where(col(Case.id) == case.id, col(Case.version) == expected)
        .values(version=expected + 1, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise stale("case")


def _event(
    case: Case,
    kind: CaseEventKind,
    *,
    principal: Principal,
    now: datetime,
    from_value: str | None = None,
    to_value: str | None = None,
    concern_id: uuid.UUID | None = None,
    text: str | None = None,
    reason: str | None = None,
) -> CaseEvent:
    return CaseEvent(
        case_id=case.id,
        school_id=case.school_id,
        pupil_id=case.pupil_id,
        kind=kind.value,
        from_value=from_value,
        to_value=to_value,
        concern_id=concern_id,
        text=text,
        reason=reason,
        recorded_by=principal.id,
        recorded_at=now,
    )


def _link_events(
    case: Case, concern_ids: Iterable[uuid.UUID], *, principal: Principal, now: datetime
) -> list[CaseConcern | CaseEvent]:
    rows: list[CaseConcern | CaseEvent] = []
    for concern_id in concern_ids:
        rows.append(
            CaseConcern(
                case_id=case.id,
                concern_id=concern_id,
                school_id=case.school_id,
                linked_by=principal.id,
                linked_at=now,
            )
        )
        rows.append(
            _event(
                case,
                CaseEventKind.concern_linked,
                principal=principal,
                now=now,
                concern_id=concern_id,
            )
        )
    return rows


@dataclass(frozen=True)
class _CaseChange:
    """A change to ``case`` that its caller has checked and not yet written, by a DSL who
    read the case at version ``expected``."""

    session: Session
    principal: Principal
    now: datetime
    request_id: str | None
    guidance: GuidanceLibrary
    case: Case
    expected: int

    def write(
        self,
        rows: Sequence[CaseConcern | CaseEvent | CaseAction | CaseDecision],
        *,
        action: str,
        entity_type: str = "case",
        entity_id: uuid.UUID | None = None,
        **values: object,
    ) -> ReadCase:
        """Compare-and-set the case's version, setting ``values`` (412 before anything is
        written); add the change's never-changed ``rows``; audit ``action``. Answers the
        case as it now is."""
        session, principal, case, now = self.session, self.principal, self.case, self.now
        _compare_and_set(session, case, expected=self.expected, now=now, **values)
        session.add_all(rows)
        session.flush()
        _record(
            session,
            principal,
            action=action,
            now=now,
            request_id=self.request_id,
            case=case,
            entity_type=entity_type,
            entity_id=entity_id,
        )
        return _read(
            session,
            principal=principal,
            now=now,
            guidance=self.guidance,
            case=_case(session, principal, case.id),
        )


def _changing(
    session: Session,
    principal: Principal,
    case_id: uuid.UUID,
    if_match: str | None,
    *,
    now: datetime,
    request_id: str | None,
    guidance: GuidanceLibrary,
) -> tuple[Case, _CaseChange]:
    """The case about to change, and the change to write once the caller has checked it
    (404, 428, 412)."""
    require_dsl(principal)
    case = _case(session, principal, case_id)
    return case, _CaseChange(
        session=session,
        principal=principal,
        now=now,
        request_id=request_id,
        guidance=guidance,
        case=case,
        expected=expected_version(if_match, kind=ETAG_KIND, current=case.version, what="case"),
    )


# --- operations -------------------------------------------------------------------------------


def create_case(
    session: Session,
    *,
    principal: Principal,
    now: datetime,
    request_id: str | None,
    guidance: GuidanceLibrary,
    case: CaseCreate,
) -> ReadCase:
    """Open a case for a pupil of the school, linking concerns about that pupil.

    DSLs and deputy DSLs. 422 for a pupil or concern that is not the school's (or a
    concern about another pupil) and for an assignee who is not an active DSL of the
    school; the assignee is the caller when not given. Writes an ``opened`` event and a
    ``concern_linked`` event per concern; records ``case.create``."""
    require_dsl(principal)
    _check_pupil(session, principal, case.pupil_id)
    _check_concerns(session, principal, case.pupil_id, case.concern_ids)
    assignee = check_assignee(session, principal, case.assigned_to or principal.id)
    record = Case(
        school_id=principal.school_id,
        pupil_id=case.pupil_id,
        level=case.level.value,
        summary=case.summary,
        assigned_to=assignee.id,
        opened_by=principal.id,
        opened_at=now,
        updated_at=now,
    )
    session.add(record)
    session.flush()
    session.add(
        _event(
            record,
            CaseEventKind.opened,
            principal=principal,
            now=now,
            to_value=record.level,
            text=record.summary,
        )
    )
    session.flush()  # the opened event first: ids are time-ordered, and so is the history
    session.add_all(_link_events(record, case.concern_ids, principal=principal, now=now))
    session.flush()
    _record(session, principal, action="case.create", now=now, request_id=request_id, case=record)
    return _read(session, principal=principal, now=now, guidance=guidance, case=record)


def get_case(
    session: Session,
    *,
    principal: Principal,
    now: datetime,
    request_id: str | None,
    guidance: GuidanceLibrary,
    case_id: uuid.UUID,
) -> ReadCase:
    """The whole case and its ETag. DSLs and deputy DSLs of its school; records
    ``case.read`` (with the pupil)."""
    require_dsl(principal)
    case = _case(session, principal, case_id)
    read = _read(session, principal=principal, now=now, guidance=guidance, case=case)
    _record(session, principal, action="case.read", now=now, request_id=request_id, case=case)
    return read


def _filter_conditions(principal: Principal, filters: CaseFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [col(Case.school_id) == principal.school_id]
    if filters.statuses:
        conditions.append(col(Case.status).in_([s.value for s in filters.statuses]))
    if filters.levels:
        conditions.append(col(Case.level).in_([level.value for level in filters.levels]))
    if filters.pupil_id is not None:
        conditions.append(col(Case.pupil_id) == filters.pupil_id)
    if filters.assigned_to is not None:
        conditions.append(col(Case.assigned_to) == filters.assigned_to)
    if filters.indicators:
        conditions.append(
            exists().where(
                col(CaseConcern.case_id) == Case.id,
                col(ConcernIndicator.concern_id) == CaseConcern.concern_id,
                col(ConcernIndicator.school_id) == principal.school_id,
                col(ConcernIndicator.indicator_id).in_(filters.indicators),
            )
        )
    if filters.opened_from is not None:
        conditions.append(col(Case.opened_at) >= filters.opened_from)
    if filters.opened_to is not None:
        conditions.append(col(Case.opened_at) < filters.opened_to)
    return conditions


def _after(cursor: str) -> ColumnElement[bool]:
    position = decode_cursor(cursor, fields=("opened_at", "id"))
    try:
        opened_at = datetime.fromisoformat(str(position["opened_at"]))
        after_id = uuid.UUID(str(position["id"]))
    except ValueError:
        raise invalid_cursor() from None
    if opened_at.tzinfo is None:
        raise invalid_cursor()
    return or_(
        col(Case.opened_at) < opened_at,
        and_(col(Case.opened_at) == opened_at, col(Case.id) < after_id),
    )


def list_cases(
    session: Session,
    *,
    principal: Principal,
    now: datetime,
    request_id: str | None,
    filters: CaseFilters,
    limit: int,
    cursor: str | None = None,
) -> CaseListPage:
    """The school's cases matching ``filters``, newest opened first, a page at a time
    (keyset on ``opened_at`` and id). DSLs and deputy DSLs; records ``case.list`` once
    per pupil on the page."""
    require_dsl(principal)
    conditions = _filter_conditions(principal, filters)
    if cursor is not None:
        conditions.append(_after(cursor))
    found = list(
        session.exec(
            select(Case)
            .where(*conditions)
            .order_by(col(Case.opened_at).desc(), col(Case.id).desc())
            .limit(limit + 1)
        )
    )
    page = found[:limit]
    next_cursor = None
    if len(found) > limit:
        last = page[-1]
        next_cursor = encode_cursor({"opened_at": last.opened_at.isoformat(), "id": str(last.id)})
    pupils: list[uuid.UUID | None] = [*sorted({case.pupil_id for case in page})]
    audit.record_per_pupil(
        session,
        actor=principal.actor,
        action="case.list",
        now=now,
        request_id=request_id,
        entity_type="case",
        entity_id=None,
        pupil_ids=pupils or [None],
    )
    return CaseListPage(items=_summaries(session, principal, page), next_cursor=next_cursor)


def link_concerns(
    session: Session,
    *,
    principal: Principal,
    now: datetime,
    request_id: str | None,
    guidance: GuidanceLibrary,
    case_id: uuid.UUID,
    link: CaseLink,
    if_match: str | None,
) -> ReadCase:
    """Link more concerns about the case's pupil (same school) to an open case. 409 for
    a concern already linked to it; records ``case.link``."""
    case, pending = _changing(
        session, principal, case_id, if_match, now=now, request_id=request_id, guidance=guidance
    )
    _must_be_open(case)
    _check_concerns(session, principal, case.pupil_id, link.concern_ids)
    already = set(_linked(session, [case.id])[case.id]) & set(link.concern_ids)
    if already:
        raise Conflict(
            "Already linked to this case: " + ", ".join(sorted(str(c) for c in already)) + ".",
            slug="already-linked",
        )
    return pending.write(
        _link_events(case, link.concern_ids, principal=principal, now=now), action="case.link"
    )


def add_action(
    session: Session,
    *,
    principal: Principal,
    now: datetime,
    request_id: str | None,
    guidance: GuidanceLibrary,
    case_id: uuid.UUID,
    action: ActionCreate,
    if_match: str | None,
) -> ReadCase:
    """Record what was done (a discussion, a call, a referral, a meeting) in an open
    case; ``occurred_at`` may be in the past (it is where the action sits in the
    chronology) but not more than 5 minutes ahead. Records ``case.action``."""
    case, pending = _changing(
        session, principal, case_id, if_match, now=now, request_id=request_id, guidance=guidance
    )
    _must_be_open(case)
    _not_in_future(action.occurred_at, now, "occurred_at")
    record = CaseAction(
        case_id=case.id,
        school_id=case.school_id,
        pupil_id=case.pupil_id,
        type=action.type.value,
        description=action.description,
        occurred_at=action.occurred_at,
        with_whom=action.with_whom,
        recorded_by=principal.id,
        recorded_at=now,
    )
    return pending.write(
        [record], action="case.action", entity_type="case_action", entity_id=record.id
    )


def add_decision(
    session: Session,
    *,
    principal: Principal,
    now: datetime,
    request_id: str | None,
    guidance: GuidanceLibrary,
    case_id: uuid.UUID,
    decision: DecisionCreate,
    if_match: str | None,
) -> ReadCase:
    """Record a decision and the reason for it in an open case. Records
    ``case.decision``."""
    case, pending = _changing(
        session, principal, case_id, if_match, now=now, request_id=request_id, guidance=guidance
    )
    _must_be_open(case)
    record = CaseDecision(
        case_id=case.id,
        school_id=case.school_id,
        pupil_id=case.pupil_id,
        decision=decision.decision,
        reason=decision.reason,
        recorded_by=principal.id,
        recorded_at=now,
    )
    return pending.write(
        [record], action="case.decision", entity_type="case_decision", entity_id=record.id
    )


def close_case(
    session: Session,
    *,
    principal: Principal,
    now: datetime,
    request_id: str | None,
    guidance: GuidanceLibrary,
    case_id: uuid.UUID,
    close: CaseClose,
    if_match: str | None,
) -> ReadCase:
    """Close an open case with its outcome and the reason (409 when already closed).
    Records ``case.close``."""
    case, pending = _changing(
        session, principal, case_id, if_match, now=now, request_id=request_id, guidance=guidance
    )
    _must_be_open(case)
    closed = _event(
        case,
        CaseEventKind.closed,
        principal=principal,
        now=now,
        from_value=CaseStatus.open.value,
        to_value=CaseStatus.closed.value,
        text=close.outcome,
        reason=close.reason,
    )
    return pending.write(
        [closed],
        action="case.close",
        status=CaseStatus.closed.value,
        closed_at=now,
        outcome=close.outcome,
    )


def reopen_case(
    session: Session,
    *,
    principal: Principal,
    now: datetime,
    request_id: str | None,
    guidance: GuidanceLibrary,
    case_id: uuid.UUID,
    reopen: CaseReopen,
    if_match: str | None,
) -> ReadCase:
    """Reopen a closed case, with the reason (409 when it is open). Its earlier outcome
    stays in its history. Records ``case.reopen``."""
    case, pending = _changing(
        session, principal, case_id, if_match, now=now, request_id=request_id, guidance=guidance
    )
    if case.status != CaseStatus.closed:
        raise Conflict("The case is open already.", slug="case-open")
    reopened = _event(
        case,
        CaseEventKind.reopened,
        principal=principal,
        now=now,
        from_value=CaseStatus.closed.value,
        to_value=CaseStatus.open.value,
        reason=reopen.reason,
    )
    return pending.write(
        [reopened], action="case.reopen", status=CaseStatus.open.value, closed_at=None, outcome=None
    )


def change_level(
    session: Session,
    *,
    principal: Principal,
    now: datetime,
    request_id: str | None,
    guidance: GuidanceLibrary,
    case_id: uuid.UUID,
    change: CaseLevelChange,
    if_match: str | None,
) -> ReadCase:
    """Move an open case to another level, with the reason (422 for its current level).
    Records ``case.level``."""
    case, pending = _changing(
        session, principal, case_id, if_match, now=now, request_id=request_id, guidance=guidance
    )
    _must_be_open(case)
    if change.level == case.level:
        raise InvalidInput(f"The case is at level {case.level} already.", loc=("level",))
    level_changed = _event(
        case,
        CaseEventKind.level_changed,
        principal=principal,
        now=now,
        from_value=case.level,
        to_value=change.level.value,
        reason=change.reason,
    )
    return pending.write([level_changed], action="case.level", level=change.level.value)


def cases_of_pupil(
    session: Session,
    *,
    principal: Principal,
    now: datetime,
    guidance: GuidanceLibrary,
    pupil_id: uuid.UUID,
) -> list[CasePublic]:
    """Every case of a pupil, oldest opened first, in full (for the export). Records
    nothing: the export records itself."""
    require_dsl(principal)
    found = session.exec(
        select(Case)
        .where(col(Case.school_id) == principal.school_id, col(Case.pupil_id) == pupil_id)
        .order_by(col(Case.opened_at), col(Case.id))
    )
    return [
        render_case(session, principal=principal, now=now, guidance=guidance, case=case)
        for case in found
    ]
