"""attachments (sealed files on concerns and cases) and body maps

Revision ID: 20261203_attachments_bodymaps
Revises: 20261203_profile_referrals
Create Date: 2026-12-03 05:00:00.000000

Issue 20, points 3 and 4 (docs/adr/0105, 0106): ``attachment`` (a file's row: its bytes
are sealed in the file store, never in the database), ``body_map`` (marks on a concern),
and ``audit_event.digest`` (a recorded file's SHA-256, covered by the event's hash; null
for every other event). Two new tables and one new nullable column.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

import models.base
from alembic import op

revision: str = "20261203_attachments_bodymaps"
down_revision: str | Sequence[str] | None = "20261203_profile_referrals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attachment",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("concern_id", sa.Uuid(), nullable=True),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("media_type", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("uploaded_by", sa.Uuid(), nullable=False),
        sa.Column("uploaded_by_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("uploaded_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("erased_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(concern_id IS NULL) <> (case_id IS NULL)",
            name=op.f("ck_attachment_on_one_record"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["safeguarding_case.id"],
            name=op.f("fk_attachment_case_id_safeguarding_case"),
        ),
        sa.ForeignKeyConstraint(
            ["concern_id"], ["concern.id"], name=op.f("fk_attachment_concern_id_concern")
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_attachment_school_id_school")
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"],
            ["user_account.id"],
            name=op.f("fk_attachment_uploaded_by_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachment")),
    )
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.create_index(
            "ix_attachment_school_id_concern_id", ["school_id", "concern_id"], unique=False
        )
        batch_op.create_index(
            "ix_attachment_school_id_case_id", ["school_id", "case_id"], unique=False
        )
    op.create_table(
        "body_map",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("concern_id", sa.Uuid(), nullable=False),
        sa.Column("marks", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=False),
        sa.Column("recorded_by_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("recorded_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["concern_id"], ["concern.id"], name=op.f("fk_body_map_concern_id_concern")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["user_account.id"],
            name=op.f("fk_body_map_recorded_by_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_body_map_school_id_school")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_body_map")),
    )
    with op.batch_alter_table("body_map", schema=None) as batch_op:
        batch_op.create_index(
            "ix_body_map_school_id_concern_id", ["school_id", "concern_id"], unique=False
        )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_column("digest")
    with op.batch_alter_table("body_map", schema=None) as batch_op:
        batch_op.drop_index("ix_body_map_school_id_concern_id")
    op.drop_table("body_map")
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.drop_index("ix_attachment_school_id_case_id")
        batch_op.drop_index("ix_attachment_school_id_concern_id")
    op.drop_table("attachment")
