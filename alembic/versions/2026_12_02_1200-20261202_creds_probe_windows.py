"""security probes: a count on audit events, and the per-minute windows behind it

Revision ID: 20261202_creds_probe_windows
Revises: 20261202_names_recorded_names
Create Date: 2026-12-02 12:00:00.000000

Refused and not-found requests for safeguarding records are audited as security events,
the first few per actor, kind and minute one by one and the rest as one event stating
their count (issue 22, point 6; docs/adr/0060-security-probes-audited-and-bounded.md).
``audit_event.occurrences`` holds that count (null on every other event, which is hashed
as before); ``audit_probe_window`` holds the counts of the minutes still open. Adding a
nullable column rewrites no table on PostgreSQL (11+) or SQLite.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

import models.base
from alembic import op

revision: str = "20261202_creds_probe_windows"
down_revision: str | Sequence[str] | None = "20261202_names_recorded_names"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("audit_event", sa.Column("occurrences", sa.Integer(), nullable=True))
    op.create_table(
        "audit_probe_window",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("actor_type", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=False),
        sa.Column("actor_role", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("window_start", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("probes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_audit_probe_window_school_id_school")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_probe_window")),
        sa.UniqueConstraint(
            "school_id",
            "actor_id",
            "kind",
            "window_start",
            name=op.f("uq_audit_probe_window_school_id_actor_id_kind_window_start"),
        ),
    )
    op.create_index(
        "ix_audit_probe_window_school_id_window_start",
        "audit_probe_window",
        ["school_id", "window_start"],
    )


def downgrade() -> None:
    op.drop_index("ix_audit_probe_window_school_id_window_start", table_name="audit_probe_window")
    op.drop_table("audit_probe_window")
    with op.batch_alter_table("audit_event") as batch:
        batch.drop_column("occurrences")
