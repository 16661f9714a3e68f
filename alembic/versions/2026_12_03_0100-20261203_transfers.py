"""transfers: a child's file sent to the next school, received records, closure days

Revision ID: 20261203_transfers
Revises: 20261203_lifecycle
Create Date: 2026-12-03 01:00:00.000000

Issue 21, point 1 (docs/adr/0085, 0086): ``pupil_transfer`` (a file sent, or imported from
another service's signed bundle; its receipt and its overdue alert), and
``transfer_received_record`` (the entries of a received file, in the receiving pupil's
chronology) and ``school_closure_day`` (a school's own days off, not counted as school
days). Three new tables; nothing else changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

import models.base
from alembic import op

revision: str = "20261203_transfers"
down_revision: str | Sequence[str] | None = "20261203_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "school_closure_day",
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_school_closure_day_school_id_school")
        ),
        sa.PrimaryKeyConstraint("school_id", "closed_on", name=op.f("pk_school_closure_day")),
    )
    op.create_table(
        "pupil_transfer",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("bundle_id", sa.Uuid(), nullable=False),
        sa.Column("from_school_id", sa.Uuid(), nullable=True),
        sa.Column("from_school_urn", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("from_school_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("pupil_id", sa.Uuid(), nullable=True),
        sa.Column("to_school_urn", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("to_school_id", sa.Uuid(), nullable=True),
        sa.Column("left_on", sa.Date(), nullable=False),
        sa.Column("due_by", sa.Date(), nullable=False),
        sa.Column("sent_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_by", sa.Uuid(), nullable=False),
        sa.Column("sent_by_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("bundle", sa.Text(), nullable=False),
        sa.Column("received_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("received_by", sa.Uuid(), nullable=True),
        sa.Column("received_by_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("received_pupil_id", sa.Uuid(), nullable=True),
        sa.Column("overdue_event_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["from_school_id"], ["school.id"], name=op.f("fk_pupil_transfer_from_school_id_school")
        ),
        sa.ForeignKeyConstraint(
            ["pupil_id"], ["pupil.id"], name=op.f("fk_pupil_transfer_pupil_id_pupil")
        ),
        sa.ForeignKeyConstraint(
            ["received_by"],
            ["user_account.id"],
            name=op.f("fk_pupil_transfer_received_by_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["received_pupil_id"],
            ["pupil.id"],
            name=op.f("fk_pupil_transfer_received_pupil_id_pupil"),
        ),
        sa.ForeignKeyConstraint(
            ["to_school_id"], ["school.id"], name=op.f("fk_pupil_transfer_to_school_id_school")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pupil_transfer")),
        sa.UniqueConstraint(
            "to_school_urn", "bundle_id", name=op.f("uq_pupil_transfer_to_school_urn_bundle_id")
        ),
    )
    with op.batch_alter_table("pupil_transfer", schema=None) as batch_op:
        batch_op.create_index("ix_pupil_transfer_due_by", ["due_by"], unique=False)
        batch_op.create_index(
            "ix_pupil_transfer_from_school_id_id", ["from_school_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_pupil_transfer_to_school_id_id", ["to_school_id", "id"], unique=False
        )

    op.create_table(
        "transfer_received_record",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("transfer_id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("pupil_id", sa.Uuid(), nullable=False),
        sa.Column("entry_type", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("occurred_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pupil_id"], ["pupil.id"], name=op.f("fk_transfer_received_record_pupil_id_pupil")
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_transfer_received_record_school_id_school")
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["pupil_transfer.id"],
            name=op.f("fk_transfer_received_record_transfer_id_pupil_transfer"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_received_record")),
    )
    with op.batch_alter_table("transfer_received_record", schema=None) as batch_op:
        batch_op.create_index(
            "ix_transfer_received_record_school_id_pupil_id",
            ["school_id", "pupil_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("transfer_received_record", schema=None) as batch_op:
        batch_op.drop_index("ix_transfer_received_record_school_id_pupil_id")

    op.drop_table("transfer_received_record")
    with op.batch_alter_table("pupil_transfer", schema=None) as batch_op:
        batch_op.drop_index("ix_pupil_transfer_to_school_id_id")
        batch_op.drop_index("ix_pupil_transfer_from_school_id_id")
        batch_op.drop_index("ix_pupil_transfer_due_by")

    op.drop_table("pupil_transfer")
    op.drop_table("school_closure_day")
