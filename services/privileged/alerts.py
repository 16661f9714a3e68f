"""What the school's DSLs are told of requests for changes that need a DSL: that one
was made or decided, never whose account or what (ADR 0080)."""

from __future__ import annotations

from sqlmodel import Session

from models.privileged_request import PrivilegedRequest


def alert_requested(session: Session, request: PrivilegedRequest) -> None:
    """Tell the school's DSLs that a change awaits one of them (not yet wired)."""


def alert_decided(session: Session, request: PrivilegedRequest) -> None:
    """Tell the school's DSLs that a request was decided (not yet wired)."""
