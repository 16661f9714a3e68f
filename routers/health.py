"""Liveness and readiness probes (public: no token, no data)."""

from __future__ import annotations

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
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="The database is reachable",
    response_model=Health,
    responses=problem_responses(503),
)
def readyz(database: DatabaseDep) -> Health:
    try:
        database.ping()
    except SQLAlchemyError:
        raise ServiceUnavailable("The database cannot be reached.") from None
    return Health(status="ready")
