"""The categories a school records a concern under: the categories of abuse and neglect
and the specific safeguarding issues of *Keeping Children Safe in Education*, named in our
own words.

``ConcernCategory`` is a concern's categories as rows, for filters and reports.

The categories are fixed in code, not in the database: an id, once published, never changes
meaning (a concern keeps the ids it was logged with), so a category is only ever added,
never renamed into something else or removed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime

MAX_CATEGORIES = 5


class CategoryGroup(StrEnum):
    abuse_and_neglect = "abuse-and-neglect"
    specific_issue = "specific-issue"
    other = "other"


class Category(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [{"id": "neglect", "name": "Neglect", "group": "abuse-and-neglect"}]
        },
    )

    id: str = PydanticField(description="Stable kebab-case id; it never changes meaning")
    name: str = PydanticField(description="A short name to show")
    group: CategoryGroup


def _category(id_: str, name: str, group: CategoryGroup) -> Category:
    return Category(id=id_, name=name, group=group)


_ABUSE = CategoryGroup.abuse_and_neglect
_ISSUE = CategoryGroup.specific_issue

CATEGORIES: tuple[Category, ...] = (
    _category("physical-abuse", "Physical abuse", _ABUSE),
    _category("emotional-abuse", "Emotional abuse", _ABUSE),
    _category("sexual-abuse", "Sexual abuse", _ABUSE),
    _category("neglect", "Neglect", _ABUSE),
    _category("cse", "Child sexual exploitation (CSE)", _ISSUE),
    _category("cce", "Child criminal exploitation (CCE) and county lines", _ISSUE),
    _category("child-on-child-abuse", "Abuse by other children", _ISSUE),
    _category("sharing-nudes", "Sharing nude or semi-nude images", _ISSUE),
    _category("online-safety", "Harm online", _ISSUE),
    _category("domestic-abuse", "Domestic abuse at home", _ISSUE),
    _category("mental-health", "Mental health", _ISSUE),
    _category("self-harm", "Self-harm or suicidal thoughts", _ISSUE),
    _category("radicalisation", "Radicalisation and extremism", _ISSUE),
    _category("fgm", "Female genital mutilation (FGM)", _ISSUE),
    _category("forced-marriage", "Forced marriage", _ISSUE),
    _category("honour-based-abuse", "So-called honour-based abuse", _ISSUE),
    _category("faith-or-belief-abuse", "Abuse linked to faith or belief", _ISSUE),
    _category("modern-slavery", "Modern slavery and trafficking", _ISSUE),
    _category("children-absent-from-education", "Missing or absent from education", _ISSUE),
    _category("missing-from-home-or-care", "Missing from home or care", _ISSUE),
    _category("serious-violence", "Serious violence, knives and gangs", _ISSUE),
    _category("substance-misuse", "Drugs and alcohol", _ISSUE),
    _category("private-fostering", "Private fostering", _ISSUE),
    _category("young-carer", "Caring for someone at home", _ISSUE),
    _category("homelessness", "Homelessness or risk of it", _ISSUE),
    _category("family-member-in-prison", "A parent or carer in prison", _ISSUE),
    _category("other", "Something else", CategoryGroup.other),
)

CATEGORY_IDS: tuple[str, ...] = tuple(category.id for category in CATEGORIES)
CATEGORY_NAMES: dict[str, str] = {category.id: category.name for category in CATEGORIES}


class CategoryName(BaseModel):
    """A category as a record shows it: its id and the name to show."""

    model_config = ConfigDict(hide_input_in_errors=True)

    id: str
    name: str


class ConcernCategory(SQLModel, table=True):
    """One category a concern is recorded under. ``observed_at`` is copied from the concern
    so that "this kind of concern, in this period" is answered from this table's index
    alone (as ``concern_indicator`` does for signs)."""

    __tablename__ = "concern_category"
    __table_args__ = (
        Index(
            "ix_concern_category_school_kind_period_concern",
            "school_id",
            "category_id",
            "observed_at",
            "concern_id",
        ),
        # Reports: every category of a period, grouped (an index-only range scan).
        Index(
            "ix_concern_category_school_id_observed_at_category_id",
            "school_id",
            "observed_at",
            "category_id",
        ),
    )

    concern_id: uuid.UUID = Field(foreign_key="concern.id", primary_key=True)
    category_id: str = Field(max_length=64, primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    observed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
