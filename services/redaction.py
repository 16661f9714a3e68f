"""Redaction of an exported file for a subject access request (docs/adr/0095).

- Other pupils: their ids and names leave the concerns about several children (only the
  subject stays), and their names in any free text (given, family, preferred and full
  names of every pupil of the school, whole words, any case) become ``[another pupil]``.
  A name the subject also bears is the subject's, and stays.
- Staff: every member of staff's name on a record (who wrote it, who has it, who
  generated the file) becomes ``[member of staff]``, as do their names in the text, and
  the school's list of DSLs is left out.
- Withheld entries: each stays where it was, with its time and type, its content
  replaced by "Withheld". A concern withheld takes its addenda and triage changes with
  it.

It works on the document as plain data and validates it back into a ``PupilFile``, so
every field of every section (including those added later) goes through the same rules:
a new section's free text is redacted when its key is in ``FREE_TEXT``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from models.chronology import PupilFile, SubjectAccessOnFile
from models.pupil import Pupil
from models.user import User
from services.export_text import WITHHELD

ANOTHER_PUPIL = "[another pupil]"
MEMBER_OF_STAFF = "[member of staff]"
# The keys whose strings are free text, in any section.
FREE_TEXT = frozenset(
    {
        "description",
        "text",
        "reason",
        "summary",
        "location",
        "with_whom",
        "decision",
        "title",
        "note",
        "outcome",
    }
)
# The fields of a withheld entry's content, emptied.
_WITHHELD_TEXT = ("description", "text", "reason", "decision", "title", "note", "summary")
_MIN_NAME = 2


@dataclass(frozen=True)
class Redaction:
    subject_id: uuid.UUID
    other_pupils: bool
    staff: bool
    withheld: frozenset[uuid.UUID]
    pupil_names: re.Pattern[str] | None
    staff_names: re.Pattern[str] | None
    staff_ids: frozenset[uuid.UUID]


def _pattern(names: Iterable[str], keep: set[str]) -> re.Pattern[str] | None:
    """Whole words (or phrases) of ``names``, any case, longest first; none of ``keep``."""
    wanted = {
        " ".join(name.split())
        for name in names
        if len(name.strip()) >= _MIN_NAME and name.strip().casefold() not in keep
    }
    if not wanted:
        return None
    ordered = sorted(wanted, key=lambda n: (-len(n), n))
    alternatives = "|".join(re.escape(name).replace(r"\ ", r"\s+") for name in ordered)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def _name_parts(*names: str | None) -> list[str]:
    parts: list[str] = []
    for name in names:
        if name:
            parts.append(name)
            parts.extend(name.split())
    return parts


def prepare(
    session: Session,
    *,
    school_id: uuid.UUID,
    subject: Pupil,
    other_pupils: bool,
    staff: bool,
    withheld: Iterable[uuid.UUID],
) -> Redaction:
    """The redaction of ``subject``'s file: the school's pupils' and staff's names read
    once (two queries)."""
    keep = {
        part.casefold()
        for part in _name_parts(subject.given_name, subject.family_name, subject.preferred_name)
    }
    pupil_names = None
    if other_pupils:
        others = session.exec(
            select(Pupil.given_name, Pupil.family_name, Pupil.preferred_name).where(
                col(Pupil.school_id) == school_id, col(Pupil.id) != subject.id
            )
        ).all()
        names: list[str] = []
        for given, family, preferred in others:
            names += _name_parts(given, family, preferred, f"{given} {family}")
            if preferred:
                names.append(f"{preferred} {family}")
        pupil_names = _pattern(names, keep)
    staff_names = None
    staff_ids: frozenset[uuid.UUID] = frozenset()
    if staff:
        people = session.exec(
            select(User.id, User.display_name).where(col(User.school_id) == school_id)
        ).all()
        staff_ids = frozenset(user_id for user_id, _ in people)
        staff_names = _pattern(_name_parts(*(name for _, name in people)), keep)
    return Redaction(
        subject_id=subject.id,
        other_pupils=other_pupils,
        staff=staff,
        withheld=frozenset(withheld),
        pupil_names=pupil_names,
        staff_names=staff_names,
        staff_ids=staff_ids,
    )


def _text(value: str, redaction: Redaction) -> str:
    if redaction.pupil_names is not None:
        value = redaction.pupil_names.sub(ANOTHER_PUPIL, value)
    if redaction.staff_names is not None:
        value = redaction.staff_names.sub(MEMBER_OF_STAFF, value)
    return value


def _walk(value: Any, redaction: Redaction, key: str | None = None) -> Any:
    if isinstance(value, dict):
        if redaction.staff and "display_name" in value and value.get("id") in redaction.staff_ids:
            value = value | {"display_name": MEMBER_OF_STAFF}
        return {k: _walk(v, redaction, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(item, redaction, key) for item in value]
    if isinstance(value, str) and key in FREE_TEXT:
        return _text(value, redaction)
    return value


def _withhold_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry (chronology item, addendum, action, decision) with its content withheld."""
    shown = dict(entry)
    for field in _WITHHELD_TEXT:
        if isinstance(shown.get(field), str):
            shown[field] = WITHHELD
    if "with_whom" in shown:
        shown["with_whom"] = None
    if isinstance(shown.get("details"), dict):
        details = shown["details"]
        shown["details"] = {
            k: (v if k in ("concern_id", "case_id") else None) for k, v in details.items()
        }
    return shown


def _withheld_concern(concern: dict[str, Any]) -> dict[str, Any]:
    return concern | {
        "description": WITHHELD,
        "indicators": [],
        "indicator_texts": {},
        "categories": [],
        "location": None,
        "immediate_danger": False,
        "police_contacted": False,
        "addenda": [_withhold_entry(a) for a in concern["addenda"]],
        "actions": [],
    }


def _withhold(data: dict[str, Any], withheld: frozenset[uuid.UUID]) -> None:
    concern_ids = {c["id"] for c in data["concerns"] if c["id"] in withheld}
    for key in ("chronology", "administrative_events"):
        data[key] = [
            _withhold_entry(item)
            if item["id"] in withheld or item["details"].get("concern_id") in concern_ids
            else item
            for item in data[key]
        ]
    concerns = []
    for concern in data["concerns"]:
        if concern["id"] in concern_ids:
            concern = _withheld_concern(concern)
        else:
            concern = concern | {
                "addenda": [
                    _withhold_entry(a) if a["id"] in withheld else a for a in concern["addenda"]
                ]
            }
        concerns.append(concern)
    data["concerns"] = concerns
    for case in data["actions_and_decisions"]:
        for key in ("actions", "decisions"):
            case[key] = [_withhold_entry(e) if e["id"] in withheld else e for e in case[key]]


def redact(document: PupilFile, redaction: Redaction, *, request_id: uuid.UUID) -> PupilFile:
    """``document`` as the subject access export shows it."""
    data = document.model_dump(mode="python")
    if redaction.withheld:
        _withhold(data, redaction.withheld)
    if redaction.other_pupils:
        subject = redaction.subject_id
        for concern in data["concerns"]:
            concern["pupil_ids"] = [p for p in concern["pupil_ids"] if p == subject]
            if concern.get("pupils") is not None:
                concern["pupils"] = [p for p in concern["pupils"] if p["id"] == subject]
    if redaction.staff:
        data["school"]["dsls"] = []
    data = _walk(data, redaction)
    data["subject_access"] = SubjectAccessOnFile(
        request_id=request_id,
        other_pupils_redacted=redaction.other_pupils,
        staff_redacted=redaction.staff,
        withheld_entry_ids=sorted(redaction.withheld, key=str),
        as_of=document.generated_at,
    )
    return PupilFile.model_validate(data)
