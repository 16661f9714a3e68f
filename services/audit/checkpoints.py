"""Signed checkpoints of a school's audit chain: the head (sequence number and hash) at a
moment, signed with an Ed25519 key that is not in the database.

The chain alone shows edits to single events, but not a rewrite by someone who can write
the database (every hash recomputed, or the tail dropped and the head moved back). A
checkpoint kept elsewhere pins one event: an intact chain still holds that event, with that
hash, at that sequence number, however long it has grown since (ADR 0054)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from core import signing
from models.audit import GENESIS_HASH, AuditEvent
from services.audit.reading import chain_head, verify_chain

FORMAT = "concernlog-audit-checkpoint/1"
# What the signature covers, in this order of keys (sorted) in compact JSON.
_SIGNED_FIELDS = ("format", "school_id", "seq", "hash", "taken_at")


class CheckpointError(ValueError):
    """A checkpoint cannot be taken or does not hold; the message is one line."""


@dataclass(frozen=True)
class CheckpointCheck:
    """The result of checking a chain against a checkpoint: ``problem`` is None when the
    signature, the chain and the checkpointed event all hold."""

    seq: int
    events_checked: int
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _signed_bytes(document: dict[str, Any]) -> bytes:
    fields = {name: document[name] for name in _SIGNED_FIELDS}
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("ascii")


def _hash_at(session: Session, *, school_id: uuid.UUID, seq: int) -> str | None:
    """The stored hash of the school's event ``seq`` (the genesis hash for 0), or None."""
    if seq == 0:
        return GENESIS_HASH
    found = session.exec(
        select(AuditEvent.hash)
        .where(AuditEvent.school_id == school_id)
        .where(col(AuditEvent.seq) == seq)
    ).first()
    return found


def take_checkpoint(
    session: Session, *, school_id: uuid.UUID, now: datetime, private_key_pem: bytes
) -> dict[str, Any]:
    """Sign the school's chain head (school id, seq, hash, ``now``) with ``private_key_pem``
    and return the checkpoint document (the fields, the signature, the public key's
    fingerprint). For the operator's CLI. Reads only; records nothing. Refuses
    (``CheckpointError``) a chain that does not verify: a checkpoint vouches only for an
    intact chain."""
    head_seq, head_hash = chain_head(session, school_id=school_id)
    result = verify_chain(session, school_id=school_id)
    if not result.ok or _hash_at(session, school_id=school_id, seq=head_seq) != head_hash:
        raise CheckpointError(
            f"the audit chain is broken at event {result.first_bad_seq}; no checkpoint taken"
        )
    document: dict[str, Any] = {
        "format": FORMAT,
        "school_id": str(school_id),
        "seq": head_seq,
        "hash": head_hash,
        "taken_at": now.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    document["key_fingerprint"] = signing.fingerprint(signing.public_key_of(private_key_pem))
    document["signature"] = signing.sign(private_key_pem, _signed_bytes(document))
    return document


def _read(document: object) -> dict[str, Any]:
    """The checkpoint's fields, checked for shape (``CheckpointError`` otherwise)."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise CheckpointError("not an audit checkpoint")
    seq = document.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise CheckpointError("the checkpoint's seq is not a sequence number")
    for name in ("school_id", "hash", "taken_at", "key_fingerprint", "signature"):
        if not isinstance(document.get(name), str):
            raise CheckpointError(f"the checkpoint has no {name}")
    return document


def check_checkpoint(
    session: Session, *, school_id: uuid.UUID, document: object, public_key_pem: bytes
) -> CheckpointCheck:
    """Check the school's chain against a checkpoint, in this order: the checkpoint is
    signed by ``public_key_pem`` and names this school; the chain verifies
    (``verify_chain``); the chain still reaches the checkpointed sequence number (else it
    was truncated) and holds the checkpointed hash there (else it was rewritten). An older
    checkpoint holds on an intact chain as well as the newest. Reads only; records nothing.
    ``CheckpointError`` for a document that is not a checkpoint at all."""
    checkpoint = _read(document)
    seq = checkpoint["seq"]

    def failed(problem: str, checked: int = 0) -> CheckpointCheck:
        return CheckpointCheck(seq=seq, events_checked=checked, problem=problem)

    expected = signing.fingerprint(public_key_pem)
    if checkpoint["key_fingerprint"] != expected:
        return failed(
            f"checkpoint was signed by another key ({checkpoint['key_fingerprint']}, "
            f"expected {expected})"
        )
    if not signing.signature_holds(
        public_key_pem, _signed_bytes(checkpoint), checkpoint["signature"]
    ):
        return failed("checkpoint signature is invalid: the checkpoint file was altered")
    if checkpoint["school_id"] != str(school_id):
        return failed("checkpoint is for another school")
    result = verify_chain(session, school_id=school_id)
    if not result.ok:
        return failed(
            f"audit chain is BROKEN at event {result.first_bad_seq}", result.events_checked
        )
    head_seq, _ = chain_head(session, school_id=school_id)
    if head_seq < seq:
        return failed(
            f"audit chain was TRUNCATED: its head is event {head_seq}, "
            f"the checkpoint is at event {seq}",
            result.events_checked,
        )
    if _hash_at(session, school_id=school_id, seq=seq) != checkpoint["hash"]:
        return failed(
            f"audit chain was REWRITTEN: event {seq} no longer has the checkpointed hash",
            result.events_checked,
        )
    return CheckpointCheck(seq=seq, events_checked=result.events_checked, problem=None)
