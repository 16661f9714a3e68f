"""hooks: due alerts once per date; webhooks and their deliveries

Revision ID: 20261202_hooks_due_webhooks
Revises: 20261202_grants_privileged
Create Date: 2026-12-02 13:00:00.000000

Issue 18 (docs/adr/0082): ``alert_due_notice`` (a task's due date or a case's review date
alerted, once per date); ``webhook`` (a school's subscriptions, their secrets sealed,
docs/adr/0083) and ``alert_delivery.last_response_code`` (a webhook receiver's last HTTP
status). Two new tables and one new nullable column.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

import models.base
from alembic import op

revision: str = "20261202_hooks_due_webhooks"
down_revision: str | Sequence[str] | None = "20261202_grants_privileged"
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
    op.create_table(
        "webhook",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("secret_sealed", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["user_account.id"], name=op.f("fk_webhook_created_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_webhook_school_id_school")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook")),
    )
    with op.batch_alter_table("webhook", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_school_id", ["school_id"], unique=False)
    with op.batch_alter_table("alert_delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_response_code", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert_delivery", schema=None) as batch_op:
        batch_op.drop_column("last_response_code")
    with op.batch_alter_table("webhook", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_school_id")
    op.drop_table("webhook")
    op.drop_table("alert_due_notice")
