"""Reports for the school's DSLs: counts computed by SQL aggregates, never row by row.

DSLs and deputy DSLs only; always the caller's school. Periods are on ``observed_at``
(when things happened, as in the chronology), ``from`` inclusive and ``to`` exclusive;
months are calendar months in UTC. Reports carry counts only (no pupil, no text), and
reading one records ``report.indicators`` or ``report.summary``.

Year groups are the pupils' year groups now: the school's MIS keeps no history of them.
A concern about two pupils in different year groups counts once in each; within one
group every concern counts once.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, String, distinct, func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, col, select

from models.case import Case, CaseLevel, CaseStatus
from models.concern import Concern, ConcernIndicator, ConcernPupil
from models.pupil import Pupil
from models.report import (
    IndicatorGroup,
    IndicatorGrouping,
    IndicatorReport,
    MonthCount,
    SummaryReport,
)
from models.triage import ConcernTriage, TriageStatus
from services import audit
from services.access import require_dsl
from services.context import RequestContext
from services.guidance import GuidanceLibrary

UNACKNOWLEDGED_AFTER = timedelta(hours=24)


class utc_month(FunctionElement[str]):
    """``YYYY-MM`` of a stored UTC timestamp, computed by the database."""

    type = String()
    inherit_cache = True
    name = "utc_month"


@compiles(utc_month, "postgresql")
def _utc_month_postgresql(element: utc_month, compiler: SQLCompiler, **kw: Any) -> str:
    return f"to_char({compiler.process(element.clauses, **kw)} AT TIME ZONE 'UTC', 'YYYY-MM')"


@compiles(utc_month, "sqlite")
def _utc_month_sqlite(element: utc_month, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps UTC timestamps as text ("2026-11-28 09:15:00.000000").
    return f"strftime('%Y-%m', {compiler.process(element.clauses, **kw)})"


def _period(
    column: Any, observed_from: datetime | None, observed_to: datetime | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if observed_from is not None:
        conditions.append(column >= observed_from)
    if observed_to is not None:
        conditions.append(column < observed_to)
    return conditions


def _indicator_labels(guidance: GuidanceLibrary) -> dict[str, str]:
    labels: dict[str, str] = {}
    for key in guidance.keys():  # noqa: SIM118 (a method of the library, not a dict)
        for indicator in guidance.get(key).indicators:
            labels.setdefault(indicator.id, indicator.text)
    return labels


def indicator_report(
    session: Session,
    context: RequestContext,
    *,
    group_by: IndicatorGrouping,
    observed_from: datetime | None = None,
    observed_to: datetime | None = None,
) -> IndicatorReport:
    """Concerns of the period counted per indicator, per month or per year group, each
    group with its per-indicator breakdown (a concern counts once under each of its
    indicators). Two aggregate queries at most. Records ``report.indicators``."""
    principal, now, request_id = context.principal, context.now, context.request_id
    require_dsl(principal)
    school = principal.school_id
    shown_period = _period(col(ConcernIndicator.observed_at), observed_from, observed_to)
    groups: list[IndicatorGroup]
    totals: Any
    breakdown: Any
    if group_by is IndicatorGrouping.indicator:
        labels = _indicator_labels(context.guidance)
        counted = session.exec(
            select(ConcernIndicator.indicator_id, func.count())
            .where(col(ConcernIndicator.school_id) == school, *shown_period)
            .group_by(col(ConcernIndicator.indicator_id))
        ).all()
        groups = [
            IndicatorGroup(
                key=indicator, label=labels.get(indicator), concerns=n, indicators={indicator: n}
            )
            for indicator, n in sorted(counted, key=lambda row: (-row[1], row[0]))
        ]
    elif group_by is IndicatorGrouping.month:
        month = utc_month(col(Concern.observed_at))
        totals = session.exec(
            select(month, func.count())
            .where(
                col(Concern.school_id) == school,
                *_period(col(Concern.observed_at), observed_from, observed_to),
            )
            .group_by(month)
        ).all()
        shown_month = utc_month(col(ConcernIndicator.observed_at))
        breakdown = session.exec(
            select(shown_month, ConcernIndicator.indicator_id, func.count())
            .where(col(ConcernIndicator.school_id) == school, *shown_period)
            .group_by(shown_month, col(ConcernIndicator.indicator_id))
        ).all()
        groups = _grouped(totals, breakdown, order=sorted)
    else:
        totals = session.exec(
            select(Pupil.year_group, func.count(distinct(col(Concern.id))))
            .join(ConcernPupil, col(ConcernPupil.concern_id) == col(Concern.id))
            .join(Pupil, col(Pupil.id) == col(ConcernPupil.pupil_id))
            .where(
                col(Concern.school_id) == school,
                *_period(col(Concern.observed_at), observed_from, observed_to),
            )
            .group_by(col(Pupil.year_group))
        ).all()
        breakdown = session.exec(
            select(
                Pupil.year_group,
                ConcernIndicator.indicator_id,
                func.count(distinct(col(ConcernIndicator.concern_id))),
            )
            .join(ConcernPupil, col(ConcernPupil.concern_id) == col(ConcernIndicator.concern_id))
            .join(Pupil, col(Pupil.id) == col(ConcernPupil.pupil_id))
            .where(col(ConcernIndicator.school_id) == school, *shown_period)
            .group_by(col(Pupil.year_group), col(ConcernIndicator.indicator_id))
        ).all()
        groups = _grouped(
            totals, breakdown, order=lambda keys: sorted(keys, key=lambda k: (k is None, k or ""))
        )
    audit.record(
        session,
        actor=principal.actor,
        action="report.indicators",
        now=now,
        entity_type="report",
        request_id=request_id,
    )
    return IndicatorReport.model_validate(
        {"group_by": group_by, "from": observed_from, "to": observed_to, "groups": groups}
    )


def _grouped(totals: Any, breakdown: Any, *, order: Any) -> list[IndicatorGroup]:
    concerns = {key: n for key, n in totals}
    per_indicator: dict[str | None, dict[str, int]] = defaultdict(dict)
    for key, indicator, n in breakdown:
        per_indicator[key][indicator] = n
    return [
        IndicatorGroup(
            key=key,
            concerns=concerns[key],
            indicators=dict(sorted(per_indicator[key].items(), key=lambda kv: (-kv[1], kv[0]))),
        )
        for key in order(concerns)
    ]


def _month_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def summary_report(session: Session, context: RequestContext) -> SummaryReport:
    """Where the school is: open cases by level, concerns by triage status, concerns
    still new more than 24 hours after they were recorded, and concerns observed this
    calendar month (UTC) against last. Four aggregate queries. Records
    ``report.summary``."""
    principal, now, request_id = context.principal, context.now, context.request_id
    require_dsl(principal)
    school = principal.school_id
    open_cases = dict.fromkeys((level.value for level in CaseLevel), 0)
    for level, n in session.exec(
        select(Case.level, func.count())
        .where(col(Case.school_id) == school, col(Case.status) == CaseStatus.open.value)
        .group_by(col(Case.level))
    ):
        open_cases[level] = n
    by_status = dict.fromkeys((status.value for status in TriageStatus), 0)
    for status, n in session.exec(
        select(ConcernTriage.status, func.count())
        .where(col(ConcernTriage.school_id) == school)
        .group_by(col(ConcernTriage.status))
    ):
        by_status[status] = n
    waiting = session.exec(
        select(func.count()).where(
            col(ConcernTriage.school_id) == school,
            col(ConcernTriage.status) == TriageStatus.new.value,
            col(ConcernTriage.recorded_at) < now - UNACKNOWLEDGED_AFTER,
        )
    ).one()
    this_start = _month_start(now)
    last_start = _month_start(this_start - timedelta(days=1))
    next_start = _month_start(this_start + timedelta(days=32))
    month = utc_month(col(Concern.observed_at))
    per_month = dict(
        session.exec(
            select(month, func.count())
            .where(
                col(Concern.school_id) == school,
                col(Concern.observed_at) >= last_start,
                col(Concern.observed_at) < next_start,
            )
            .group_by(month)
        ).all()
    )
    this_key, last_key = this_start.strftime("%Y-%m"), last_start.strftime("%Y-%m")
    audit.record(
        session,
        actor=principal.actor,
        action="report.summary",
        now=now,
        entity_type="report",
        request_id=request_id,
    )
    return SummaryReport(
        generated_at=now,
        open_cases_by_level=open_cases,
        concerns_by_status=by_status,
        unacknowledged_over_24h=int(waiting),
        this_month=MonthCount(month=this_key, concerns=per_month.get(this_key, 0)),
        last_month=MonthCount(month=last_key, concerns=per_month.get(last_key, 0)),
    )
