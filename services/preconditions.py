"""Optimistic concurrency: versions as strong ETags, and ``If-Match`` checked against them.

A triage state or a case carries a ``version`` that grows by one with every change. Its
ETag is ``"<kind>-<version>"`` (``"triage-3"``, ``"case-7"``). A change must send the
ETag it read in ``If-Match``: none is a 428, one that is not current a 412. ``*`` counts
as none (428): it would skip the very check this exists for. A weak tag never matches
(RFC 9110 compares strongly for ``If-Match``). The caller then updates with
``UPDATE ... WHERE version = :expected`` and treats "no row updated" as a 412 too, so that
two DSLs racing with the same ETag cannot both win.
"""

from __future__ import annotations

from core.errors import PreconditionFailed, PreconditionRequired


def etag(kind: str, version: int) -> str:
    return f'"{kind}-{version}"'


def stale(what: str) -> PreconditionFailed:
    return PreconditionFailed(
        f"The {what} has changed since you read it (If-Match does not match its ETag). "
        "Nothing was changed: read it again and retry.",
        slug="precondition-failed",
    )


def expected_version(if_match: str | None, *, kind: str, current: int, what: str) -> int:
    """The version the caller read, when it is ``current``: 428 without ``If-Match``, 412
    when no tag in it names the current version. ``what`` names the record in errors."""
    if if_match is None or if_match.strip() in ("", "*"):
        raise PreconditionRequired(
            f"Send If-Match with the {what}'s ETag (from your last read of it) to change it.",
            slug="precondition-required",
        )
    wanted = etag(kind, current)
    tags = [tag.strip() for tag in if_match.split(",")]
    if wanted not in tags:
        raise stale(what)
    return current
