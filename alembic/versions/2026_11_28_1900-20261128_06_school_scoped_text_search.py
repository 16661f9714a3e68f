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
(contrib) and marked trusted since PostgreSQL 13: the database owner may create it
without being a superuser. SQLite keeps its own search index (``concern_search_term``),
already keyed by school.
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


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    op.create_index(
        "ix_concern_school_id_description_tsvector",
        "concern",
        ["school_id", sa.text(TSVECTOR_DESCRIPTION)],
        postgresql_using="gin",
    )
    op.create_index(
        "ix_addendum_school_id_text_tsvector",
        "addendum",
        ["school_id", sa.text(TSVECTOR_ADDENDUM_TEXT)],
        postgresql_using="gin",
    )
    op.drop_index("ix_concern_description_tsvector", table_name="concern")
    op.drop_index("ix_addendum_text_tsvector", table_name="addendum")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index(
        "ix_concern_description_tsvector",
        "concern",
        [sa.text(TSVECTOR_DESCRIPTION)],
        postgresql_using="gin",
    )
    op.create_index(
        "ix_addendum_text_tsvector",
        "addendum",
        [sa.text(TSVECTOR_ADDENDUM_TEXT)],
        postgresql_using="gin",
    )
    op.drop_index("ix_addendum_school_id_text_tsvector", table_name="addendum")
    op.drop_index("ix_concern_school_id_description_tsvector", table_name="concern")
    # The extension stays: other databases' objects, or the operator's, may use it.
