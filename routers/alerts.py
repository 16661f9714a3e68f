"""Alerts: the school's alert settings, each person's own alert emails, and the
deliveries the worker gave up on. (The alerts themselves are sent by the delivery
worker, never by a request: ``services.alerts``.)"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import DSLContext, PersonContext, UnitOfWorkDep
from api.errors import problem_responses
from models.alert import (
    AlertPreferences,
    AlertPreferencesPublic,
    AlertSettingsBody,
    AlertSettingsPublic,
    DeadLetterPage,
)
from services import alerts
from services.pagination import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(tags=["alerts"])

SETTINGS_DESCRIPTION = """\
DSLs and deputy DSLs. Alerts tell the DSL desk *that* something needs them, never what:
no pupil's name, description, indicator or category travels in one.

- `escalate_after_minutes` (5 to 240, default 15): a concern logged as immediate danger is
  emailed at once (subject starting `URGENT`) to every active DSL and deputy DSL, and
  again this often until one of them triages it out of `new`.
- `unacknowledged_after_hours` (1 to 168, default 24): a concern still `new` this long
  after it was logged goes into the school's daily digest (sent at 07:00 UK time by
  default).

`PUT` replaces both (a value out of range is a 422 naming the field) and is audited
(`alert_settings.update`).
"""

PREFERENCES_DESCRIPTION = """\
Any signed-in person, for themselves. `email_non_urgent: false` stops the alert emails
that are not urgent (a concern logged, the daily digest, tasks); urgent ones (a concern
marked immediate danger, and its reminders) still reach every DSL and deputy DSL. `PUT`
is audited (`alert_preference.update`).
"""

DEAD_LETTERS_DESCRIPTION = """\
DSLs and deputy DSLs: the school's alert deliveries given up on, oldest first. A failed
delivery is tried again after 30 s, then twice as long each time (at most an hour
apart), for 24 hours; a refusal for good (an SMTP 5xx for the message) at once. Each
item names the event (`event_id`, `event_type`, when it happened), the channel, the
recipient, the attempts and the last error.
"""


@router.get(
    "/alert-settings",
    summary="The school's alert settings",
    description=SETTINGS_DESCRIPTION,
    response_model=AlertSettingsPublic,
    responses=problem_responses(401, 403),
)
async def get_alert_settings(context: DSLContext, uow: UnitOfWorkDep) -> AlertSettingsPublic:
    return await uow.run(lambda session: alerts.get_alert_settings(session, context))


@router.put(
    "/alert-settings",
    summary="Change the school's alert settings",
    description=SETTINGS_DESCRIPTION,
    response_model=AlertSettingsPublic,
    responses=problem_responses(401, 403, 422),
)
async def put_alert_settings(
    body: AlertSettingsBody, context: DSLContext, uow: UnitOfWorkDep
) -> AlertSettingsPublic:
    return await uow.run(lambda session: alerts.put_alert_settings(session, context, body=body))


@router.get(
    "/auth/me/alert-preferences",
    summary="Your own alert emails",
    description=PREFERENCES_DESCRIPTION,
    response_model=AlertPreferencesPublic,
    responses=problem_responses(401, 403),
)
async def get_alert_preferences(
    context: PersonContext, uow: UnitOfWorkDep
) -> AlertPreferencesPublic:
    return await uow.run(lambda session: alerts.get_alert_preferences(session, context))


@router.put(
    "/auth/me/alert-preferences",
    summary="Turn your own non-urgent alert emails on or off",
    description=PREFERENCES_DESCRIPTION,
    response_model=AlertPreferencesPublic,
    responses=problem_responses(401, 403, 422),
)
async def put_alert_preferences(
    body: AlertPreferences, context: PersonContext, uow: UnitOfWorkDep
) -> AlertPreferencesPublic:
    return await uow.run(lambda session: alerts.put_alert_preferences(session, context, body=body))


@router.get(
    "/desk/dead-letters",
    summary="Alert deliveries given up on",
    description=DEAD_LETTERS_DESCRIPTION,
    response_model=DeadLetterPage,
    responses=problem_responses(401, 403, 422),
)
async def list_dead_letters(
    context: DSLContext,
    uow: UnitOfWorkDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (at most 200)")] = (
        DEFAULT_LIMIT
    ),
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page")
    ] = None,
) -> DeadLetterPage:
    return await uow.run(
        lambda session: alerts.list_dead_letters(session, context, limit=limit, cursor=cursor)
    )
