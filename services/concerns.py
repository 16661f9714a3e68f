"""Concerns: logged by staff, read by their recorder and the school's DSLs, never edited.

Who sees what: a DSL or deputy DSL sees every concern of their school; a member of staff
sees the concerns they recorded; admins and MIS accounts see none (403). Anything outside
that is a 404, exactly as if it did not exist.

Audit: every read and write of a concern records events in the same transaction, ids
only. A concern about several children records one event per child (``pupil_id`` set,
``entity_id`` the concern or addendum), so that "who has seen this child's records" is
one query on the audit log. A list records one ``concern.list`` event per child on the
page (``entity_id`` empty), or a single event when the page is empty.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, or_
from sqlmodel import Session, col, select

from models.concern import (
    Addendum,
    AddendumCreate,
    AddendumPublic,
    Concern,
    ConcernCreate,
    ConcernIndicator,
    ConcernPublic,
    ConcernPupil,
    Person,
)
from models.guidance import GuidanceAction, GuidanceDocument
from models.pupil import Pupil
from models.user import Role, User
from services import audit, idempotency
from services.errors import Forbidden, InvalidInput, NotFound
from services.guidance import GuidanceLibrary
from services.pagination import decode_cursor, encode_cursor, invalid_cursor
from services.principal import Principal

RECORDERS = frozenset({Role.staff, Role.dsl, Role.deputy_dsl})
FUTURE_TOLERANCE = timedelta(minutes=5)
CREATED = 201


@dataclass(frozen=True)
class CreatedConcern:
    concern: ConcernPublic
    # True when this answers a repeated Idempotency-Key: nothing new was recorded.
    replayed: bool


@dataclass(frozen=True)
class ConcernFilters:
    """``GET /concerns`` filters; every one given must match (``indicators``: any of)."""

    pupil_id: uuid.UUID | None = None
    indicators: tuple[str, ...] = ()
    status: str | None = None
    observed_from: datetime | None = None  # inclusive
    observed_to: datetime | None = None  # exclusive
    recorded_by: uuid.UUID | None = None
    text: str | None = None
    immediate_danger: bool | None = None


@dataclass(frozen=True)
class ConcernListPage:
    items: list[ConcernPublic]
    next_cursor: str | None


# --- who may see what ----------------------------------------------------------------------


def _require_recorder(principal: Principal) -> None:
    if principal.kind != "user" or principal.role not in RECORDERS:
        raise Forbidden("Your role does not allow this.")


def _visibility(principal: Principal) -> list[ColumnElement[bool]]:
    """The concerns ``principal`` may see, as query conditions. Admins and MIS accounts
    never see concern content."""
    _require_recorder(principal)
    scope: list[ColumnElement[bool]] = [col(Concern.school_id) == principal.school_id]
    if not principal.is_dsl:
        scope.append(col(Concern.recorded_by) == principal.id)
    return scope


def _visible_concern(session: Session, principal: Principal, concern_id: uuid.UUID) -> Concern:
    concern = session.exec(
        select(Concern).where(col(Concern.id) == concern_id, *_visibility(principal))
    ).one_or_none()
    if concern is None:
        raise NotFound("There is no concern with that id.")
    return concern


# --- shaping -----------------------------------------------------------------------------


def _actions(guidance: GuidanceLibrary, key: str, immediate_danger: bool) -> list[GuidanceAction]:
    """The guidance's actions for this concern: those for every concern, and those for
    immediate danger when it was reported."""
    try:
        document = guidance.get(key)
    except NotFound:  # a document withdrawn since: the record must still read
        return []
    return [
        action
        for action in document.actions
        if action.when == "always" or (immediate_danger and action.when == "immediate_danger")
    ]


def _people(
    session: Session, school_id: uuid.UUID, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Person]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = session.exec(
        select(User.id, User.display_name).where(
            col(User.id).in_(wanted), col(User.school_id) == school_id
        )
    )
    return {user_id: Person(id=user_id, display_name=name) for user_id, name in rows}


def _recorder(session: Session, principal: Principal) -> Person:
    # Usually already in the session: authentication has just read the caller's account.
    user = session.get(User, principal.id)
    if user is None or user.school_id != principal.school_id:
        raise NotFound("Your account no longer exists.")
    return Person(id=user.id, display_name=user.display_name)


def _render(
    session: Session, guidance: GuidanceLibrary, concerns: Sequence[Concern]
) -> list[ConcernPublic]:
    """Shape concerns with their pupils, indicators, addenda and recorders, in four
    queries whatever the number of concerns."""
    if not concerns:
        return []
    ids = [c.id for c in concerns]
    school_id = concerns[0].school_id
    pupils: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for link in session.exec(
        select(ConcernPupil)
        .where(col(ConcernPupil.concern_id).in_(ids))
        .order_by(col(ConcernPupil.concern_id), col(ConcernPupil.position))
    ):
        pupils[link.concern_id].append(link.pupil_id)
    indicators: dict[uuid.UUID, list[str]] = defaultdict(list)
    for shown in session.exec(
        select(ConcernIndicator)
        .where(col(ConcernIndicator.concern_id).in_(ids))
        .order_by(col(ConcernIndicator.concern_id), col(ConcernIndicator.position))
    ):
        indicators[shown.concern_id].append(shown.indicator_id)
    addenda: dict[uuid.UUID, list[Addendum]] = defaultdict(list)
    for addendum in session.exec(
        select(Addendum)
        .where(col(Addendum.concern_id).in_(ids))
        .order_by(col(Addendum.recorded_at), col(Addendum.id))
    ):
        addenda[addendum.concern_id].append(addendum)
    people = _people(
        session,
        school_id,
        [c.recorded_by for c in concerns]
        + [a.recorded_by for group in addenda.values() for a in group],
    )
    return [
        _public(
            concern,
            pupil_ids=pupils[concern.id],
            indicators=indicators[concern.id],
            addenda=[_addendum_public(a, people[a.recorded_by]) for a in addenda[concern.id]],
            recorded_by=people[concern.recorded_by],
            actions=_actions(guidance, concern.guidance_key, concern.immediate_danger),
        )
        for concern in concerns
    ]


def _public(
    concern: Concern,
    *,
    pupil_ids: list[uuid.UUID],
    indicators: list[str],
    addenda: list[AddendumPublic],
    recorded_by: Person,
    actions: list[GuidanceAction],
) -> ConcernPublic:
    return ConcernPublic(
        id=concern.id,
        pupil_ids=pupil_ids,
        guidance_key=concern.guidance_key,
        guidance_version=concern.guidance_version,
        indicators=indicators,
        description=concern.description,
        observed_at=concern.observed_at,
        location=concern.location,
        immediate_danger=concern.immediate_danger,
        police_contacted=concern.police_contacted,
        recorded_at=concern.recorded_at,
        recorded_by=recorded_by,
        status=concern.status,
        addenda=addenda,
        actions=actions,
    )


def _addendum_public(addendum: Addendum, recorded_by: Person) -> AddendumPublic:
    return AddendumPublic(
        id=addendum.id,
        text=addendum.text,
        reason=addendum.reason,
        recorded_at=addendum.recorded_at,
        recorded_by=recorded_by,
    )


def _record_per_pupil(
    session: Session,
    principal: Principal,
    *,
    action: str,
    now: datetime,
    request_id: str | None,
    entity_type: str,
    entity_id: uuid.UUID | None,
    pupil_ids: Iterable[uuid.UUID],
    outcome: str = "success",
) -> None:
    for pupil_id in pupil_ids:
        audit.record(
            session,
            actor=principal.actor,
            action=action,
            now=now,
            entity_type=entity_type,
            entity_id=entity_id,
            pupil_id=pupil_id,
            request_id=request_id,
            outcome=outcome,
        )


# --- validation --------------------------------------------------------------------------


def _validation_error(loc: list[str | int], detail: str, **extra: object) -> InvalidInput:
    error = {"loc": ["body", *loc], "msg": detail, "type": "value_error"}
    return InvalidInput(detail, extra={"errors": [error], **extra})


def _guidance_for(guidance: GuidanceLibrary, key: str) -> GuidanceDocument:
    try:
        return guidance.get(key)
    except NotFound:
        raise _validation_error(
            ["guidance_key"],
            f"There is no guidance {key!r}. Valid keys: {', '.join(guidance.keys())}.",
            valid_guidance_keys=guidance.keys(),
        ) from None


def _check_indicators(document: GuidanceDocument, indicators: list[str]) -> None:
    valid = document.indicator_ids()
    unknown = [(i, indicator) for i, indicator in enumerate(indicators) if indicator not in valid]
    if not unknown:
        return
    names = ", ".join(repr(indicator) for _, indicator in unknown)
    detail = (
        f"Unknown indicator {names} for guidance {document.key!r}. "
        f"Valid indicators: {', '.join(valid)}."
    )
    raise InvalidInput(
        detail,
        extra={
            "errors": [
                {"loc": ["body", "indicators", i], "msg": detail, "type": "unknown_indicator"}
                for i, _ in unknown
            ],
            "valid_indicators": valid,
        },
    )


def _check_pupils(session: Session, principal: Principal, pupil_ids: list[uuid.UUID]) -> None:
    """Every pupil must be of the caller's school (a pupil who has left still counts:
    a concern about them must still be recordable)."""
    found = set(
        session.exec(
            select(Pupil.id).where(
                col(Pupil.id).in_(pupil_ids), col(Pupil.school_id) == principal.school_id
            )
        )
    )
    missing = [(i, pupil_id) for i, pupil_id in enumerate(pupil_ids) if pupil_id not in found]
    if not missing:
        return
    names = ", ".join(str(pupil_id) for _, pupil_id in missing)
    detail = f"There is no pupil of your school with id {names}."
    raise InvalidInput(
        detail,
        extra={
            "errors": [
                {"loc": ["body", "pupil_ids", i], "msg": detail, "type": "unknown_pupil"}
                for i, _ in missing
            ],
            "unknown_pupil_ids": [str(pupil_id) for _, pupil_id in missing],
        },
    )


# --- operations --------------------------------------------------------------------------


def create_concern(
    session: Session,
    *,
    principal: Principal,
    now: datetime,
    request_id: str | None,
    guidance: GuidanceLibrary,
    concern: ConcernCreate,
    idempotency_key: str | None = None,
) -> CreatedConcern:
    """Record a concern about 1-20 pupils of the caller's school.

    Staff, DSLs and deputy DSLs. ``recorded_at`` is ``now`` (the server's clock) and the
    recorder is the caller; the guidance's version is stored with the concern. Refuses
    (422) pupils outside the school, indicators the guidance does not have, an unknown
    guidance key, and an ``observed_at`` more than 5 minutes ahead of ``now``.

    With ``idempotency_key``, a repeat of the same request by the same user within 24 h
    returns the first answer (``replayed``) and records nothing new except an audit event
    per pupil with outcome ``replayed``; the same key with another body is a 422.

    Records ``concern.create`` once per pupil, in the caller's transaction."""
    _require_recorder(principal)
    claimed = None
    if idempotency_key is not None:
        answer = idempotency.claim(
            session,
            user_id=principal.id,
            key=idempotency_key,
            request_hash=idempotency.request_hash(concern.model_dump(mode="json")),
            now=now,
        )
        if isinstance(answer, idempotency.StoredAnswer):
            first = ConcernPublic.model_validate(answer.body)
            _record_per_pupil(
                session,
                principal,
                action="concern.create",
                now=now,
                request_id=request_id,
                entity_type="concern",
                entity_id=first.id,
                pupil_ids=first.pupil_ids,
                outcome="replayed",
            )
            return CreatedConcern(concern=first, replayed=True)
        claimed = answer

    if concern.observed_at > now + FUTURE_TOLERANCE:
        raise _validation_error(
            ["observed_at"], "observed_at is in the future (more than 5 minutes ahead)."
        )
    document = _guidance_for(guidance, concern.guidance_key)
    _check_indicators(document, concern.indicators)
    _check_pupils(session, principal, concern.pupil_ids)

    record = Concern(
        school_id=principal.school_id,
        recorded_by=principal.id,
        recorded_at=now,
        observed_at=concern.observed_at,
        guidance_key=document.key,
        guidance_version=document.version,
        description=concern.description,
        location=concern.location,
        immediate_danger=concern.immediate_danger,
        police_contacted=concern.police_contacted,
    )
    session.add(record)
    session.flush()  # the concern row first: its children refer to it
    session.add_all(
        [
            ConcernPupil(
                concern_id=record.id, pupil_id=pupil_id, school_id=record.school_id, position=i
            )
            for i, pupil_id in enumerate(concern.pupil_ids)
        ]
        + [
            ConcernIndicator(
                concern_id=record.id,
                indicator_id=indicator,
                school_id=record.school_id,
                observed_at=record.observed_at,
                position=i,
            )
            for i, indicator in enumerate(concern.indicators)
        ]
    )
    session.flush()
    _record_per_pupil(
        session,
        principal,
        action="concern.create",
        now=now,
        request_id=request_id,
        entity_type="concern",
        entity_id=record.id,
        pupil_ids=concern.pupil_ids,
    )
    public = _public(
        record,
        pupil_ids=list(concern.pupil_ids),
        indicators=list(concern.indicators),
        addenda=[],
        recorded_by=_recorder(session, principal),
        actions=_actions(guidance, document.key, record.immediate_danger),
    )
    if claimed is not None:
        idempotency.complete(session, claimed, status=CREATED, body=public.model_dump(mode="json"))
    return CreatedConcern(concern=public, replayed=False)


def get_concern(
    session: Session,
    *,
    principal: Principal,
    now: datetime,
    request_id: str | None,
    guidance: GuidanceLibrary,
    concern_id: uuid.UUID,
) -> ConcernPublic:
    """One concern with its addenda (oldest first).

    Its recorder, or a DSL or deputy DSL of its school; anyone else of a recording role
    gets a 404, admins and MIS accounts a 403. Records ``concern.read`` once per pupil."""
    concern = _visible_concern(session, principal, concern_id)
    public = _render(session, guidance, [concern])[0]
    _record_per_pupil(
        session,
        principal,
        action="concern.read",
        now=now,
        request_id=request_id,
        entity_type="concern",
        entity_id=concern.id,
        pupil_ids=public.pupil_ids,
    )
    return public


def _filter_conditions(principal: Principal, filters: ConcernFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.pupil_id is not None:
        conditions.append(
            exists().where(
                col(ConcernPupil.concern_id) == Concern.id,
                col(ConcernPupil.school_id) == principal.school_id,
                col(ConcernPupil.pupil_id) == filters.pupil_id,
            )
        )
    if filters.indicators:
        conditions.append(
            exists().where(
                col(ConcernIndicator.concern_id) == Concern.id,
                col(ConcernIndicator.school_id) == principal.school_id,
                col(ConcernIndicator.indicator_id).in_(filters.indicators),
            )
        )
    if filters.status is not None:
        conditions.append(col(Concern.status) == filters.status)
    if filters.observed_from is not None:
        conditions.append(col(Concern.observed_at) >= filters.observed_from)
    if filters.observed_to is not None:
        conditions.append(col(Concern.observed_at) < filters.observed_to)
    if filters.recorded_by is not None:
        conditions.append(col(Concern.recorded_by) == filters.recorded_by)
    if filters.text:
        # A plain substring match for now; full-text search is a later issue.
        conditions.append(col(Concern.description).icontains(filters.text, autoescape=True))
    if filters.immediate_danger is not None:
        conditions.append(col(Concern.immediate_danger) == filters.immediate_danger)
    return conditions


def _after(cursor: str) -> ColumnElement[bool]:
    position = decode_cursor(cursor, fields=("recorded_at", "id"))
    try:
        recorded_at = datetime.fromisoformat(str(position["recorded_at"]))
        after_id = uuid.UUID(str(position["id"]))
    except ValueError:
        raise invalid_cursor() from None
    if recorded_at.tzinfo is None:
        raise invalid_cursor()
    return or_(
        col(Concern.recorded_at) < recorded_at,
        and_(col(Concern.recorded_at) == recorded_at, col(Concern.id) < after_id),
    )


def list_concerns(
    session: Session,
    *,
    principal: Principal,
    now: datetime,
    request_id: str | None,
    guidance: GuidanceLibrary,
    filters: ConcernFilters,
    limit: int,
    cursor: str | None = None,
) -> ConcernListPage:
    """The concerns the caller may see that match ``filters``, newest recorded first, a
    page at a time (keyset on ``recorded_at`` and id, so concerns recorded while paging
    never shift or repeat a later page).

    DSLs and deputy DSLs: the whole school's; staff: their own only; admins and MIS
    accounts: 403. Records ``concern.list`` once per pupil on the page."""
    conditions = _visibility(principal) + _filter_conditions(principal, filters)
    if cursor is not None:
        conditions.append(_after(cursor))
    found = list(
        session.exec(
            select(Concern)
            .where(*conditions)
            .order_by(col(Concern.recorded_at).desc(), col(Concern.id).desc())
            .limit(limit + 1)
        )
    )
    page = found[:limit]
    items = _render(session, guidance, page)
    next_cursor = None
    if len(found) > limit:
        last = page[-1]
        next_cursor = encode_cursor(
            {"recorded_at": last.recorded_at.isoformat(), "id": str(last.id)}
        )
    seen = sorted({pupil_id for item in items for pupil_id in item.pupil_ids})
    if seen:
        _record_per_pupil(
            session,
            principal,
            action="concern.list",
            now=now,
            request_id=request_id,
            entity_type="concern",
            entity_id=None,
            pupil_ids=seen,
        )
    else:
        audit.record(
            session,
            actor=principal.actor,
            action="concern.list",
            now=now,
            entity_type="concern",
            request_id=request_id,
        )
    return ConcernListPage(items=items, next_cursor=next_cursor)


def add_addendum(
    session: Session,
    *,
    principal: Principal,
    now: datetime,
    request_id: str | None,
    concern_id: uuid.UUID,
    addendum: AddendumCreate,
) -> AddendumPublic:
    """Add further information or a correction to a concern; the concern itself is never
    changed.

    Its recorder, or a DSL or deputy DSL of its school (404 for anyone else of a recording
    role, 403 for admins and MIS accounts). Records ``addendum.create`` once per pupil of
    the concern."""
    concern = _visible_concern(session, principal, concern_id)
    record = Addendum(
        concern_id=concern.id,
        school_id=concern.school_id,
        text=addendum.text,
        reason=addendum.reason,
        recorded_by=principal.id,
        recorded_at=now,
    )
    session.add(record)
    session.flush()
    pupil_ids = session.exec(
        select(ConcernPupil.pupil_id)
        .where(col(ConcernPupil.concern_id) == concern.id)
        .order_by(col(ConcernPupil.position))
    ).all()
    _record_per_pupil(
        session,
        principal,
        action="addendum.create",
        now=now,
        request_id=request_id,
        entity_type="addendum",
        entity_id=record.id,
        pupil_ids=pupil_ids,
    )
    return _addendum_public(record, _recorder(session, principal))
