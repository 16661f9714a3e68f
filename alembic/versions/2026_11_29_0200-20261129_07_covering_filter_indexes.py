"""covering indexes for the DSL's filtered list (signs in a period, still in a status)

Revision ID: 20261129_07
Revises: 20261128_06
Create Date: 2026-11-29 02:00:00.000000

"These signs, in this period, in this status" (issue #7: at a million concerns, the DSL's
filtered list took 9-19 ms of SQL of its 30 ms budget). The indicator index gains the
concern's id, so the period's ~1,100 concerns of a sign come from the index alone
instead of one table lookup each; and a new index on the triage table by concern and
status answers "is this one still new?" from the index alone. With the status checked
inside the indicator subquery (services.concerns), only the ~60 survivors' concern rows
are read: the filtered list's SQL took 3-4 ms on both databases.

On PostgreSQL the indexes are built and dropped ``CONCURRENTLY`` (outside the
migration's transaction), so concerns can be logged while they build. Each step commits
on its own: if one fails, the steps before it stay. On SQLite a re-run skips what is
already there. On PostgreSQL a failed concurrent build leaves an INVALID index of that
name: drop it (``DROP INDEX CONCURRENTLY ix_...``) before running the upgrade again.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261129_07"
down_revision: str | Sequence[str] | None = "20261128_06"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_INDICATOR_INDEX = "ix_concern_indicator_school_id_indicator_id_observed_at"
INDICATOR_INDEX = "ix_concern_indicator_school_sign_period_concern"
TRIAGE_INDEX = "ix_concern_triage_concern_id_status"


def _create(name: str, table: str, columns: list[str]) -> None:
    # Never IF NOT EXISTS on PostgreSQL: it would keep an INVALID index silently.
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.create_index(
        name, table, columns, postgresql_concurrently=postgresql, if_not_exists=not postgresql
    )


def _drop(name: str, table: str) -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.drop_index(name, table_name=table, postgresql_concurrently=postgresql, if_exists=True)


def upgrade() -> None:
    with op.get_context().autocommit_block():
        _create(
            INDICATOR_INDEX,
            "concern_indicator",
            ["school_id", "indicator_id", "observed_at", "concern_id"],
        )
        _create(TRIAGE_INDEX, "concern_triage", ["concern_id", "status"])
        _drop(OLD_INDICATOR_INDEX, "concern_indicator")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        _create(
            OLD_INDICATOR_INDEX, "concern_indicator", ["school_id", "indicator_id", "observed_at"]
        )
        _drop(TRIAGE_INDEX, "concern_triage")
        _drop(INDICATOR_INDEX, "concern_indicator")
