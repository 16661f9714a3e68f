"""Attachments: files on a concern or a case, recognised by content, stripped of their
metadata (images), sealed at rest, recorded with their SHA-256 in the audit chain, and
never changed or deleted through the API (ADR 0105)."""

from services.attachments.erasure import (
    SweepResult,
    erase_attachments,
    live_attachment_ids,
    sweep,
)
from services.attachments.ingest import MAX_BYTES, Ingested, ingest, media_type_of, too_large
from services.attachments.records import (
    Upload,
    attachment_to_read,
    create_attachment,
    list_attachments,
    listed,
    note_broken,
    record_of,
)
from services.attachments.store import FileStore

__all__ = [
    "MAX_BYTES",
    "FileStore",
    "Ingested",
    "SweepResult",
    "Upload",
    "attachment_to_read",
    "create_attachment",
    "erase_attachments",
    "ingest",
    "list_attachments",
    "listed",
    "live_attachment_ids",
    "media_type_of",
    "note_broken",
    "record_of",
    "sweep",
    "too_large",
]
