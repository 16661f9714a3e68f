"""Webhooks: a school's subscriptions to its content-free alert events (issue 18, point
3). The posting is the delivery worker's, never a request's (``services.alerts.webhook``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.deps import DSLContext, UnitOfWorkDep
from api.errors import problem_responses
from api.idempotency import Answer, Idempotent
from core.settings import Settings
from models.webhook import WebhookCreate, WebhookCreated, WebhookDeliveryPage, WebhookPage
from services import webhooks
from services.pagination import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

DESCRIPTION = """\
DSLs and deputy DSLs. Each event of the school that a subscription wants (`events`, e.g.
`concern.created`, `concern.urgent`, `task.assigned`, `review.due`) is POSTed to its
`url` as JSON, signed per Standard Webhooks 1.0: headers `webhook-id` (the event's id; a
redelivery keeps it), `webhook-timestamp` and `webhook-signature` (`v1,<base64
HMAC-SHA256>` of `id.timestamp.body` under the secret). Body: `{"type", "timestamp",
"data": {"concern_id", "school_urn", "urgent", "recorded_at"}}` for a concern; ids,
dates and flags only, never what a concern says. A delivery is retried with backoff (30 s,
doubling, at most an hour apart) for 24 hours until the receiver answers 2xx; redirects
are never followed and each post times out in seconds. In production the URL must be
`https`, and its host must accept a connection when it is given (else a 422 naming
`url`). The secret is answered once, here: keep it.
"""


@router.post(
    "",
    summary="Subscribe a URL to the school's alert events; the secret is shown this once",
    description=DESCRIPTION,
    status_code=201,
    response_model=WebhookCreated,
    responses=problem_responses(401, 403, 422),
)
async def create_webhook(
    body: WebhookCreate,
    request: Request,
    context: DSLContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
) -> Response:
    settings: Settings = request.app.state.settings
    seal_key = webhooks.sealing_key(settings.secret_key)
    production = settings.env == "production"
    await webhooks.check_reachable(body.url, production=production)

    def created(made: WebhookCreated) -> Answer:
        return Answer(201, made, {"Location": f"{request.url.path}/{made.id}"})

    return await once.run(
        uow,
        context,
        body,
        lambda session: created(
            webhooks.create_webhook(
                session, context, body=body, seal_key=seal_key, production=production
            )
        ),
    )


@router.get(
    "",
    summary="The school's webhooks (never their secrets)",
    response_model=WebhookPage,
    responses=problem_responses(401, 403),
)
async def list_webhooks(context: DSLContext, uow: UnitOfWorkDep) -> WebhookPage:
    return await uow.run(lambda session: webhooks.list_webhooks(session, context))


@router.delete(
    "/{hook_id}",
    summary="Delete a webhook: nothing more is posted to it",
    status_code=204,
    responses=problem_responses(401, 403, 404),
)
async def delete_webhook(hook_id: uuid.UUID, context: DSLContext, uow: UnitOfWorkDep) -> Response:
    await uow.run(lambda session: webhooks.delete_webhook(session, context, hook_id=hook_id))
    return Response(status_code=204)


@router.get(
    "/{hook_id}/deliveries",
    summary="A webhook's deliveries: status, attempts, the last response code",
    response_model=WebhookDeliveryPage,
    responses=problem_responses(401, 403, 404, 422),
)
async def list_deliveries(
    hook_id: uuid.UUID,
    context: DSLContext,
    uow: UnitOfWorkDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (at most 200)")] = (
        DEFAULT_LIMIT
    ),
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page")
    ] = None,
) -> WebhookDeliveryPage:
    return await uow.run(
        lambda session: webhooks.list_deliveries(
            session, context, hook_id=hook_id, limit=limit, cursor=cursor
        )
    )
