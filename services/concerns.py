"""Concerns: logged by staff, read by their recorder and the school's DSLs, never edited.

Who sees what: a DSL or deputy DSL sees every concern of their school; a member of staff
sees the concerns they recorded; admins and MIS accounts see none (403). Anything outside
that is a 404, exactly as if it did not exist.

Audit: every read and write of a concern records events in the same transaction, ids
only. A concern about several children records one event per child (``pupil_id`` set,
``entity_id`` the concern or addendum), so that "who has seen this child's records" is
one query on the audit log. A list records one ``concern.list`` event per child on the
page (``entity_id`` empty), or a single event when the page is empty.

Triage: each concern gets its ``concern_triage`` row (status ``new``, version 1) in the
transaction that records it; the concern row itself is never written again. DSLs see the
triage state in full (status, risk level, assignee, hours waiting); staff see the status
only.

Text search: see ``models.concern``. PostgreSQL matches ``websearch_to_tsquery('english',
q)`` (stemmed words, "quoted phrases", ``or``, ``-word``) against the description and
each addendum's text; SQLite matches every word of ``q`` as the start of a word of the
same texts, ignoring case and accents.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import ConfigDict, TypeAdapter
from sqlalchemy import ColumnElement, and_, exists, false, func, literal_column, or_
from sqlalchemy import union as sql_union
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from core.errors import Forbidden, InvalidInput, NotFound
from db.batch import rows_together, sent_together
from db.prepared import Prepared
from models.base import new_id
from models.concern import (
    SEARCH_TERM_MAX,
    TSVECTOR_ADDENDUM_TEXT,
    TSVECTOR_DESCRIPTION,
    Addendum,
    AddendumCreate,
    AddendumPublic,
    Concern,
    ConcernCreate,
    ConcernIndicator,
    ConcernPublic,
    ConcernPupil,
    ConcernSearchTerm,
    ConcernSort,
    Person,
    search_terms,
)
from models.guidance import GuidanceAction, GuidanceDocument
from models.pupil import Pupil, name_words
from models.triage import ConcernTriage, RiskLevel, TriageStatus
from models.user import Role, User
from services import audit, idempotency
from services.guidance import GuidanceLibrary
from services.pagination import decode_cursor, encode_cursor, invalid_cursor
from services.preconditions import etag
from services.principal import Principal

RECORDERS = frozenset({Role.staff, Role.dsl, Role.deputy_dsl})
FUTURE_TOLERANCE = timedelta(minutes=5)
CREATED = 201
ETAG_KIND = "triage"
MAX_SEARCH_WORDS = 10
# Sorts a list may ask for: a field, descending with a leading "-".
SORTS = tuple(sort.value for sort in ConcernSort)
DEFAULT_SORT = ConcernSort.recorded_desc.value
# Above every other code point: "term >= w AND term < w || MAX_CHAR" is "starts with w".
_MAX_CHAR = "\U0010ffff"


# --- tables and prebuilt statements ---------------------------------------------------------
# The hot paths (log, read, list) read and write with Core statements built once: the
# ORM's unit of work and identity map cost more than the SQL for rows that are written once
# and only ever read back to be shown.

_CONCERNS: sa.Table = Concern.__table__  # type: ignore[attr-defined]
_TRIAGE: sa.Table = ConcernTriage.__table__  # type: ignore[attr-defined]
_CONCERN_PUPILS: sa.Table = ConcernPupil.__table__  # type: ignore[attr-defined]
_CONCERN_INDICATORS: sa.Table = ConcernIndicator.__table__  # type: ignore[attr-defined]
_ADDENDA: sa.Table = Addendum.__table__  # type: ignore[attr-defined]
_USERS: sa.Table = User.__table__  # type: ignore[attr-defined]
_PUPILS: sa.Table = Pupil.__table__  # type: ignore[attr-defined]
_SEARCH_TERMS: sa.Table = ConcernSearchTerm.__table__  # type: ignore[attr-defined]

# A concern as it is shown: its own columns and its triage state, one row per concern.
_SHOWN_COLUMNS = (
    *_CONCERNS.c,
    _TRIAGE.c.status,
    _TRIAGE.c.risk_level,
    _TRIAGE.c.assigned_to,
    _TRIAGE.c.version.label("triage_version"),
)
_SHOWN_FROM = sa.select(*_SHOWN_COLUMNS).join_from(
    _CONCERNS, _TRIAGE, _TRIAGE.c.concern_id == _CONCERNS.c.id
)
# One concern as a DSL may see it (any of the school's), and as its recorder may.
_ONE_SHOWN = _SHOWN_FROM.where(
    _CONCERNS.c.id == sa.bindparam("concern_id"),
    _CONCERNS.c.school_id == sa.bindparam("school_id"),
)
_SHOWN_TO_DSL = Prepared(_ONE_SHOWN)
_SHOWN_TO_RECORDER = Prepared(_ONE_SHOWN.where(_CONCERNS.c.recorded_by == sa.bindparam("user_id")))
_INSERT_CONCERN = Prepared(sa.insert(_CONCERNS))
_INSERT_CONCERN_PUPILS = Prepared(sa.insert(_CONCERN_PUPILS))
_INSERT_CONCERN_INDICATORS = Prepared(sa.insert(_CONCERN_INDICATORS))
_INSERT_TRIAGE = Prepared(sa.insert(_TRIAGE))
_INSERT_ADDENDUM = Prepared(sa.insert(_ADDENDA))
_INSERT_SEARCH_TERMS = Prepared(sqlite_insert(_SEARCH_TERMS).on_conflict_do_nothing())
_SCHOOL_PUPILS = Prepared(
    sa.select(_PUPILS.c.id).where(
        _PUPILS.c.school_id == sa.bindparam("school_id"),
        _PUPILS.c.id.in_(sa.bindparam("pupil_ids", expanding=True)),
    )
)
# A concern's lookups go by its id alone. (A school filter beside it made SQLite, before
# ANALYZE has run, read a pupil lookup through the (school, pupil) index: every row of
# the school's, on every read.)
_PUPILS_OF = Prepared(
    sa.select(_CONCERN_PUPILS.c.concern_id, _CONCERN_PUPILS.c.pupil_id)
    .where(_CONCERN_PUPILS.c.concern_id.in_(sa.bindparam("concern_ids", expanding=True)))
    .order_by(_CONCERN_PUPILS.c.concern_id, _CONCERN_PUPILS.c.position)
)
_INDICATORS_OF = Prepared(
    sa.select(_CONCERN_INDICATORS.c.concern_id, _CONCERN_INDICATORS.c.indicator_id)
    .where(_CONCERN_INDICATORS.c.concern_id.in_(sa.bindparam("concern_ids", expanding=True)))
    .order_by(_CONCERN_INDICATORS.c.concern_id, _CONCERN_INDICATORS.c.position)
)
_ADDENDA_OF = Prepared(
    sa.select(
        _ADDENDA.c.concern_id,
        _ADDENDA.c.id,
        _ADDENDA.c.text,
        _ADDENDA.c.reason,
        _ADDENDA.c.recorded_at,
        _ADDENDA.c.recorded_by,
    )
    .where(_ADDENDA.c.concern_id.in_(sa.bindparam("concern_ids", expanding=True)))
    .order_by(_ADDENDA.c.recorded_at, _ADDENDA.c.id)
)
_PEOPLE = Prepared(
    sa.select(_USERS.c.id, _USERS.c.display_name).where(
        _USERS.c.school_id == sa.bindparam("school_id"),
        _USERS.c.id.in_(sa.bindparam("user_ids", expanding=True)),
    )
)
# Everyone a concern shows (its recorder, its assignee, whoever added to it), found by the
# concern's id alone: for a read, sent with the concern's own query, not after it. (For a
# page, whose rows are read first, ``_PEOPLE`` of the rows' recorders costs less: see
# ``_render``.)
_CONCERN_IDS: sa.BindParameter[Any] = sa.bindparam("concern_ids", expanding=True)
_PEOPLE_OF = Prepared(
    sa.select(_USERS.c.id, _USERS.c.display_name).where(
        _USERS.c.school_id == sa.bindparam("school_id"),
        _USERS.c.id.in_(
            sa.union_all(
                sa.select(_CONCERNS.c.recorded_by).where(_CONCERNS.c.id.in_(_CONCERN_IDS)),
                sa.select(_TRIAGE.c.assigned_to).where(_TRIAGE.c.concern_id.in_(_CONCERN_IDS)),
                sa.select(_ADDENDA.c.recorded_by).where(_ADDENDA.c.concern_id.in_(_CONCERN_IDS)),
            )
        ),
    )
)


@dataclass(frozen=True)
class CreatedConcern:
    concern: ConcernPublic
    # True when this answers a repeated Idempotency-Key: nothing new was recorded.
    replayed: bool


@dataclass(frozen=True)
class ReadConcern:
    concern: ConcernPublic
    etag: str  # of its triage state: what POST /concerns/{id}/triage must send in If-Match


@dataclass(frozen=True)
class ConcernFilters:
    """``GET /concerns`` filters; every one given must match (a tuple: any of its values).

    ``risk_levels`` and ``assigned_to`` are the DSLs' own assessment: staff may not
    filter on them (403), so a filter can never tell them what the DSL decided."""

    pupil_id: uuid.UUID | None = None
    indicators: tuple[str, ...] = ()
    statuses: tuple[TriageStatus, ...] = ()
    observed_from: datetime | None = None  # inclusive
    observed_to: datetime | None = None  # exclusive
    recorded_by: uuid.UUID | None = None
    text: str | None = None
    immediate_danger: bool | None = None
    risk_levels: tuple[RiskLevel, ...] = ()
    assigned_to: uuid.UUID | None = None
    year_group: str | None = None


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


def load_with_triage(
    session: Session, principal: Principal, concern_id: uuid.UUID
) -> tuple[Concern, ConcernTriage]:
    row = session.exec(
        select(Concern, ConcernTriage)
        .join(ConcernTriage, col(ConcernTriage.concern_id) == col(Concern.id))
        .where(col(Concern.id) == concern_id, *_visibility(principal))
        # A triage just changed by a compare-and-set UPDATE must be read as it now is.
        .execution_options(populate_existing=True)
    ).one_or_none()
    if row is None:
        raise NotFound("There is no concern with that id.")
    return row[0], row[1]


def visible_concern_ids(
    session: Session, principal: Principal, concern_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of ``concern_ids`` the caller may see (the rest are as good as absent)."""
    if not concern_ids:
        return set()
    return set(
        session.exec(
            select(Concern.id).where(col(Concern.id).in_(concern_ids), *_visibility(principal))
        )
    )


# --- shaping -----------------------------------------------------------------------------


def people_by_id(
    session: Session, school_id: uuid.UUID, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Person]:
    """Staff of the school among ``ids``, as records show them (id and display name)."""
    wanted = set(ids)
    if not wanted:
        return {}
    return _persons(_PEOPLE.rows(session, {"school_id": school_id, "user_ids": list(wanted)}))


def _persons(rows: Iterable[Any]) -> dict[uuid.UUID, Person]:
    return {
        user_id: Person.model_construct(id=user_id, display_name=name) for user_id, name in rows
    }


def _caller(principal: Principal) -> tuple[Prepared, dict[str, Any]]:
    """The query for the caller as a concern shows its recorder (see ``_recorder``)."""
    return _PEOPLE, {"school_id": principal.school_id, "user_ids": [principal.id]}


def _recorder(principal: Principal, people_rows: Iterable[Any]) -> Person:
    """The caller as a concern shows its recorder, from the rows of ``_caller``."""
    person = _persons(people_rows).get(principal.id)
    if person is None:
        raise NotFound("Your account no longer exists.")
    return person


def _looked_up(
    concern_ids: list[uuid.UUID], *, people: tuple[Prepared, dict[str, Any]]
) -> list[tuple[Prepared, Any]]:
    """What ``_shaped`` needs beside the concerns' own rows: their pupils, indicators and
    addenda, and the ``people`` query's people, four queries whatever the number of
    concerns."""
    ids = {"concern_ids": concern_ids}
    return [(_PUPILS_OF, ids), (_INDICATORS_OF, ids), (_ADDENDA_OF, ids), people]


def _render(
    session: Session,
    guidance: GuidanceLibrary,
    rows: Sequence[Any],
    *,
    principal: Principal,
    now: datetime,
) -> list[ConcernPublic]:
    """Shape concerns (rows of ``_SHOWN_COLUMNS``) with their pupils, indicators, addenda
    and people, in four queries whatever the number of concerns (sent together on
    PostgreSQL), and a fifth when someone else added to them."""
    if not rows:
        return []
    school_id = rows[0].school_id
    recorders = {row.recorded_by for row in rows} | {
        row.assigned_to for row in rows if row.assigned_to is not None
    }
    pupil_rows, indicator_rows, addendum_rows, people_rows = rows_together(
        session,
        _looked_up(
            [row.id for row in rows],
            people=(_PEOPLE, {"school_id": school_id, "user_ids": list(recorders)}),
        ),
    )
    # Addenda by someone else than the page's recorders and assignees: a second lookup.
    others = {addendum.recorded_by for addendum in addendum_rows} - recorders
    if others:
        people_rows += _PEOPLE.rows(session, {"school_id": school_id, "user_ids": list(others)})
    return _shaped(
        guidance,
        rows,
        [pupil_rows, indicator_rows, addendum_rows, people_rows],
        principal=principal,
        now=now,
    )


def _shaped(
    guidance: GuidanceLibrary,
    rows: Sequence[Any],
    looked_up: Sequence[list[Any]],
    *,
    principal: Principal,
    now: datetime,
) -> list[ConcernPublic]:
    """Concerns (rows of ``_SHOWN_COLUMNS``) as the API shows them, from the rows of their
    ``_looked_up`` queries."""
    pupil_rows, indicator_rows, addendum_rows, people_rows = looked_up
    pupils: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for concern_id, pupil_id in pupil_rows:
        pupils[concern_id].append(pupil_id)
    indicators: dict[uuid.UUID, list[str]] = defaultdict(list)
    for concern_id, indicator_id in indicator_rows:
        indicators[concern_id].append(indicator_id)
    addenda: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for addendum in addendum_rows:
        addenda[addendum.concern_id].append(addendum)
    people = _persons(people_rows)
    return _SHOWN.validate_python(
        [
            _public(
                row,
                pupil_ids=pupils[row.id],
                indicators=indicators[row.id],
                addenda=[_addendum_fields(a, people[a.recorded_by]) for a in addenda[row.id]],
                recorded_by=people[row.recorded_by],
                actions=list(
                    guidance.actions_for(row.guidance_key, immediate_danger=row.immediate_danger)
                ),
                dsl_view=principal.is_dsl,
                assignee=people.get(row.assigned_to) if row.assigned_to else None,
                now=now,
            )
            for row in rows
        ]
    )


def _core(session: Session, statement: Any, parameters: Any = None) -> Any:
    """Run a Core statement on the session's connection, in its transaction (the ORM's
    execute path adds nothing for statements that load no ORM objects)."""
    return session.connection().execute(statement, parameters)


def _shown_query(principal: Principal, concern_id: uuid.UUID) -> tuple[Prepared, dict[str, Any]]:
    """The query for one concern as the caller may see it (no row if they may not)."""
    _require_recorder(principal)
    parameters = {"concern_id": concern_id, "school_id": principal.school_id}
    if principal.is_dsl:
        return _SHOWN_TO_DSL, parameters
    return _SHOWN_TO_RECORDER, parameters | {"user_id": principal.id}


def _only_row(found: list[Any]) -> Any:
    if not found:
        raise NotFound("There is no concern with that id.")
    return found[0]


@dataclass(frozen=True)
class _ShownRow:
    """A concern just recorded, with the same fields as a row of ``_SHOWN_COLUMNS``."""

    id: uuid.UUID
    school_id: uuid.UUID
    recorded_by: uuid.UUID
    recorded_at: datetime
    observed_at: datetime
    guidance_key: str
    guidance_version: str
    description: str
    location: str | None
    immediate_danger: bool
    police_contacted: bool
    status: str
    risk_level: str | None
    assigned_to: uuid.UUID | None


def render_concerns(
    session: Session,
    *,
    principal: Principal,
    now: datetime,
    guidance: GuidanceLibrary,
    concern_ids: Sequence[uuid.UUID],
) -> list[ConcernPublic]:
    """The concerns of ``concern_ids`` that the caller may see, shaped as the API shows
    them, in the order given. Records nothing: the caller records its own read."""
    if not concern_ids:
        return []
    found = {
        row.id: row
        for row in session.execute(
            _SHOWN_FROM.where(_CONCERNS.c.id.in_(concern_ids), *_visibility(principal))
        )
    }
    rows = [found[concern_id] for concern_id in concern_ids if concern_id in found]
    return _render(session, guidance, rows, principal=principal, now=now)


# What a line about a concern in a list of events (the chronology) shows of it.
_OUTLINE_COLUMNS = (
    _CONCERNS.c.id,
    _CONCERNS.c.recorded_by,
    _CONCERNS.c.recorded_at,
    _CONCERNS.c.observed_at,
    _CONCERNS.c.description,
    _CONCERNS.c.location,
    _CONCERNS.c.immediate_danger,
    _CONCERNS.c.police_contacted,
)


def _outline_statements() -> tuple[Any, Any]:
    about_pupil = (
        _CONCERN_PUPILS.c.school_id == sa.bindparam("school_id"),
        _CONCERN_PUPILS.c.pupil_id == sa.bindparam("pupil_id"),
    )
    outlines = (
        sa.select(*_OUTLINE_COLUMNS)
        .join_from(_CONCERNS, _CONCERN_PUPILS, _CONCERN_PUPILS.c.concern_id == _CONCERNS.c.id)
        .where(
            *about_pupil,
            _CONCERNS.c.school_id == sa.bindparam("school_id"),
            _CONCERNS.c.observed_at >= sa.bindparam("observed_from"),
            _CONCERNS.c.observed_at <= sa.bindparam("observed_to"),
        )
    )
    indicators = (
        sa.select(_CONCERN_INDICATORS.c.concern_id, _CONCERN_INDICATORS.c.indicator_id)
        .join_from(
            _CONCERN_INDICATORS,
            _CONCERN_PUPILS,
            _CONCERN_PUPILS.c.concern_id == _CONCERN_INDICATORS.c.concern_id,
        )
        .where(
            *about_pupil,
            _CONCERN_INDICATORS.c.observed_at >= sa.bindparam("observed_from"),
            _CONCERN_INDICATORS.c.observed_at <= sa.bindparam("observed_to"),
        )
        .order_by(_CONCERN_INDICATORS.c.concern_id, _CONCERN_INDICATORS.c.position)
    )
    return Prepared(outlines), Prepared(indicators)


# A pupil's concerns observed in a period, and their indicators: by pupil and period, not
# by a list of ids (200 ids as parameters cost more than the rows they fetch).
_PUPIL_OUTLINES, _PUPIL_OUTLINE_INDICATORS = _outline_statements()


Outlines = dict[uuid.UUID, tuple[Any, list[str]]]


def pupil_outline_queries(
    principal: Principal,
    *,
    pupil_id: uuid.UUID,
    observed_from: datetime,
    observed_to: datetime,
) -> list[tuple[Prepared, dict[str, Any]]]:
    """The two queries for the concerns about ``pupil_id`` observed from ``observed_from``
    to ``observed_to`` (both inclusive) and their indicators, to be run with others
    (``db.batch.rows_together``: one round trip on PostgreSQL) and shaped by
    ``outlines_from``: what a list of events about a child (the chronology) shows of a
    concern (who recorded it, when, what was seen, where, the signs in order). DSLs and
    deputy DSLs of the school only (403 otherwise). Records nothing: the caller records
    its own read."""
    _require_recorder(principal)
    if not principal.is_dsl:
        raise Forbidden("Only DSLs and deputy DSLs may read a pupil's chronology.")
    parameters = {
        "school_id": principal.school_id,
        "pupil_id": pupil_id,
        "observed_from": observed_from,
        "observed_to": observed_to,
    }
    return [(_PUPIL_OUTLINES, parameters), (_PUPIL_OUTLINE_INDICATORS, parameters)]


def outlines_from(rows: Sequence[Any], signs: Sequence[Any]) -> Outlines:
    """The rows of ``pupil_outline_queries`` by concern id, each with its indicator ids."""
    indicators: dict[uuid.UUID, list[str]] = defaultdict(list)
    for concern_id, indicator_id in signs:
        indicators[concern_id].append(indicator_id)
    return {row.id: (row, indicators[row.id]) for row in rows}


def waiting_hours(status: str, recorded_at: datetime, now: datetime) -> float | None:
    """Hours since the concern was recorded, while nobody has moved it on from new."""
    if status != TriageStatus.new:
        return None
    return round(max((now - recorded_at).total_seconds(), 0) / 3600, 1)


# Concerns are shaped as plain dicts and validated into their models in one call into
# pydantic-core: for a page of 50, a third of the time of building each concern's models
# in Python with ``model_construct`` (issue #7), and every value is still checked.
# Inputs stay out of its errors: stored text must never reach the log.
_SHOWN: TypeAdapter[list[ConcernPublic]] = TypeAdapter(
    list[ConcernPublic], config=ConfigDict(hide_input_in_errors=True)
)


def _public(
    row: Any,
    *,
    pupil_ids: list[uuid.UUID],
    indicators: list[str],
    addenda: list[dict[str, Any]],
    recorded_by: Person,
    actions: list[GuidanceAction],
    dsl_view: bool,
    assignee: Person | None,
    now: datetime,
) -> dict[str, Any]:
    """``row`` (a concern with its triage state, as ``_SHOWN_COLUMNS`` reads it) as the API
    shows it, the fields of a ``ConcernPublic`` (``_SHOWN`` makes the models)."""
    return dict(
        id=row.id,
        pupil_ids=pupil_ids,
        guidance_key=row.guidance_key,
        guidance_version=row.guidance_version,
        indicators=indicators,
        description=row.description,
        observed_at=row.observed_at,
        location=row.location,
        immediate_danger=row.immediate_danger,
        police_contacted=row.police_contacted,
        recorded_at=row.recorded_at,
        recorded_by=recorded_by,
        status=row.status,
        # The DSLs' assessment is theirs: staff see where it is, not what was decided.
        risk_level=row.risk_level if dsl_view else None,
        assigned_to=assignee if dsl_view else None,
        waiting_hours=waiting_hours(row.status, row.recorded_at, now) if dsl_view else None,
        addenda=addenda,
        actions=actions,
    )


def _addendum_fields(addendum: Any, recorded_by: Person) -> dict[str, Any]:
    """An addendum as the API shows it, the fields of an ``AddendumPublic``."""
    return dict(
        id=addendum.id,
        text=addendum.text,
        reason=addendum.reason,
        recorded_at=addendum.recorded_at,
        recorded_by=recorded_by,
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


def _pupils_query(
    principal: Principal, pupil_ids: list[uuid.UUID]
) -> tuple[Prepared, dict[str, Any]]:
    """The query for which of ``pupil_ids`` are of the caller's school (see
    ``_check_pupils``)."""
    return _SCHOOL_PUPILS, {"school_id": principal.school_id, "pupil_ids": pupil_ids}


def _check_pupils(pupil_ids: list[uuid.UUID], school_pupils: Iterable[Any]) -> None:
    """Every pupil must be of the caller's school, as the rows of ``_pupils_query`` say (a
    pupil who has left still counts: a concern about them must still be recordable)."""
    found = {row.id for row in school_pupils}
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
            audit.record_per_pupil(
                session,
                actor=principal.actor,
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
    # The pupils, the recorder's name and the audit chain's head in one round trip on
    # PostgreSQL; then every row this writes, its audit events included, in one more.
    school_pupils, people_rows = audit.rows_with_head_locked(
        session,
        school_id=principal.school_id,
        queries=[_pupils_query(principal, concern.pupil_ids), _caller(principal)],
    )
    _check_pupils(concern.pupil_ids, school_pupils)
    recorded_by = _recorder(principal, people_rows)

    concern_id = new_id()
    school_id = principal.school_id
    record: dict[str, Any] = {
        "id": concern_id,
        "school_id": school_id,
        "recorded_by": principal.id,
        "recorded_at": now,
        "observed_at": concern.observed_at,
        "guidance_key": document.key,
        "guidance_version": document.version,
        "description": concern.description,
        "location": concern.location,
        "immediate_danger": concern.immediate_danger,
        "police_contacted": concern.police_contacted,
    }
    concern_pupils = [
        {"concern_id": concern_id, "pupil_id": pupil_id, "school_id": school_id, "position": i}
        for i, pupil_id in enumerate(concern.pupil_ids)
    ]
    shown_indicators = [
        {
            "concern_id": concern_id,
            "indicator_id": indicator,
            "school_id": school_id,
            "observed_at": concern.observed_at,
            "position": i,
        }
        for i, indicator in enumerate(concern.indicators)
    ]
    triage: dict[str, Any] = {
        "concern_id": concern_id,
        "school_id": school_id,
        "status": TriageStatus.new.value,
        "risk_level": None,
        "assigned_to": None,
        "recorded_at": now,
        "version": 1,
        "updated_at": now,
    }
    with sent_together(session):
        _INSERT_CONCERN.run(session, record)  # the concern row first: its children refer to it
        _INSERT_CONCERN_PUPILS.insert_many(session, concern_pupils)
        if shown_indicators:  # an executemany of nothing would insert one empty row
            _INSERT_CONCERN_INDICATORS.insert_many(session, shown_indicators)
        _INSERT_TRIAGE.run(session, triage)
        _index_text(session, school_id=school_id, concern_id=concern_id, text_=concern.description)
        audit.record_per_pupil(
            session,
            actor=principal.actor,
            action="concern.create",
            now=now,
            request_id=request_id,
            entity_type="concern",
            entity_id=concern_id,
            pupil_ids=concern.pupil_ids,
        )
    shown = _ShownRow(**record, status=triage["status"], risk_level=None, assigned_to=None)
    (public,) = _SHOWN.validate_python(
        [
            _public(
                shown,
                pupil_ids=list(concern.pupil_ids),
                indicators=list(concern.indicators),
                addenda=[],
                recorded_by=recorded_by,
                actions=list(
                    guidance.actions_for(document.key, immediate_danger=concern.immediate_danger)
                ),
                dsl_view=principal.is_dsl,
                assignee=None,
                now=now,
            )
        ]
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
) -> ReadConcern:
    """One concern with its addenda (oldest first), and the ETag of its triage state.

    Its recorder, or a DSL or deputy DSL of its school; anyone else of a recording role
    gets a 404, admins and MIS accounts a 403. Records ``concern.read`` once per pupil.

    The concern, its lookups and the audit chain's head go in one round trip on
    PostgreSQL (``one_concern``): what the lookups find of a concern the caller may not
    see is dropped without being shaped or shown (the answer is the 404), and the head,
    locked for nothing, is released as the request rolls back."""
    found = audit.rows_with_head_locked(
        session, school_id=principal.school_id, queries=one_concern(principal, concern_id)
    )
    row, public = shown_concern(guidance, found, principal=principal, now=now)
    audit.record_per_pupil(
        session,
        actor=principal.actor,
        action="concern.read",
        now=now,
        request_id=request_id,
        entity_type="concern",
        entity_id=row.id,
        pupil_ids=public.pupil_ids,
    )
    return ReadConcern(concern=public, etag=etag(ETAG_KIND, row.triage_version))


def one_concern(principal: Principal, concern_id: uuid.UUID) -> list[tuple[Prepared, Any]]:
    """The queries for one concern as the caller may see it, and for its pupils,
    indicators, addenda and people, to send with others (``db.batch.rows_together``,
    ``audit.rows_with_head_locked``: one round trip on PostgreSQL); their rows, in order,
    go to ``found_concern`` and ``shown_concern``. The lookups are sent before it is known
    whether the caller may see the concern: what they find of one they may not is
    dropped, never shaped, shown or logged (the answer is the 404)."""
    people = (_PEOPLE_OF, {"concern_ids": [concern_id], "school_id": principal.school_id})
    return [
        _shown_query(principal, concern_id),
        *_looked_up([concern_id], people=people),
    ]


def found_concern(found: Sequence[list[Any]]) -> Any:
    """The concern's row (``_SHOWN_COLUMNS``: with its triage state) from the rows of
    ``one_concern``'s queries; 404 when the caller may not see it."""
    return _only_row(found[0])


def shown_concern(
    guidance: GuidanceLibrary,
    found: Sequence[list[Any]],
    *,
    principal: Principal,
    now: datetime,
    changed: dict[str, Any] | None = None,
    people: Iterable[Person] = (),
) -> tuple[Any, ConcernPublic]:
    """The concern's row and the concern as the API shows it, from the rows of
    ``one_concern``'s queries (404 when the caller may not see it). ``changed``: triage
    columns just written in this transaction, shown as they now are; ``people``: anyone
    the concern now shows that its rows did not (an assignee just given it)."""
    row = found_concern(found)
    if changed:
        row = row._replace(**changed)
    pupil_rows, indicator_rows, addendum_rows, people_rows = found[1:5]
    people_rows = [*people_rows, *((person.id, person.display_name) for person in people)]
    (public,) = _shaped(
        guidance,
        [row],
        [pupil_rows, indicator_rows, addendum_rows, people_rows],
        principal=principal,
        now=now,
    )
    return row, public


# --- text search -----------------------------------------------------------------------------


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _index_text(
    session: Session, *, school_id: uuid.UUID, concern_id: uuid.UUID, text_: str
) -> None:
    """Add the words of ``text_`` to SQLite's search index for the concern (PostgreSQL
    indexes the columns themselves)."""
    if _dialect(session) != "sqlite":
        return
    rows = [
        {"school_id": school_id, "term": term, "concern_id": concern_id}
        for term in sorted(search_terms(text_))
    ]
    if rows:
        _INSERT_SEARCH_TERMS.insert_many(session, rows)


def _ts_query(text_: str) -> ColumnElement[Any]:
    return func.websearch_to_tsquery(literal_column("'english'::regconfig"), text_)


def _text_condition(session: Session, principal: Principal, text_: str) -> ColumnElement[bool]:
    if _dialect(session) == "postgresql":
        query = _ts_query(text_)
        in_description = select(Concern.id).where(
            col(Concern.school_id) == principal.school_id,
            literal_column(TSVECTOR_DESCRIPTION).bool_op("@@")(query),
        )
        in_addenda = select(Addendum.concern_id).where(
            col(Addendum.school_id) == principal.school_id,
            literal_column(TSVECTOR_ADDENDUM_TEXT).bool_op("@@")(query),
        )
        return col(Concern.id).in_(sql_union(in_description, in_addenda))
    words = [word[:SEARCH_TERM_MAX] for word in name_words(text_)][:MAX_SEARCH_WORDS]
    if not words:
        return false()
    return and_(
        *(
            col(Concern.id).in_(
                select(ConcernSearchTerm.concern_id).where(
                    col(ConcernSearchTerm.school_id) == principal.school_id,
                    col(ConcernSearchTerm.term) >= word,
                    col(ConcernSearchTerm.term) < word + _MAX_CHAR,
                )
            )
            for word in words
        )
    )


# --- listing ----------------------------------------------------------------------------------


def _filter_conditions(
    session: Session, principal: Principal, filters: ConcernFilters
) -> list[ColumnElement[bool]]:
    if not principal.is_dsl and (filters.risk_levels or filters.assigned_to is not None):
        raise Forbidden("Only DSLs and deputy DSLs may filter by risk level or assignee.")
    school = principal.school_id
    statuses = [status.value for status in filters.statuses]
    conditions: list[ColumnElement[bool]] = []
    if filters.pupil_id is not None:
        conditions.append(
            exists().where(
                col(ConcernPupil.concern_id) == Concern.id,
                col(ConcernPupil.school_id) == school,
                col(ConcernPupil.pupil_id) == filters.pupil_id,
            )
        )
    if filters.indicators:
        # The period is repeated on concern_indicator (which copies observed_at) so that
        # "these signs, in this period" is one range scan of its index; written as IN, not
        # EXISTS, so that SQLite drives the query from that scan (1,000 rows at a million
        # concerns) instead of testing each of the school's concerns in the period.
        shown = [
            col(ConcernIndicator.school_id) == school,
            col(ConcernIndicator.indicator_id).in_(filters.indicators),
        ]
        if filters.observed_from is not None:
            shown.append(col(ConcernIndicator.observed_at) >= filters.observed_from)
        if filters.observed_to is not None:
            shown.append(col(ConcernIndicator.observed_at) < filters.observed_to)
        with_signs = select(ConcernIndicator.concern_id)
        if filters.statuses:
            # The status is checked here too, from the triage index by concern and status,
            # so that only the concerns still in it (~60 of ~1,100 "new" in a year at a
            # million) have their own row read (migration 07).
            # (An alias of its own: never correlated with the outer query's triage row.)
            triage = aliased(ConcernTriage, name="triage_of_sign")
            with_signs = with_signs.join(
                triage, col(triage.concern_id) == col(ConcernIndicator.concern_id)
            )
            shown.append(col(triage.status).in_(statuses))
        conditions.append(col(Concern.id).in_(with_signs.where(*shown)))
    if filters.statuses:
        conditions.append(col(ConcernTriage.status).in_(statuses))
    if filters.observed_from is not None:
        conditions.append(col(Concern.observed_at) >= filters.observed_from)
    if filters.observed_to is not None:
        conditions.append(col(Concern.observed_at) < filters.observed_to)
    if filters.recorded_by is not None:
        conditions.append(col(Concern.recorded_by) == filters.recorded_by)
    if filters.text:
        conditions.append(_text_condition(session, principal, filters.text))
    if filters.immediate_danger is not None:
        conditions.append(col(Concern.immediate_danger) == filters.immediate_danger)
    if filters.risk_levels:
        conditions.append(col(ConcernTriage.risk_level).in_([r.value for r in filters.risk_levels]))
    if filters.assigned_to is not None:
        conditions.append(col(ConcernTriage.assigned_to) == filters.assigned_to)
    if filters.year_group is not None:
        # The year group the pupil is in now (the school's MIS keeps no history of it).
        in_year = select(Pupil.id).where(
            col(Pupil.school_id) == school, col(Pupil.year_group) == filters.year_group
        )
        conditions.append(
            exists().where(
                col(ConcernPupil.concern_id) == Concern.id,
                col(ConcernPupil.school_id) == school,
                col(ConcernPupil.pupil_id).in_(in_year),
            )
        )
    return conditions


def _sort_column(sort: str) -> Any:
    return (
        col(Concern.observed_at) if sort.lstrip("-") == "observed_at" else col(Concern.recorded_at)
    )


def _after(cursor: str, sort: str) -> ColumnElement[bool]:
    """Rows after the cursor's position, in ``sort`` order. A cursor remembers the sort it
    was made with; one made with another sort is refused (422) rather than misread."""
    position = decode_cursor(cursor, fields=("sort", "at", "id"))
    if position["sort"] != sort:
        raise invalid_cursor()
    try:
        at = datetime.fromisoformat(str(position["at"]))
        after_id = uuid.UUID(str(position["id"]))
    except ValueError:
        raise invalid_cursor() from None
    if at.tzinfo is None:
        raise invalid_cursor()
    key = _sort_column(sort)
    if sort.startswith("-"):
        return or_(key < at, and_(key == at, col(Concern.id) < after_id))
    return or_(key > at, and_(key == at, col(Concern.id) > after_id))


def concern_query(
    session: Session,
    *,
    principal: Principal,
    filters: ConcernFilters,
    sort: str = DEFAULT_SORT,
    cursor: str | None = None,
    limit: int,
) -> Any:
    """The statement ``list_concerns`` runs for one page (one row more than ``limit``, to
    tell whether another page follows). Public so that its plan can be tested."""
    if sort not in SORTS:
        raise InvalidInput(
            f"sort must be one of {', '.join(SORTS)}.", loc=("sort",), error_type="value_error"
        )
    conditions = _visibility(principal) + _filter_conditions(session, principal, filters)
    if cursor is not None:
        conditions.append(_after(cursor, sort))
    key = _sort_column(sort)
    order = (
        (key.desc(), col(Concern.id).desc())
        if sort.startswith("-")
        else (key.asc(), col(Concern.id).asc())
    )
    return _SHOWN_FROM.where(*conditions).order_by(*order).limit(limit + 1)


def list_concerns(
    session: Session,
    *,
    principal: Principal,
    now: datetime,
    request_id: str | None,
    guidance: GuidanceLibrary,
    filters: ConcernFilters,
    limit: int,
    sort: str = DEFAULT_SORT,
    cursor: str | None = None,
) -> ConcernListPage:
    """The concerns the caller may see that match ``filters``, in ``sort`` order (newest
    recorded first by default), a page at a time. Pages are keyset-based on the sort key
    and id, and a cursor carries the sort it was made with, so concerns recorded while
    paging never shift or repeat a later page.

    DSLs and deputy DSLs: the whole school's; staff: their own only (and never filtered
    by risk level or assignee: 403); admins and MIS accounts: 403. Records
    ``concern.list`` once per pupil on the page."""
    statement = concern_query(
        session, principal=principal, filters=filters, sort=sort, cursor=cursor, limit=limit
    )
    found = _core(session, statement).all()
    page = found[:limit]
    items = _render(session, guidance, page, principal=principal, now=now)
    next_cursor = None
    if len(found) > limit:
        last = page[-1]
        at = last.observed_at if sort.lstrip("-") == "observed_at" else last.recorded_at
        next_cursor = encode_cursor({"sort": sort, "at": at.isoformat(), "id": str(last.id)})
    seen = sorted({pupil_id for item in items for pupil_id in item.pupil_ids})
    audit.record_per_pupil(
        session,
        actor=principal.actor,
        action="concern.list",
        now=now,
        request_id=request_id,
        entity_type="concern",
        entity_id=None,
        pupil_ids=seen or [None],  # an empty page: one event, about no child
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
    the concern.

    The concern (as the caller may see it), its pupils, the caller's name and the audit
    chain's head go in one round trip on PostgreSQL; the addendum and its audit events in
    one more."""
    found, pupil_rows, people_rows = audit.rows_with_head_locked(
        session,
        school_id=principal.school_id,
        queries=[
            _shown_query(principal, concern_id),
            (_PUPILS_OF, {"concern_ids": [concern_id]}),
            _caller(principal),
        ],
    )
    concern = _only_row(found)
    recorded_by = _recorder(principal, people_rows)
    record = Addendum(
        concern_id=concern.id,
        school_id=concern.school_id,
        text=addendum.text,
        reason=addendum.reason,
        recorded_by=principal.id,
        recorded_at=now,
    )
    with sent_together(session):
        _INSERT_ADDENDUM.run(session, record.model_dump())
        _index_text(session, school_id=concern.school_id, concern_id=concern.id, text_=record.text)
        audit.record_per_pupil(
            session,
            actor=principal.actor,
            action="addendum.create",
            now=now,
            request_id=request_id,
            entity_type="addendum",
            entity_id=record.id,
            pupil_ids=[pupil_id for _, pupil_id in pupil_rows],
        )
    return AddendumPublic.model_validate(_addendum_fields(record, recorded_by))
