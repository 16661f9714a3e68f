"""A school's pattern rules (the DSL desk's): read by the worker for each pupil it looks
at, changed with ``PUT /pattern-settings`` (audited)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlmodel import Session

from models.pattern import (
    DEFAULT_MIN_INDICATORS,
    DEFAULT_MIN_STAFF,
    DEFAULT_RISING_MIN_CONCERNS,
    DEFAULT_WINDOW_DAYS,
    DistinctSignsRule,
    HighWeightRule,
    PatternSettings,
    PatternSettingsBody,
    PatternSettingsPublic,
    RisingRule,
)
from services import access, audit
from services.context import RequestContext


@dataclass(frozen=True)
class Rules:
    """A school's rules as the worker applies them."""

    window_days: int = DEFAULT_WINDOW_DAYS
    distinct_signs: bool = True
    min_indicators: int = DEFAULT_MIN_INDICATORS
    min_staff: int = DEFAULT_MIN_STAFF
    high_weight: bool = True
    high_weight_indicators: frozenset[str] = field(default_factory=frozenset)
    rising: bool = True
    rising_min_concerns: int = DEFAULT_RISING_MIN_CONCERNS


DEFAULTS = Rules()


def rules_of(session: Session, school_id: uuid.UUID) -> Rules:
    """The school's rules (the defaults for a school that never changed them)."""
    row = session.get(PatternSettings, school_id)
    if row is None:
        return DEFAULTS
    return Rules(
        window_days=row.window_days,
        distinct_signs=row.distinct_signs_enabled,
        min_indicators=row.min_indicators,
        min_staff=row.min_staff,
        high_weight=row.high_weight_enabled,
        high_weight_indicators=frozenset(filter(None, row.high_weight_indicators.split(","))),
        rising=row.rising_enabled,
        rising_min_concerns=row.rising_min_concerns,
    )


def _public(rules: Rules) -> PatternSettingsPublic:
    return PatternSettingsPublic(
        window_days=rules.window_days,
        distinct_signs=DistinctSignsRule(
            enabled=rules.distinct_signs,
            min_indicators=rules.min_indicators,
            min_staff=rules.min_staff,
        ),
        high_weight=HighWeightRule(
            enabled=rules.high_weight, indicators=sorted(rules.high_weight_indicators)
        ),
        rising=RisingRule(enabled=rules.rising, min_concerns=rules.rising_min_concerns),
    )


def get_pattern_settings(session: Session, context: RequestContext) -> PatternSettingsPublic:
    """The caller's school's pattern rules. DSLs and deputy DSLs."""
    access.require_patterns(context.principal)
    return _public(rules_of(session, context.principal.school_id))


def put_pattern_settings(
    session: Session, context: RequestContext, *, body: PatternSettingsBody
) -> PatternSettingsPublic:
    """Replace the caller's school's pattern rules. DSLs and deputy DSLs. They apply from
    the next pupil the worker looks at (flags already raised stay as they are). Audits
    ``pattern_settings.update``."""
    principal = context.principal
    access.require_patterns(principal)
    row = session.get(PatternSettings, principal.school_id)
    if row is None:
        row = PatternSettings(school_id=principal.school_id, updated_at=context.now)
    row.window_days = body.window_days
    row.distinct_signs_enabled = body.distinct_signs.enabled
    row.min_indicators = body.distinct_signs.min_indicators
    row.min_staff = body.distinct_signs.min_staff
    row.high_weight_enabled = body.high_weight.enabled
    row.high_weight_indicators = ",".join(body.high_weight.indicators)
    row.rising_enabled = body.rising.enabled
    row.rising_min_concerns = body.rising.min_concerns
    row.updated_at = context.now
    row.updated_by = principal.id
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=context.actor,
        action="pattern_settings.update",
        now=context.now,
        entity_type="pattern_settings",
        entity_id=principal.school_id,
        request_id=context.request_id,
    )
    return _public(rules_of(session, principal.school_id))
