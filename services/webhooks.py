"""A school's webhooks (issue 18, point 3): made, listed and deleted by its DSL desk, with
the deliveries of each. The posting is the delivery worker's
(``services.alerts.webhook``), never a request's.

A subscription's signing secret (``whsec_`` and 32 random bytes in base64, Standard
Webhooks 1.0) is answered once, when it is made, and kept sealed with a key derived from
the server's secret (``sealing_key``): the database alone cannot sign as the school.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import uuid
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core import signing
from core.errors import InvalidInput, NotFound
from models.alert import AlertDelivery, AlertEvent, DeliveryStatus
from models.webhook import (
    Webhook,
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryPage,
    WebhookDeliveryPublic,
    WebhookPage,
    WebhookPublic,
)
from services import access, audit
from services.alerts.events import EVENT_TYPES
from services.context import RequestContext
from services.pagination import decode_cursor, encode_cursor, invalid_cursor

WEBHOOK = "webhook"  # the delivery channel
_SEAL_LABEL = b"concernlog webhook secret v1"
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
SECRET_BYTES = 32
# Subscriptions a school may have at once.
MAX_PER_SCHOOL = 20


def sealing_key(server_secret: str) -> bytes:
    """The key webhook secrets are sealed with, derived from the server's secret."""
    return hmac.new(server_secret.encode(), _SEAL_LABEL, hashlib.sha256).digest()


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(os.urandom(SECRET_BYTES)).decode("ascii")


def seal_secret(key: bytes, webhook_id: uuid.UUID, secret: str) -> str:
    return signing.seal(key, secret.encode("ascii"), context=webhook_id.bytes)


def unseal_secret(key: bytes, webhook_id: uuid.UUID, sealed: str) -> str | None:
    """The secret, or None when it was sealed under another server secret."""
    raw = signing.unseal(key, sealed, context=webhook_id.bytes)
    return raw.decode("ascii") if raw is not None else None


def _checked_url(url: str, *, production: bool) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInput(
            "url must be an absolute https URL, e.g. https://example.invalid/hooks.",
            loc=("url",),
            error_type="url_scheme",
        )
    if production and parts.scheme != "https":
        raise InvalidInput(
            "url must use https: events are only posted over TLS.",
            loc=("url",),
            error_type="url_scheme",
        )
    if parts.username or parts.password:
        raise InvalidInput(
            "url must not carry a user name or password: verify the signature instead.",
            loc=("url",),
        )
    return url.strip()


REACH_TIMEOUT_SECONDS = 3.0


async def check_reachable(url: str, *, production: bool) -> None:
    """In production, a new subscription's host must accept a connection on its port
    within ``timeout`` seconds: a URL nothing answers at is a 422 naming ``url`` when it is
    given, not a day of failed deliveries later. Only an https URL is tried (anything else
    is refused by the URL's own check); outside production nothing is tried."""
    timeout = REACH_TIMEOUT_SECONDS
    parts = urlsplit(url.strip())
    if not production or parts.scheme != "https" or not parts.hostname:
        return
    try:
        port = parts.port or 443
    except ValueError:
        raise InvalidInput("url has a port that is not a number.", loc=("url",)) from None
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(parts.hostname, port)
    except (OSError, TimeoutError):
        raise InvalidInput(
            f"url is unreachable: nothing accepted a connection at {parts.hostname}:{port} "
            f"within {timeout:g} seconds. Check the address, and that the receiver is "
            "running and open to this service.",
            loc=("url",),
            error_type="url_unreachable",
        ) from None
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


def _checked_events(events: list[str]) -> list[str]:
    unknown = [event for event in events if event not in EVENT_TYPES]
    if unknown:
        raise InvalidInput(
            f"events: unknown event type {unknown[0]!r}; known: {', '.join(sorted(EVENT_TYPES))}.",
            loc=("events",),
        )
    return sorted(set(events))


def _public(hook: Webhook) -> WebhookPublic:
    return WebhookPublic(
        id=hook.id, url=hook.url, events=json.loads(hook.events), created_at=hook.created_at
    )


def _record(session: Session, context: RequestContext, action: str, hook_id: uuid.UUID) -> None:
    audit.record(
        session,
        actor=context.actor,
        action=action,
        now=context.now,
        entity_type="webhook",
        entity_id=hook_id,
        request_id=context.request_id,
    )


def create_webhook(
    session: Session,
    context: RequestContext,
    *,
    body: WebhookCreate,
    seal_key: bytes,
    production: bool,
) -> WebhookCreated:
    """A new subscription of the caller's school; its secret answered this once. 422 for
    a URL that is not http(s) (not https in production) or an unknown event type.
    Audits ``webhook.create``."""
    principal = context.principal
    access.require_webhooks(principal)
    url = _checked_url(body.url, production=production)
    events = _checked_events(body.events)
    existing = session.exec(
        select(sa.func.count())
        .select_from(Webhook)
        .where(col(Webhook.school_id) == principal.school_id, col(Webhook.deleted_at).is_(None))
    ).one()
    if existing >= MAX_PER_SCHOOL:
        raise InvalidInput(f"A school has at most {MAX_PER_SCHOOL} webhooks.", loc=("url",))
    secret = new_secret()
    hook = Webhook(
        school_id=principal.school_id,
        url=url,
        events=json.dumps(events),
        secret_sealed="",
        created_by=principal.id,
        created_at=context.now,
    )
    hook.secret_sealed = seal_secret(seal_key, hook.id, secret)
    session.add(hook)
    session.flush()
    _record(session, context, "webhook.create", hook.id)
    return WebhookCreated(**_public(hook).model_dump(), secret=secret)


def _hooks(context: RequestContext) -> sa.Select[tuple[Webhook]]:
    return select(Webhook).where(  # type: ignore[return-value]
        col(Webhook.school_id) == context.principal.school_id, col(Webhook.deleted_at).is_(None)
    )


def list_webhooks(session: Session, context: RequestContext) -> WebhookPage:
    """The school's subscriptions, oldest first (never their secrets)."""
    access.require_webhooks(context.principal)
    hooks = session.exec(_hooks(context).order_by(col(Webhook.id))).all()  # type: ignore[call-overload]
    return WebhookPage(items=[_public(hook) for hook in hooks])


def _hook(session: Session, context: RequestContext, hook_id: uuid.UUID) -> Webhook:
    access.require_webhooks(context.principal)
    hook: Webhook | None = session.exec(  # type: ignore[call-overload]
        _hooks(context).where(col(Webhook.id) == hook_id)
    ).one_or_none()
    if hook is None:
        raise NotFound("There is no webhook with that id.")
    return hook


def delete_webhook(session: Session, context: RequestContext, *, hook_id: uuid.UUID) -> None:
    """Stop a subscription: nothing more is posted to it (deliveries still pending are
    skipped). Audits ``webhook.delete``."""
    hook = _hook(session, context, hook_id)
    hook.deleted_at = context.now
    session.add(hook)
    session.flush()
    _record(session, context, "webhook.delete", hook.id)


def list_deliveries(
    session: Session,
    context: RequestContext,
    *,
    hook_id: uuid.UUID,
    limit: int,
    cursor: str | None,
) -> WebhookDeliveryPage:
    """A subscription's deliveries, newest first: status, attempts, the receiver's last
    HTTP status and our last error. Ids and times only: not audited."""
    hook = _hook(session, context, hook_id)
    query = (
        select(AlertDelivery, AlertEvent.type)
        .join(AlertEvent, col(AlertEvent.id) == col(AlertDelivery.event_id))
        .where(
            col(AlertDelivery.channel) == WEBHOOK,
            col(AlertDelivery.target_id) == hook.id,
            col(AlertDelivery.school_id) == hook.school_id,
        )
        .order_by(col(AlertDelivery.id).desc())
        .limit(limit + 1)
    )
    if cursor is not None:
        try:
            before = uuid.UUID(str(decode_cursor(cursor, fields=("id",))["id"]))
        except ValueError:
            raise invalid_cursor() from None
        query = query.where(col(AlertDelivery.id) < before)
    rows = session.exec(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        WebhookDeliveryPublic(
            id=row.id,
            event_id=row.event_id,
            event_type=event_type,
            status=row.status,
            attempts=row.attempts,
            last_response_code=row.last_response_code,
            last_error=row.last_error,
            created_at=row.created_at,
            last_attempt_at=row.last_attempt_at,
            next_attempt_at=(
                row.next_attempt_at if row.status == DeliveryStatus.pending.value else None
            ),
        )
        for row, event_type in rows
    ]
    return WebhookDeliveryPage(
        items=items, next_cursor=encode_cursor({"id": str(rows[-1][0].id)}) if more else None
    )
