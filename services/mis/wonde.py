"""Wonde's pupils, mapped onto the one batch upsert of ``services.mis.pupils``.

One page of ``GET /schools/{id}/students?include=education_details,year,
registration_group``, as Wonde sent it. ``id`` is the external id (source ``wonde``).
Wonde's ``forename``/``surname`` are the names a pupil is known by and
``legal_forename``/``legal_surname`` their legal names, so: given and family name are the
legal names when Wonde has them (else forename and surname); ``forename`` becomes the
preferred name when it differs from the legal forename. We hold one family name, so a
known-as surname that differs from the legal one is not stored and the record carries the
warning ``preferred_surname_differs``. Wonde's date objects (``{"date": "2026-11-27
18:00:00.000000", "timezone_type": 3, "timezone": "Europe/London"}``) are read in their
own zone; a date of birth is taken as the calendar date written, never shifted by a zone.
Nothing in the payload is ever fetched: ``meta.pagination.next`` is ignored.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session

from services.context import RequestContext
from services.mis.outcomes import BatchOutcome
from services.mis.pupils import upsert_pupils

WONDE_SOURCE = "wonde"
# Zone abbreviations PHP (Wonde) may write with timezone_type 2.
_ABBREVIATIONS = {"UTC": 0, "GMT": 0, "Z": 0, "BST": 60}


def _text(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _included(student: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """An ``include=``d relation's object (``{"data": {...}}``), or an empty one."""
    wrapper = student.get(name)
    data = wrapper.get("data") if isinstance(wrapper, Mapping) else None
    return data if isinstance(data, Mapping) else {}


def _wonde_zone(value: Mapping[str, Any]) -> Any:
    zone = value.get("timezone")
    if not isinstance(zone, str) or not zone:
        return UTC
    if zone.upper() in _ABBREVIATIONS:
        return timezone(timedelta(minutes=_ABBREVIATIONS[zone.upper()]))
    if zone[0] in "+-":
        try:
            return datetime.strptime(zone.replace(":", ""), "%z").tzinfo
        except ValueError:
            return None
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def wonde_datetime(value: Any) -> Any:
    """A Wonde date object as an RFC 3339 string; anything unreadable is passed on as it
    is, for the record's validation to reject."""
    if isinstance(value, str):
        return value
    if not isinstance(value, Mapping) or not isinstance(value.get("date"), str):
        return value
    zone = _wonde_zone(value)
    try:
        moment = datetime.fromisoformat(value["date"].strip())
    except ValueError:
        return value
    if zone is None:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    try:
        return moment.astimezone(UTC).isoformat()
    except OverflowError:  # at the ends of the calendar: the record's validation rejects it
        return value


def wonde_date(value: Any) -> Any:
    """The calendar date of a Wonde date object, as written (no zone conversion)."""
    if isinstance(value, Mapping):
        value = value.get("date")
    if isinstance(value, str) and len(value) >= 10:
        return value[:10]
    return value


def wonde_student_records(
    students: Sequence[Any], *, source: str = WONDE_SOURCE
) -> tuple[list[Any], dict[int, list[str]]]:
    """Wonde students as batch records, with the warnings the mapping itself raises (by
    index). A student that is not an object is passed on unchanged, to be rejected."""
    records: list[Any] = []
    warnings: dict[int, list[str]] = {}
    for index, student in enumerate(students):
        if not isinstance(student, Mapping):
            records.append(student)
            continue
        forename, surname = _text(student.get("forename")), _text(student.get("surname"))
        legal_forename = _text(student.get("legal_forename"))
        legal_surname = _text(student.get("legal_surname"))
        given = legal_forename or forename
        preferred = forename if legal_forename and forename and forename != legal_forename else None
        if legal_surname and surname and surname != legal_surname:
            warnings.setdefault(index, []).append("preferred_surname_differs")
        records.append(
            {
                "source": source,
                "external_id": _text(student.get("id")),
                "upn": _text(_included(student, "education_details").get("upn")),
                "given_name": given,
                "family_name": legal_surname or surname,
                "preferred_name": preferred,
                "date_of_birth": wonde_date(student.get("date_of_birth")),
                "year_group": _text(_included(student, "year").get("name")),
                "registration_group": _text(_included(student, "registration_group").get("name")),
                "source_updated_at": wonde_datetime(student.get("updated_at")),
            }
        )
    return records, warnings


def upsert_wonde_students(
    session: Session,
    context: RequestContext,
    *,
    students: Sequence[Any],
    run_id: uuid.UUID | None = None,
) -> BatchOutcome:
    """One Wonde page through ``upsert_pupils`` (same rules, roles and audit), with the
    mapping's own warnings added. ``run_id`` comes from the query string, since the body
    is Wonde's document as it was sent."""
    records, warnings = wonde_student_records(students)
    return upsert_pupils(
        session,
        context,
        records=records,
        run_id=run_id,
        run_id_loc=("query", "run_id"),
        extra_warnings=warnings,
    )
