"""Export a pupil's whole file (pupil, cases, chronology) as JSON, CSV or PDF.

DSLs and deputy DSLs of the pupil's school only (404 for anyone else's pupil). Every
export records ``pupil.export.<format>`` with the pupil, in the same transaction as the
reads it makes. The file name carries the pupil's id and the time, never a name.

- JSON: the ``PupilFile`` document (``models.chronology``).
- CSV: the chronology, one row per entry, with the full text of each; cells that a
  spreadsheet would run as a formula (starting ``=``, ``+``, ``-``, ``@``, tab or
  carriage return) are prefixed with ``'``.
- PDF (fpdf2): headings, the pupil's details, each case, and the chronology as a table;
  "OFFICIAL-SENSITIVE" at the top and bottom of every page, page numbers, who generated
  it and when. It uses DejaVu Sans when the system has it (Debian: fonts-dejavu-core),
  for any character; otherwise the PDF core font, with characters it lacks replaced.
"""

from __future__ import annotations

import csv
import io
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace
from sqlmodel import Session

from models.case import CasePublic
from models.chronology import ChronologyItem, ChronologyType, PupilFile
from models.concern import Person
from models.pupil import PupilPublic
from services import audit, cases, chronology
from services.concerns import people_by_id
from services.errors import NotFound
from services.guidance import GuidanceLibrary
from services.principal import Principal
from services.triage import require_dsl

MARKING = "OFFICIAL-SENSITIVE"
# Long texts are cut into rows of at most this many characters, each continuing the last:
# a table row cannot be split across pages, and a 20,000-character concern is taller
# than one.
PDF_CHUNK = 800
FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
)
CSV_COLUMNS = (
    "occurred_at",
    "recorded_at",
    "type",
    "recorded_by",
    "entry",
    "source_type",
    "source_id",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ASCII_PUNCTUATION = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\u2192": "->",
    }
)


class ExportFormat(StrEnum):
    json = "json"
    csv = "csv"
    pdf = "pdf"


MEDIA_TYPES = {
    ExportFormat.json: "application/json",
    ExportFormat.csv: "text/csv; charset=utf-8",
    ExportFormat.pdf: "application/pdf",
}


@dataclass(frozen=True)
class ExportedFile:
    content: bytes
    media_type: str
    filename: str


# --- the entries as text ------------------------------------------------------------------


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _yes(value: bool | None) -> str:
    return "yes" if value else "no"


def entry_text(item: ChronologyItem) -> str:
    """An entry in full, as a person reads it (the PDF's and CSV's "entry")."""
    d = item.details
    if item.type is ChronologyType.concern:
        lines = [d.description or ""]
        if d.indicators:
            lines.append("Indicators: " + ", ".join(d.indicators))
        if d.location:
            lines.append("Location: " + d.location)
        lines.append(
            f"Immediate danger: {_yes(d.immediate_danger)}; "
            f"police contacted: {_yes(d.police_contacted)}"
        )
        return "\n".join(lines)
    if item.type is ChronologyType.addendum:
        return f"{d.text}\nReason: {d.reason}"
    if item.type is ChronologyType.action:
        head = (d.action_type or "").replace("_", " ")
        with_whom = f" (with {d.with_whom})" if d.with_whom else ""
        return f"{head}{with_whom}: {d.description}"
    if item.type is ChronologyType.decision:
        return f"Decision: {d.decision}\nReason: {d.reason}"
    if item.type is ChronologyType.case_opened:
        return f"Case opened at level {(d.to_value or '').replace('_', ' ')}: {d.text}"
    if item.type is ChronologyType.case_closed:
        return f"Case closed. Outcome: {d.text}\nReason: {d.reason}"
    # Triage changes, level changes, links and reopenings: the summary is already whole.
    return item.summary


def _type_label(item: ChronologyItem) -> str:
    return item.type.value.replace("_", " ").capitalize()


# --- JSON and CSV -----------------------------------------------------------------------------


def _json(document: PupilFile) -> bytes:
    return document.model_dump_json(indent=2).encode("utf-8")


def _safe_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _csv(document: PupilFile) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for item in document.chronology:
        writer.writerow(
            [
                _safe_cell(cell)
                for cell in (
                    item.occurred_at.isoformat().replace("+00:00", "Z"),
                    item.recorded_at.isoformat().replace("+00:00", "Z"),
                    item.type.value,
                    item.by.display_name,
                    entry_text(item),
                    item.source.type,
                    str(item.source.id),
                )
            ]
        )
    # A byte-order mark so that spreadsheet programs read the file as UTF-8.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# --- PDF --------------------------------------------------------------------------------------


def _unicode_font() -> tuple[Path, Path] | None:
    for folder in FONT_DIRS:
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            return regular, bold
    return None


class _FilePDF(FPDF):
    def __init__(self, *, generated: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.generated = generated
        self.set_margins(15, 18, 15)
        self.set_auto_page_break(auto=True, margin=20)
        font = _unicode_font()
        if font is not None:
            self.add_font("DejaVu", "", str(font[0]))
            self.add_font("DejaVu", "B", str(font[1]))
            self.body_font = "DejaVu"
            self.full_unicode = True
        else:
            self.body_font = "Helvetica"
            self.full_unicode = False

    def text_of(self, value: str) -> str:
        """``value`` as the font can print it."""
        if self.full_unicode:
            return value
        plain = unicodedata.normalize("NFC", value.translate(_ASCII_PUNCTUATION))
        return plain.encode("latin-1", errors="replace").decode("latin-1")

    def header(self) -> None:
        self.set_font(self.body_font, "B", 10)
        self.cell(0, 6, MARKING, align="C", new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font(self.body_font, "B", 9)
        self.cell(0, 5, MARKING, align="C", new_x="LMARGIN", new_y="NEXT")
        self.set_font(self.body_font, "", 7)
        self.cell(90, 4, self.text_of(self.generated), align="L")
        self.cell(0, 4, f"Page {self.page_no()} of {{nb}}", align="R")

    def heading(self, text: str, size: int = 13) -> None:
        self.set_font(self.body_font, "B", size)
        self.ln(2)
        self.multi_cell(0, size * 0.5, self.text_of(text), new_x="LMARGIN", new_y="NEXT")
        self.ln(1)

    def paragraph(self, text: str) -> None:
        self.set_font(self.body_font, "", 9)
        self.multi_cell(0, 4.5, self.text_of(text), new_x="LMARGIN", new_y="NEXT")
        self.ln(1)

    def facts(self, rows: Iterable[tuple[str, str]]) -> None:
        self.set_font(self.body_font, "", 9)
        with self.table(
            col_widths=(1, 3),
            first_row_as_headings=False,
            text_align="LEFT",
            line_height=4.5,
            padding=1,
        ) as table:
            for label, value in rows:
                row = table.row()
                row.cell(self.text_of(label), style=FontFace(emphasis="BOLD"))
                row.cell(self.text_of(value))
        self.ln(2)


def _chunks(text: str) -> list[str]:
    if len(text) <= PDF_CHUNK:
        return [text]
    return [text[i : i + PDF_CHUNK] for i in range(0, len(text), PDF_CHUNK)]


def _case_facts(case: CasePublic) -> list[tuple[str, str]]:
    return [
        ("Status", case.status.value),
        ("Level", case.level.value.replace("_", " ")),
        ("Opened", f"{_when(case.opened_at)} by {case.opened_by.display_name}"),
        ("Assigned to", case.assigned_to.display_name if case.assigned_to else "nobody"),
        ("Summary", case.summary),
        ("Linked concerns", str(len(case.concern_ids))),
        ("Actions / decisions", f"{len(case.actions)} / {len(case.decisions)}"),
        ("Closed", _when(case.closed_at) if case.closed_at else "open"),
        ("Outcome", case.outcome or "-"),
    ]


def _pdf(document: PupilFile) -> bytes:
    pupil = document.pupil
    pdf = _FilePDF(
        generated=f"Generated {_when(document.generated_at)} by "
        f"{document.generated_by.display_name}"
    )
    pdf.set_title("Child protection file")
    pdf.set_creator("concernlog")
    pdf.add_page()
    pdf.heading("Child protection file", size=16)
    pdf.paragraph(
        "Confidential. For the school's designated safeguarding leads and those they share "
        "it with under KCSIE. Do not store it outside the child protection record."
    )
    pdf.heading("Pupil")
    pdf.facts(
        [
            ("Name", f"{pupil.given_name} {pupil.family_name}"),
            ("Known as", pupil.preferred_name or "-"),
            ("Date of birth", pupil.date_of_birth.isoformat()),
            ("UPN", pupil.upn or "-"),
            ("Year group", pupil.year_group or "-"),
            ("Registration group", pupil.registration_group or "-"),
            ("Status", pupil.status.value + (f" (left {pupil.left_on})" if pupil.left_on else "")),
            ("Pupil id", str(pupil.id)),
        ]
    )
    pdf.heading(f"Cases ({len(document.cases)})")
    if not document.cases:
        pdf.paragraph("No case has been opened.")
    for n, case in enumerate(document.cases, start=1):
        pdf.heading(f"Case {n}: {case.level.value.replace('_', ' ')}, {case.status.value}", 11)
        pdf.facts(_case_facts(case))
    pdf.heading(f"Chronology ({len(document.chronology)} entries, oldest first)")
    if not document.chronology:
        pdf.paragraph("Nothing has been recorded about this pupil.")
    else:
        pdf.set_font(pdf.body_font, "", 8)
        with pdf.table(
            col_widths=(22, 22, 20, 26, 90),
            text_align=("LEFT", "LEFT", "LEFT", "LEFT", "LEFT"),
            v_align="TOP",
            line_height=3.8,
            padding=1,
            headings_style=FontFace(emphasis="BOLD", fill_color=(225, 225, 225)),
        ) as table:
            heading = table.row()
            for title in ("Happened", "Recorded", "Entry", "By", "Details"):
                heading.cell(title)
            for item in document.chronology:
                for i, chunk in enumerate(_chunks(entry_text(item))):
                    row = table.row()
                    first = i == 0
                    row.cell(_when(item.occurred_at) if first else "")
                    row.cell(_when(item.recorded_at) if first else "")
                    row.cell(_type_label(item) if first else "(continued)")
                    row.cell(pdf.text_of(item.by.display_name) if first else "")
                    row.cell(pdf.text_of(chunk))
    return bytes(pdf.output())


# --- the operation ----------------------------------------------------------------------------


def export_pupil_file(
    session: Session,
    *,
    principal: Principal,
    now: datetime,
    request_id: str | None,
    guidance: GuidanceLibrary,
    pupil_id: uuid.UUID,
    format: ExportFormat,
) -> ExportedFile:
    """The pupil's whole file in ``format``. DSLs and deputy DSLs of the pupil's school;
    records ``pupil.export.<format>`` with the pupil."""
    require_dsl(principal)
    pupil = chronology.pupil_in_school(session, principal, pupil_id)
    me = people_by_id(session, principal.school_id, [principal.id]).get(principal.id)
    if me is None:
        raise NotFound("Your account no longer exists.")
    document = PupilFile(
        generated_at=now,
        generated_by=Person(id=me.id, display_name=me.display_name),
        pupil=PupilPublic.of(pupil),
        cases=cases.cases_of_pupil(
            session, principal=principal, now=now, guidance=guidance, pupil_id=pupil_id
        ),
        chronology=chronology.whole_chronology(session, principal=principal, pupil_id=pupil_id),
    )
    render = {ExportFormat.json: _json, ExportFormat.csv: _csv, ExportFormat.pdf: _pdf}[format]
    content = render(document)
    audit.record(
        session,
        actor=principal.actor,
        action=f"pupil.export.{format.value}",
        now=now,
        entity_type="pupil",
        entity_id=pupil_id,
        pupil_id=pupil_id,
        request_id=request_id,
    )
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    return ExportedFile(
        content=content,
        media_type=MEDIA_TYPES[format],
        filename=f"pupil-{pupil_id}-file-{stamp}.{format.value}",
    )
