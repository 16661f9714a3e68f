"""Which concerns are about a child, once a DSL has marked some entered in error.

A concern is about the pupils it named (``concern_pupil``) until a DSL marks it entered in
error (``concern_error_mark``); from then on it is about the children the mark names
(``concern_error_pupil``: none for a concern recorded in error, the right ones for a
concern recorded against the wrong child). The concern's own rows are never changed
(docs/adr/0090). The chronology, the export and a list filtered by pupil read a child's
concerns through ``about_pupil``.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement

from models.concern import ConcernPupil
from models.lifecycle import ConcernErrorMark, ConcernErrorPupil

_NAMED: sa.Table = ConcernPupil.__table__  # type: ignore[attr-defined]
_MARKS: sa.Table = ConcernErrorMark.__table__  # type: ignore[attr-defined]
_CORRECTED: sa.Table = ConcernErrorPupil.__table__  # type: ignore[attr-defined]


def about_pupil(school_id: Any, pupil_id: Any, *, name: str = "about_pupil") -> sa.Subquery:
    """The ids (column ``concern_id``) of the concerns about ``pupil_id`` of the school
    ``school_id`` (values or bound parameters): those naming the child and not marked, and
    those a mark says are about the child. Each arm is an index lookup by school and
    pupil; the mark's test is a lookup by concern (its unique index)."""
    unmarked = ~sa.exists().where(_MARKS.c.concern_id == _NAMED.c.concern_id)
    named = sa.select(_NAMED.c.concern_id).where(
        _NAMED.c.school_id == school_id, _NAMED.c.pupil_id == pupil_id, unmarked
    )
    corrected = sa.select(_CORRECTED.c.concern_id).where(
        _CORRECTED.c.school_id == school_id, _CORRECTED.c.pupil_id == pupil_id
    )
    return sa.union_all(named, corrected).subquery(name)


def concern_is_about(
    concern_id: Any, school_id: uuid.UUID, pupil_id: uuid.UUID
) -> ColumnElement[bool]:
    """A condition: the concern ``concern_id`` (a column) is about the pupil, as
    ``about_pupil`` says (for a list filtered by pupil)."""
    condition: ColumnElement[bool] = concern_id.in_(
        sa.select(about_pupil(school_id, pupil_id).c.concern_id)
    )
    return condition
