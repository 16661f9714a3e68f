"""What the routers that change a versioned record share: the ``If-Match`` header every
change must send, and the new ``ETag`` every change answers with."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Header, Response

# Every change to a concern's triage or to a case sends the ETag it read.
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        min_length=1,
        max_length=200,
        description="The ETag from your last read of the record (GET answers it). Missing: "
        "428 (so is `*`); not the current one (someone changed it since): 412, and "
        "nothing changes. Weak tags never match.",
    ),
]

Representation = TypeVar("Representation")


def with_etag(response: Response, etag: str, representation: Representation) -> Representation:
    """Answer ``representation`` with its record's version as the ``ETag`` header."""
    response.headers["ETag"] = etag
    return representation
