"""outbox alerts: content-free events, their deliveries, escalations, digests, settings

Revision ID: 20261202_outbox_alerts
Revises: 20261202_desk_tasks_reviews
Create Date: 2026-12-02 01:00:00.000000

Issue 18, points 1, 2 and 7 (docs/adr/0065): ``alert_event`` (the outbox, written with
what it reports), ``alert_delivery`` (one per channel and target, claimed with a lease,
retried with backoff, dead after a day), ``alert_escalation`` (urgent concerns still
chased), ``alert_digest`` (each school's daily digest, considered once a day),
``alert_settings`` (per school) and ``alert_preference`` (per person). New tables only:
nothing existing changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

import models.base
from alembic import op

revision: str = "20261202_outbox_alerts"
down_revision: str | Sequence[str] | None = "20261202_desk_tasks_reviews"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_digest",
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("digest_on", sa.Date(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("considered_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_alert_digest_school_id_school")
        ),
        sa.PrimaryKeyConstraint("digest_on", "school_id", name=op.f("pk_alert_digest")),
    )
    op.create_table(
        "alert_event",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("occurred_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=True),
        sa.Column("published_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_alert_event_school_id_school")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_event")),
        sa.UniqueConstraint("sequence", name=op.f("uq_alert_event_sequence")),
    )
    with op.batch_alter_table("alert_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alert_event_school_id_sequence", ["school_id", "sequence"], unique=False
        )

    op.create_table(
        "alert_delivery",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_ids", sa.Text(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_attempt_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("claim_token", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'dead', 'skipped')",
            name=op.f("ck_alert_delivery_status"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["alert_event.id"], name=op.f("fk_alert_delivery_event_id_alert_event")
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_alert_delivery_school_id_school")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_delivery")),
    )
    with op.batch_alter_table("alert_delivery", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alert_delivery_pending",
            ["channel", "next_attempt_at"],
            unique=False,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )
        batch_op.create_index(
            "ix_alert_delivery_dead",
            ["school_id", "id"],
            unique=False,
            postgresql_where=sa.text("status = 'dead'"),
            sqlite_where=sa.text("status = 'dead'"),
        )
        batch_op.create_index(
            "ix_alert_delivery_claim_token",
            ["claim_token"],
            unique=False,
            postgresql_where=sa.text("claim_token IS NOT NULL"),
            sqlite_where=sa.text("claim_token IS NOT NULL"),
        )

    op.create_table(
        "alert_preference",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("email_non_urgent", sa.Boolean(), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_alert_preference_school_id_school")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_alert_preference_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_alert_preference")),
    )
    op.create_table(
        "alert_settings",
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("escalate_after_minutes", sa.Integer(), nullable=False),
        sa.Column("unacknowledged_after_hours", sa.Integer(), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_alert_settings_school_id_school")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["user_account.id"],
            name=op.f("fk_alert_settings_updated_by_user_account"),
        ),
        sa.PrimaryKeyConstraint("school_id", name=op.f("pk_alert_settings")),
    )
    op.create_table(
        "alert_escalation",
        sa.Column("concern_id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("next_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_sent_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reminders", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["concern_id"], ["concern.id"], name=op.f("fk_alert_escalation_concern_id_concern")
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_alert_escalation_school_id_school")
        ),
        sa.PrimaryKeyConstraint("concern_id", name=op.f("pk_alert_escalation")),
    )
    with op.batch_alter_table("alert_escalation", schema=None) as batch_op:
        batch_op.create_index("ix_alert_escalation_next_at", ["next_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alert_escalation", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_escalation_next_at")

    op.drop_table("alert_escalation")
    op.drop_table("alert_settings")
    op.drop_table("alert_preference")
    with op.batch_alter_table("alert_delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_delivery_claim_token")
        batch_op.drop_index("ix_alert_delivery_dead")
        batch_op.drop_index("ix_alert_delivery_pending")

    op.drop_table("alert_delivery")
    with op.batch_alter_table("alert_event", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_event_school_id_sequence")

    op.drop_table("alert_event")
    op.drop_table("alert_digest")
