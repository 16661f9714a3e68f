"""Webhooks as a channel of the outbox: a delivery per event to each subscription that
wants its type (``WebhookFanOut``), posted by the worker (``post``), signed per Standard
Webhooks 1.0.

A request carries ``webhook-id`` (the event's id: a redelivery keeps it),
``webhook-timestamp`` (the attempt's time) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256>`` of ``id.timestamp.body``); its body is the event's content-free
``payload``. The signature is Standard Webhooks' own recipe written out with ``hmac``
(``signature``): the ``standardwebhooks`` package's ``sign`` makes the same string, at
several times the CPU (a class, a datetime conversion and a ``hmac.new`` object per post),
and the tests verify every request with that package. Redirects are never followed (a 3xx
is a failure, retried like any other) and each post has a timeout of seconds, so a slow
receiver never holds the worker.
"""

from __future__ import annotations

import base64
import hmac
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.http_post import Poster, PostError
from models.webhook import Webhook
from services.alerts.delivery import Claimed, Outcome
from services.alerts.events import payload
from services.alerts.publishing import Published, delivery_row
from services.webhooks import SECRET_PREFIX, WEBHOOK, unseal_secret

HOOKS: sa.Table = Webhook.__table__  # type: ignore[attr-defined]


class WebhookFanOut:
    """A delivery of each event to every live subscription of its school that wants its
    type."""

    channel = WEBHOOK

    def deliveries(
        self, session: Session, events: Sequence[Published], now: datetime
    ) -> list[dict[str, Any]]:
        schools = {event.school_id for event in events}
        if not schools:
            return []
        hooks = session.connection().execute(
            sa.select(HOOKS.c.id, HOOKS.c.school_id, HOOKS.c.events)
            .where(HOOKS.c.school_id.in_(schools), HOOKS.c.deleted_at.is_(None))
            .order_by(HOOKS.c.id)
        )
        wanted: dict[uuid.UUID, list[tuple[uuid.UUID, set[str]]]] = {}
        for hook_id, school_id, types in hooks:
            wanted.setdefault(school_id, []).append((hook_id, set(json.loads(types))))
        rows = []
        for event in events:
            for hook_id, types in wanted.get(event.school_id, []):
                if event.type in types:
                    rows.append(delivery_row([event], channel=WEBHOOK, target_id=hook_id, now=now))
        return rows


@dataclass(frozen=True)
class Target:
    """Where a claimed delivery goes, read when it is claimed (None: deleted), and what
    signs its requests (None: its secret was sealed under another server secret, so no
    request could be verified)."""

    url: str
    key: bytes | None


def targets(
    session: Session, claimed: Sequence[Claimed], *, seal_key: bytes
) -> dict[uuid.UUID, Target]:
    """The live subscriptions the claimed deliveries are for, each secret unsealed once
    for all of a round's posts to it."""
    ids = {item.target_id for item in claimed}
    if not ids:
        return {}
    rows = session.connection().execute(
        sa.select(HOOKS.c.id, HOOKS.c.url, HOOKS.c.secret_sealed).where(
            HOOKS.c.id.in_(ids), HOOKS.c.deleted_at.is_(None)
        )
    )
    found: dict[uuid.UUID, Target] = {}
    for hook_id, url, sealed in rows:
        secret = unseal_secret(seal_key, hook_id, sealed)
        found[hook_id] = Target(url=url, key=signing_key(secret) if secret is not None else None)
    return found


def signing_key(secret: str) -> bytes:
    """The HMAC key a ``whsec_`` secret stands for (its base64 part, decoded)."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(encoded + "==")  # as the package reads an unpadded one


def signature(key: bytes, message_id: str, timestamp: str, body: str) -> str:
    """``webhook-signature``: ``v1,`` and the base64 HMAC-SHA256 of ``id.timestamp.body``."""
    mac = hmac.digest(key, f"{message_id}.{timestamp}.{body}".encode(), "sha256")
    return "v1," + base64.b64encode(mac).decode("ascii")


def body_of(item: Claimed) -> str:
    """The request body: the event's payload, as every channel shows it."""
    shown = payload(
        event_type=item.event_type,
        occurred_at=item.occurred_at,
        data=item.data,
        school_urn=item.school_urn,
    )
    return json.dumps(shown, separators=(",", ":"), sort_keys=True)


def post(poster: Poster, item: Claimed, target: Target, *, now: datetime) -> Outcome:
    """Post one delivery, signed; its outcome (with the receiver's status code)."""
    key = target.key
    if key is None:
        # Sealed under another server secret: no request could be verified.
        return Outcome(
            item, error="the secret cannot be read (server secret changed)", permanent=True
        )
    body = body_of(item)
    message_id = str(item.event_id)
    timestamp = str(int(now.timestamp()))
    headers = {
        "content-type": "application/json",
        "user-agent": "concernlog-webhooks/1",
        "webhook-id": message_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": signature(key, message_id, timestamp, body),
    }
    try:
        code = poster.post(target.url, body.encode("utf-8"), headers)
    except PostError as error:
        return Outcome(item, error=error.reason)
    if 200 <= code < 300:
        return Outcome(item, response_code=code)
    if 300 <= code < 400:
        return Outcome(item, error=f"HTTP {code}: redirects are not followed", response_code=code)
    return Outcome(item, error=f"HTTP {code}", response_code=code)
