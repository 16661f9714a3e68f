"""Guidance: the built-in documents, each school's own (drafted by its DSLs, published as
immutable versions), and what anyone may read of them.

Modules: ``schema`` (the published JSON Schema), ``library`` (the built-ins, and every
version prepared once per process), ``statements`` (queries built once), ``drafts``
(writing and publishing a school's drafts), ``public`` (a school's guidance by URN).
"""

from services.guidance.library import (
    Cited,
    Edition,
    GuidanceLibrary,
    GuidanceLoadError,
    Representation,
    represent,
)

__all__ = [
    "Cited",
    "Edition",
    "GuidanceLibrary",
    "GuidanceLoadError",
    "Representation",
    "represent",
]
