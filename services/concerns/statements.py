"""The concern tables and the statements built once for the hot paths (log, read, list).

They read and write with Core statements: the ORM's unit of work and identity map cost
more than the SQL for rows that are written once and only ever read back to be shown.
Which concerns a caller may read is ``services.access``'s rule, built into the statements
that read concerns (``access.ScopedConcerns``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from db.prepared import Prepared
from models.category import ConcernCategory
from models.concern import (
    Addendum,
    Concern,
    ConcernIndicator,
    ConcernPupil,
    ConcernSearchTerm,
)
from models.lifecycle import ConcernErrorMark, ConcernErrorPupil
from models.pupil import Pupil, display_name_column
from models.triage import ConcernTriage
from models.user import User
from services import access
from services.concerns.links import about_pupil

CONCERNS: sa.Table = Concern.__table__  # type: ignore[attr-defined]
TRIAGE: sa.Table = ConcernTriage.__table__  # type: ignore[attr-defined]
CONCERN_PUPILS: sa.Table = ConcernPupil.__table__  # type: ignore[attr-defined]
CONCERN_INDICATORS: sa.Table = ConcernIndicator.__table__  # type: ignore[attr-defined]
CONCERN_CATEGORIES: sa.Table = ConcernCategory.__table__  # type: ignore[attr-defined]
ADDENDA: sa.Table = Addendum.__table__  # type: ignore[attr-defined]
USERS: sa.Table = User.__table__  # type: ignore[attr-defined]
PUPILS: sa.Table = Pupil.__table__  # type: ignore[attr-defined]
SEARCH_TERMS: sa.Table = ConcernSearchTerm.__table__  # type: ignore[attr-defined]
ERROR_MARKS: sa.Table = ConcernErrorMark.__table__  # type: ignore[attr-defined]
ERROR_PUPILS: sa.Table = ConcernErrorPupil.__table__  # type: ignore[attr-defined]

# A concern row: the concern's own columns and its triage state, one row per concern.
CONCERN_ROW_COLUMNS = (
    *CONCERNS.c,
    TRIAGE.c.status,
    TRIAGE.c.risk_level,
    TRIAGE.c.assigned_to,
    TRIAGE.c.version.label("triage_version"),
)
CONCERN_ROWS = sa.select(*CONCERN_ROW_COLUMNS).join_from(
    CONCERNS, TRIAGE, TRIAGE.c.concern_id == CONCERNS.c.id
)
# One concern row, as the caller may see it (none if they may not).
ONE_CONCERN_ROW = access.ScopedConcerns(
    lambda scope: CONCERN_ROWS.where(CONCERNS.c.id == sa.bindparam("concern_id"), *scope)
)

INSERT_CONCERN = Prepared(sa.insert(CONCERNS))
INSERT_CONCERN_PUPILS = Prepared(sa.insert(CONCERN_PUPILS))
INSERT_CONCERN_INDICATORS = Prepared(sa.insert(CONCERN_INDICATORS))
INSERT_CONCERN_CATEGORIES = Prepared(sa.insert(CONCERN_CATEGORIES))
INSERT_TRIAGE = Prepared(sa.insert(TRIAGE))
INSERT_ADDENDUM = Prepared(sa.insert(ADDENDA))
INSERT_SEARCH_TERMS = Prepared(sqlite_insert(SEARCH_TERMS).on_conflict_do_nothing())
# What names a pupil on the DSL desk (``models.pupil.PupilName``), made by the database.
PUPIL_NAME_COLUMNS = (display_name_column(PUPILS), PUPILS.c.year_group)
_OF_THE_SCHOOL = (
    PUPILS.c.school_id == sa.bindparam("school_id"),
    PUPILS.c.id.in_(sa.bindparam("pupil_ids", expanding=True)),
)
# The pupils of a new concern: theirs (the check) and their dates of birth (the check of
# observed_at); for the DSL desk their names too (its answer names them), in the same
# statement.
SCHOOL_PUPILS = Prepared(sa.select(PUPILS.c.id, PUPILS.c.date_of_birth).where(*_OF_THE_SCHOOL))
SCHOOL_PUPILS_NAMED = Prepared(
    sa.select(PUPILS.c.id, PUPILS.c.date_of_birth, *PUPIL_NAME_COLUMNS).where(*_OF_THE_SCHOOL)
)

# A concern's lookups (what it shows beside its row) go by its id alone. (A school filter
# beside it made SQLite, before ANALYZE has run, read a pupil lookup through the (school,
# pupil) index: every row of the school's, on every read.)
PUPILS_OF = Prepared(
    sa.select(CONCERN_PUPILS.c.concern_id, CONCERN_PUPILS.c.pupil_id)
    .where(CONCERN_PUPILS.c.concern_id.in_(sa.bindparam("concern_ids", expanding=True)))
    .order_by(CONCERN_PUPILS.c.concern_id, CONCERN_PUPILS.c.position)
)
# The same, with each pupil's name, for the DSL desk's representations: the pupil row by
# its primary key beside each link, in the same statement (no round trip more).
PUPILS_NAMED_OF = Prepared(
    sa.select(CONCERN_PUPILS.c.concern_id, CONCERN_PUPILS.c.pupil_id, *PUPIL_NAME_COLUMNS)
    .join_from(CONCERN_PUPILS, PUPILS, PUPILS.c.id == CONCERN_PUPILS.c.pupil_id)
    .where(CONCERN_PUPILS.c.concern_id.in_(sa.bindparam("concern_ids", expanding=True)))
    .order_by(CONCERN_PUPILS.c.concern_id, CONCERN_PUPILS.c.position)
)
# A concern's mark of having been entered in error, with the children it is really about
# (none: a row with a null pupil), for the DSL desk's representations.
ERROR_MARKS_OF = Prepared(
    sa.select(
        ERROR_MARKS.c.concern_id,
        ERROR_MARKS.c.reason,
        ERROR_MARKS.c.recorded_by,
        ERROR_MARKS.c.recorded_by_name,
        ERROR_MARKS.c.recorded_at,
        ERROR_PUPILS.c.pupil_id,
    )
    .select_from(
        ERROR_MARKS.outerjoin(ERROR_PUPILS, ERROR_PUPILS.c.concern_id == ERROR_MARKS.c.concern_id)
    )
    .where(ERROR_MARKS.c.concern_id.in_(sa.bindparam("concern_ids", expanding=True)))
    .order_by(ERROR_MARKS.c.concern_id, ERROR_PUPILS.c.position)
)
INDICATORS_OF = Prepared(
    sa.select(CONCERN_INDICATORS.c.concern_id, CONCERN_INDICATORS.c.indicator_id)
    .where(CONCERN_INDICATORS.c.concern_id.in_(sa.bindparam("concern_ids", expanding=True)))
    .order_by(CONCERN_INDICATORS.c.concern_id, CONCERN_INDICATORS.c.position)
)
ADDENDA_OF = Prepared(
    sa.select(
        ADDENDA.c.concern_id,
        ADDENDA.c.id,
        ADDENDA.c.text,
        ADDENDA.c.reason,
        ADDENDA.c.recorded_at,
        ADDENDA.c.recorded_by,
        ADDENDA.c.recorded_by_name,
    )
    .where(ADDENDA.c.concern_id.in_(sa.bindparam("concern_ids", expanding=True)))
    .order_by(ADDENDA.c.recorded_at, ADDENDA.c.id)
)
PEOPLE = Prepared(
    sa.select(USERS.c.id, USERS.c.display_name).where(
        USERS.c.school_id == sa.bindparam("school_id"),
        USERS.c.id.in_(sa.bindparam("user_ids", expanding=True)),
    )
)
# Who has each concern now (its assignee, by the name they have now), found by the
# concerns' ids alone: for a read, sent with the concern's own query, not after it. Who
# wrote a concern or an addendum is on its own row, under the name they wrote it with.
_CONCERN_IDS: sa.BindParameter[Any] = sa.bindparam("concern_ids", expanding=True)
ASSIGNEES_OF = Prepared(
    sa.select(USERS.c.id, USERS.c.display_name).where(
        USERS.c.school_id == sa.bindparam("school_id"),
        USERS.c.id.in_(
            sa.select(TRIAGE.c.assigned_to).where(TRIAGE.c.concern_id.in_(_CONCERN_IDS))
        ),
    )
)

# What a line about a concern in a list of events (the chronology) shows of it.
OUTLINE_COLUMNS = (
    CONCERNS.c.id,
    CONCERNS.c.recorded_by,
    CONCERNS.c.recorded_by_name,
    CONCERNS.c.recorded_at,
    CONCERNS.c.observed_at,
    CONCERNS.c.description,
    CONCERNS.c.location,
    CONCERNS.c.immediate_danger,
    CONCERNS.c.police_contacted,
    CONCERNS.c.categories,
)
# The concerns about the pupil ``:pupil_id`` (those marked entered in error follow their
# mark: ``links``).
_ABOUT = about_pupil(sa.bindparam("school_id"), sa.bindparam("pupil_id"))
# A pupil's concerns observed in a period, and their indicators: by pupil and period, not
# by a list of ids (a long list of ids as parameters costs more than the rows it fetches).
PUPIL_OUTLINES = access.ScopedConcerns(
    lambda scope: (
        sa.select(*OUTLINE_COLUMNS)
        .join_from(CONCERNS, _ABOUT, _ABOUT.c.concern_id == CONCERNS.c.id)
        .where(
            *scope,
            CONCERNS.c.observed_at >= sa.bindparam("observed_from"),
            CONCERNS.c.observed_at <= sa.bindparam("observed_to"),
        )
    )
)
PUPIL_OUTLINE_INDICATORS = Prepared(
    sa.select(CONCERN_INDICATORS.c.concern_id, CONCERN_INDICATORS.c.indicator_id)
    .join_from(
        CONCERN_INDICATORS,
        _ABOUT,
        _ABOUT.c.concern_id == CONCERN_INDICATORS.c.concern_id,
    )
    .where(
        CONCERN_INDICATORS.c.observed_at >= sa.bindparam("observed_from"),
        CONCERN_INDICATORS.c.observed_at <= sa.bindparam("observed_to"),
    )
    .order_by(CONCERN_INDICATORS.c.concern_id, CONCERN_INDICATORS.c.position)
)
