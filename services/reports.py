"""Reports for the school's DSLs: counts computed by SQL aggregates, never row by row.

DSLs and deputy DSLs only; always the caller's school. Periods are on ``observed_at``
(when things happened, as in the chronology), ``from`` inclusive and ``to`` exclusive;
months are calendar months in UTC. Reports carry counts only (no pupil, no text), and
reading one records ``report.indicators``, ``report.categories`` or ``report.summary``.

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
from models.category import CATEGORY_NAMES, ConcernCategory
from models.concern import Concern, ConcernIndicator, ConcernPupil
from models.pupil import Pupil
from models.report import (
    CategoryGroup,
    CategoryGrouping,
    CategoryReport,
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


def _indicator_labels(session: Session, context: RequestContext) -> dict[str, str]:
    """Each indicator's text: the built-in documents' first, then the school's own
    documents' (their latest versions)."""
    guidance = context.guidance
    labels: dict[str, str] = {}
    editions = guidance.builtins() + guidance.latest_of_school(session, context.principal.school_id)
    for edition in editions:
        for indicator in edition.document.indicators:
            labels.setdefault(indicator.id, indicator.text)
    return labels


# A report counts the rows of a table of signs (``concern_indicator``, ``concern_category``):
# one row per concern and sign, with the concern's ``observed_at`` copied.
Signs = type[ConcernIndicator] | type[ConcernCategory]


def _sign_column(signs: Signs) -> Any:
    return (
        col(ConcernIndicator.indicator_id)
        if signs is ConcernIndicator
        else col(ConcernCategory.category_id)
    )


def _counted(
    session: Session,
    *,
    school: Any,
    signs: Signs,
    group_by: str,
    observed_from: datetime | None,
    observed_to: datetime | None,
) -> list[tuple[str | None, int, dict[str, int]]]:
    """Concerns of the period per sign, month or year group, each group with its
    per-sign breakdown (a concern counts once under each of its signs): (key, concerns,
    per sign), in the report's order. Two aggregate queries at most."""
    sign = _sign_column(signs)
    shown_at = col(signs.observed_at)
    shown_school = col(signs.school_id)
    shown_concern = col(signs.concern_id)
    shown_period = _period(shown_at, observed_from, observed_to)
    if group_by not in ("month", "year_group"):
        counted = session.exec(
            select(sign, func.count()).where(shown_school == school, *shown_period).group_by(sign)
        ).all()
        return [(key, n, {key: n}) for key, n in sorted(counted, key=lambda row: (-row[1], row[0]))]
    totals: Any
    breakdown: Any
    if group_by == "month":
        month = utc_month(col(Concern.observed_at))
        totals = session.exec(
            select(month, func.count())
            .where(
                col(Concern.school_id) == school,
                *_period(col(Concern.observed_at), observed_from, observed_to),
            )
            .group_by(month)
        ).all()
        shown_month = utc_month(shown_at)
        breakdown = session.exec(
            select(shown_month, sign, func.count())
            .where(shown_school == school, *shown_period)
            .group_by(shown_month, sign)
        ).all()
        return _grouped(totals, breakdown, order=sorted)
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
        select(Pupil.year_group, sign, func.count(distinct(shown_concern)))
        .join(ConcernPupil, col(ConcernPupil.concern_id) == shown_concern)
        .join(Pupil, col(Pupil.id) == col(ConcernPupil.pupil_id))
        .where(shown_school == school, *shown_period)
        .group_by(col(Pupil.year_group), sign)
    ).all()
    return _grouped(
        totals, breakdown, order=lambda keys: sorted(keys, key=lambda k: (k is None, k or ""))
    )


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
    indicators). Two aggregate queries at most; by indicator, the indicators' words are
    looked up too (the school's own documents' latest versions: one query more). Records
    ``report.indicators``."""
    principal = context.principal
    require_dsl(principal)
    counted = _counted(
        session,
        school=principal.school_id,
        signs=ConcernIndicator,
        group_by=group_by.value,
        observed_from=observed_from,
        observed_to=observed_to,
    )
    labels = _indicator_labels(session, context) if group_by is IndicatorGrouping.indicator else {}
    groups = [
        IndicatorGroup(key=key, label=labels.get(key or ""), concerns=n, indicators=per_sign)
        for key, n, per_sign in counted
    ]
    _record(session, context, "report.indicators")
    return IndicatorReport.model_validate(
        {"group_by": group_by, "from": observed_from, "to": observed_to, "groups": groups}
    )


def category_report(
    session: Session,
    context: RequestContext,
    *,
    group_by: CategoryGrouping,
    observed_from: datetime | None = None,
    observed_to: datetime | None = None,
) -> CategoryReport:
    """Concerns of the period counted per category, per month or per year group, each
    group with its per-category breakdown (a concern counts once under each of its
    categories), as the indicator report counts indicators. Records
    ``report.categories``."""
    principal = context.principal
    require_dsl(principal)
    counted = _counted(
        session,
        school=principal.school_id,
        signs=ConcernCategory,
        group_by=group_by.value,
        observed_from=observed_from,
        observed_to=observed_to,
    )
    named = group_by is CategoryGrouping.category
    groups = [
        CategoryGroup(
            key=key,
            label=CATEGORY_NAMES.get(key or "") if named else None,
            concerns=n,
            categories=per_sign,
        )
        for key, n, per_sign in counted
    ]
    _record(session, context, "report.categories")
    return CategoryReport.model_validate(
        {"group_by": group_by, "from": observed_from, "to": observed_to, "groups": groups}
    )


def _record(session: Session, context: RequestContext, action: str) -> None:
    audit.record(
        session,
        actor=context.actor,
        action=action,
        now=context.now,
        entity_type="report",
        request_id=context.request_id,
    )


def _grouped(
    totals: Any, breakdown: Any, *, order: Any
) -> list[tuple[str | None, int, dict[str, int]]]:
    concerns = {key: n for key, n in totals}
    per_sign: dict[str | None, dict[str, int]] = defaultdict(dict)
    for key, sign, n in breakdown:
        per_sign[key][sign] = n
    return [
        (key, concerns[key], dict(sorted(per_sign[key].items(), key=lambda kv: (-kv[1], kv[0]))))
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
