"""idempotency keys per caller: a user or a service account

Revision ID: 20261202_openapi_key_callers
Revises: 20261202_creds_probe_windows
Create Date: 2026-12-02 10:00:00.000000

Every POST that creates a record takes an ``Idempotency-Key`` (issue 22, point 13;
docs/adr/0062-one-idempotency-mechanism-for-every-create.md), ``POST /mis/sync-runs``
among them, whose caller is a service account: the key's owner is a caller of either
kind, so ``user_id`` becomes ``caller_id`` without its foreign key to ``user_account``.
Rows already there are kept (a key used before the upgrade is still taken for its window).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261202_openapi_key_callers"
down_revision: str | Sequence[str] | None = "20261202_creds_probe_windows"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_key", schema=None) as batch_op:
        batch_op.drop_constraint("fk_idempotency_key_user_id_user_account", type_="foreignkey")
        batch_op.drop_constraint("uq_idempotency_key_user_id_key", type_="unique")
        batch_op.alter_column("user_id", new_column_name="caller_id")
    # In a batch of its own: SQLite's table copy drops a constraint on a column renamed in
    # the same batch.
    with op.batch_alter_table("idempotency_key", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_idempotency_key_caller_id_key", ["caller_id", "key"])


def downgrade() -> None:
    # Keys of service accounts have no user to belong to: they go (they are only cached
    # answers, never a record).
    op.execute("DELETE FROM idempotency_key WHERE caller_id NOT IN (SELECT id FROM user_account)")
    with op.batch_alter_table("idempotency_key", schema=None) as batch_op:
        batch_op.drop_constraint("uq_idempotency_key_caller_id_key", type_="unique")
        batch_op.alter_column("caller_id", new_column_name="user_id")
    with op.batch_alter_table("idempotency_key", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_idempotency_key_user_id_key", ["user_id", "key"])
        batch_op.create_foreign_key(
            "fk_idempotency_key_user_id_user_account", "user_account", ["user_id"], ["id"]
        )
