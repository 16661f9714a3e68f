"""How an export words things for the people it is handed to: times in the school's own
time (Europe/London, with the offset, so "15:35" in summer is not mistaken for UTC),
categories and indicators by their words, and which chronology entries are the record
and which are administration (the appendix).

Used by every format (``services.export_sections``); no format of its own.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from models.category import CATEGORY_NAMES
from models.chronology import ChronologyItem, ChronologyType
from models.concern import ConcernPublic
from models.triage import TriageField
from services.school_calendar import SCHOOL_ZONE

MARKING = "OFFICIAL-SENSITIVE"
# What a subject access export shows in place of an entry withheld under an exemption.
WITHHELD = "Withheld"
TIMEZONE = "Europe/London"
SUMMARY_MAX = 280

# Entries a social worker reads as the child's story stay in the chronology; the rest
# (moving a concern through the desk's statuses, who has the work, linking, review dates,
# the desk's own tasks) are administration: kept whole, in the appendix.
ADMINISTRATIVE_TYPES = frozenset(
    {
        ChronologyType.case_concern_linked,
        ChronologyType.case_reassigned,
        ChronologyType.case_review_changed,
        ChronologyType.task,
        ChronologyType.task_completed,
    }
)
_ADMINISTRATIVE_TRIAGE = frozenset({TriageField.status.value, TriageField.assigned_to.value})


def is_administrative(item: ChronologyItem) -> bool:
    if item.type is ChronologyType.triage:
        return item.details.field in _ADMINISTRATIVE_TRIAGE
    return item.type in ADMINISTRATIVE_TYPES


def local(moment: datetime) -> datetime:
    """``moment`` in the school's time zone."""
    return moment.astimezone(SCHOOL_ZONE)


def format_when(moment: datetime) -> str:
    """``moment`` as a person reads it, in the school's time with the offset:
    ``14 Jul 2026 15:35 (+01:00)``."""
    at = local(moment)
    offset = at.strftime("%z")
    return f"{at.day} {at.strftime('%b %Y %H:%M')} ({offset[:3]}:{offset[3:]})"


def format_day(day: date) -> str:
    return f"{day.day} {day.strftime('%b %Y')}"


def yes(value: bool | None) -> str:
    return "yes" if value else "no"


def label(value: str | None) -> str:
    return value.replace("_", " ") if value else "none"


def shorten(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SUMMARY_MAX else flat[: SUMMARY_MAX - 1] + "…"


def category_names(ids: list[str]) -> list[str]:
    return [CATEGORY_NAMES.get(category, category) for category in ids]


def indicator_words(concern: ConcernPublic) -> list[str]:
    """The concern's indicators in the words of the guidance version it was logged under."""
    return [concern.indicator_texts.get(i, i) for i in concern.indicators]


Wording = dict[uuid.UUID, ConcernPublic]


_TRIAGE_LABELS = {
    TriageField.status.value: "Status",
    TriageField.risk_level.value: "Risk level",
    TriageField.assigned_to.value: "Assigned",
}


def type_label(item: ChronologyItem) -> str:
    if item.type is ChronologyType.triage:
        return _TRIAGE_LABELS.get(item.details.field or "", "Triage")
    return item.type.value.replace("_", " ").capitalize()


def entry_line(item: ChronologyItem, concerns: Wording) -> str:
    """An entry in one line: a concern by its categories' words (its indicators' words and
    full text are in the concerns section), anything else by its summary."""
    if item.summary == WITHHELD:
        return WITHHELD
    if item.type is ChronologyType.concern:
        concern = concerns.get(item.id)
        names = category_names(concern.categories) if concern else []
        about = " about " + ", ".join(names) if names else ""
        return shorten(f"Concern{about}: {item.details.description or ''}")
    return item.summary


def entry_text(item: ChronologyItem, concerns: Wording) -> str:
    """An entry in full, as a person reads it (the appendix's and the CSV's "entry")."""
    if item.summary == WITHHELD:
        return WITHHELD
    d = item.details
    if item.type is ChronologyType.concern:
        concern = concerns.get(item.id)
        return concern_text(concern) if concern else d.description or ""
    if item.type is ChronologyType.addendum:
        return f"{d.text}\nReason: {d.reason}"
    if item.type is ChronologyType.action:
        head = label(d.action_type)
        with_whom = f" (with {d.with_whom})" if d.with_whom else ""
        return f"{head}{with_whom}: {d.description}"
    if item.type is ChronologyType.decision:
        return f"Decision: {d.decision}\nReason: {d.reason}"
    if item.type is ChronologyType.case_opened:
        return f"Case opened at level {label(d.to_value)}: {d.text}"
    if item.type is ChronologyType.case_closed:
        return f"Case closed. Outcome: {d.text}\nReason: {d.reason}"
    if item.type is ChronologyType.task:
        return f"{item.summary}"
    if item.type is ChronologyType.task_completed:
        return f"Task completed: {d.title}\nNote: {d.note}"
    # Triage changes, level changes, links, reopenings, review dates and reassignments:
    # the summary is already whole.
    return item.summary


def concern_text(concern: ConcernPublic) -> str:
    """A concern in full: what was seen, then its categories and indicators in words."""
    lines = [concern.description]
    if concern.categories:
        lines.append("Categories: " + ", ".join(category_names(concern.categories)))
    if concern.indicators:
        lines.append("Indicators: " + "; ".join(indicator_words(concern)))
    if concern.location:
        lines.append("Location: " + concern.location)
    lines.append(
        f"Immediate danger: {yes(concern.immediate_danger)}; "
        f"police contacted: {yes(concern.police_contacted)}"
    )
    return "\n".join(lines)
