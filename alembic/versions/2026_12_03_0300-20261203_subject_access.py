"""subject access exports: the request kept, rendered again on each download

Revision ID: 20261203_subject_access
Revises: 20261202_hooks_due_webhooks
Create Date: 2026-12-03 03:00:00.000000

Issue 21, point 4 (docs/adr/0095): ``subject_access_export``, one row per subject access
export a DSL prepares: who asked, when (the export holds what was recorded by then), what
it redacts, the entries withheld with their reasons, and the SHA-256 of the JSON it first
made. One new table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

import models.base
from alembic import op

revision: str = "20261203_subject_access"
down_revision: str | Sequence[str] | None = "20261202_hooks_due_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subject_access_export",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("pupil_id", sa.Uuid(), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=False),
        sa.Column("requested_by_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("requested_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("redact_other_pupils", sa.Boolean(), nullable=False),
        sa.Column("redact_staff", sa.Boolean(), nullable=False),
        sa.Column("withheld", sa.Text(), nullable=False),
        sa.Column("json_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["pupil_id"], ["pupil.id"], name=op.f("fk_subject_access_export_pupil_id_pupil")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["user_account.id"],
            name=op.f("fk_subject_access_export_requested_by_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_subject_access_export_school_id_school")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_access_export")),
    )
    op.create_index(
        "ix_subject_access_export_school_id_pupil_id",
        "subject_access_export",
        ["school_id", "pupil_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_subject_access_export_school_id_pupil_id", table_name="subject_access_export")
    op.drop_table("subject_access_export")
