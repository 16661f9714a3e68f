"""A guidance document (such as the school's CSE leaflet) as structured data.

Every document has the same shape, built in or written by a school: sections of items
(which may nest), the indicators (signs) a concern may be tagged with, the actions to
take, and the category of concern it is about. What the schema alone cannot say (ids
unique, references that resolve, how deep items nest, a known category) is checked by
``problems_of``, which names the path of each mistake, so that a school's draft can be
refused with every mistake pointed at.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from models.base import non_blank_text
from models.category import CATEGORY_IDS

KEBAB_CASE = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
ID_MAX = 64
TITLE_MAX = 200
TEXT_MAX = 2_000
MAX_SECTIONS = 30
MAX_ITEMS_PER_LIST = 100
MAX_ITEMS = 1_000  # in the whole document, at every depth
MAX_DEPTH = 3  # a section's items are at depth 1; their items at 2...
MAX_DOCUMENT_INDICATORS = 100
MAX_ACTIONS = 20

# Text a person reads: something besides whitespace, no NUL, bounded. The pattern tells
# JSON Schema readers the same rule (``\s`` is Python's whitespace, what ``strip`` removes).
_TEXT_PATTERN = "^\\s*[^\\s\\u0000][^\\u0000]*$"
Text = Annotated[
    str,
    Field(min_length=1, max_length=TEXT_MAX, json_schema_extra={"pattern": _TEXT_PATTERN}),
    AfterValidator(non_blank_text),
]
Title = Annotated[
    str,
    Field(min_length=1, max_length=TITLE_MAX, json_schema_extra={"pattern": _TEXT_PATTERN}),
    AfterValidator(non_blank_text),
]
Slug = Annotated[str, Field(min_length=1, max_length=ID_MAX, pattern=KEBAB_CASE)]
CategoryId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=ID_MAX,
        pattern=KEBAB_CASE,
        description="The category of concern this document is about (GET /categories)",
        json_schema_extra={"enum": list(CATEGORY_IDS), "examples": ["cse"]},
    ),
]

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
    "category": "cse",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GuidanceItem(_Strict):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_SECRETIVE, "indicator": "secretive", "items": []}]}
    )

    id: Slug
    text: Text
    indicator: Slug | None = Field(
        default=None, description="The indicator this item states, when it is one"
    )
    action: Slug | None = Field(
        default=None, description="The action this item states, when it is one"
    )
    items: list[GuidanceItem] = Field(
        default_factory=list,
        max_length=MAX_ITEMS_PER_LIST,
        description=f"Items under this one (at most {MAX_DEPTH} levels in all)",
    )


class GuidanceSection(_Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [_SECTION]})

    id: Slug
    heading: Title
    lead: Title | None = None
    items: list[GuidanceItem] = Field(max_length=MAX_ITEMS_PER_LIST)


class Indicator(_Strict):
    """A sign that a child may be at risk: not proof, one piece of a picture."""

    id: Slug = Field(examples=["secretive"])
    text: Text = Field(examples=["Be secretive"])


class GuidanceAction(_Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [_ACTIONS[0]]})

    id: Slug = Field(examples=["tell-dsl"])
    text: Text
    when: Literal["always", "immediate_danger"]


Sections = Annotated[list[GuidanceSection], Field(min_length=1, max_length=MAX_SECTIONS)]
Indicators = Annotated[list[Indicator], Field(max_length=MAX_DOCUMENT_INDICATORS)]
Actions = Annotated[list[GuidanceAction], Field(max_length=MAX_ACTIONS)]


class GuidanceSummary(_Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [_SUMMARY]})

    key: Slug = Field(examples=["cse"])
    title: Title = Field(examples=["Child sexual exploitation (CSE)"])
    version: str = Field(min_length=1, max_length=ID_MAX, examples=["1"])
    updated_at: datetime
    category: CategoryId


class GuidanceDocument(GuidanceSummary):
    """A published document, whole: built in (``guidance/*.json``) or a school's own."""

    model_config = ConfigDict(
        title="GuidanceDocument",
        json_schema_extra={
            "examples": [
                {
                    **_SUMMARY,
                    "sections": [_SECTION],
                    "indicators": [_SECRETIVE],
                    "actions": list(_ACTIONS),
                }
            ]
        },
    )

    sections: Sections
    indicators: Indicators
    actions: Actions

    @model_validator(mode="after")
    def _references_resolve(self) -> GuidanceDocument:
        if self.updated_at.tzinfo is None:
            raise ValueError("updated_at must carry an offset")
        found = problems_of(self)
        if found:
            raise ValueError(f"{pointer(found[0].loc)}: {found[0].msg}")
        return self

    def indicator_ids(self) -> list[str]:
        return [i.id for i in self.indicators]

    def action(self, action_id: str) -> GuidanceAction | None:
        return next((a for a in self.actions if a.id == action_id), None)


class GuidanceContent(_Strict):
    """What a school writes: a document without its version and publication time, which
    publishing gives it."""

    key: Slug
    title: Title
    category: CategoryId
    sections: Sections
    indicators: Indicators
    actions: Actions


# --- what the schema cannot say ---------------------------------------------------------

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class GuidanceProblem:
    """One mistake in a document: where (``loc``, a path into it), what, and its kind."""

    loc: Loc
    msg: str
    type: str


def pointer(loc: Loc) -> str:
    """``loc`` as a JSON Pointer (RFC 6901) into the document: ``/sections/0/items/2``."""
    parts = (str(part).replace("~", "~0").replace("/", "~1") for part in loc)
    return "/" + "/".join(parts) if loc else ""


def _walk(items: list[GuidanceItem], loc: Loc, depth: int) -> list[tuple[Loc, GuidanceItem, int]]:
    found: list[tuple[Loc, GuidanceItem, int]] = []
    for i, item in enumerate(items):
        here = (*loc, "items", i)
        found.append((here, item, depth))
        found.extend(_walk(item.items, here, depth + 1))
    return found


def _duplicates(kind: str, entries: list[tuple[Loc, str]]) -> list[GuidanceProblem]:
    first: dict[str, Loc] = {}
    found = []
    for loc, identifier in entries:
        if identifier in first:
            found.append(
                GuidanceProblem(
                    (*loc, "id"),
                    f"duplicate {kind} id {identifier!r} (first at {pointer(first[identifier])})",
                    "duplicate_id",
                )
            )
        else:
            first[identifier] = (*loc, "id")
    return found


def problems_of(document: GuidanceDocument | GuidanceContent) -> list[GuidanceProblem]:
    """Every mistake the schema cannot see, in document order: an unknown category, ids
    repeated (indicators, actions, sections, and items anywhere in the document), an
    item's ``indicator`` or ``action`` that names none of the document's, items nested
    deeper than ``MAX_DEPTH`` or more than ``MAX_ITEMS`` in all."""
    found: list[GuidanceProblem] = []
    if document.category not in CATEGORY_IDS:
        found.append(
            GuidanceProblem(
                ("category",),
                f"unknown category {document.category!r}; valid categories: "
                + ", ".join(CATEGORY_IDS),
                "unknown_category",
            )
        )
    found += _duplicates(
        "section", [(("sections", i), s.id) for i, s in enumerate(document.sections)]
    )
    items = [
        entry
        for i, section in enumerate(document.sections)
        for entry in _walk(section.items, ("sections", i), 1)
    ]
    found += _duplicates("item", [(loc, item.id) for loc, item, _ in items])
    found += _duplicates(
        "indicator", [(("indicators", i), x.id) for i, x in enumerate(document.indicators)]
    )
    found += _duplicates("action", [(("actions", i), x.id) for i, x in enumerate(document.actions)])
    indicator_ids = {x.id for x in document.indicators}
    action_ids = {x.id for x in document.actions}
    for loc, item, depth in items:
        if depth > MAX_DEPTH:
            found.append(
                GuidanceProblem(loc, f"items nest at most {MAX_DEPTH} levels deep", "too_deep")
            )
        if item.indicator is not None and item.indicator not in indicator_ids:
            found.append(
                GuidanceProblem(
                    (*loc, "indicator"),
                    f"item {item.id!r} refers to undefined indicator {item.indicator!r}",
                    "unresolved_reference",
                )
            )
        if item.action is not None and item.action not in action_ids:
            found.append(
                GuidanceProblem(
                    (*loc, "action"),
                    f"item {item.id!r} refers to undefined action {item.action!r}",
                    "unresolved_reference",
                )
            )
    if len(items) > MAX_ITEMS:
        found.append(
            GuidanceProblem(
                ("sections",), f"a document has at most {MAX_ITEMS} items in all", "too_many_items"
            )
        )
    return found
