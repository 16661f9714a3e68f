"""What the school's DSLs are told of requests for changes that need a DSL: that one
was made, or decided, and where to sign in; never whose account, what change or who asked
(docs/adr/0080-privileged-changes-need-a-dsl.md). Every active DSL and deputy DSL is told,
whatever their choice of non-urgent emails (the event types are mandatory)."""

from __future__ import annotations

from sqlmodel import Session

from models.privileged_request import PrivilegedRequest, PrivilegedStatus
from services.alerts import events


def alert_requested(session: Session, request: PrivilegedRequest) -> None:
    """Tell the school's DSLs that a change awaits one of them (in the caller's
    transaction: told once it commits, never if it rolls back)."""
    events.emit(
        session,
        school_id=request.school_id,
        event_type=events.PRIVILEGED_REQUESTED,
        data={"request_id": request.id, "expires_at": request.expires_at},
        now=request.requested_at,
    )


def alert_decided(session: Session, request: PrivilegedRequest) -> None:
    """Tell the school's DSLs that a request was decided: approved, or not."""
    assert request.decided_at is not None
    events.emit(
        session,
        school_id=request.school_id,
        event_type=events.PRIVILEGED_DECIDED,
        data={
            "request_id": request.id,
            "approved": request.status == PrivilegedStatus.approved.value,
            "decided_at": request.decided_at,
        },
        now=request.decided_at,
    )
