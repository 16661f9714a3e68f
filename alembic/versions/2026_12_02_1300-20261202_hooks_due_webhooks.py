"""hooks: due alerts once per date; webhooks and their deliveries

Revision ID: 20261202_hooks_due_webhooks
Revises: 20261202_outbox_alerts
Create Date: 2026-12-02 13:00:00.000000

Issue 18 (docs/adr/0082): ``alert_due_notice`` (a task's due date or a case's review date
alerted, once per date). New tables only: nothing existing changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

import models.base
from alembic import op

revision: str = "20261202_hooks_due_webhooks"
down_revision: str | Sequence[str] | None = "20261202_outbox_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_due_notice",
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("raised_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('task', 'review')", name=op.f("ck_alert_due_notice_kind")),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_alert_due_notice_school_id_school")
        ),
        sa.PrimaryKeyConstraint("kind", "subject_id", "due_on", name=op.f("pk_alert_due_notice")),
    )


def downgrade() -> None:
    op.drop_table("alert_due_notice")
