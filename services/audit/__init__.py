"""The audit log: ids and actions only, never content, in a hash chain per school.

``recording`` appends in the caller's transaction (and locks the chain's head);
``reading`` lists and verifies; ``chain`` is what the hashes cover; ``checkpoints`` signs
the head with a key kept off the database, to detect a rewritten or truncated chain."""

from services.actor import Actor
from services.audit.chain import event_hash, hash_of, link
from services.audit.checkpoints import (
    CheckpointCheck,
    CheckpointError,
    check_checkpoint,
    take_checkpoint,
)
from services.audit.reading import (
    VERIFY_BATCH_SIZE,
    AuditPage,
    chain_head,
    check_chain,
    list_events,
    verify_chain,
)
from services.audit.recording import (
    AuditEntry,
    capturing,
    read_with_head_locked,
    record,
    record_many,
    record_page,
    record_per_pupil,
    start_chain,
)

__all__ = [
    "VERIFY_BATCH_SIZE",
    "Actor",
    "AuditEntry",
    "AuditPage",
    "CheckpointCheck",
    "CheckpointError",
    "capturing",
    "chain_head",
    "check_chain",
    "check_checkpoint",
    "event_hash",
    "hash_of",
    "link",
    "list_events",
    "read_with_head_locked",
    "record",
    "record_many",
    "record_page",
    "record_per_pupil",
    "start_chain",
    "take_checkpoint",
    "verify_chain",
]
