"""Removing stored files: with a child's file when it is destroyed (``erase_attachments``,
for the records-lifecycle destruction), and the files no row names (``sweep``: what an
upload killed before its commit left behind). Neither is reachable through the API's
attachment routes (ADR 0105)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from models.attachment import Attachment
from models.case import Case
from models.concern import ConcernPupil
from services.attachments.store import SWEEP_AGE, FileStore

log = logging.getLogger(__name__)


def erase_attachments(
    session: Session,
    school_id: uuid.UUID,
    pupil_id: uuid.UUID,
    *,
    store: FileStore,
    now: datetime,
    only_concerns: Sequence[uuid.UUID] | None = None,
) -> int:
    """Destroy the stored files attached to the pupil's concerns and cases (of
    ``school_id``), for the destruction of a child's file past retention: each file is
    removed from the store and its row keeps its id, media type, size, SHA-256, uploader
    and dates with its filename blanked and ``erased_at`` set (the audit chain, which holds
    the hashes, still verifies). Returns how many were erased. The caller records the
    destruction in the audit log and checks that it may be done (retention, legal hold).

    A file on a concern about several children is in each child's file: erased for one,
    it is gone for all, as the concern's own content is when the destruction removes it
    (the caller decides that by calling this)."""
    concern_ids: Any = (
        list(only_concerns)
        if only_concerns is not None  # a concern also about a kept file keeps its files
        else select(ConcernPupil.concern_id).where(
            col(ConcernPupil.school_id) == school_id, col(ConcernPupil.pupil_id) == pupil_id
        )
    )
    case_ids = select(Case.id).where(
        col(Case.school_id) == school_id, col(Case.pupil_id) == pupil_id
    )
    rows = session.exec(
        select(Attachment).where(
            col(Attachment.school_id) == school_id,
            col(Attachment.erased_at).is_(None),
            or_(col(Attachment.concern_id).in_(concern_ids), col(Attachment.case_id).in_(case_ids)),
        )
    ).all()
    for row in rows:
        store.remove(school_id, row.id)
        row.filename = None
        row.erased_at = now
        session.add(row)
    session.flush()
    return len(rows)


@dataclass(frozen=True)
class SweepResult:
    removed: int
    kept_young: int


def sweep(
    store: FileStore,
    *,
    known: Callable[[list[uuid.UUID]], set[uuid.UUID]],
    now: datetime,
) -> SweepResult:
    """Remove every sealed file older than an hour that no live attachment row names
    (``known`` says which of some ids have a row not erased). A younger one may belong to
    an upload whose transaction is still open: it is left for the next sweep."""
    files = list(store.files())
    live = known([found.attachment_id for found in files]) if files else set()
    removed = young = 0
    for found in files:
        if found.attachment_id in live:
            continue
        if found.modified is not None and now - found.modified < SWEEP_AGE:
            young += 1
            continue
        if store.remove(found.school_id, found.attachment_id):
            removed += 1
            log.info(
                "removed an orphan attachment file",
                extra={"attachment_id": str(found.attachment_id)},
            )
    return SweepResult(removed=removed, kept_young=young)


def live_attachment_ids(session: Session, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of ``ids`` are attachments whose file is kept (a row, not erased)."""
    found: set[uuid.UUID] = set()
    for start in range(0, len(ids), 500):
        found.update(
            session.exec(
                select(Attachment.id).where(
                    col(Attachment.id).in_(ids[start : start + 500]),
                    col(Attachment.erased_at).is_(None),
                )
            ).all()
        )
    return found
