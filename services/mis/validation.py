"""Judging pushed records one by one, before anything is read or written.

Each record is validated on its own, so that one bad record is ``rejected`` and the rest
of the batch goes on. A rejection reason names the field and the rule, never the value: a
pushed value may be a child's name.

UPNs are checked with python-stdnum (``stdnum.gb.upn``). A wrong check letter
(``upn_check_letter_invalid``) or a temporary UPN (``upn_temporary``) is a warning and the
UPN is kept. A malformed one (wrong length or characters) is a warning
``upn_invalid_format`` and is *not* stored: a child is never left out of the pupil search
because of an optional identifier. The LA code is not checked against stdnum's list, which
dates from 2011 and lacks authorities created since (940 and 941, the Northamptonshires,
for one); that would flag real UPNs. The optional pupil fields (``preferred_name``,
``year_group``, ``registration_group``) follow the same rule: a bad value is dropped with a
warning ``<field>_invalid``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from core.errors import InvalidInput
from models.mis import EXTERNAL_ID_MAX, MAX_BATCH, MISPupilRecord, MISStaffRecord, is_clean_text
from services.school_calendar import school_date

# MIS clocks drift; a record dated further ahead than this would make every later real
# change look stale, so it is refused.
FUTURE_SKEW = timedelta(hours=1)

_UPN_CHECK_LETTERS = frozenset("ABCDEFGHJKLMNPQRTUVWXYZ")
_OPTIONAL_PUPIL_FIELDS = {"preferred_name": 100, "year_group": 20, "registration_group": 40}


def invalid(detail: str, loc: Sequence[str | int]) -> InvalidInput:
    """A 422 for the whole call, located like FastAPI's own validation errors."""
    return InvalidInput(
        detail, extra={"errors": [{"loc": list(loc), "msg": detail, "type": "value_error"}]}
    )


def check_batch_size(records: Sequence[Any]) -> None:
    """422 for a batch of more than ``MAX_BATCH`` records."""
    if len(records) > MAX_BATCH:
        raise invalid(f"At most {MAX_BATCH} records per batch.", ("body", "records"))


def check_left_on(left_on: date | None, now: datetime) -> date:
    """The leaving date to record: today when none is given; 422 for a future one."""
    today = school_date(now)
    if left_on is None:
        return today
    if left_on > today:
        raise invalid("left_on: must not be in the future.", ("body", "left_on"))
    return left_on


def _reason(exc: ValidationError) -> str:
    # Location and message only: pydantic's "input" would echo names back.
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error["loc"]) or "record"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def raw_key(raw: Any) -> tuple[str, str] | None:
    """The (source, external_id) a record names, read before validation so that even a
    rejected record can count as seen by its run (only when both are storable text)."""
    if not isinstance(raw, Mapping):
        return None
    source, external_id = raw.get("source"), raw.get("external_id")
    if not isinstance(source, str) or not isinstance(external_id, str):
        return None
    if not (is_clean_text(source) and is_clean_text(external_id)):
        return None
    return source.strip().lower(), external_id.strip()


def raw_external_id(raw: Any) -> str | None:
    """The external id to echo in a record's result: None unless it is clean text."""
    if isinstance(raw, Mapping) and isinstance(raw.get("external_id"), str):
        external_id = str(raw["external_id"]).strip()[:EXTERNAL_ID_MAX]
        return external_id if external_id and is_clean_text(external_id) else None
    return None


def check_upn(raw: str | None) -> tuple[str | None, list[str]]:
    """The UPN to store (or None) and the warnings it earns (see the module docstring)."""
    if raw is None:
        return None, []
    # python-stdnum is loaded with the first UPN checked, not by every server at start-up.
    from stdnum import exceptions as stdnum_errors
    from stdnum.gb import upn as stdnum_upn

    number = stdnum_upn.compact(raw)
    if not number:
        return None, []
    try:
        stdnum_upn.validate(number)
        check_letter_ok = True
    except stdnum_errors.InvalidComponent:
        # An LA code stdnum does not know: judge the check letter ourselves.
        check_letter_ok = stdnum_upn.calc_check_digit(number[1:]) == number[0]
    except stdnum_errors.InvalidChecksum:
        check_letter_ok = False
    except stdnum_errors.ValidationError:
        return None, ["upn_invalid_format"]
    if number[0] not in _UPN_CHECK_LETTERS:
        return None, ["upn_invalid_format"]
    warnings = [] if check_letter_ok else ["upn_check_letter_invalid"]
    if number[-1].isalpha():
        warnings.append("upn_temporary")
    return number, warnings


def _future_timestamp_reason(record: MISPupilRecord | MISStaffRecord, now: datetime) -> str | None:
    if record.source_updated_at > now + FUTURE_SKEW:
        return "source_updated_at: is more than an hour in the future"
    return None


def validate_pupil(
    raw: Any, now: datetime
) -> tuple[MISPupilRecord | None, dict[str, Any], list[str], str | None]:
    """(record, values to store, warnings, rejection reason) for one pushed pupil."""
    if not isinstance(raw, Mapping):
        return None, {}, [], "record: must be a JSON object"
    data = dict(raw)
    warnings: list[str] = []
    for name, max_length in _OPTIONAL_PUPIL_FIELDS.items():
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, int) and not isinstance(value, bool) and name != "preferred_name":
            value = str(value)  # a year group sent as a number
        if not isinstance(value, str):
            data[name] = None
            warnings.append(f"{name}_invalid")
            continue
        cleaned = " ".join(value.split())
        if len(cleaned) > max_length:
            data[name] = None
            warnings.append(f"{name}_invalid")
        else:
            data[name] = cleaned or None
    if data.get("upn") is not None and not isinstance(data["upn"], str):
        data["upn"] = None
        warnings.append("upn_invalid_format")
    try:
        record = MISPupilRecord.model_validate(data)
    except ValidationError as exc:
        return None, {}, warnings, _reason(exc)
    if record.date_of_birth > school_date(now):
        return None, {}, warnings, "date_of_birth: is in the future"
    future = _future_timestamp_reason(record, now)
    if future:
        return None, {}, warnings, future
    upn, upn_warnings = check_upn(record.upn)
    warnings.extend(upn_warnings)
    values = {
        "given_name": record.given_name,
        "family_name": record.family_name,
        "preferred_name": record.preferred_name,
        "date_of_birth": record.date_of_birth,
        "upn": upn,
        "year_group": record.year_group,
        "registration_group": record.registration_group,
    }
    return record, values, warnings, None


def validate_staff(raw: Any, now: datetime) -> tuple[MISStaffRecord | None, str | None]:
    """(record, rejection reason) for one pushed member of staff."""
    if not isinstance(raw, Mapping):
        return None, "record: must be a JSON object"
    try:
        record = MISStaffRecord.model_validate(dict(raw))
    except ValidationError as exc:
        return None, _reason(exc)
    return record, _future_timestamp_reason(record, now)
