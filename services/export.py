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
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session

from core.errors import NotFound
from models.chronology import ChronologyItem, ChronologyType, PupilFile
from models.concern import Person
from models.pupil import PupilPublic
from services import audit, cases, chronology, pupils
from services.access import require_dsl
from services.attachments import exporting
from services.audit import probes
from services.concerns import people_by_id
from services.context import RequestContext

MARKING = "OFFICIAL-SENSITIVE"
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


def format_when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _yes(value: bool | None) -> str:
    return "yes" if value else "no"


def entry_text(item: ChronologyItem) -> str:
    """An entry in full, as a person reads it (the PDF's and CSV's "entry")."""
    d = item.details
    if item.type is ChronologyType.concern:
        lines = [d.description or ""]
        if d.categories:
            lines.append("Categories: " + ", ".join(category.name for category in d.categories))
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
    if item.type is ChronologyType.task:
        return f"Task (due {d.due_on}): {d.title}"
    if item.type is ChronologyType.task_completed:
        return f"Task completed: {d.title}\nNote: {d.note}"
    # Triage changes, level changes, links, reopenings, review dates and reassignments:
    # the summary is already whole.
    return item.summary


def type_label(item: ChronologyItem) -> str:
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
    exporting.write_csv_rows(writer, document, safe=_safe_cell)
    # A byte-order mark so that spreadsheet programs read the file as UTF-8.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# --- PDF --------------------------------------------------------------------------------------


def _pdf(document: PupilFile) -> bytes:
    # fpdf2 brings 30 MiB of imaging and font code into the process: loaded on the first
    # PDF export, not by every server at start-up.
    from services import export_pdf

    return export_pdf.render(document)


def export_pupil_file(
    session: Session,
    context: RequestContext,
    *,
    pupil_id: uuid.UUID,
    format: ExportFormat,
) -> ExportedFile:
    """The pupil's whole file in ``format``. DSLs and deputy DSLs of the pupil's school;
    records ``pupil.export.<format>`` with the pupil; the 404 of a pupil of another school or
    none leaves a ``security.probe`` (``services.audit.probes``)."""
    principal, now, request_id = context.principal, context.now, context.request_id
    require_dsl(principal)
    with probes.watched(context, kind="pupil", record_id=pupil_id):
        pupil = pupils.pupil_in_school(session, principal, pupil_id)
    me = people_by_id(session, principal.school_id, [principal.id]).get(principal.id)
    if me is None:
        raise NotFound("Your account no longer exists.")
    document = PupilFile(
        generated_at=now,
        generated_by=Person(id=me.id, display_name=me.display_name),
        pupil=PupilPublic.of(pupil),
        cases=cases.cases_of_pupil(session, context, pupil_id=pupil_id),
        chronology=chronology.whole_chronology(session, principal=principal, pupil_id=pupil_id),
        attachments=exporting.attachments_of_pupil(session, principal.school_id, pupil_id),
        body_maps=exporting.body_maps_of_pupil(session, principal.school_id, pupil_id),
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
