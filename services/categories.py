"""The categories of concern, as ``GET /categories`` serves them: fixed in code
(``models.category``), so serialised once, with a strong ETag over the bytes."""

from __future__ import annotations

from pydantic import TypeAdapter

from models.category import CATEGORIES, Category
from services.guidance import Representation, represent

CATEGORIES_REPRESENTATION: Representation = represent(
    TypeAdapter(list[Category]).dump_python(list(CATEGORIES), mode="json")
)
