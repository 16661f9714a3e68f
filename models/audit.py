"""The audit log: who did what to which record, as a per-school hash chain.

Ids and actions only: an audit row never holds concern text, names, tokens or passwords.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig

from models.base import UTCDateTime, new_id

GENESIS_HASH = "0" * 64


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (
        UniqueConstraint("school_id", "seq"),
        Index("ix_audit_event_school_id_occurred_at", "school_id", "occurred_at"),
        # "Who read this child's file", newest first, a range of one index (ADR 0126).
        Index("ix_audit_event_school_id_pupil_id_seq", "school_id", "pupil_id", "seq"),
        Index("ix_audit_event_school_id_actor_id", "school_id", "actor_id"),
        Index("ix_audit_event_school_id_action", "school_id", "action"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    actor_type: str = Field(max_length=20)  # user | service | system
    actor_id: uuid.UUID | None = None
    actor_role: str | None = Field(default=None, max_length=20)
    action: str = Field(max_length=64)
    entity_type: str | None = Field(default=None, max_length=40)
    entity_id: uuid.UUID | None = None
    pupil_id: uuid.UUID | None = None
    request_id: str | None = Field(default=None, max_length=128)
    run_id: uuid.UUID | None = None
    outcome: str = Field(default="success", max_length=20)
    # How many occurrences this one event stands for (a count of security probes,
    # ``services.audit.probes``); null: one. Hashed only when set, so that the events
    # written before it existed hash as they always did.
    occurrences: int | None = None
    # The hex SHA-256 of a file the event recorded (an attachment's bytes, ADR 0105); null
    # for every other event. Hashed only when set, like ``occurrences``.
    digest: str | None = Field(default=None, max_length=64)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditEventPupil(SQLModel, table=True):
    """One child an event is about among several: the pupils on a page of a list (a page
    of concerns, cases, tasks...) that the page's one event records (ADR 0126). The event
    is named by its place in the school's chain (``school_id``, ``seq``), and its hash
    covers these pupil ids (``services.audit.chain``): a row altered, added or removed
    here breaks the chain's verification like an altered event. No foreign key to the
    event: the hash guards these rows, as it guards every column of the event's own."""

    __tablename__ = "audit_event_pupil"
    __table_args__ = (
        # "Who read this child's file", newest first: a range of this index.
        Index("ix_audit_event_pupil_school_id_pupil_id_seq", "school_id", "pupil_id", "seq"),
    )

    school_id: uuid.UUID = Field(foreign_key="school.id", primary_key=True)
    seq: int = Field(sa_column=Column(BigInteger, primary_key=True))
    pupil_id: uuid.UUID = Field(primary_key=True)


class AuditChainHead(SQLModel, table=True):
    """The newest link of a school's chain. Appending locks this row, which is what keeps
    the chain strictly ordered under concurrent requests."""

    __tablename__ = "audit_chain_head"

    school_id: uuid.UUID = Field(foreign_key="school.id", primary_key=True)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    hash: str = Field(max_length=64)


class AuditProbeWindow(SQLModel, table=True):
    """How many refused or not-found requests for one kind of safeguarding record one
    actor made in one minute: the count behind the chain's ``security.probe`` events, which
    stop after the first few of a minute (``services.audit.probes``). Not part of the
    chain: a window is deleted once it has closed and its count is in the chain."""

    __tablename__ = "audit_probe_window"
    __table_args__ = (
        UniqueConstraint("school_id", "actor_id", "kind", "window_start"),
        Index("ix_audit_probe_window_school_id_window_start", "school_id", "window_start"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    actor_type: str = Field(max_length=20)
    actor_id: uuid.UUID
    actor_role: str | None = Field(default=None, max_length=20)
    kind: str = Field(max_length=40)
    window_start: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    probes: int


# --- API schemas ---------------------------------------------------------------------------


AUDIT_EVENT_EXAMPLE: dict[str, Any] = {
    "id": "01936b2e-6a10-7c3e-9d5e-4b7f0a1c2d3e",
    "seq": 42,
    "occurred_at": "2026-11-28T09:15:00.123456Z",
    "actor_type": "user",
    "actor_id": "01936b2e-1111-7aaa-8bbb-0c0d0e0f1011",
    "actor_role": "dsl",
    "action": "concern.read",
    "entity_type": "concern",
    "entity_id": "01936b2e-2222-7ccc-8ddd-1e1f20212223",
    "pupil_id": "01936b2e-3333-7eee-8fff-2a2b2c2d2e2f",
    "pupil_ids": [],
    "request_id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10",
    "run_id": None,
    "outcome": "success",
    "occurrences": None,
    "digest": None,
    "prev_hash": "9f2c" + "0" * 60,
    "hash": "4b7e" + "0" * 60,
}


class AuditEventPublic(SQLModel):
    model_config = SQLModelConfig(json_schema_extra={"examples": [AUDIT_EVENT_EXAMPLE]})

    id: uuid.UUID
    seq: int
    occurred_at: datetime
    actor_type: str
    actor_id: uuid.UUID | None
    actor_role: str | None
    action: str
    entity_type: str | None
    entity_id: uuid.UUID | None
    pupil_id: uuid.UUID | None = Field(
        description="The child the event is about, when it is about one (a concern read is "
        "one event per child of the concern); null on an event about none, or about the "
        "children of a page of a list (see `pupil_ids`)",
    )
    pupil_ids: list[uuid.UUID] = Field(
        default_factory=list,
        description="The children on the page an event of a list records (`concern.list`, "
        "`case.list`, `task.list`, `inbox.read`...: one event per page, ADR 0126), sorted; "
        "besides `pupil_id` on an event about one child and others (`pupil.links_read`: "
        "the child, and the children linked to it). Empty on every other event. Covered "
        "by the event's hash. Filtering by `pupil_id` finds an event by either field",
    )
    request_id: str | None
    run_id: uuid.UUID | None
    outcome: str
    occurrences: int | None = Field(
        description="How many occurrences this event stands for: set on "
        "`security.probe_summary` (the refused or not-found requests of one kind by one "
        "actor in one minute); null for every other event, which stands for one",
    )
    digest: str | None = Field(
        default=None,
        description="Hex SHA-256 of the file the event recorded (`attachment.create`); "
        "null for every other event. Covered by the event's hash",
    )
    prev_hash: str
    hash: str


class AuditVerification(SQLModel):
    model_config = SQLModelConfig(
        json_schema_extra={
            "examples": [{"ok": True, "events_checked": 1204, "first_bad_seq": None}]
        }
    )

    ok: bool
    events_checked: int
    first_bad_seq: int | None
