"""A pupil's file as a PDF (fpdf2): headings, the pupil's details, each case, and the
chronology as a table; marked OFFICIAL-SENSITIVE on every page with page numbers and who
generated it when.

Imported by ``services.export`` only when a PDF is asked for: fpdf2 brings ~30 MiB of
imaging and font code into the process.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

from models.case import CasePublic
from models.chronology import PupilFile
from services.attachments import drawing
from services.export import MARKING, entry_text, format_when, type_label

# Long texts are cut into rows of at most this many characters, each continuing the last:
# a table row cannot be split across pages, and a 20,000-character concern is taller
# than one.
PDF_CHUNK = 800
FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
)
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
        ("Opened", f"{format_when(case.opened_at)} by {case.opened_by.display_name}"),
        ("Assigned to", case.assigned_to.display_name if case.assigned_to else "nobody"),
        ("Summary", case.summary),
        ("Linked concerns", str(len(case.concern_ids))),
        ("Actions / decisions", f"{len(case.actions)} / {len(case.decisions)}"),
        ("Closed", format_when(case.closed_at) if case.closed_at else "open"),
        ("Outcome", case.outcome or "-"),
    ]


def render(document: PupilFile) -> bytes:
    pupil = document.pupil
    pdf = _FilePDF(
        generated=f"Generated {format_when(document.generated_at)} by "
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
                    row.cell(format_when(item.occurred_at) if first else "")
                    row.cell(format_when(item.recorded_at) if first else "")
                    row.cell(type_label(item) if first else "(continued)")
                    row.cell(pdf.text_of(item.by.display_name) if first else "")
                    row.cell(pdf.text_of(chunk))
    drawing.render_sections(pdf, document, when=format_when)
    return bytes(pdf.output())


# --- the operation ----------------------------------------------------------------------------
