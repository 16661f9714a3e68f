"""profile, referrals: a child's safeguarding profile in versions; referrals on cases

Revision ID: 20261203_profile_referrals
Revises: 20261203_subject_access
Create Date: 2026-12-03 04:00:00.000000

Issue 20, points 1 and 2 (docs/adr/0100, 0101): ``pupil_profile_version`` (every version
of a pupil's profile, kept); ``referral`` and its append-only ``referral_outcome``;
``referral_settings`` (a school's days before a referral without an outcome raises a
task). Four new tables; nothing existing changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

import models.base
from alembic import op

revision: str = "20261203_profile_referrals"
down_revision: str | None = "20261203_subject_access"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pupil_profile_version",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("pupil_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("statuses", sa.Text(), nullable=False),
        sa.Column("people", sa.Text(), nullable=False),
        sa.Column("professionals", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=False),
        sa.Column("recorded_by_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("recorded_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("erased_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["pupil_id"], ["pupil.id"], name=op.f("fk_pupil_profile_version_pupil_id_pupil")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["user_account.id"],
            name=op.f("fk_pupil_profile_version_recorded_by_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_pupil_profile_version_school_id_school")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pupil_profile_version")),
        sa.UniqueConstraint(
            "pupil_id", "version", name="uq_pupil_profile_version_pupil_id_version"
        ),
    )
    with op.batch_alter_table("pupil_profile_version", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pupil_profile_version_school_id_pupil_id_recorded_at",
            ["school_id", "pupil_id", "recorded_at"],
            unique=False,
        )

    op.create_table(
        "referral_settings",
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("outcome_due_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_referral_settings_school_id_school")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["user_account.id"],
            name=op.f("fk_referral_settings_updated_by_user_account"),
        ),
        sa.PrimaryKeyConstraint("school_id", name=op.f("pk_referral_settings")),
    )
    op.create_table(
        "referral",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("pupil_id", sa.Uuid(), nullable=False),
        sa.Column("agency", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("made_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=False),
        sa.Column("recorded_by_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("recorded_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome_task_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "agency IN ('childrens_social_care', 'police', 'early_help', 'camhs', 'lado', "
            "'channel', 'health', 'other')",
            name=op.f("ck_referral_agency"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["safeguarding_case.id"],
            name=op.f("fk_referral_case_id_safeguarding_case"),
        ),
        sa.ForeignKeyConstraint(
            ["outcome_task_id"],
            ["case_task.id"],
            name=op.f("fk_referral_outcome_task_id_case_task"),
        ),
        sa.ForeignKeyConstraint(
            ["pupil_id"], ["pupil.id"], name=op.f("fk_referral_pupil_id_pupil")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["user_account.id"], name=op.f("fk_referral_recorded_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_referral_school_id_school")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral")),
    )
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.create_index("ix_referral_case_id_made_at", ["case_id", "made_at"], unique=False)
        batch_op.create_index(
            "ix_referral_outcome_task_id_made_at", ["outcome_task_id", "made_at"], unique=False
        )
        batch_op.create_index(
            "ix_referral_school_id_pupil_id_made_at",
            ["school_id", "pupil_id", "made_at"],
            unique=False,
        )

    op.create_table(
        "referral_outcome",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("pupil_id", sa.Uuid(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("outcome_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=False),
        sa.Column("recorded_by_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("recorded_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["safeguarding_case.id"],
            name=op.f("fk_referral_outcome_case_id_safeguarding_case"),
        ),
        sa.ForeignKeyConstraint(
            ["pupil_id"], ["pupil.id"], name=op.f("fk_referral_outcome_pupil_id_pupil")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["user_account.id"],
            name=op.f("fk_referral_outcome_recorded_by_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"], ["referral.id"], name=op.f("fk_referral_outcome_referral_id_referral")
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_referral_outcome_school_id_school")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_outcome")),
    )
    with op.batch_alter_table("referral_outcome", schema=None) as batch_op:
        batch_op.create_index(
            "ix_referral_outcome_referral_id_recorded_at",
            ["referral_id", "recorded_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_referral_outcome_school_id_pupil_id_outcome_at",
            ["school_id", "pupil_id", "outcome_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("referral_outcome", schema=None) as batch_op:
        batch_op.drop_index("ix_referral_outcome_school_id_pupil_id_outcome_at")
        batch_op.drop_index("ix_referral_outcome_referral_id_recorded_at")

    op.drop_table("referral_outcome")
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.drop_index("ix_referral_school_id_pupil_id_made_at")
        batch_op.drop_index("ix_referral_outcome_task_id_made_at")
        batch_op.drop_index("ix_referral_case_id_made_at")

    op.drop_table("referral")
    op.drop_table("referral_settings")
    with op.batch_alter_table("pupil_profile_version", schema=None) as batch_op:
        batch_op.drop_index("ix_pupil_profile_version_school_id_pupil_id_recorded_at")

    op.drop_table("pupil_profile_version")
