"""Webhooks (issue 18, point 3): a school's subscriptions to its content-free alert
events, posted to a URL and signed per Standard Webhooks 1.0. Each event a subscription
wants becomes one ``alert_delivery`` on the ``webhook`` channel (``target_id``: the
subscription), retried like any other.

The signing secret is kept sealed (AES-256-GCM under a key derived from the server's
secret, ``core.signing.seal``): whoever reads the database cannot sign as the school.
It is shown once, when the subscription is made.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, new_id


class Webhook(SQLModel, table=True):
    __tablename__ = "webhook"
    __table_args__ = (Index("ix_webhook_school_id", "school_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    url: str = Field(max_length=2000)
    # The event types it wants, as a JSON list.
    events: str = Field(sa_column=Column(Text, nullable=False))
    secret_sealed: str = Field(sa_column=Column(Text, nullable=False))
    created_by: uuid.UUID = Field(foreign_key="user_account.id")
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # Deleted: no more deliveries (pending ones are skipped); its history stays.
    deleted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


_HOOK: dict[str, Any] = {
    "id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a31",
    "url": "https://example.invalid/concernlog-hooks",
    "events": ["concern.created", "concern.urgent"],
    "created_at": "2026-12-02T09:00:00Z",
}
_SECRET_EXAMPLE = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 (an example)
_DELIVERY: dict[str, Any] = {
    "id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a32",
    "event_id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a33",
    "event_type": "concern.created",
    "status": "pending",
    "attempts": 2,
    "last_response_code": 500,
    "last_error": "HTTP 500",
    "created_at": "2026-12-02T09:00:01Z",
    "last_attempt_at": "2026-12-02T09:00:32Z",
    "next_attempt_at": "2026-12-02T09:01:32Z",
}


class WebhookCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"url": _HOOK["url"], "events": _HOOK["events"]}]},
    )

    url: str = PydanticField(
        min_length=1,
        max_length=2000,
        description="Where events are posted: an absolute https URL (http is refused in "
        "production). Redirects are never followed.",
        examples=["https://example.invalid/concernlog-hooks"],
    )
    events: list[str] = PydanticField(
        min_length=1,
        max_length=20,
        description="The event types to post, e.g. `concern.created`, `concern.urgent`.",
        examples=[["concern.created", "concern.urgent"]],
    )


class WebhookPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_HOOK]})

    id: uuid.UUID
    url: str
    events: list[str]
    created_at: datetime


class WebhookCreated(WebhookPublic):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_HOOK, "secret": _SECRET_EXAMPLE}]}
    )

    secret: str = PydanticField(
        description="The signing secret (`whsec_<base64>`), shown this once: verify each "
        "request's `webhook-signature` with it (Standard Webhooks 1.0)."
    )


class WebhookPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_HOOK]}]})

    items: list[WebhookPublic]


class WebhookDeliveryPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_DELIVERY]})

    id: uuid.UUID
    event_id: uuid.UUID = PydanticField(description="The event; also the `webhook-id` sent")
    event_type: str
    status: str = PydanticField(description="`pending`, `delivered`, `dead` or `skipped`")
    attempts: int
    last_response_code: int | None = PydanticField(
        description="The receiver's last HTTP status (none: it was never reached)"
    )
    last_error: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None = PydanticField(
        description="When it is tried next (pending ones only)"
    )


class WebhookDeliveryPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_DELIVERY], "next_cursor": None}]}
    )

    items: list[WebhookDeliveryPublic]
    next_cursor: str | None
