"""The categories migration on a database with concerns in it: every concern logged before
categories existed cited the CSE leaflet, and is given its category, ``cse``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic.command import downgrade, upgrade

from db.engine import create_db_engine
from tests.test_migrations import _config

BEFORE = "20261202_outbox_alerts"
REVISION = "20261202_categories_guidance"


def test_existing_concerns_get_the_cse_category(backend: str, empty_database_url) -> None:
    url = empty_database_url(backend)
    config = _config(url)
    upgrade(config, BEFORE)
    engine = create_db_engine(url)
    school, user, concern = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    # Reflected, ids are text on SQLite (as sa.Uuid keeps them there: 32 hex digits).
    as_stored = (lambda u: u.hex) if backend == "sqlite" else (lambda u: u)
    school, user, concern = (as_stored(u) for u in (school, user, concern))
    moment = datetime(2026, 11, 27, 15, 40, tzinfo=UTC)
    try:
        tables = sa.MetaData()
        tables.reflect(engine, only=["school", "user_account", "concern"])
        with engine.begin() as connection:
            connection.execute(
                tables.tables["school"].insert(),
                {"id": school, "name": "Fictional Academy", "urn": "700999", "created_at": moment},
            )
            connection.execute(
                tables.tables["user_account"].insert(),
                {
                    "id": user,
                    "school_id": school,
                    "email": "sam@fictional.example",
                    "display_name": "Sam Teacher",
                    "role": "staff",
                    "active": True,
                    "mfa_enrolled": False,
                    "token_version": 1,
                    "created_at": moment,
                    "updated_at": moment,
                },
            )
            connection.execute(
                tables.tables["concern"].insert(),
                {
                    "id": concern,
                    "school_id": school,
                    "recorded_by": user,
                    "recorded_at": moment,
                    "observed_at": moment,
                    "guidance_key": "cse",
                    "guidance_version": "1",
                    "description": "A fictional worry.",
                    "location": None,
                    "immediate_danger": False,
                    "police_contacted": False,
                },
            )
        upgrade(config, REVISION)
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT categories FROM concern")).all() == [("cse",)]
            rows = connection.execute(
                sa.text("SELECT concern_id, category_id FROM concern_category")
            ).all()
            assert [(uuid.UUID(str(c)), k) for c, k in rows] == [(uuid.UUID(str(concern)), "cse")]
        downgrade(config, BEFORE)
        assert "categories" not in {c["name"] for c in sa.inspect(engine).get_columns("concern")}
    finally:
        engine.dispose()
