"""The desk's stream (issue 18, point 4): Server-Sent Events of the school's content-free
alert events, resumable with ``Last-Event-ID``. It polls the outbox in a short transaction
every ``CONCERNLOG_STREAM_POLL_SECONDS`` and holds no database connection in between."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.deps import DatabaseDep, DSLContext, UnitOfWorkDep, in_short_transaction
from api.errors import problem_responses
from core.settings import Settings
from db.unit_of_work import UnitOfWork
from services.alerts import stream
from services.context import RequestContext

router = APIRouter(tags=["alerts"])

DESCRIPTION = """\
DSLs and deputy DSLs. `text/event-stream`: each of the school's alert events as it is
published, `event:` its type (`concern.created`, `concern.urgent`, `task.due`...), `id:`
its sequence number in the school's stream, `data:` the same JSON as a webhook's body
(`{"type", "timestamp", "data": {...}}`; ids, the school's URN, times and urgency, never
what a concern says). A new stream starts after the latest event (or after `?after=`);
send `Last-Event-ID` (as browsers' `EventSource` does on reconnecting) to resume after
that one, missing nothing. An idle stream sends a `: ping` comment every 15 seconds.
"""


def _reader(
    context: RequestContext, after: int, start: stream.StreamStart
) -> Callable[[UnitOfWork], list[stream.StreamEvent]]:
    def read(session: UnitOfWork) -> list[stream.StreamEvent]:
        return stream.events_after(session, context, after=after, school_urn=start.school_urn)

    return read


@router.get(
    "/desk/stream",
    summary="The school's alert events as Server-Sent Events",
    description=DESCRIPTION,
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
        **problem_responses(401, 403, 422),
    },
)
async def desk_stream(
    request: Request,
    context: DSLContext,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
    last_event_id: Annotated[
        int | None,
        Header(ge=0, description="Resume after this event (the `id:` of the last one read)"),
    ] = None,
    after: Annotated[
        int | None,
        Query(ge=0, description="Start after this event, as `Last-Event-ID` (which wins)"),
    ] = None,
) -> EventSourceResponse:
    settings: Settings = request.app.state.settings
    start = await uow.run(lambda session: stream.stream_start(session, context))
    resume = last_event_id if last_event_id is not None else after
    position = start.last_sequence if resume is None else resume

    async def events() -> AsyncIterator[ServerSentEvent]:
        after = position
        while True:
            batch = await in_short_transaction(database, _reader(context, after, start))
            for event in batch:
                after = event.sequence
                yield ServerSentEvent(
                    data=json.dumps(event.payload, separators=(",", ":"), sort_keys=True),
                    event=event.type,
                    id=str(event.sequence),
                )
            if len(batch) < stream.STREAM_BATCH:
                await asyncio.sleep(settings.stream_poll_seconds)

    return EventSourceResponse(events(), ping=settings.stream_ping_seconds)
