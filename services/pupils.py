"""Pupils: name search for picking a child, and the full record for those who need it.

Every query is scoped to the caller's school; a pupil of another school is a 404. Every
read and write is audited (ids only: never a name or a search term).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import Session, col, select

from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from db.prepared import Prepared
from models.pupil import (
    Pupil,
    PupilCreate,
    PupilFilePublic,
    PupilName,
    PupilPublic,
    PupilSearchPage,
    PupilSearchResult,
    PupilStatus,
    PupilUpdate,
    display_name_column,
    name_words,
)
from services import access, audit, retention
from services.access import require_user_role
from services.audit import probes
from services.context import RequestContext
from services.pagination import decode_cursor, encode_cursor, invalid_cursor
from services.principal import Principal
from services.school_calendar import school_date

MAX_QUERY_WORDS = 5


def _no_such_pupil() -> NotFound:
    # Another school's pupil is answered exactly as one that does not exist.
    return NotFound("There is no pupil with that id.")


def pupil_in_school(session: Session, principal: Principal, pupil_id: uuid.UUID) -> Pupil:
    """The pupil, if they are of the caller's school; 404 otherwise."""
    pupil = session.exec(
        select(Pupil).where(Pupil.id == pupil_id, Pupil.school_id == principal.school_id)
    ).one_or_none()
    if pupil is None:
        raise _no_such_pupil()
    return pupil


_PUPIL_IN_SCHOOL = Prepared(
    sa.select(col(Pupil.id)).where(
        col(Pupil.id) == sa.bindparam("pupil_id"),
        col(Pupil.school_id) == sa.bindparam("school_id"),
    )
)


def pupil_check(principal: Principal, pupil_id: uuid.UUID) -> tuple[Prepared, dict[str, Any]]:
    """The query ``require_pupil_in_school`` runs, to be sent with others
    (``db.batch.rows_together``); give its rows to ``require_found``."""
    return _PUPIL_IN_SCHOOL, {"pupil_id": pupil_id, "school_id": principal.school_id}


def require_found(rows: Sequence[Any]) -> None:
    """404 unless ``pupil_check``'s query found the pupil."""
    if not rows:
        raise _no_such_pupil()


def require_pupil_in_school(session: Session, principal: Principal, pupil_id: uuid.UUID) -> None:
    """404 unless the pupil is of the caller's school: ``pupil_in_school`` for callers that
    need only to know (one prebuilt statement, no ORM object)."""
    prepared, parameters = pupil_check(principal, pupil_id)
    require_found(prepared.rows(session, parameters))


def shown(principal: Principal, pupil: Pupil) -> PupilPublic:
    """``pupil`` as the caller may read them (``access.pupil_fields_shown``): the whole
    answer for the DSL desk; for anyone else (an admin), the pupil's record and nothing of
    the child's safeguarding file, so the answer is alike for a child with a file and a
    child without."""
    public = PupilPublic.of(pupil)
    fields = access.pupil_fields_shown(principal)
    if fields is None:
        return public
    # A field of the answer that is not the record's is left to its default.
    return PupilPublic.model_validate(
        {name: getattr(public, name) for name in fields & PupilPublic.model_fields.keys()}
    )


_PUPIL_TABLE: sa.Table = Pupil.__table__  # type: ignore[attr-defined]
_PUPIL_NAMES = Prepared(
    sa.select(col(Pupil.id), display_name_column(_PUPIL_TABLE), col(Pupil.year_group)).where(
        col(Pupil.school_id) == sa.bindparam("school_id"),
        col(Pupil.id).in_(sa.bindparam("pupil_ids", expanding=True)),
    )
)


def names_by_id(
    session: Session, school_id: uuid.UUID, pupil_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, PupilName]:
    """The pupils of the school among ``pupil_ids`` as the DSL desk's records name them
    (``access.sees_pupil_names``: the caller decides whether to show them). Records
    nothing: the record they are shown on is audited."""
    wanted = sorted(set(pupil_ids))
    if not wanted:
        return {}
    rows = _PUPIL_NAMES.rows(session, {"school_id": school_id, "pupil_ids": wanted})
    return {
        row.id: PupilName(id=row.id, display_name=row.display_name, year_group=row.year_group)
        for row in rows
    }


def _invalid(field: str, detail: str, *, where: str = "body") -> InvalidInput:
    return InvalidInput(
        detail, extra={"errors": [{"loc": [where, field], "msg": detail, "type": "value_error"}]}
    )


def _check_upn_free(
    session: Session, principal: Principal, upn: str | None, *, pupil_id: uuid.UUID | None
) -> None:
    if upn is None:
        return
    clash = session.exec(
        select(Pupil.id).where(
            Pupil.school_id == principal.school_id, Pupil.upn == upn, Pupil.id != pupil_id
        )
    ).first()
    if clash is not None:
        raise Conflict("Another pupil of your school already has this UPN.", slug="duplicate-upn")


def search_pupils(
    session: Session,
    context: RequestContext,
    *,
    query: str,
    include_left: bool = False,
    limit: int,
    cursor: str | None = None,
) -> PupilSearchPage:
    """Pupils of the caller's school whose given, family or preferred name starts with each
    word of ``query`` (case and accents ignored), ordered by family then given name.

    Staff, DSLs and deputy DSLs; only DSLs may include pupils who have left. Answers only
    what is needed to pick a child. Records one ``pupil.search`` event (not the query)."""
    principal, now, request_id = context.principal, context.now, context.request_id
    require_user_role(principal, access.PUPIL_SEARCHERS)
    if include_left and not access.may_search_leavers(principal):
        raise Forbidden("Only a DSL or deputy DSL may search pupils who have left.")
    words = name_words(query)[:MAX_QUERY_WORDS]
    if not words:
        raise _invalid("q", "Give at least one letter or digit of a name.", where="query")

    conditions: list[ColumnElement[bool]] = [col(Pupil.school_id) == principal.school_id]
    if not include_left:
        conditions.append(col(Pupil.status) == PupilStatus.active.value)
    for word in words:
        # Words hold letters and digits only, so they need no LIKE escaping.
        prefix = word + "%"
        conditions.append(
            or_(
                col(Pupil.given_name_key).like(prefix),
                col(Pupil.family_name_key).like(prefix),
                col(Pupil.preferred_name_key).like(prefix),
            )
        )
    if cursor is not None:
        # The cursor names the last pupil shown (an id, never a name) and the page goes
        # on from where that pupil sorts.
        position = decode_cursor(cursor, fields=("after",))
        try:
            after_id = uuid.UUID(str(position["after"]))
        except ValueError:
            raise invalid_cursor() from None
        after = session.exec(
            select(Pupil).where(Pupil.id == after_id, Pupil.school_id == principal.school_id)
        ).one_or_none()
        if after is None:
            raise invalid_cursor()
        conditions.append(
            or_(
                col(Pupil.family_name_key) > after.family_name_key,
                and_(
                    col(Pupil.family_name_key) == after.family_name_key,
                    col(Pupil.given_name_key) > after.given_name_key,
                ),
                and_(
                    col(Pupil.family_name_key) == after.family_name_key,
                    col(Pupil.given_name_key) == after.given_name_key,
                    col(Pupil.id) > after.id,
                ),
            )
        )
    found = list(
        session.exec(
            select(Pupil)
            .where(*conditions)
            .order_by(col(Pupil.family_name_key), col(Pupil.given_name_key), col(Pupil.id))
            .limit(limit + 1)
        )
    )
    page = found[:limit]
    next_cursor = encode_cursor({"after": str(page[-1].id)}) if len(found) > limit else None
    audit.record(
        session,
        actor=principal.actor,
        action="pupil.search",
        now=now,
        entity_type="pupil",
        request_id=request_id,
    )
    return PupilSearchPage(items=[PupilSearchResult.of(p) for p in page], next_cursor=next_cursor)


def get_pupil(
    session: Session,
    context: RequestContext,
    *,
    pupil_id: uuid.UUID,
) -> PupilFilePublic:
    """The full record of a pupil of the caller's school (404 otherwise).

    DSLs and deputy DSLs only, with the lifecycle of the child's file (``retain_until``,
    ``on_legal_hold``, ``file_destroyed_at``). Records ``pupil.read`` with the pupil's
    id; the 404 leaves a ``security.probe`` (``services.audit.probes``)."""
    principal, now, request_id = context.principal, context.now, context.request_id
    require_user_role(principal, access.DSL_DESK)
    with probes.watched(context, kind="pupil", record_id=pupil_id):
        pupil = pupil_in_school(session, principal, pupil_id)
    audit.record(
        session,
        actor=principal.actor,
        action="pupil.read",
        now=now,
        entity_type="pupil",
        entity_id=pupil.id,
        pupil_id=pupil.id,
        request_id=request_id,
    )
    public = with_statuses(session, principal, shown(principal, pupil), now=now).model_dump()
    return PupilFilePublic.model_validate(public | retention.file_fields(session, principal, pupil))


def with_statuses(
    session: Session, principal: Principal, public: PupilPublic, *, now: datetime
) -> PupilPublic:
    """``public`` with the statuses of the child's safeguarding profile that hold today
    (England) when the caller is the DSL desk (``access.sees_safeguarding_file``); as it
    is for anyone else. The record's read is audited by the caller."""
    if not access.sees_safeguarding_file(principal):
        return public
    # Imported here: the profile's services use this module's pupil checks.
    from services.profile.versions import statuses_on

    today = school_date(now)
    statuses = statuses_on(session, principal.school_id, public.id, today)
    return public.model_copy(update={"safeguarding_statuses": statuses})


def create_pupil(
    session: Session,
    context: RequestContext,
    *,
    pupil: PupilCreate,
) -> PupilPublic:
    """Add a pupil to the caller's school by hand (active, with no MIS source).

    Admins, DSLs and deputy DSLs; answers the pupil as the caller may read them
    (``shown``). Refuses a date of birth in the future (422) and a UPN
    another pupil of the school already has (409). Records ``pupil.create``."""
    principal, now, request_id = context.principal, context.now, context.request_id
    require_user_role(principal, access.PUPIL_EDITORS)
    if pupil.date_of_birth > now.date():
        raise _invalid("date_of_birth", "The date of birth is in the future.")
    _check_upn_free(session, principal, pupil.upn, pupil_id=None)
    record = Pupil(
        **pupil.model_dump(),
        school_id=principal.school_id,
        status=PupilStatus.active.value,
        created_at=now,
        updated_at=now,
    )
    session.add(record)
    session.flush()
    audit.record(
        session,
        actor=principal.actor,
        action="pupil.create",
        now=now,
        entity_type="pupil",
        entity_id=record.id,
        pupil_id=record.id,
        request_id=request_id,
    )
    return shown(principal, record)


def update_pupil(
    session: Session,
    context: RequestContext,
    *,
    pupil_id: uuid.UUID,
    changes: PupilUpdate,
) -> PupilPublic:
    """Change the fields sent of a pupil of the caller's school (404 otherwise).

    Admins, DSLs and deputy DSLs; answers the pupil as the caller may read them
    (``shown``): to an admin, the record alone, alike whether or not the child has a
    safeguarding file. Names and date of birth cannot be cleared; ``status``
    ``left`` sets ``left_on`` (today unless given), ``active`` clears it. Records
    ``pupil.update`` (which fields changed is not recorded: they may be names)."""
    principal, now, request_id = context.principal, context.now, context.request_id
    require_user_role(principal, access.PUPIL_EDITORS)
    pupil = pupil_in_school(session, principal, pupil_id)
    data: dict[str, Any] = changes.model_dump(exclude_unset=True)
    for required in ("given_name", "family_name", "date_of_birth"):
        if required in data and data[required] is None:
            raise _invalid(required, f"{required} cannot be cleared.")
    if data.get("date_of_birth") is not None and data["date_of_birth"] > now.date():
        raise _invalid("date_of_birth", "The date of birth is in the future.")
    if "upn" in data:
        _check_upn_free(session, principal, data["upn"], pupil_id=pupil.id)

    status = data.pop("status", None)
    left_on = data.pop("left_on", None)
    if status == PupilStatus.active:
        if left_on is not None:
            raise _invalid("left_on", "A pupil who is active has no leaving date.")
        pupil.status, pupil.left_on = PupilStatus.active.value, None
    elif status == PupilStatus.left:
        pupil.status = PupilStatus.left.value
        pupil.left_on = left_on or pupil.left_on or now.date()
    elif left_on is not None:
        if pupil.status != PupilStatus.left.value:
            raise _invalid("left_on", "Only a pupil who has left has a leaving date.")
        pupil.left_on = left_on

    for field, value in data.items():
        setattr(pupil, field, value)
    pupil.updated_at = now
    session.add(pupil)
    session.flush()
    audit.record(
        session,
        actor=principal.actor,
        action="pupil.update",
        now=now,
        entity_type="pupil",
        entity_id=pupil.id,
        pupil_id=pupil.id,
        request_id=request_id,
    )
    return with_statuses(session, principal, shown(principal, pupil), now=now)
