"""audit pupils: one event per page of a list, its children in ``audit_event_pupil``

Revision ID: 20261204_audit_pupils
Revises: 20261203_patterns
Create Date: 2026-12-04 01:00:00.000000

Issue 23 (docs/adr/0126): ``audit_event_pupil`` holds the pupils on a page of a list, one
row per child, named by their event's place in the school's chain (school, seq), which
the event's hash covers; its (school, pupil, seq) index and audit_event's, which takes the
place of (school, pupil), answer "who read this child's file" newest first as ranges of
indexes. No event is rewritten: those already written keep their own rows and hashes.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "20261204_audit_pupils"
down_revision: str | Sequence[str] | None = "20261203_patterns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_event_pupil",
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("pupil_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_audit_event_pupil_school_id_school")
        ),
        sa.PrimaryKeyConstraint("school_id", "seq", "pupil_id", name=op.f("pk_audit_event_pupil")),
    )
    with op.batch_alter_table("audit_event_pupil", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audit_event_pupil_school_id_pupil_id_seq",
            ["school_id", "pupil_id", "seq"],
            unique=False,
        )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audit_event_school_id_pupil_id_seq", ["school_id", "pupil_id", "seq"], unique=False
        )
        batch_op.drop_index("ix_audit_event_school_id_pupil_id")


def downgrade() -> None:
    # A page's children are kept only in the table dropped here, and its event's hash
    # covers them: dropping them would break the chain's verification for good.
    held = op.get_bind().execute(sa.text("SELECT 1 FROM audit_event_pupil LIMIT 1")).first()
    if held is not None:
        raise RuntimeError(
            "audit_event_pupil holds the pupils of list pages' audit events; downgrading "
            "would break the audit chain's verification"
        )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audit_event_school_id_pupil_id", ["school_id", "pupil_id"], unique=False
        )
        batch_op.drop_index("ix_audit_event_school_id_pupil_id_seq")
    with op.batch_alter_table("audit_event_pupil", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_pupil_school_id_pupil_id_seq")
    op.drop_table("audit_event_pupil")
