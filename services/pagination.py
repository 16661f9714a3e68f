"""Opaque list cursors: base64url-encoded JSON that clients pass back unchanged."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Any

from sqlmodel import Session
from sqlmodel.sql.expression import SelectOfScalar

from core.errors import InvalidInput

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, *, fields: tuple[str, ...]) -> dict[str, Any]:
    """The position a cursor encodes; a 422 for anything this service did not issue."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid_cursor() from None
    if not isinstance(position, dict) or set(position) != set(fields):
        raise invalid_cursor()
    return position


def invalid_cursor() -> InvalidInput:
    detail = "The cursor is not valid; start again without one."
    return InvalidInput(
        detail,
        extra={"errors": [{"loc": ["query", "cursor"], "msg": detail, "type": "value_error"}]},
    )


def page_by_id(
    session: Session,
    query: SelectOfScalar[Any],
    id_column: Any,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[Any], str | None]:
    """One page of ``query`` in id order (ids are time-ordered UUIDs, so: oldest first)
    and the cursor of the next page, or None on the last page."""
    if cursor is not None:
        try:
            after = uuid.UUID(str(decode_cursor(cursor, fields=("id",))["id"]))
        except ValueError:
            raise invalid_cursor() from None
        query = query.where(id_column > after)
    rows = list(session.exec(query.order_by(id_column).limit(limit + 1)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor({"id": str(rows[-1].id)}) if more else None
