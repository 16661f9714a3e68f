"""Dependencies that handlers declare as ``Annotated`` aliases so they read as prose."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from api.config import Settings
from api.db import Database
from services.guidance import GuidanceLibrary


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """One session per request: committed when the handler returns normally, before the
    response is sent (so a failed commit can never follow a success answer), rolled back
    on any error."""
    database: Database = request.app.state.database
    with database.transaction() as session:
        yield session


def get_guidance(request: Request) -> GuidanceLibrary:
    library: GuidanceLibrary = request.app.state.guidance
    return library


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
GuidanceDep = Annotated[GuidanceLibrary, Depends(get_guidance)]
