"""The school's alert settings (the DSL desk's) and each person's own alert emails."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session

from models.alert import (
    DEFAULT_ESCALATE_AFTER_MINUTES,
    DEFAULT_UNACKNOWLEDGED_AFTER_HOURS,
    AlertEscalation,
    AlertPreference,
    AlertPreferences,
    AlertPreferencesPublic,
    AlertSettings,
    AlertSettingsBody,
    AlertSettingsPublic,
)
from services import access, audit
from services.context import RequestContext

_SETTINGS: sa.Table = AlertSettings.__table__  # type: ignore[attr-defined]
_ESCALATIONS: sa.Table = AlertEscalation.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SchoolAlertSettings:
    escalate_after_minutes: int = DEFAULT_ESCALATE_AFTER_MINUTES
    unacknowledged_after_hours: int = DEFAULT_UNACKNOWLEDGED_AFTER_HOURS


DEFAULTS = SchoolAlertSettings()


def settings_of(
    session: Session, school_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, SchoolAlertSettings]:
    """Each school's settings (the defaults for a school that never changed them)."""
    wanted = set(school_ids)
    found = dict.fromkeys(wanted, DEFAULTS)
    if not wanted:
        return found
    query = sa.select(
        _SETTINGS.c.school_id,
        _SETTINGS.c.escalate_after_minutes,
        _SETTINGS.c.unacknowledged_after_hours,
    ).where(_SETTINGS.c.school_id.in_(wanted))
    for school_id, minutes, hours in session.connection().execute(query):
        found[school_id] = SchoolAlertSettings(minutes, hours)
    return found


def _public(values: SchoolAlertSettings) -> AlertSettingsPublic:
    return AlertSettingsPublic(
        escalate_after_minutes=values.escalate_after_minutes,
        unacknowledged_after_hours=values.unacknowledged_after_hours,
    )


def get_alert_settings(session: Session, context: RequestContext) -> AlertSettingsPublic:
    """The caller's school's alert settings. DSLs and deputy DSLs."""
    access.require_alert_settings(context.principal)
    school_id = context.principal.school_id
    return _public(settings_of(session, [school_id])[school_id])


def put_alert_settings(
    session: Session, context: RequestContext, *, body: AlertSettingsBody
) -> AlertSettingsPublic:
    """Replace the caller's school's alert settings. DSLs and deputy DSLs. Urgent
    concerns still being chased are looked at again in the next worker pass, so a shorter
    interval applies at once. Audits ``alert_settings.update``."""
    principal = context.principal
    access.require_alert_settings(principal)
    row = session.get(AlertSettings, principal.school_id)
    if row is None:
        row = AlertSettings(school_id=principal.school_id, updated_at=context.now)
    row.escalate_after_minutes = body.escalate_after_minutes
    row.unacknowledged_after_hours = body.unacknowledged_after_hours
    row.updated_at = context.now
    row.updated_by = principal.id
    session.add(row)
    session.flush()
    session.connection().execute(
        sa.update(_ESCALATIONS)
        .where(_ESCALATIONS.c.school_id == principal.school_id)
        .values(next_at=context.now)
    )
    audit.record(
        session,
        actor=context.actor,
        action="alert_settings.update",
        now=context.now,
        entity_type="alert_settings",
        entity_id=principal.school_id,
        request_id=context.request_id,
    )
    return _public(SchoolAlertSettings(row.escalate_after_minutes, row.unacknowledged_after_hours))


def get_alert_preferences(session: Session, context: RequestContext) -> AlertPreferencesPublic:
    """The caller's own alert emails. Any person (not a service account)."""
    access.require_person(context.principal)
    row = session.get(AlertPreference, context.principal.id)
    return AlertPreferencesPublic(email_non_urgent=row.email_non_urgent if row else True)


def put_alert_preferences(
    session: Session, context: RequestContext, *, body: AlertPreferences
) -> AlertPreferencesPublic:
    """Turn the caller's own non-urgent alert emails on or off (urgent ones are always
    sent to the DSL desk). Any person. Audits ``alert_preference.update``."""
    principal = context.principal
    access.require_person(principal)
    row = session.get(AlertPreference, principal.id)
    if row is None:
        row = AlertPreference(
            user_id=principal.id, school_id=principal.school_id, updated_at=context.now
        )
    row.email_non_urgent = body.email_non_urgent
    row.updated_at = context.now
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=context.actor,
        action="alert_preference.update",
        now=context.now,
        entity_type="user",
        entity_id=principal.id,
        request_id=context.request_id,
    )
    return AlertPreferencesPublic(email_non_urgent=row.email_non_urgent)
