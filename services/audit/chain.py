"""The hash chain: what each event's hash covers, and how events are linked."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING, Any

from models.audit import AuditEvent
from models.base import new_id

if TYPE_CHECKING:
    # Only for annotations: services.context imports this module.
    pass

# Every field the hash covers (all but the row's own id and hash), in the order they are read.
HASHED_FIELDS = (
    "school_id",
    "seq",
    "occurred_at",
    "actor_type",
    "actor_id",
    "actor_role",
    "action",
    "entity_type",
    "entity_id",
    "pupil_id",
    "request_id",
    "run_id",
    "outcome",
    "occurrences",
    "digest",
    "prev_hash",
)


def _string(value: str | None) -> str:
    # What json.dumps writes for a string (escaped, ASCII only) or None.
    return "null" if value is None else encode_basestring_ascii(value)


def _id(value: uuid.UUID | None) -> str:
    # A UUID's text needs no escaping.
    return "null" if value is None else f'"{value}"'


def _canonical(values: Mapping[Any, Any]) -> bytes:
    """The bytes an event's hash covers: every hashed field as JSON, keys sorted, no
    spaces, ASCII only (exactly ``json.dumps(fields, sort_keys=True, separators=(",",
    ":"))``, which the first chains were hashed with; the tests hold the two together),
    written field by field in that order, which is cheaper than ``json.dumps`` for the
    events a page of concerns appends (bench/README.md). Timestamps are hashed in UTC: the database
    hands them back in UTC, so a caller's "now" in another offset hashes as it reads back.

    ``occurrences`` is written only when it is set (a count of security probes): every
    event without one, including all those written before it existed, hashes as before.
    So is ``pupil_ids`` (the pupils on a page of a list, held in ``audit_event_pupil``,
    ADR 0126), written sorted, only when the event has any."""
    occurred_at = values["occurred_at"].astimezone(UTC).isoformat(timespec="microseconds")
    occurrences = values.get("occurrences")
    counted = "" if occurrences is None else f'"occurrences":{int(occurrences)},'
    digest = values.get("digest")
    digested = "" if digest is None else f'"digest":{_string(digest)},'
    pupils = values.get("pupil_ids")
    listed = "" if not pupils else f'"pupil_ids":[{",".join(sorted(_id(p) for p in pupils))}],'
    return (
        f'{{"action":{_string(values["action"])},"actor_id":{_id(values["actor_id"])},'
        f'"actor_role":{_string(values["actor_role"])},'
        f'"actor_type":{_string(values["actor_type"])},{digested}'
        f'"entity_id":{_id(values["entity_id"])},"entity_type":{_string(values["entity_type"])},'
        f'"occurred_at":"{occurred_at}",{counted}"outcome":{_string(values["outcome"])},'
        f'"prev_hash":{_string(values["prev_hash"])},"pupil_id":{_id(values["pupil_id"])},{listed}'
        f'"request_id":{_string(values["request_id"])},"run_id":{_id(values["run_id"])},'
        f'"school_id":"{values["school_id"]}","seq":{int(values["seq"])}}}'
    ).encode("ascii")


def hash_of(values: Mapping[Any, Any]) -> str:
    return hashlib.sha256(_canonical(values)).hexdigest()


def link(rows: Sequence[dict[str, Any]], *, after_seq: int, after_hash: str) -> tuple[int, str]:
    """Chain ``rows`` (column values of one school's events, oldest first, without
    ``seq``, ``prev_hash``, ``hash`` or ``id``; a page's event with its ``pupil_ids``, the
    rows of ``audit_event_pupil``) after the event ``after_seq`` whose hash is
    ``after_hash``: fills those four in, exactly as appending them one by one would.
    Returns the new head (last sequence number and hash). Bulk writers (a data seeder)
    use it to write rows that ``verify_chain`` accepts."""
    seq, prev_hash = after_seq, after_hash
    for values in rows:
        seq += 1
        values["seq"] = seq
        values["prev_hash"] = prev_hash
        prev_hash = hash_of(values)
        values["hash"] = prev_hash
        values["id"] = new_id()
    return seq, prev_hash


def event_hash(event: AuditEvent, pupil_ids: Sequence[uuid.UUID] = ()) -> str:
    """The hash of a stored event, with the pupils of its page if it has any."""
    values: dict[str, Any] = {name: getattr(event, name) for name in HASHED_FIELDS}
    values["pupil_ids"] = pupil_ids
    return hash_of(values)
