"""A school's guidance as anyone may read it, by the school's URN and without a token: the
built-in documents and every document the school has published (its latest version, or
any version by number). Nothing here is about a child, so nothing here is audited.

Each answer is a ``Representation``: exact bytes with a strong ETag over them. A version's
representations are made once per process (``GuidanceLibrary``); the school's index is
made per request from its latest versions (one short query, sent with the school's).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import Session

from core.errors import NotFound
from db.batch import Batch
from models.guidance import GuidanceSummary
from services.guidance.library import Edition, GuidanceLibrary, Representation, represent
from services.guidance.statements import LATEST_OF_URN, LATEST_VERSION_OF_URN, SCHOOL_BY_URN


def _no_document(key: str) -> NotFound:
    return NotFound(f"The school has no guidance document with key {key!r}.")


def _school_id(found: dict[str, list[Any]]) -> uuid.UUID:
    if not found["school"]:
        raise NotFound("There is no school with that URN.")
    school_id: uuid.UUID = found["school"][0].id
    return school_id


def school_index(session: Session, library: GuidanceLibrary, *, urn: str) -> Representation:
    """Every document the school's concerns may cite: the built-in ones, then the school's
    own in key order, each as its latest version (404 for an unknown URN)."""
    found = (
        Batch()
        .add("school", SCHOOL_BY_URN, {"urn": urn})
        .add("latest", LATEST_OF_URN, {"urn": urn})
        .run(session)
    )
    _school_id(found)
    own = [
        GuidanceSummary(
            key=row.key,
            title=row.title,
            version=str(row.version),
            updated_at=row.published_at,
            category=row.category,
        ).model_dump(mode="json")
        for row in found["latest"]
    ]
    return represent([edition.summary for edition in library.builtins()] + own)


def _latest(session: Session, library: GuidanceLibrary, *, urn: str, key: str) -> Edition:
    found = (
        Batch()
        .add("school", SCHOOL_BY_URN, {"urn": urn})
        .add("latest", LATEST_VERSION_OF_URN, {"urn": urn, "key": key})
        .run(session)
    )
    school_id = _school_id(found)
    builtin = library.builtin(key)
    if builtin is not None:
        return builtin
    if not found["latest"]:
        raise _no_document(key)
    edition = library.edition(session, school_id, key, str(found["latest"][0].version))
    if edition is None:  # published, then gone: never, since versions are never deleted
        raise _no_document(key)
    return edition


def school_document(
    session: Session, library: GuidanceLibrary, *, urn: str, key: str
) -> Representation:
    """The latest version of the school's document ``key`` (or the built-in ``key``),
    whole. 404 for an unknown URN or key."""
    return _latest(session, library, urn=urn, key=key).full


def school_indicators(
    session: Session, library: GuidanceLibrary, *, urn: str, key: str
) -> Representation:
    """The indicators of the latest version of ``key``, in document order."""
    return _latest(session, library, urn=urn, key=key).indicators


def school_version(
    session: Session, library: GuidanceLibrary, *, urn: str, key: str, version: str
) -> Representation:
    """Version ``version`` of the school's document ``key``, whole, superseded or not: the
    words an old concern was logged against. A built-in document has its current version
    only. 404 for an unknown URN, key or version."""
    found = Batch().add("school", SCHOOL_BY_URN, {"urn": urn}).run(session)
    school_id = _school_id(found)
    builtin = library.builtin(key)
    if builtin is not None:
        edition: Edition | None = builtin if builtin.document.version == version else None
    else:
        edition = library.edition(session, school_id, key, version)
    if edition is None:
        raise NotFound(f"The school has no version {version!r} of guidance {key!r}.")
    return edition.full
