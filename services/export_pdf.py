"""A pupil's file as a PDF (fpdf2): a title page block with the school (name, URN, its
DSLs and how to reach them), then each section of ``services.export_sections.SECTIONS``
in order, drawn through ``PageWriter``'s verbs. Every page is marked OFFICIAL-SENSITIVE at
its top and bottom, with the school, page numbers and who generated it when.

Fonts: DejaVu Sans (Debian: fonts-dejavu-core) for Latin (Polish, Vietnamese...), Greek
and Cyrillic, with Noto Sans fonts (fonts-noto-core) behind it for the scripts it lacks
(Arabic, Hebrew, Devanagari, Bengali, Gurmukhi, Thai...), and HarfBuzz shaping
(uharfbuzz) so that Arabic letters join and run right to left, for a file that has such
a script (shaping triples the drawing time). Without DejaVu, the PDF
core font, with the characters it lacks replaced: the export never fails for a font.

Imported by ``services.export`` only when a PDF is asked for: fpdf2 brings ~30 MiB of
imaging and font code into the process.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

from models.chronology import PupilFile
from services.export_sections import SECTIONS
from services.export_text import MARKING, format_when

# Long texts are cut into rows of at most this many characters, each continuing the last:
# a table row cannot be split across pages, and a 20,000-character concern is taller
# than one.
PDF_CHUNK = 800
FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
)
NOTO_DIRS = (
    Path("/usr/share/fonts/truetype/noto"),
    Path("/usr/share/fonts/noto"),
)
# Scripts DejaVu Sans lacks or cannot shape, each with its Noto face (regular, bold).
NOTO_FALLBACKS = (
    ("NotoArabic", "NotoSansArabic"),
    ("NotoHebrew", "NotoSansHebrew"),
    ("NotoDevanagari", "NotoSansDevanagari"),
    ("NotoBengali", "NotoSansBengali"),
    ("NotoGurmukhi", "NotoSansGurmukhi"),
    ("NotoGujarati", "NotoSansGujarati"),
    ("NotoTamil", "NotoSansTamil"),
    ("NotoThai", "NotoSansThai"),
    ("NotoEthiopic", "NotoSansEthiopic"),
    ("NotoGeorgian", "NotoSansGeorgian"),
    ("NotoArmenian", "NotoSansArmenian"),
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


def _noto_faces() -> list[tuple[str, Path, Path | None]]:
    """The Noto fallbacks this machine has: (family, regular, bold or None)."""
    found = []
    for family, stem in NOTO_FALLBACKS:
        for folder in NOTO_DIRS:
            regular = folder / f"{stem}-Regular.ttf"
            if regular.is_file():
                bold = folder / f"{stem}-Bold.ttf"
                found.append((family, regular, bold if bold.is_file() else None))
                break
    return found


# Scripts whose letters join, reorder or run right to left (Hebrew, Arabic, Syriac,
# Thaana, the Indic scripts, Thai, Lao, Tibetan, Myanmar, Arabic presentation forms):
# only a file with one of them pays for shaping, about three times the drawing time.
_COMPLEX_SCRIPTS = re.compile(
    "[\u0590-\u08ff\u0900-\u0dff\u0e00-\u0eff\u0f00-\u109f\ufb1d-\ufdff\ufe70-\ufeff]"
)


def _needs_shaping(document: PupilFile) -> bool:
    return _COMPLEX_SCRIPTS.search(document.model_dump_json()) is not None


def _shaping_available() -> bool:
    try:
        import uharfbuzz  # noqa: F401
    except ImportError:
        return False
    return True


class _FilePDF(FPDF):
    def __init__(self, *, school: str, generated: str, shaping: bool) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.school = school
        self.generated = generated
        self.set_margins(15, 18, 15)
        self.set_auto_page_break(auto=True, margin=22)
        font = _unicode_font()
        if font is not None:
            self.add_font("DejaVu", "", str(font[0]))
            self.add_font("DejaVu", "B", str(font[1]))
            fallbacks = []
            for family, regular, bold in _noto_faces():
                self.add_font(family, "", str(regular))
                self.add_font(family, "B", str(bold or regular))
                fallbacks.append(family)
            if fallbacks:
                self.set_fallback_fonts(fallbacks, exact_match=False)
            if shaping and _shaping_available():
                self.set_text_shaping(True)
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
        self.cell(0, 5, MARKING, align="C", new_x="LMARGIN", new_y="NEXT")
        self.set_font(self.body_font, "", 7)
        self.cell(0, 4, self.text_of(self.school), align="C", new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def footer(self) -> None:
        self.set_y(-16)
        self.set_font(self.body_font, "B", 9)
        self.cell(0, 5, MARKING, align="C", new_x="LMARGIN", new_y="NEXT")
        self.set_font(self.body_font, "", 7)
        self.cell(130, 4, self.text_of(self.generated), align="L")
        self.cell(0, 4, f"Page {self.page_no()} of {{nb}}", align="R")


class _Writer:
    """``PageWriter`` on a ``_FilePDF``."""

    def __init__(self, pdf: _FilePDF) -> None:
        self.pdf = pdf

    def heading(self, text: str, size: int = 13) -> None:
        pdf = self.pdf
        pdf.set_font(pdf.body_font, "B", size)
        pdf.ln(2)
        pdf.multi_cell(0, size * 0.5, pdf.text_of(text), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)

    def paragraph(self, text: str) -> None:
        pdf = self.pdf
        pdf.set_font(pdf.body_font, "", 9)
        pdf.multi_cell(0, 4.5, pdf.text_of(text), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)

    def new_page(self) -> None:
        self.pdf.add_page()

    def canvas(self) -> _FilePDF:
        return self.pdf

    def facts(self, rows: Iterable[tuple[str, str]]) -> None:
        pdf = self.pdf
        pdf.set_font(pdf.body_font, "", 9)
        with pdf.table(
            col_widths=(1, 3),
            first_row_as_headings=False,
            text_align="LEFT",
            v_align="TOP",
            line_height=4.5,
            padding=1,
        ) as table:
            for name, value in rows:
                for i, chunk in enumerate(_chunks(value)):
                    row = table.row()
                    shown = name if i == 0 else "(continued)"
                    row.cell(pdf.text_of(shown), style=FontFace(emphasis="BOLD"))
                    row.cell(pdf.text_of(chunk))
        pdf.ln(2)

    def table(
        self, headings: Sequence[str], widths: Sequence[int], rows: Iterable[Sequence[str]]
    ) -> None:
        """A table whose last column may be long: it continues over rows (and pages)."""
        pdf = self.pdf
        pdf.set_font(pdf.body_font, "", 8)
        with pdf.table(
            col_widths=tuple(widths),
            text_align=tuple("LEFT" for _ in widths),
            v_align="TOP",
            line_height=3.8,
            padding=1,
            headings_style=FontFace(emphasis="BOLD", fill_color=(225, 225, 225)),
        ) as table:
            heading = table.row()
            for title in headings:
                heading.cell(title)
            for cells in rows:
                *first, last = cells
                for i, chunk in enumerate(_chunks(last)):
                    row = table.row()
                    for n, cell in enumerate(first):
                        shown = cell if i == 0 else ("(continued)" if n == len(first) - 1 else "")
                        row.cell(pdf.text_of(shown))
                    row.cell(pdf.text_of(chunk))
        pdf.ln(2)


def _chunks(text: str) -> list[str]:
    if len(text) <= PDF_CHUNK:
        return [text]
    return [text[i : i + PDF_CHUNK] for i in range(0, len(text), PDF_CHUNK)]


def _school_block(writer: _Writer, document: PupilFile) -> None:
    school = document.school
    rows = [("School", f"{school.name} (URN {school.urn})")]
    for dsl in school.dsls:
        contact = f", {dsl.email}" if dsl.email else ""
        rows.append((dsl.role, f"{dsl.display_name}{contact}"))
    if not school.dsls:
        rows.append(("Contact", "The school's designated safeguarding lead, through the school"))
    rows.append(("Generated", f"{format_when(document.generated_at)}"))
    rows.append(("Times", "UK time (Europe/London), with the offset from UTC"))
    writer.facts(rows)


def render(document: PupilFile) -> bytes:
    school = document.school
    title = "Subject access copy" if document.subject_access else "Child protection file"
    pdf = _FilePDF(
        school=f"{school.name} (URN {school.urn})",
        generated=f"Generated {format_when(document.generated_at)} by "
        f"{document.generated_by.display_name}",
        shaping=_needs_shaping(document),
    )
    pdf.set_title(title)
    pdf.set_creator("concernlog")
    # The same document renders to the same bytes (a subject access export is rendered
    # again on each download).
    pdf.set_creation_date(document.generated_at)
    pdf.add_page()
    writer = _Writer(pdf)
    writer.heading(title, size=16)
    writer.paragraph(_purpose(document))
    _school_block(writer, document)
    for section in SECTIONS:
        section.pdf(writer, document)
    return bytes(pdf.output())


def _purpose(document: PupilFile) -> str:
    sar = document.subject_access
    if sar is None:
        return (
            "Confidential. For the school's designated safeguarding leads and those they "
            "share it with under KCSIE (a social worker, the child's next school). Do not "
            "store it outside the child protection record."
        )
    said = [
        "Prepared in answer to a subject access request. It holds what was recorded up to "
        f"{format_when(sar.as_of)}."
    ]
    if sar.other_pupils_redacted:
        said.append("Other pupils' names are replaced by [another pupil].")
    if sar.staff_redacted:
        said.append("Staff names are replaced by [member of staff].")
    withheld = len(sar.withheld_entry_ids)
    if withheld:
        entries = "entry is" if withheld == 1 else "entries are"
        said.append(f"{withheld} {entries} withheld under an exemption and shown as Withheld.")
    if sar.notice:
        said.append(sar.notice)
    return " ".join(said)
