"""Reports for the school's DSLs: counts only, never a child's name or a concern's text."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig


class IndicatorGrouping(StrEnum):
    indicator = "indicator"
    month = "month"
    year_group = "year_group"


class IndicatorGroup(SQLModel):
    key: str | None = Field(
        description="The indicator id, the month (YYYY-MM, UTC) or the year group (null: "
        "pupils with no year group)"
    )
    label: str | None = Field(default=None, description="The indicator's text (group_by=indicator)")
    concerns: int = Field(description="Concerns in this group (each concern once)")
    indicators: dict[str, int] = Field(
        description="Per indicator, the concerns in this group that show it (a concern "
        "with three indicators counts once under each)"
    )


class IndicatorReport(SQLModel):
    model_config = SQLModelConfig(
        json_schema_extra={
            "examples": [
                {
                    "group_by": "month",
                    "from": "2026-09-01T00:00:00Z",
                    "to": "2026-12-01T00:00:00Z",
                    "groups": [
                        {
                            "key": "2026-11",
                            "label": None,
                            "concerns": 3,
                            "indicators": {"secretive": 2, "unexplained-money-or-items": 1},
                        }
                    ],
                }
            ]
        },
        populate_by_name=True,
    )

    group_by: IndicatorGrouping
    observed_from: datetime | None = Field(alias="from", description="Inclusive, observed_at")
    observed_to: datetime | None = Field(alias="to", description="Exclusive, observed_at")
    groups: list[IndicatorGroup]


class CategoryGrouping(StrEnum):
    category = "category"
    month = "month"
    year_group = "year_group"


class CategoryGroup(SQLModel):
    key: str | None = Field(
        description="The category id, the month (YYYY-MM, UTC) or the year group (null: "
        "pupils with no year group)"
    )
    label: str | None = Field(default=None, description="The category's name (group_by=category)")
    concerns: int = Field(description="Concerns in this group (each concern once)")
    categories: dict[str, int] = Field(
        description="Per category, the concerns in this group recorded under it (a concern "
        "under two categories counts once under each)"
    )


class CategoryReport(SQLModel):
    model_config = SQLModelConfig(
        json_schema_extra={
            "examples": [
                {
                    "group_by": "month",
                    "from": "2026-09-01T00:00:00Z",
                    "to": "2026-12-01T00:00:00Z",
                    "groups": [
                        {
                            "key": "2026-11",
                            "label": None,
                            "concerns": 4,
                            "categories": {"neglect": 2, "cse": 1, "self-harm": 1},
                        }
                    ],
                }
            ]
        },
        populate_by_name=True,
    )

    group_by: CategoryGrouping
    observed_from: datetime | None = Field(alias="from", description="Inclusive, observed_at")
    observed_to: datetime | None = Field(alias="to", description="Exclusive, observed_at")
    groups: list[CategoryGroup]


class MonthCount(SQLModel):
    month: str = Field(description="YYYY-MM, a calendar month in UTC")
    concerns: int


class SummaryReport(SQLModel):
    model_config = SQLModelConfig(
        json_schema_extra={
            "examples": [
                {
                    "generated_at": "2026-11-28T09:00:00Z",
                    "open_cases_by_level": {"monitoring": 4, "early_help": 2},
                    "concerns_by_status": {"new": 3, "acknowledged": 5, "closed": 40},
                    "unacknowledged_over_24h": 1,
                    "this_month": {"month": "2026-11", "concerns": 12},
                    "last_month": {"month": "2026-10", "concerns": 9},
                }
            ]
        }
    )

    generated_at: datetime
    open_cases_by_level: dict[str, int] = Field(
        description="Open cases per level (every level, zero included)"
    )
    concerns_by_status: dict[str, int] = Field(
        description="Concerns per triage status (every status, zero included)"
    )
    unacknowledged_over_24h: int = Field(
        description="Concerns still new more than 24 hours after they were recorded"
    )
    this_month: MonthCount = Field(description="Concerns observed this calendar month (UTC)")
    last_month: MonthCount = Field(description="Concerns observed last calendar month (UTC)")
