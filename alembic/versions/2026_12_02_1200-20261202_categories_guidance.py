"""categories of concern, and each school's own guidance (drafts and published versions)

Revision ID: 20261202_categories_guidance
Revises: 20261202_outbox_alerts
Create Date: 2026-12-02 12:00:00.000000

- ``concern.categories`` (the ids, comma-separated) and ``concern_category`` (one row per
  category, with the concern's ``observed_at``, for filters and reports). Every concern
  recorded before categories existed cited the CSE leaflet, whose category is ``cse``:
  that is what they are given (anything else, ``other``). The column is added nullable:
  SQLite cannot add a NOT NULL column without a default to a table with rows, nor drop a
  default afterwards without copying the table, which the concern's children's foreign
  keys forbid; the application always writes it (docs/adr/0075).
- ``guidance_draft`` and ``guidance_version``: a school's drafts, and the versions it
  published (never changed once written).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

import models.base
from alembic import op

revision: str = "20261202_categories_guidance"
down_revision: str | Sequence[str] | None = "20261202_outbox_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "concern",
        sa.Column("categories", sqlmodel.sql.sqltypes.AutoString(length=325), nullable=True),
    )
    op.execute(
        "UPDATE concern SET categories = CASE WHEN guidance_key = 'cse' THEN 'cse' ELSE 'other' END"
    )
    op.create_table(
        "concern_category",
        sa.Column("concern_id", sa.Uuid(), nullable=False),
        sa.Column("category_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("observed_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["concern_id"], ["concern.id"], name=op.f("fk_concern_category_concern_id_concern")
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_concern_category_school_id_school")
        ),
        sa.PrimaryKeyConstraint("concern_id", "category_id", name=op.f("pk_concern_category")),
    )
    with op.batch_alter_table("concern_category", schema=None) as batch_op:
        batch_op.create_index(
            "ix_concern_category_school_kind_period_concern",
            ["school_id", "category_id", "observed_at", "concern_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_concern_category_school_id_observed_at_category_id",
            ["school_id", "observed_at", "category_id"],
            unique=False,
        )
    op.execute(
        "INSERT INTO concern_category (concern_id, category_id, school_id, observed_at) "
        "SELECT id, categories, school_id, observed_at FROM concern"
    )

    op.create_table(
        "guidance_draft",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_version", sa.Integer(), nullable=True),
        sa.Column("published_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user_account.id"],
            name=op.f("fk_guidance_draft_created_by_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_guidance_draft_school_id_school")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guidance_draft")),
    )
    with op.batch_alter_table("guidance_draft", schema=None) as batch_op:
        batch_op.create_index("ix_guidance_draft_school_id_id", ["school_id", "id"], unique=False)

    op.create_table(
        "guidance_version",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("draft_id", sa.Uuid(), nullable=False),
        sa.Column("published_by", sa.Uuid(), nullable=False),
        sa.Column("published_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["draft_id"],
            ["guidance_draft.id"],
            name=op.f("fk_guidance_version_draft_id_guidance_draft"),
        ),
        sa.ForeignKeyConstraint(
            ["published_by"],
            ["user_account.id"],
            name=op.f("fk_guidance_version_published_by_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_guidance_version_school_id_school")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guidance_version")),
        sa.UniqueConstraint(
            "school_id", "key", "version", name=op.f("uq_guidance_version_school_id_key_version")
        ),
    )


def downgrade() -> None:
    op.drop_table("guidance_version")
    with op.batch_alter_table("guidance_draft", schema=None) as batch_op:
        batch_op.drop_index("ix_guidance_draft_school_id_id")
    op.drop_table("guidance_draft")
    with op.batch_alter_table("concern_category", schema=None) as batch_op:
        batch_op.drop_index("ix_concern_category_school_id_observed_at_category_id")
        batch_op.drop_index("ix_concern_category_school_kind_period_concern")
    op.drop_table("concern_category")
    if op.get_bind().dialect.name == "sqlite":
        # Native DROP COLUMN (SQLite 3.35+): batch mode would copy and drop the table,
        # which foreign keys from the concern's children forbid once it has rows.
        op.execute("ALTER TABLE concern DROP COLUMN categories")
    else:
        op.drop_column("concern", "categories")
