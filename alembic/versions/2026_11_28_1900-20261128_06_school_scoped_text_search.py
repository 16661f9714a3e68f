"""school-scoped text search: GIN indexes keyed by school as well as by word

Revision ID: 20261128_06
Revises: 20261128_05
Create Date: 2026-11-28 19:00:00.000000

PostgreSQL only. A text search is always within one school, but the full-text GIN
indexes of 20261128_05 were keyed by word alone: at a million concerns, a common word
found ~48,000 descriptions across every school before the school's ~1,000 were kept
(issue #7: 25 ms of a 30 ms budget). These indexes are keyed by (school_id, words), so
the index scan yields the school's matches only (10 ms).

A uuid column in a GIN index needs the ``btree_gin`` extension, shipped with PostgreSQL
(contrib) and marked trusted since PostgreSQL 13: a role with CREATE on the database (its
owner, say) may create it without being a superuser; otherwise a superuser runs
``CREATE EXTENSION btree_gin`` once before upgrading. SQLite keeps its own search index
(``concern_search_term``), already keyed by school.

The indexes are built and dropped ``CONCURRENTLY`` (outside the migration's transaction):
at a million concerns a GIN build takes minutes, and a plain ``CREATE INDEX`` would hold
back every concern logged meanwhile.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

# As spelt in models.concern (TSVECTOR_*): queries must use the same expressions.
TSVECTOR_DESCRIPTION = "to_tsvector('english'::regconfig, description)"
TSVECTOR_ADDENDUM_TEXT = "to_tsvector('english'::regconfig, text)"

revision: str = "20261128_06"
down_revision: str | Sequence[str] | None = "20261128_05"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _create(name: str, table: str, columns: list[str | sa.TextClause]) -> None:
    op.create_index(name, table, columns, postgresql_using="gin", postgresql_concurrently=True)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    with op.get_context().autocommit_block():
        _create(
            "ix_concern_school_id_description_tsvector",
            "concern",
            ["school_id", sa.text(TSVECTOR_DESCRIPTION)],
        )
        _create(
            "ix_addendum_school_id_text_tsvector",
            "addendum",
            ["school_id", sa.text(TSVECTOR_ADDENDUM_TEXT)],
        )
        op.drop_index(
            "ix_concern_description_tsvector", table_name="concern", postgresql_concurrently=True
        )
        op.drop_index(
            "ix_addendum_text_tsvector", table_name="addendum", postgresql_concurrently=True
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    with op.get_context().autocommit_block():
        _create("ix_concern_description_tsvector", "concern", [sa.text(TSVECTOR_DESCRIPTION)])
        _create("ix_addendum_text_tsvector", "addendum", [sa.text(TSVECTOR_ADDENDUM_TEXT)])
        op.drop_index(
            "ix_addendum_school_id_text_tsvector",
            table_name="addendum",
            postgresql_concurrently=True,
        )
        op.drop_index(
            "ix_concern_school_id_description_tsvector",
            table_name="concern",
            postgresql_concurrently=True,
        )
    # The extension stays: other databases' objects, or the operator's, may use it.
