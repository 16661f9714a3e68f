"""The audit log: ids and actions only, never content, in a hash chain per school.

``recording`` appends in the caller's transaction (and locks the chain's head);
``reading`` lists and verifies; ``chain`` is what the hashes cover."""

from services.actor import Actor
from services.audit.chain import event_hash, link
from services.audit.reading import (
    VERIFY_BATCH_SIZE,
    AuditPage,
    check_chain,
    list_events,
    verify_chain,
)
from services.audit.recording import (
    AuditEntry,
    read_with_head_locked,
    record,
    record_many,
    record_per_pupil,
    start_chain,
)

__all__ = [
    "VERIFY_BATCH_SIZE",
    "Actor",
    "AuditEntry",
    "AuditPage",
    "check_chain",
    "event_hash",
    "link",
    "list_events",
    "read_with_head_locked",
    "record",
    "record_many",
    "record_per_pupil",
    "start_chain",
    "verify_chain",
]
