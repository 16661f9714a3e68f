"""lifecycle: step-up's auth_time, entered in error, retention, legal hold, destruction

Revision ID: 20261203_lifecycle
Revises: 20261202_hooks_due_webhooks
Create Date: 2026-12-03 02:00:00.000000

Issue 21 (docs/adr/0090 to 0093): ``refresh_token.auth_time`` (RFC 9470: when the family's
sign-in proved the second factor; a refresh keeps it).
"""

from collections.abc import Sequence

import sqlalchemy as sa

import models.base
from alembic import op

revision: str = "20261203_lifecycle"
down_revision: str | Sequence[str] | None = "20261202_hooks_due_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("refresh_token", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("auth_time", models.base.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("refresh_token", schema=None) as batch_op:
        batch_op.drop_column("auth_time")
