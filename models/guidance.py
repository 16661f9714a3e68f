"""A guidance document (such as the school's CSE leaflet) as structured data."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.config import JsonDict

KEBAB_CASE = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"

# Examples for the OpenAPI document, cut down from the CSE guidance (guidance/cse.json).
_SECRETIVE: JsonDict = {"id": "secretive", "text": "Be secretive"}
_ACTIONS: list[JsonDict] = [
    {
        "id": "tell-dsl",
        "text": "Talk to our designated safeguarding lead (DSL) or deputy as soon as possible",
        "when": "always",
    },
    {
        "id": "contact-police",
        "text": "Contact the police, if you feel your child is in immediate danger",
        "when": "immediate_danger",
    },
]
_SECTION: JsonDict = {
    "id": "how-to-spot-it",
    "heading": "How do I spot it?",
    "lead": "A child may:",
    "items": [{**_SECRETIVE, "indicator": "secretive", "items": []}],
}
_SUMMARY: JsonDict = {
    "key": "cse",
    "title": "Child sexual exploitation (CSE)",
    "version": "1",
    "updated_at": "2026-11-28T00:00:00Z",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GuidanceItem(_Strict):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_SECRETIVE, "indicator": "secretive", "items": []}]}
    )

    id: str = Field(pattern=KEBAB_CASE)
    text: str = Field(min_length=1)
    indicator: str | None = Field(
        default=None, description="The indicator this item states, when it is one"
    )
    action: str | None = Field(
        default=None, description="The action this item states, when it is one"
    )
    items: list[GuidanceItem] = Field(default_factory=list)


class GuidanceSection(_Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [_SECTION]})

    id: str = Field(pattern=KEBAB_CASE)
    heading: str = Field(min_length=1)
    lead: str | None = None
    items: list[GuidanceItem]


class Indicator(_Strict):
    """A sign that a child may be at risk: not proof, one piece of a picture."""

    id: str = Field(pattern=KEBAB_CASE, examples=["secretive"])
    text: str = Field(min_length=1, examples=["Be secretive"])


class GuidanceAction(_Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [_ACTIONS[0]]})

    id: str = Field(pattern=KEBAB_CASE, examples=["tell-dsl"])
    text: str = Field(min_length=1)
    when: Literal["always", "immediate_danger"]


class GuidanceSummary(_Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [_SUMMARY]})

    key: str = Field(pattern=KEBAB_CASE, examples=["cse"])
    title: str = Field(examples=["Child sexual exploitation (CSE)"])
    version: str = Field(examples=["1"])
    updated_at: datetime


class GuidanceDocument(GuidanceSummary):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_SUMMARY,
                    "sections": [_SECTION],
                    "indicators": [_SECRETIVE],
                    "actions": list(_ACTIONS),
                }
            ]
        }
    )

    sections: list[GuidanceSection]
    indicators: list[Indicator]
    actions: list[GuidanceAction]

    @model_validator(mode="after")
    def _references_resolve(self) -> GuidanceDocument:
        if self.updated_at.tzinfo is None:
            raise ValueError("updated_at must carry an offset")
        _unique("indicator", [i.id for i in self.indicators])
        _unique("action", [a.id for a in self.actions])
        _unique("section", [s.id for s in self.sections])
        items = [item for section in self.sections for item in _walk(section.items)]
        _unique("item", [item.id for item in items])
        indicator_ids = {i.id for i in self.indicators}
        action_ids = {a.id for a in self.actions}
        for item in items:
            if item.indicator is not None and item.indicator not in indicator_ids:
                raise ValueError(
                    f"item {item.id!r} refers to undefined indicator {item.indicator!r}"
                )
            if item.action is not None and item.action not in action_ids:
                raise ValueError(f"item {item.id!r} refers to undefined action {item.action!r}")
        return self

    def indicator_ids(self) -> list[str]:
        return [i.id for i in self.indicators]

    def action(self, action_id: str) -> GuidanceAction | None:
        return next((a for a in self.actions if a.id == action_id), None)


def _walk(items: list[GuidanceItem]) -> list[GuidanceItem]:
    found: list[GuidanceItem] = []
    for item in items:
        found.append(item)
        found.extend(_walk(item.items))
    return found


def _unique(kind: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for identifier in ids:
        if identifier in seen:
            raise ValueError(f"duplicate {kind} id {identifier!r}")
        seen.add(identifier)
