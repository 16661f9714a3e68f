"""privileged requests: changes that make or keep someone a DSL wait for a DSL's approval

Revision ID: 20261202_grants_privileged
Revises: 20261202_categories_guidance
Create Date: 2026-12-02 13:00:00.000000

Granting ``dsl`` or ``deputy_dsl``, and setting the password or clearing the MFA of a DSL's
or deputy's account, is asked for by an admin and applied when a DSL of the school approves
(issue 22, point 1; docs/adr/0080-privileged-changes-need-a-dsl.md). At most one request is
pending per account and kind: a partial unique index, which SQLite and PostgreSQL both keep.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

import models.base
from alembic import op

revision: str = "20261202_grants_privileged"
down_revision: str | Sequence[str] | None = "20261202_categories_guidance"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "privileged_request",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("kind", text(length=20), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", text(length=20), nullable=True),
        sa.Column("password_hash", text(length=512), nullable=True),
        sa.Column("status", text(length=20), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=False),
        sa.Column("requested_by_name", text(length=200), nullable=False),
        sa.Column("requested_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_by_name", text(length=200), nullable=True),
        sa.Column("decided_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_privileged_request_school_id_school")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_privileged_request_user_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["user_account.id"],
            name=op.f("fk_privileged_request_requested_by_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["user_account.id"],
            name=op.f("fk_privileged_request_decided_by_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privileged_request")),
    )
    op.create_index(
        "uq_privileged_request_pending_user_id_kind",
        "privileged_request",
        ["user_id", "kind"],
        unique=True,
        sqlite_where=_PENDING,
        postgresql_where=_PENDING,
    )
    op.create_index(
        "ix_privileged_request_school_id_status", "privileged_request", ["school_id", "status"]
    )


def downgrade() -> None:
    op.drop_index("ix_privileged_request_school_id_status", table_name="privileged_request")
    op.drop_index("uq_privileged_request_pending_user_id_kind", table_name="privileged_request")
    op.drop_table("privileged_request")
