"""Export a pupil's whole file as JSON, CSV or PDF, fit to hand over to a social worker.

DSLs and deputy DSLs of the pupil's school only (404 for anyone else's pupil). Every
export records ``pupil.export.<format>`` with the pupil, in the same transaction as the
reads it makes. The file name carries the pupil's id and the time, never a name.

Every format has the school (name, URN, its DSLs and their addresses), times in the
school's time (Europe/London, with the offset), categories and indicators in words, and
the sections of ``services.export_sections.SECTIONS`` in that order: the pupil, the
chronology, the concerns with their addenda, each case's actions and decisions, and an
appendix of administrative events.

- JSON: the ``PupilFile`` document, its times with their offsets.
- CSV: one row per entry of every section (its first column names the section), with
  the full text of each; cells that a spreadsheet would run as a formula (starting ``=``,
  ``+``, ``-``, ``@``, tab or carriage return) are prefixed with ``'``.
- PDF (fpdf2, ``services.export_pdf``): "OFFICIAL-SENSITIVE" at the top and bottom of
  every page, page numbers, the school, who generated it and when.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import pydantic_core
from pydantic import BaseModel
from sqlmodel import Session

from models.chronology import PupilFile
from services import audit, pupils
from services.access import require_dsl
from services.audit import probes
from services.context import RequestContext
from services.export_document import build_file, generator
from services.export_sections import CSV_COLUMNS, SECTIONS
from services.export_text import MARKING, local

__all__ = ["MARKING", "ExportFormat", "ExportedFile", "export_pupil_file"]
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


# --- the formats ------------------------------------------------------------------------------


def _local_times(value: Any) -> Any:
    """``value`` (models, lists, dicts) as plain data with every time in the school's zone."""
    if isinstance(value, BaseModel):
        return _local_times(value.model_dump(mode="python"))
    if isinstance(value, dict):
        return {key: _local_times(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_local_times(item) for item in value]
    if isinstance(value, datetime):
        return local(value)
    return value


def render_json(document: PupilFile) -> bytes:
    """The document, each section as its renderer gives it, in the sections' order."""
    head = document.model_dump(
        mode="python",
        include={"marking", "timezone", "generated_at", "generated_by", "school", "sections"},
    )
    body = head | {section.key: section.json(document) for section in SECTIONS}
    body["subject_access"] = document.subject_access
    return pydantic_core.to_json(_local_times(body), indent=2)


def _safe_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def render_csv(document: PupilFile) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for section in SECTIONS:
        for row in section.csv(document):
            writer.writerow([_safe_cell(cell) for cell in row])
    # A byte-order mark so that spreadsheet programs read the file as UTF-8.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def render_pdf(document: PupilFile) -> bytes:
    # fpdf2 brings 30 MiB of imaging and font code into the process: loaded on the first
    # PDF export, not by every server at start-up.
    from services import export_pdf

    return export_pdf.render(document)


RENDERERS = {
    ExportFormat.json: render_json,
    ExportFormat.csv: render_csv,
    ExportFormat.pdf: render_pdf,
}


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
    document = build_file(
        session, context, pupil=pupil, generated_at=now, generated_by=generator(session, context)
    )
    content = RENDERERS[format](document)
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
