"""lifecycle: step-up's auth_time, entered in error, retention, legal hold, destruction

Revision ID: 20261203_lifecycle
Revises: 20261203_attachments_bodymaps
Create Date: 2026-12-03 02:00:00.000000

Issue 21 (docs/adr/0090 to 0093): ``refresh_token.auth_time`` (RFC 9470: when the family's
sign-in proved the second factor; a refresh keeps it); ``concern_error_mark`` and
``concern_error_pupil`` (a concern entered in error, and the children it is really about);
``retention_setting``, ``legal_hold``, ``legal_hold_release`` and ``file_destruction``.
Six new tables and one new nullable column.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

import models.base
from alembic import op

revision: str = "20261203_lifecycle"
down_revision: str | Sequence[str] | None = "20261203_attachments_bodymaps"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("refresh_token", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("auth_time", models.base.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "file_destruction",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("pupil_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("retain_until", sa.Date(), nullable=False),
        sa.Column("destroyed_by", sa.Uuid(), nullable=False),
        sa.Column("destroyed_by_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("destroyed_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["destroyed_by"],
            ["user_account.id"],
            name=op.f("fk_file_destruction_destroyed_by_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["pupil_id"], ["pupil.id"], name=op.f("fk_file_destruction_pupil_id_pupil")
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_file_destruction_school_id_school")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_destruction")),
        sa.UniqueConstraint(
            "school_id", "pupil_id", name=op.f("uq_file_destruction_school_id_pupil_id")
        ),
    )
    op.create_table(
        "legal_hold",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("pupil_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("placed_by", sa.Uuid(), nullable=False),
        sa.Column("placed_by_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("placed_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["placed_by"], ["user_account.id"], name=op.f("fk_legal_hold_placed_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["pupil_id"], ["pupil.id"], name=op.f("fk_legal_hold_pupil_id_pupil")
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_legal_hold_school_id_school")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_hold")),
    )
    with op.batch_alter_table("legal_hold", schema=None) as batch_op:
        batch_op.create_index(
            "ix_legal_hold_school_id_pupil_id", ["school_id", "pupil_id"], unique=False
        )
    op.create_table(
        "retention_setting",
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("years", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_retention_setting_school_id_school")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["user_account.id"],
            name=op.f("fk_retention_setting_updated_by_user_account"),
        ),
        sa.PrimaryKeyConstraint("school_id", name=op.f("pk_retention_setting")),
    )
    op.create_table(
        "concern_error_mark",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("concern_id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=False),
        sa.Column("recorded_by_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("recorded_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["concern_id"], ["concern.id"], name=op.f("fk_concern_error_mark_concern_id_concern")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["user_account.id"],
            name=op.f("fk_concern_error_mark_recorded_by_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_concern_error_mark_school_id_school")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_concern_error_mark")),
        sa.UniqueConstraint("concern_id", name=op.f("uq_concern_error_mark_concern_id")),
    )
    op.create_table(
        "concern_error_pupil",
        sa.Column("concern_id", sa.Uuid(), nullable=False),
        sa.Column("pupil_id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["concern_id"], ["concern.id"], name=op.f("fk_concern_error_pupil_concern_id_concern")
        ),
        sa.ForeignKeyConstraint(
            ["pupil_id"], ["pupil.id"], name=op.f("fk_concern_error_pupil_pupil_id_pupil")
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_concern_error_pupil_school_id_school")
        ),
        sa.PrimaryKeyConstraint("concern_id", "pupil_id", name=op.f("pk_concern_error_pupil")),
    )
    with op.batch_alter_table("concern_error_pupil", schema=None) as batch_op:
        batch_op.create_index(
            "ix_concern_error_pupil_school_id_pupil_id", ["school_id", "pupil_id"], unique=False
        )
    op.create_table(
        "legal_hold_release",
        sa.Column("hold_id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("released_by", sa.Uuid(), nullable=False),
        sa.Column("released_by_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("released_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["legal_hold.id"], name=op.f("fk_legal_hold_release_hold_id_legal_hold")
        ),
        sa.ForeignKeyConstraint(
            ["released_by"],
            ["user_account.id"],
            name=op.f("fk_legal_hold_release_released_by_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_legal_hold_release_school_id_school")
        ),
        sa.PrimaryKeyConstraint("hold_id", name=op.f("pk_legal_hold_release")),
    )


def downgrade() -> None:
    op.drop_table("legal_hold_release")
    with op.batch_alter_table("concern_error_pupil", schema=None) as batch_op:
        batch_op.drop_index("ix_concern_error_pupil_school_id_pupil_id")
    op.drop_table("concern_error_pupil")
    op.drop_table("concern_error_mark")
    op.drop_table("retention_setting")
    with op.batch_alter_table("legal_hold", schema=None) as batch_op:
        batch_op.drop_index("ix_legal_hold_school_id_pupil_id")
    op.drop_table("legal_hold")
    op.drop_table("file_destruction")
    with op.batch_alter_table("refresh_token", schema=None) as batch_op:
        batch_op.drop_column("auth_time")
