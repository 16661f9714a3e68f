"""The sections of an exported file, in the order a social worker reads them, each with one
renderer per format.

``SECTIONS`` is that order. A section is a key of ``models.chronology.PupilFile`` (its
JSON value), and three functions:

- ``json(document)``: the section's value in the JSON document (usually the field as it
  is; a subject access export has already redacted it);
- ``csv(document)``: rows of ``CSV_COLUMNS`` (its ``section`` column is the key);
- ``pdf(writer, document)``: what it prints, through ``PageWriter``'s few verbs (a
  heading, a paragraph, facts, a table), so that no section knows fpdf2
  (``services.export_pdf`` draws them).

Adding a section (a profile, referrals, an attachments list, body maps): add its field to
``PupilFile`` (filled in ``services.export_document``), write its three functions here
(or in a module of its own) and add one ``Section(...)`` line to ``SECTIONS`` in its place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from models.chronology import CaseOnFile, ChronologyItem, PupilFile
from models.concern import ConcernPublic
from services.attachments import exporting
from services.export_text import (
    WITHHELD,
    category_names,
    entry_line,
    entry_text,
    format_day,
    format_when,
    indicator_words,
    label,
    type_label,
    yes,
)
from services.profile import file_sections

CSV_COLUMNS = (
    "section",
    "occurred_at",
    "recorded_at",
    "type",
    "recorded_by",
    "entry",
    "source_type",
    "source_id",
)
CsvRow = tuple[str, str, str, str, str, str, str, str]


class PageWriter(Protocol):
    """What a section may print (``services.export_pdf`` draws it on A4 pages)."""

    def heading(self, text: str, size: int = 13) -> None: ...

    def paragraph(self, text: str) -> None: ...

    def new_page(self) -> None: ...

    def facts(self, rows: Iterable[tuple[str, str]]) -> None: ...

    def table(
        self, headings: Sequence[str], widths: Sequence[int], rows: Iterable[Sequence[str]]
    ) -> None:
        """A table whose last column may be long (it continues over rows and pages)."""

    def canvas(self) -> Any:
        """The page itself (an ``fpdf.FPDF``), for a section that draws: the body maps."""


@dataclass(frozen=True)
class Section:
    key: str
    json: Callable[[PupilFile], Any]
    csv: Callable[[PupilFile], Iterable[CsvRow]]
    pdf: Callable[[PageWriter, PupilFile], None]


def _field(key: str) -> Callable[[PupilFile], Any]:
    """The JSON value of a section that is the document's field as it stands."""

    def value(document: PupilFile) -> Any:
        return getattr(document, key)

    return value


def _wording(document: PupilFile) -> dict[Any, ConcernPublic]:
    return {concern.id: concern for concern in document.concerns}


def _row(section: str, item: ChronologyItem, entry: str) -> CsvRow:
    return (
        section,
        format_when(item.occurred_at),
        format_when(item.recorded_at),
        item.type.value,
        item.by.display_name,
        entry,
        item.source.type,
        str(item.source.id),
    )


# --- pupil ---------------------------------------------------------------------------------


def _pupil_facts(document: PupilFile) -> list[tuple[str, str]]:
    pupil = document.pupil
    left = f" (left {format_day(pupil.left_on)})" if pupil.left_on else ""
    return [
        ("Name", f"{pupil.given_name} {pupil.family_name}"),
        ("Known as", pupil.preferred_name or "-"),
        ("Date of birth", format_day(pupil.date_of_birth)),
        ("UPN", pupil.upn or "-"),
        ("Year group", pupil.year_group or "-"),
        ("Registration group", pupil.registration_group or "-"),
        ("Status", pupil.status.value + left),
        ("Pupil id", str(pupil.id)),
    ]


def pupil_csv(document: PupilFile) -> Iterable[CsvRow]:
    text = "\n".join(f"{name}: {value}" for name, value in _pupil_facts(document))
    yield ("pupil", "", "", "pupil", "", text, "pupil", str(document.pupil.id))


def pupil_pdf(writer: PageWriter, document: PupilFile) -> None:
    writer.heading("Pupil")
    writer.facts(_pupil_facts(document))


# --- chronology ------------------------------------------------------------------------------


_CHRONOLOGY_WIDTHS = (27, 27, 20, 24, 82)


def chronology_csv(document: PupilFile) -> Iterable[CsvRow]:
    wording = _wording(document)
    for item in document.chronology:
        yield _row("chronology", item, entry_line(item, wording))


def chronology_pdf(writer: PageWriter, document: PupilFile) -> None:
    items = document.chronology
    entries = "entry" if len(items) == 1 else "entries"
    writer.heading(f"Chronology ({len(items)} {entries}, oldest first)")
    if not items:
        writer.paragraph("Nothing has been recorded about this pupil.")
        return
    wording = _wording(document)
    writer.table(
        ("Happened", "Recorded", "Entry", "By", "What"),
        _CHRONOLOGY_WIDTHS,
        (
            (
                format_when(item.occurred_at),
                format_when(item.recorded_at),
                type_label(item),
                item.by.display_name,
                entry_line(item, wording),
            )
            for item in items
        ),
    )


# --- concerns with their addenda ----------------------------------------------------------


def _concern_facts(concern: ConcernPublic) -> list[tuple[str, str]]:
    if concern.description == WITHHELD:
        return [("Recorded", format_when(concern.recorded_at)), ("Concern", WITHHELD)]
    return [
        ("Observed", format_when(concern.observed_at)),
        ("Recorded", f"{format_when(concern.recorded_at)} by {concern.recorded_by.display_name}"),
        ("Categories", ", ".join(category_names(concern.categories)) or "-"),
        ("Indicators", "; ".join(indicator_words(concern)) or "-"),
        ("Location", concern.location or "-"),
        ("Immediate danger", yes(concern.immediate_danger)),
        ("Police contacted", yes(concern.police_contacted)),
        ("Risk level", label(concern.risk_level.value if concern.risk_level else None)),
        ("What was seen or heard", concern.description),
    ]


def _addendum_text(text: str, reason: str) -> str:
    return WITHHELD if text == WITHHELD else f"{text}\nReason: {reason}"


def concerns_csv(document: PupilFile) -> Iterable[CsvRow]:
    for concern in document.concerns:
        text = "\n".join(f"{name}: {value}" for name, value in _concern_facts(concern))
        yield (
            "concerns",
            format_when(concern.observed_at),
            format_when(concern.recorded_at),
            "concern",
            concern.recorded_by.display_name,
            text,
            "concern",
            str(concern.id),
        )
        for addendum in concern.addenda:
            yield (
                "concerns",
                format_when(addendum.recorded_at),
                format_when(addendum.recorded_at),
                "addendum",
                addendum.recorded_by.display_name,
                _addendum_text(addendum.text, addendum.reason),
                "concern",
                str(concern.id),
            )


def concerns_pdf(writer: PageWriter, document: PupilFile) -> None:
    writer.heading(f"Concerns ({len(document.concerns)}, with their addenda)")
    if not document.concerns:
        writer.paragraph("No concern has been recorded.")
    for n, concern in enumerate(document.concerns, start=1):
        writer.heading(f"Concern {n}, observed {format_when(concern.observed_at)}", 11)
        writer.facts(_concern_facts(concern))
        if concern.addenda:
            writer.table(
                ("Added", "By", "Addendum"),
                (32, 34, 114),
                (
                    (
                        format_when(a.recorded_at),
                        a.recorded_by.display_name,
                        _addendum_text(a.text, a.reason),
                    )
                    for a in concern.addenda
                ),
            )


# --- actions and decisions -----------------------------------------------------------------


def _case_facts(case: CaseOnFile) -> list[tuple[str, str]]:
    return [
        ("Opened", f"{format_when(case.opened_at)} by {case.opened_by.display_name}"),
        ("Level", label(case.level.value)),
        ("Status", case.status.value),
        ("Summary", case.summary),
        ("Closed", format_when(case.closed_at) if case.closed_at else "open"),
        ("Outcome", case.outcome or "-"),
    ]


def _case_entries(case: CaseOnFile) -> list[tuple[Any, str, str, str, str]]:
    """The case's actions and decisions, by when they happened: (when, kind, by, text)."""
    entries = [
        (
            action.occurred_at,
            "Action: " + label(action.type.value),
            action.recorded_by.display_name,
            action.description + (f"\nWith: {action.with_whom}" if action.with_whom else ""),
            str(action.id),
        )
        for action in case.actions
    ] + [
        (
            decision.decided_at,
            "Decision",
            decision.recorded_by.display_name,
            f"{decision.decision}\nReason: {decision.reason}",
            str(decision.id),
        )
        for decision in case.decisions
    ]
    return sorted(entries, key=lambda entry: entry[0])


def actions_and_decisions_csv(document: PupilFile) -> Iterable[CsvRow]:
    for case in document.actions_and_decisions:
        for when, kind, by, text, _ in _case_entries(case):
            yield (
                "actions_and_decisions",
                format_when(when),
                "",
                kind,
                by,
                text,
                "case",
                str(case.id),
            )


def actions_and_decisions_pdf(writer: PageWriter, document: PupilFile) -> None:
    cases = document.actions_and_decisions
    writer.heading(f"Actions and decisions ({len(cases)} case{'' if len(cases) == 1 else 's'})")
    if not cases:
        writer.paragraph("No case has been opened.")
    for n, case in enumerate(cases, start=1):
        writer.heading(f"Case {n}: {label(case.level.value)}, {case.status.value}", 11)
        writer.facts(_case_facts(case))
        entries = _case_entries(case)
        if not entries:
            writer.paragraph("No action or decision has been recorded on this case.")
            continue
        writer.table(
            ("When", "What", "By", "Details"),
            (32, 30, 30, 88),
            ((format_when(when), kind, by, text) for when, kind, by, text, _ in entries),
        )


# --- appendix: administrative events ---------------------------------------------------------


def administrative_csv(document: PupilFile) -> Iterable[CsvRow]:
    wording = _wording(document)
    for item in document.administrative_events:
        yield _row("administrative_events", item, entry_text(item, wording))


def administrative_pdf(writer: PageWriter, document: PupilFile) -> None:
    items = document.administrative_events
    writer.new_page()
    writer.heading(f"Appendix: administrative events ({len(items)})")
    writer.paragraph(
        "Moving concerns through the safeguarding team's statuses, who has the work, links, "
        "review dates and tasks: kept whole here, out of the record above."
    )
    if not items:
        return
    wording = _wording(document)
    writer.table(
        ("When", "Entry", "By", "What"),
        (32, 24, 28, 96),
        (
            (
                format_when(item.occurred_at),
                type_label(item),
                item.by.display_name,
                entry_text(item, wording),
            )
            for item in items
        ),
    )


# --- the child's context: the safeguarding profile and the referrals (services.profile) ---


def _tagged(section: str, rows: Iterable[list[str]]) -> Iterable[CsvRow]:
    for occurred, recorded, kind, by, entry, source_type, source_id in rows:
        yield (section, occurred, recorded, kind, by, entry, source_type, source_id)


def profile_csv(document: PupilFile) -> Iterable[CsvRow]:
    return _tagged("profile", file_sections.profile_csv_rows(document))


def profile_pdf(writer: PageWriter, document: PupilFile) -> None:
    file_sections.pdf_profile(writer, document.profile, today=document.generated_at.date())


def referrals_csv(document: PupilFile) -> Iterable[CsvRow]:
    return _tagged("referrals", file_sections.referral_csv_rows(document))


def referrals_pdf(writer: PageWriter, document: PupilFile) -> None:
    file_sections.pdf_referrals(writer, document.referrals)


# --- attachments (their list, with hashes) and body maps, drawn (services.attachments) ---


def _attachment_rows(document: PupilFile, kind: str) -> Iterable[CsvRow]:
    section = "attachments" if kind == "attachment" else "body_maps"
    rows = (row for row in exporting.csv_rows(document) if row[2] == kind)
    return _tagged(section, rows)


def attachments_csv(document: PupilFile) -> Iterable[CsvRow]:
    return _attachment_rows(document, "attachment")


def body_maps_csv(document: PupilFile) -> Iterable[CsvRow]:
    return _attachment_rows(document, "body_map")


def attachments_pdf(writer: PageWriter, document: PupilFile) -> None:
    from services.attachments import drawing  # fpdf2: loaded with the PDF export only

    drawing.render_sections(writer.canvas(), document, when=format_when, body_maps=False)


def body_maps_pdf(writer: PageWriter, document: PupilFile) -> None:
    from services.attachments import drawing

    drawing.render_sections(writer.canvas(), document, when=format_when, attachments=False)


# --- the order -------------------------------------------------------------------------------

SECTIONS: tuple[Section, ...] = (
    Section("pupil", _field("pupil"), pupil_csv, pupil_pdf),
    Section("profile", _field("profile"), profile_csv, profile_pdf),
    Section("chronology", _field("chronology"), chronology_csv, chronology_pdf),
    Section("concerns", _field("concerns"), concerns_csv, concerns_pdf),
    Section(
        "actions_and_decisions",
        _field("actions_and_decisions"),
        actions_and_decisions_csv,
        actions_and_decisions_pdf,
    ),
    Section("referrals", _field("referrals"), referrals_csv, referrals_pdf),
    Section("attachments", _field("attachments"), attachments_csv, attachments_pdf),
    Section("body_maps", _field("body_maps"), body_maps_csv, body_maps_pdf),
    Section(
        "administrative_events",
        _field("administrative_events"),
        administrative_csv,
        administrative_pdf,
    ),
)
SECTION_KEYS = tuple(section.key for section in SECTIONS)
