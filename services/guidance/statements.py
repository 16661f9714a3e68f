"""The statements of a school's guidance, built once: its versions, its latest ones, its
drafts, and a school by its URN (the public reads know a school by that alone)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from db.prepared import Prepared
from models.school import School
from models.school_guidance import GuidanceDraft, GuidanceVersion
from models.user import User

VERSIONS: sa.Table = GuidanceVersion.__table__  # type: ignore[attr-defined]
DRAFTS: sa.Table = GuidanceDraft.__table__  # type: ignore[attr-defined]
SCHOOLS: sa.Table = School.__table__  # type: ignore[attr-defined]
USERS: sa.Table = User.__table__  # type: ignore[attr-defined]

_SCHOOL: sa.BindParameter[object] = sa.bindparam("school_id")

# Versions of the school's documents, by keys and version numbers (the caller keeps the
# pairs it asked for).
VERSIONS_OF = Prepared(
    sa.select(VERSIONS.c.key, VERSIONS.c.version, VERSIONS.c.document).where(
        VERSIONS.c.school_id == _SCHOOL,
        VERSIONS.c.key.in_(sa.bindparam("keys", expanding=True)),
        VERSIONS.c.version.in_(sa.bindparam("versions", expanding=True)),
    )
)


def _latest_version(school_id: sa.ColumnElement[object], key: sa.ColumnElement[str]) -> Any:
    """The latest version of the document ``key`` of ``school_id`` (columns of the outer
    query), as a correlated subquery."""
    newer = VERSIONS.alias("newer")
    return (
        sa.select(sa.func.max(newer.c.version))
        .where(newer.c.school_id == school_id, newer.c.key == key)
        .scalar_subquery()
    )


# The latest version number of one of the school's documents (no row: never published).
LATEST_VERSION = Prepared(
    sa.select(VERSIONS.c.version)
    .where(VERSIONS.c.school_id == _SCHOOL, VERSIONS.c.key == sa.bindparam("key"))
    .order_by(VERSIONS.c.version.desc())
    .limit(1)
)
# The latest version of every document the school has published.
LATEST_OF_SCHOOL = Prepared(
    sa.select(VERSIONS.c.key, VERSIONS.c.version)
    .where(
        VERSIONS.c.school_id == _SCHOOL,
        VERSIONS.c.version == _latest_version(VERSIONS.c.school_id, VERSIONS.c.key),
    )
    .order_by(VERSIONS.c.key)
)
# The keys of every document the school has published (for an error that names them).
SCHOOL_KEYS = Prepared(
    sa.select(VERSIONS.c.key)
    .where(VERSIONS.c.school_id == _SCHOOL)
    .distinct()
    .order_by(VERSIONS.c.key)
)
# Every document a school has published, its latest version's summary each: for
# the school of the URN ``:urn`` (the public reads, sent with the school's own lookup).
_OF_URN = VERSIONS.c.school_id == (
    sa.select(SCHOOLS.c.id).where(SCHOOLS.c.urn == sa.bindparam("urn")).scalar_subquery()
)
LATEST_OF_URN = Prepared(
    sa.select(
        VERSIONS.c.key,
        VERSIONS.c.version,
        VERSIONS.c.title,
        VERSIONS.c.category,
        VERSIONS.c.published_at,
    )
    .where(_OF_URN, VERSIONS.c.version == _latest_version(VERSIONS.c.school_id, VERSIONS.c.key))
    .order_by(VERSIONS.c.key)
)
LATEST_VERSION_OF_URN = Prepared(
    sa.select(VERSIONS.c.version)
    .where(_OF_URN, VERSIONS.c.key == sa.bindparam("key"))
    .order_by(VERSIONS.c.version.desc())
    .limit(1)
)
SCHOOL_BY_URN = Prepared(
    sa.select(SCHOOLS.c.id, SCHOOLS.c.urn).where(SCHOOLS.c.urn == sa.bindparam("urn"))
)
SCHOOL_URN = Prepared(sa.select(SCHOOLS.c.urn).where(SCHOOLS.c.id == _SCHOOL))

# A draft with its author's name, of the caller's school only; and, to publish it, the
# latest version of its key.
_DRAFT_COLUMNS = (*DRAFTS.c, USERS.c.display_name.label("created_by_name"))
_DRAFTS_WITH_AUTHORS = sa.select(*_DRAFT_COLUMNS).join_from(
    DRAFTS, USERS, USERS.c.id == DRAFTS.c.created_by
)
ONE_DRAFT = Prepared(
    _DRAFTS_WITH_AUTHORS.where(DRAFTS.c.school_id == _SCHOOL, DRAFTS.c.id == sa.bindparam("id"))
)
DRAFT_TO_PUBLISH = Prepared(
    sa.select(
        *_DRAFT_COLUMNS, _latest_version(DRAFTS.c.school_id, DRAFTS.c.key).label("latest_version")
    )
    .join_from(DRAFTS, USERS, USERS.c.id == DRAFTS.c.created_by)
    .where(DRAFTS.c.school_id == _SCHOOL, DRAFTS.c.id == sa.bindparam("id"))
)
