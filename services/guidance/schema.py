"""The guidance document's JSON Schema, published at ``/api/v1/guidance/schema.json`` so
that any client can validate a document (or write one) without our code; every built-in
document is checked against it when the service starts.

The schema states the shape: fields, types, id patterns, text that is not blank, sizes.
What it cannot state (ids unique, an item's ``indicator`` or ``action`` naming one of the
document's own, how deep items nest) the service checks beside it
(``models.guidance.problems_of``), and says so in the schema's description.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from models.guidance import MAX_DEPTH, MAX_ITEMS, GuidanceDocument

SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_DESCRIPTION = (
    "A guidance document of concernlog: sections of items (which may nest), the indicators "
    "(signs) a concern may be tagged with, and the actions to take. Beyond this schema, a "
    "valid document has unique ids (sections, items anywhere in the document, indicators, "
    "actions), every item's `indicator` and `action` names one of the document's own, items "
    f"nest at most {MAX_DEPTH} levels deep and number at most {MAX_ITEMS} in all."
)


@cache
def guidance_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a published guidance document."""
    schema = GuidanceDocument.model_json_schema(ref_template="#/$defs/{model}")
    return {"$schema": SCHEMA_URI, **schema, "description": SCHEMA_DESCRIPTION}


@cache
def _validator() -> Draft202012Validator:
    schema = guidance_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_errors(document: object) -> list[str]:
    """What in ``document`` (parsed JSON) the schema refuses, each as ``/path: message``,
    in a stable order; none when it conforms."""
    found = sorted(
        _validator().iter_errors(document), key=lambda error: [str(part) for part in error.path]
    )
    return [
        "/" + "/".join(str(part) for part in error.absolute_path) + f": {error.message}"
        for error in found
    ]
