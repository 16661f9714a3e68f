"""names as written: every record keeps its writer's name as it was (issue 22, point 3)

Revision ID: 20261202_names_recorded_names
Revises: 20261129_07
Create Date: 2026-12-02 10:00:00.000000

Renaming an account rewrote history: a concern, an addendum, a triage change, a case and
its events, actions and decisions showed whoever wrote them under the account's current
name. Each of those rows gains the name beside the user id (``*_by_name``), written by
the same insert from now on; a triage change of assignee also keeps the names of the
assignees before and after (``from_name``, ``to_name``). Rows already written are filled
with the name the account has now: the best there is (docs/adr/0056).

The columns are nullable: SQLite adds a NOT NULL column only with a default, and
rebuilding these tables is what their children's foreign keys forbid once they have rows
(migration 05). Every writer fills them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

from alembic import op

revision: str = "20261202_names_recorded_names"
down_revision: str | Sequence[str] | None = "20261129_07"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, the user id column, the name column beside it)
WRITERS = (
    ("concern", "recorded_by", "recorded_by_name"),
    ("addendum", "recorded_by", "recorded_by_name"),
    ("triage_event", "recorded_by", "recorded_by_name"),
    ("safeguarding_case", "opened_by", "opened_by_name"),
    ("case_event", "recorded_by", "recorded_by_name"),
    ("case_action", "recorded_by", "recorded_by_name"),
    ("case_decision", "recorded_by", "recorded_by_name"),
)
# A triage change of assignee: the user ids it holds as text, and the names beside them.
ASSIGNEE_NAMES = (("from_value", "from_name"), ("to_value", "to_name"))


def _name_column(name: str) -> sa.Column[str]:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)


def upgrade() -> None:
    for table, _, name in WRITERS:
        op.add_column(table, _name_column(name))
    for _, name in ASSIGNEE_NAMES:
        op.add_column("triage_event", _name_column(name))

    for table, user_id, name in WRITERS:
        op.execute(
            f"UPDATE {table} SET {name} = "  # noqa: S608 (names of our own, never input)
            f"(SELECT display_name FROM user_account WHERE user_account.id = {table}.{user_id})"
        )
    # The ids of assignees are text in triage_event; SQLite keeps a uuid as 32 hex digits.
    postgresql = op.get_bind().dialect.name == "postgresql"
    for value, name in ASSIGNEE_NAMES:
        same_user = (
            f"user_account.id::text = triage_event.{value}"
            if postgresql
            else f"user_account.id = replace(triage_event.{value}, '-', '')"
        )
        op.execute(
            f"UPDATE triage_event SET {name} = "  # noqa: S608 (names of our own, never input)
            f"(SELECT display_name FROM user_account WHERE {same_user}) "
            f"WHERE field = 'assigned_to' AND {value} IS NOT NULL"
        )


def _drop(table: str, column: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # Native DROP COLUMN (SQLite 3.35+): batch mode would copy and drop the table,
        # which foreign keys from its children forbid once it has rows.
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    else:
        op.drop_column(table, column)


def downgrade() -> None:
    for _, name in reversed(ASSIGNEE_NAMES):
        _drop("triage_event", name)
    for table, _, name in reversed(WRITERS):
        _drop(table, name)
