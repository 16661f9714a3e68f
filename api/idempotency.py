"""``Idempotency-Key`` on every POST that creates a record: one dependency, attached by
naming it (docs/adr/0062-one-idempotency-mechanism-for-every-create.md).

A route that creates a record takes ``once: Idempotent`` and hands its unit of work to
it, answering what its work answers::

    @router.post("", status_code=201, response_model=ThingPublic, responses=...)
    async def create_thing(
        body: ThingCreate, context: DSLContext, uow: UnitOfWorkDep, once: Idempotent
    ) -> Response:
        return await once.run(
            uow, context, body,
            lambda session: created(things.create_thing(session, context, thing=body)),
        )

where ``created`` shapes the service's result as an ``Answer`` (status, the response
model, ``Location``/``ETag`` headers). That is all: the header is declared in the OpenAPI
document (with ``Idempotent-Replayed`` on the answer, ``api.openapi``), and the rules are
those of ``services.idempotency.once``. Without a key the work simply runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Header, Request, Response
from pydantic import BaseModel

from db.unit_of_work import UnitOfWork
from services import idempotency
from services.context import RequestContext
from services.idempotency import Answer

__all__ = ["IDEMPOTENCY_KEY", "REPLAYED_HEADER", "Answer", "Idempotent", "IdempotentCreate"]

IDEMPOTENCY_KEY = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_JSON = "application/json"

KEY_DESCRIPTION = (
    "Makes retrying this request safe (any unique string of 1 to 255 characters; a UUID "
    "is a good choice). The same key with the same request within the window (72 hours "
    "unless the service is configured otherwise) answers the first result again, with "
    "the same status, body, `Location` and `ETag`, and the header `Idempotent-Replayed: "
    "true`; nothing new is recorded. The same key with a different request is a 422 "
    "(`idempotency_key_reused`). Keys are per caller: another user's key never matches "
    "yours. A request that fails does not use its key up."
)


class IdempotentCreate:
    """One request's ``Idempotency-Key`` (or none), ready to run its create once."""

    __slots__ = ("_key", "_operation", "_path", "_secrets")

    def __init__(
        self,
        key: idempotency.Key | None,
        *,
        operation: str,
        path: dict[str, str],
        secrets: idempotency.Secrets,
    ) -> None:
        self._key = key
        self._operation = operation
        self._path = path
        self._secrets = secrets

    async def run(
        self,
        uow: UnitOfWork,
        context: RequestContext,
        body: BaseModel | None,
        work: Callable[[UnitOfWork], Answer],
        *,
        cpu_bound: bool = False,
    ) -> Response:
        """``work``'s answer, run in the request's unit of work (``UnitOfWork.run``), once
        per key: a repeat of the same request (this operation, these path parameters, this
        validated ``body``) answers the first answer again."""
        key = self._key
        if key is None:
            return _response(await uow.run(work, cpu_bound=cpu_bound))
        request = {
            "operation": self._operation,
            "path": self._path,
            "body": None
            if body is None
            else body.model_dump(mode="json", by_alias=True, exclude_unset=True),
        }
        request_fingerprint = idempotency.fingerprint(self._secrets, request)
        answered = await uow.run(
            lambda session: idempotency.once(
                session,
                context,
                key=key,
                request_fingerprint=request_fingerprint,
                secrets=self._secrets,
                create=lambda: work(session),
            ),
            cpu_bound=cpu_bound,
        )
        if isinstance(answered, Answer):
            return _response(answered)
        return Response(
            content=json.dumps(answered.body, separators=(",", ":"), ensure_ascii=False),
            status_code=answered.status,
            headers={**answered.headers, REPLAYED_HEADER: "true"},
            media_type=_JSON,
        )


def _response(answer: Answer) -> Response:
    # Serialised once by pydantic, as ``api.responses.json_answer`` does.
    return Response(
        content=answer.body.model_dump_json(by_alias=True),
        status_code=answer.status,
        headers=dict(answer.headers),
        media_type=_JSON,
    )


async def idempotency_key(
    request: Request,
    key: Annotated[
        str | None,
        Header(alias=IDEMPOTENCY_KEY, min_length=1, max_length=255, description=KEY_DESCRIPTION),
    ] = None,
) -> IdempotentCreate:
    route = request.scope.get("route")
    hours: int = request.app.state.settings.idempotency_hours
    return IdempotentCreate(
        None if key is None else idempotency.Key(key, window=timedelta(hours=hours)),
        operation=str(getattr(route, "name", request.url.path)),
        path={name: str(value) for name, value in request.path_params.items()},
        secrets=request.app.state.idempotency_secrets,
    )


# What a creating route declares to take ``Idempotency-Key``.
Idempotent = Annotated[IdempotentCreate, Depends(idempotency_key)]
