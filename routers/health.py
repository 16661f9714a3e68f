"""Liveness and readiness probes (public: no token, no data)."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from api.deps import DatabaseDep
from api.errors import problem_responses
from core.errors import ServiceUnavailable

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str = Field(examples=["ok"])


@router.get("/healthz", summary="The process is up", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="The database is reachable",
    response_model=Health,
    responses=problem_responses(503),
)
async def readyz(database: DatabaseDep) -> Health:
    try:
        # A ping may wait on the network or a lock: in a worker thread, off the event loop.
        await to_thread.run_sync(database.ping)
    except SQLAlchemyError:
        raise ServiceUnavailable("The database cannot be reached.") from None
    return Health(status="ready")
