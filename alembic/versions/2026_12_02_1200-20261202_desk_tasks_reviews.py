"""the DSL's day: tasks, review dates, decided_at, one open case per pupil, the inbox

Revision ID: 20261202_desk_tasks_reviews
Revises: 20261202_openapi_key_callers
Create Date: 2026-12-02 12:00:00.000000

Issue 18, points 5 and 6 (docs/adr/0070 to 0072):

- ``concern_triage.immediate_danger``, copied from the concern (which never changes) for
  the existing rows, and a partial index of the urgent concerns still ``new``: the
  inbox's urgent list from a small index, however many concerns wait;
- ``safeguarding_case.review_on``, a partial index of the open cases by review date
  (the inbox's reviews due), and a partial *unique* index: at most one open case per
  pupil. The upgrade stops, changing nothing, if a pupil has more than one open case
  already (close all but one of each first: ``GET /cases?status=open&pupil_id=...``);
- ``case_decision.decided_at`` (when it was decided), the existing decisions' from when
  they were recorded;
- ``case_event``: the kinds ``review_changed`` and ``reassigned``, and room for an id in
  ``from_value``/``to_value`` (64 characters, as ``triage_event``'s);
- ``case_task``: a case's tasks for members of staff.

On SQLite the tables whose columns become NOT NULL or whose constraint changes
(``concern_triage``, ``case_decision``, ``case_event``) are copied by batch mode: no other
table refers to them, so their foreign keys allow it; ``safeguarding_case``, which others
refer to, only gains a nullable column (a native ``ADD COLUMN``) and indexes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

import models.base
from alembic import op

revision: str = "20261202_desk_tasks_reviews"
down_revision: str | Sequence[str] | None = "20261202_openapi_key_callers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As spelt in models.triage and models.case.tables (the queries spell them alike).
URGENT_AND_NEW = "status = 'new' AND immediate_danger"
OPEN_ONLY = "status = 'open'"
OLD_KINDS = "kind IN ('opened', 'concern_linked', 'level_changed', 'closed', 'reopened')"
NEW_KINDS = (
    "kind IN ('opened', 'concern_linked', 'level_changed', 'closed', 'reopened', "
    "'review_changed', 'reassigned')"
)


def _partial_index(
    name: str, table: str, columns: list[str], where: str, *, unique: bool = False
) -> None:
    op.create_index(
        name,
        table,
        columns,
        unique=unique,
        postgresql_where=sa.text(where),
        sqlite_where=sa.text(where),
    )


def _refuse_several_open_cases() -> None:
    pupils = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT count(*) FROM (SELECT pupil_id FROM safeguarding_case "
                "WHERE status = 'open' GROUP BY pupil_id HAVING count(*) > 1) AS several"
            )
        )
        .scalar_one()
    )
    if pupils:
        raise RuntimeError(
            f"{pupils} pupil(s) have more than one open case. A pupil may now have one open "
            "case only: close all but one of each (GET /api/v1/cases?status=open&pupil_id=...,"
            " then POST /api/v1/cases/{id}/close) with the version running now, then "
            "upgrade again. Nothing was changed."
        )


def upgrade() -> None:
    _refuse_several_open_cases()

    # Urgent concerns still new: the flag copied beside the triage state.
    op.add_column("concern_triage", sa.Column("immediate_danger", sa.Boolean(), nullable=True))
    op.execute(
        "UPDATE concern_triage SET immediate_danger = "
        "(SELECT immediate_danger FROM concern WHERE concern.id = concern_triage.concern_id)"
    )
    with op.batch_alter_table("concern_triage", schema=None) as batch_op:
        batch_op.alter_column("immediate_danger", existing_type=sa.Boolean(), nullable=False)
    _partial_index(
        "ix_concern_triage_urgent_new",
        "concern_triage",
        ["school_id", "status", "recorded_at", "concern_id"],
        URGENT_AND_NEW,
    )

    # Review dates, and one open case per pupil.
    op.add_column("safeguarding_case", sa.Column("review_on", sa.Date(), nullable=True))
    _partial_index(
        "ux_safeguarding_case_pupil_id_open",
        "safeguarding_case",
        ["pupil_id"],
        OPEN_ONLY,
        unique=True,
    )
    _partial_index(
        "ix_safeguarding_case_school_id_review_on_open",
        "safeguarding_case",
        ["school_id", "review_on"],
        OPEN_ONLY,
    )

    # When a decision was taken.
    op.add_column(
        "case_decision",
        sa.Column("decided_at", models.base.UTCDateTime(timezone=True), nullable=True),
    )
    op.execute("UPDATE case_decision SET decided_at = recorded_at")
    with op.batch_alter_table("case_decision", schema=None) as batch_op:
        batch_op.alter_column(
            "decided_at", existing_type=models.base.UTCDateTime(timezone=True), nullable=False
        )

    # Case events: two new kinds, and values long enough for an id.
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_case_event_kind"), type_="check")
        batch_op.create_check_constraint("kind", NEW_KINDS)
        for column in ("from_value", "to_value"):
            batch_op.alter_column(
                column,
                existing_type=sqlmodel.sql.sqltypes.AutoString(length=30),
                type_=sqlmodel.sql.sqltypes.AutoString(length=64),
                existing_nullable=True,
            )

    op.create_table(
        "case_task",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("pupil_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("assigned_to", sa.Uuid(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("set_by", sa.Uuid(), nullable=False),
        sa.Column("set_by_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("set_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_by", sa.Uuid(), nullable=True),
        sa.Column("completed_by_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("completed_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('open', 'completed')", name=op.f("ck_case_task_status")),
        sa.ForeignKeyConstraint(
            ["assigned_to"], ["user_account.id"], name=op.f("fk_case_task_assigned_to_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["safeguarding_case.id"],
            name=op.f("fk_case_task_case_id_safeguarding_case"),
        ),
        sa.ForeignKeyConstraint(
            ["completed_by"],
            ["user_account.id"],
            name=op.f("fk_case_task_completed_by_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["pupil_id"], ["pupil.id"], name=op.f("fk_case_task_pupil_id_pupil")
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_case_task_school_id_school")
        ),
        sa.ForeignKeyConstraint(
            ["set_by"], ["user_account.id"], name=op.f("fk_case_task_set_by_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_task")),
    )
    op.create_index(
        "ix_case_task_school_id_assigned_to_due_on",
        "case_task",
        ["school_id", "assigned_to", "due_on"],
    )
    op.create_index(
        "ix_case_task_school_id_status_due_on", "case_task", ["school_id", "status", "due_on"]
    )
    op.create_index("ix_case_task_case_id", "case_task", ["case_id"])
    op.create_index("ix_case_task_school_id_pupil_id", "case_task", ["school_id", "pupil_id"])


def downgrade() -> None:
    op.drop_index("ix_case_task_school_id_pupil_id", table_name="case_task")
    op.drop_index("ix_case_task_case_id", table_name="case_task")
    op.drop_index("ix_case_task_school_id_status_due_on", table_name="case_task")
    op.drop_index("ix_case_task_school_id_assigned_to_due_on", table_name="case_task")
    op.drop_table("case_task")

    # The events of the new kinds cannot be kept by the older schema.
    op.execute("DELETE FROM case_event WHERE kind IN ('review_changed', 'reassigned')")
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        for column in ("from_value", "to_value"):
            batch_op.alter_column(
                column,
                existing_type=sqlmodel.sql.sqltypes.AutoString(length=64),
                type_=sqlmodel.sql.sqltypes.AutoString(length=30),
                existing_nullable=True,
            )
        batch_op.drop_constraint(op.f("ck_case_event_kind"), type_="check")
        batch_op.create_check_constraint("kind", OLD_KINDS)

    with op.batch_alter_table("case_decision", schema=None) as batch_op:
        batch_op.drop_column("decided_at")

    op.drop_index("ix_safeguarding_case_school_id_review_on_open", table_name="safeguarding_case")
    op.drop_index("ux_safeguarding_case_pupil_id_open", table_name="safeguarding_case")
    if op.get_bind().dialect.name == "sqlite":
        # Native DROP COLUMN (SQLite 3.35+): batch mode would copy and drop the table,
        # which the foreign keys of the case's children forbid once it has rows.
        op.execute("ALTER TABLE safeguarding_case DROP COLUMN review_on")
    else:
        op.drop_column("safeguarding_case", "review_on")

    op.drop_index("ix_concern_triage_urgent_new", table_name="concern_triage")
    with op.batch_alter_table("concern_triage", schema=None) as batch_op:
        batch_op.drop_column("immediate_danger")
