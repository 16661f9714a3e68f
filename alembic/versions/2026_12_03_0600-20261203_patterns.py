"""patterns: pattern flags and their settings; entities and concern places for links

Revision ID: 20261203_patterns
Revises: 20261203_transfers
Create Date: 2026-12-03 06:00:00.000000

Issue 25 (docs/adr/0110, 0111): ``pattern_settings``, ``pattern_queue``, ``pattern_flag``
and ``pattern_flag_evidence``; ``entity`` (people, vehicles, places and online accounts
of concern on concerns and cases) and ``concern_place`` (each concern's location as its
matching key), filled here for the concerns already recorded; ``concern_pupil.observed_at``
(copied from the concern, filled here) and its (school, pupil, observed) index.
"""

import re
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

import models.base
from alembic import op

revision: str = "20261203_patterns"
down_revision: str | Sequence[str] | None = "20261203_transfers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pattern_flag",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("pupil_id", sa.Uuid(), nullable=False),
        sa.Column("rule", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("raised_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reopened_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("acknowledged_evidence", sa.Text(), nullable=True),
        sa.Column(
            "acknowledged_fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
        ),
        sa.Column("acknowledged_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Uuid(), nullable=True),
        sa.Column(
            "acknowledged_by_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True
        ),
        sa.Column("acknowledged_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "rule IN ('distinct-signs', 'high-weight', 'rising')", name=op.f("ck_pattern_flag_rule")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'acknowledged')", name=op.f("ck_pattern_flag_status")
        ),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"],
            ["user_account.id"],
            name=op.f("fk_pattern_flag_acknowledged_by_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["pupil_id"], ["pupil.id"], name=op.f("fk_pattern_flag_pupil_id_pupil")
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_pattern_flag_school_id_school")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pattern_flag")),
        sa.UniqueConstraint(
            "school_id", "pupil_id", "rule", name=op.f("uq_pattern_flag_school_id_pupil_id_rule")
        ),
    )
    with op.batch_alter_table("pattern_flag", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pattern_flag_school_id_status_id", ["school_id", "status", "id"], unique=False
        )

    op.create_table(
        "pattern_settings",
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("distinct_signs_enabled", sa.Boolean(), nullable=False),
        sa.Column("min_indicators", sa.Integer(), nullable=False),
        sa.Column("min_staff", sa.Integer(), nullable=False),
        sa.Column("high_weight_enabled", sa.Boolean(), nullable=False),
        sa.Column(
            "high_weight_indicators", sqlmodel.sql.sqltypes.AutoString(length=3250), nullable=False
        ),
        sa.Column("rising_enabled", sa.Boolean(), nullable=False),
        sa.Column("rising_min_concerns", sa.Integer(), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_pattern_settings_school_id_school")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["user_account.id"],
            name=op.f("fk_pattern_settings_updated_by_user_account"),
        ),
        sa.PrimaryKeyConstraint("school_id", name=op.f("pk_pattern_settings")),
    )
    op.create_table(
        "concern_place",
        sa.Column("concern_id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("place_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["concern_id"], ["concern.id"], name=op.f("fk_concern_place_concern_id_concern")
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_concern_place_school_id_school")
        ),
        sa.PrimaryKeyConstraint("concern_id", name=op.f("pk_concern_place")),
    )
    with op.batch_alter_table("concern_place", schema=None) as batch_op:
        batch_op.create_index(
            "ix_concern_place_school_id_place_key", ["school_id", "place_key"], unique=False
        )

    op.create_table(
        "entity",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("label_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("concern_id", sa.Uuid(), nullable=True),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("recorded_by", sa.Uuid(), nullable=False),
        sa.Column("recorded_by_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("recorded_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('person', 'vehicle', 'place', 'online')", name=op.f("ck_entity_kind")
        ),
        sa.CheckConstraint(
            "(concern_id IS NULL) <> (case_id IS NULL)", name=op.f("ck_entity_one_record")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["safeguarding_case.id"], name=op.f("fk_entity_case_id_safeguarding_case")
        ),
        sa.ForeignKeyConstraint(
            ["concern_id"], ["concern.id"], name=op.f("fk_entity_concern_id_concern")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["user_account.id"], name=op.f("fk_entity_recorded_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_entity_school_id_school")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entity")),
    )
    with op.batch_alter_table("entity", schema=None) as batch_op:
        batch_op.create_index("ix_entity_case_id", ["case_id"], unique=False)
        batch_op.create_index("ix_entity_concern_id", ["concern_id"], unique=False)
        batch_op.create_index(
            "ix_entity_school_id_kind_label_key", ["school_id", "kind", "label_key"], unique=False
        )

    op.create_table(
        "pattern_flag_evidence",
        sa.Column("flag_id", sa.Uuid(), nullable=False),
        sa.Column("concern_id", sa.Uuid(), nullable=False),
        sa.Column("indicator_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["concern_id"], ["concern.id"], name=op.f("fk_pattern_flag_evidence_concern_id_concern")
        ),
        sa.ForeignKeyConstraint(
            ["flag_id"],
            ["pattern_flag.id"],
            name=op.f("fk_pattern_flag_evidence_flag_id_pattern_flag"),
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_pattern_flag_evidence_school_id_school")
        ),
        sa.PrimaryKeyConstraint(
            "flag_id", "concern_id", "indicator_id", name=op.f("pk_pattern_flag_evidence")
        ),
    )
    op.create_table(
        "pattern_queue",
        sa.Column("concern_id", sa.Uuid(), nullable=False),
        sa.Column("pupil_id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("queued_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["concern_id"], ["concern.id"], name=op.f("fk_pattern_queue_concern_id_concern")
        ),
        sa.ForeignKeyConstraint(
            ["pupil_id"], ["pupil.id"], name=op.f("fk_pattern_queue_pupil_id_pupil")
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_pattern_queue_school_id_school")
        ),
        sa.PrimaryKeyConstraint("concern_id", "pupil_id", name=op.f("pk_pattern_queue")),
    )
    with op.batch_alter_table("pattern_queue", schema=None) as batch_op:
        batch_op.create_index("ix_pattern_queue_queued_at", ["queued_at"], unique=False)

    _fill_concern_places()
    # A concern's pupils carry its observed time, for the rules' range of a pupil's period.
    with op.batch_alter_table("concern_pupil", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("observed_at", models.base.UTCDateTime(timezone=True), nullable=True)
        )
    op.execute(
        "UPDATE concern_pupil SET observed_at = "
        "(SELECT concern.observed_at FROM concern WHERE concern.id = concern_pupil.concern_id)"
    )
    with op.batch_alter_table("concern_pupil", schema=None) as batch_op:
        batch_op.create_index(
            "ix_concern_pupil_period",
            ["school_id", "pupil_id", "observed_at", "concern_id"],
            unique=False,
        )


_NOT_WORD = re.compile(r"[^\w]+")


def _place_key(label: str) -> str:
    # As models.link.label_key for a place, copied: a migration never changes with the code.
    decomposed = unicodedata.normalize("NFKD", label)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_NOT_WORD.sub(" ", stripped.casefold().replace("_", " ")).split())[:200]


def _fill_concern_places() -> None:
    connection = op.get_bind()
    concern = sa.table(
        "concern",
        sa.column("id", sa.Uuid()),
        sa.column("school_id", sa.Uuid()),
        sa.column("location", sa.String()),
    )
    place = sa.table(
        "concern_place",
        sa.column("concern_id", sa.Uuid()),
        sa.column("school_id", sa.Uuid()),
        sa.column("place_key", sa.String()),
    )
    rows = connection.execute(
        sa.select(concern.c.id, concern.c.school_id, concern.c.location).where(
            concern.c.location.is_not(None)
        )
    ).all()
    batch = []
    for concern_id, school_id, location in rows:
        key = _place_key(location)
        if key:
            batch.append({"concern_id": concern_id, "school_id": school_id, "place_key": key})
        if len(batch) >= 1000:
            connection.execute(sa.insert(place), batch)
            batch = []
    if batch:
        connection.execute(sa.insert(place), batch)


def downgrade() -> None:
    with op.batch_alter_table("concern_pupil", schema=None) as batch_op:
        batch_op.drop_index("ix_concern_pupil_period")
        batch_op.drop_column("observed_at")
    with op.batch_alter_table("pattern_queue", schema=None) as batch_op:
        batch_op.drop_index("ix_pattern_queue_queued_at")

    op.drop_table("pattern_queue")
    op.drop_table("pattern_flag_evidence")
    with op.batch_alter_table("entity", schema=None) as batch_op:
        batch_op.drop_index("ix_entity_school_id_kind_label_key")
        batch_op.drop_index("ix_entity_concern_id")
        batch_op.drop_index("ix_entity_case_id")

    op.drop_table("entity")
    with op.batch_alter_table("concern_place", schema=None) as batch_op:
        batch_op.drop_index("ix_concern_place_school_id_place_key")

    op.drop_table("concern_place")
    op.drop_table("pattern_settings")
    with op.batch_alter_table("pattern_flag", schema=None) as batch_op:
        batch_op.drop_index("ix_pattern_flag_school_id_status_id")

    op.drop_table("pattern_flag")
