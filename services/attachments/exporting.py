"""A child's attachments and body maps in the exported file (issue 20, point 5): the
data the ``PupilFile`` carries, and their rows in the CSV. The PDF's drawing is
``services.attachments.drawing`` (loaded with fpdf2, for a PDF only).

Called from ``services.export`` with one line each; the caller has checked that the
reader is the DSL desk of the pupil's school and records the export."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from models.attachment import Attachment, AttachmentListed, BodyMapPublic
from models.case import Case
from models.concern import ConcernPupil
from services.attachments.records import listed
from services.body_maps import body_maps_of_pupil
from services.export_text import format_when

__all__ = ["attachments_of_pupil", "body_maps_of_pupil", "csv_rows", "mark_text", "size_text"]


def attachments_of_pupil(
    session: Session, school_id: uuid.UUID, pupil_id: uuid.UUID
) -> list[AttachmentListed]:
    """Every attachment on the pupil's concerns and cases, oldest first, with its SHA-256
    (an erased one too, marked: its hash stands in the audit chain)."""
    concern_ids = select(ConcernPupil.concern_id).where(
        col(ConcernPupil.school_id) == school_id, col(ConcernPupil.pupil_id) == pupil_id
    )
    case_ids = select(Case.id).where(
        col(Case.school_id) == school_id, col(Case.pupil_id) == pupil_id
    )
    rows = session.exec(
        select(Attachment)
        .where(
            col(Attachment.school_id) == school_id,
            or_(
                col(Attachment.concern_id).in_(concern_ids),
                col(Attachment.case_id).in_(case_ids),
            ),
        )
        .order_by(col(Attachment.uploaded_at), col(Attachment.id))
    ).all()
    return [listed(row) for row in rows]


def size_text(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


def mark_text(mark: Any) -> str:
    kind = mark.kind.value if hasattr(mark.kind, "value") else str(mark.kind)
    view = mark.view.value if hasattr(mark.view, "value") else str(mark.view)
    note = f": {mark.note}" if mark.note else ""
    return f"{kind} on the {view} at ({mark.x:.2f}, {mark.y:.2f}){note}"


def _iso(moment: Any) -> str:
    return format_when(moment)  # the school's local time, with its offset


def csv_rows(document: Any) -> list[list[str]]:
    """The CSV's rows (its columns: occurred_at, recorded_at, type, recorded_by, entry,
    source_type, source_id) for the file's attachments (type ``attachment``: name, media
    type, size and SHA-256) and body maps (type ``body_map``: each mark)."""
    found: Sequence[AttachmentListed] = getattr(document, "attachments", None) or []
    maps: Sequence[BodyMapPublic] = getattr(document, "body_maps", None) or []
    rows: list[list[str]] = []
    for item in found:
        name = "(erased)" if item.erased else (item.filename or "(no name)")
        rows.append(
            [
                _iso(item.uploaded_at),
                _iso(item.uploaded_at),
                "attachment",
                item.uploaded_by.display_name,
                f"{name} ({item.media_type}, {item.size} bytes) sha256 {item.sha256}",
                "concern" if item.concern_id else "case",
                str(item.concern_id or item.case_id),
            ]
        )
    for body_map in maps:
        marks = "\n".join(
            f"{n}. {mark_text(mark)}" for n, mark in enumerate(body_map.marks, start=1)
        )
        rows.append(
            [
                _iso(body_map.recorded_at),
                _iso(body_map.recorded_at),
                "body_map",
                body_map.recorded_by.display_name,
                f"Body map\n{marks}",
                "concern",
                str(body_map.concern_id),
            ]
        )
    return rows


def write_csv_rows(writer: Any, document: Any, *, safe: Callable[[str], str]) -> None:
    """Write ``csv_rows(document)`` with ``writer``, each cell through ``safe``."""
    for row in csv_rows(document):
        writer.writerow([safe(cell) for cell in row])
