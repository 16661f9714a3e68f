"""Helpers for the pattern and link tests: scripted fortnights of concerns from named
(fictional) staff, the worker's evaluation, and the school's rules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from db.engine import Database
from models.pupil import Pupil
from models.user import Role
from services.alerts.worker import DeliveryWorker
from tests.desk import API, Desk, iso
from tests.factories import TestUser, make_user
from tests.mailbox import Mailbox, make_worker

FLAGS = f"{API}/flags"
SETTINGS = f"{API}/pattern-settings"

DEFAULT_RULES: dict[str, Any] = {
    "window_days": 90,
    "distinct_signs": {"enabled": True, "min_indicators": 3, "min_staff": 2},
    "high_weight": {"enabled": True, "indicators": []},
    "rising": {"enabled": True, "min_concerns": 3},
}


def database_of(desk: Desk) -> Database:
    database: Database = desk.world.app.state.database
    return database


def third_teacher(desk: Desk) -> TestUser:
    return make_user(database_of(desk), desk.world.school, Role.staff, display_name="Pat Coach")


def sign(
    desk: Desk,
    who: TestUser,
    indicators: list[str],
    *,
    days_ago: float = 1,
    pupils: list[Pupil] | None = None,
    location: str | None = None,
) -> dict[str, Any]:
    """A concern by ``who`` about ``pupils`` (Zoë), showing ``indicators``, observed
    ``days_ago`` days before the clock's now."""
    return desk.concern(
        who,
        pupils=pupils or [desk.world.zoe],
        indicators=indicators,
        observed_at=iso(desk.clock.now() - timedelta(days=days_ago)),
        location=location,
    )


def set_rules(desk: Desk, **changes: Any) -> dict[str, Any]:
    body = {
        key: (dict(value) if isinstance(value, dict) else value)
        for key, value in DEFAULT_RULES.items()
    }
    for key, value in changes.items():
        if isinstance(value, dict):
            body[key] = body[key] | value
        else:
            body[key] = value
    response = desk.client.put(SETTINGS, json=body, headers=desk.headers())
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def worker(desk: Desk, mailbox: Mailbox | None = None) -> DeliveryWorker:
    return make_worker(database_of(desk), desk.clock, mailbox)


def evaluate(desk: Desk, mailbox: Mailbox | None = None) -> None:
    """A worker pass or two: the queue evaluated, flags published (and emailed)."""
    running = worker(desk, mailbox)
    for _ in range(2):
        running.run_once()


def flags(
    desk: Desk, status: str | None = None, who: TestUser | None = None
) -> list[dict[str, Any]]:
    params = {"status": status} if status else {}
    response = desk.client.get(FLAGS, params=params, headers=desk.headers(who))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def three_signs_from_three_staff(desk: Desk) -> list[dict[str, Any]]:
    """A fortnight: the form tutor, the PE teacher and the coach each notice one sign."""
    world = desk.world
    return [
        sign(desk, world.staff_a, ["secretive"], days_ago=13),
        sign(desk, world.staff_b, ["unexplained-money-or-items"], days_ago=8),
        sign(desk, third_teacher(desk), ["older-partner-or-new-friends"], days_ago=2),
    ]


def raise_flag(desk: Desk) -> dict[str, Any]:
    """An open distinct-signs flag for Zoë (the rising rule off)."""
    set_rules(desk, rising={"enabled": False})
    three_signs_from_three_staff(desk)
    evaluate(desk)
    (flag,) = flags(desk, "open")
    return flag
