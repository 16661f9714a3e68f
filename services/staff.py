"""The school's staff, as the DSL desk picks someone to give work to (a task, a case)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from models.user import Role, StaffMember, User
from services import access, audit
from services.context import RequestContext


def list_staff(
    session: Session, context: RequestContext, *, active: bool | None = None
) -> list[StaffMember]:
    """Every person's account of the caller's school (never a service account), by display
    name, with its role and whether it is active; only the active ones, or only the
    inactive, when ``active`` is given. A school's staff is a few hundred at most: one
    list, no pages.

    DSLs and deputy DSLs. Records ``staff.list`` (no pupil: it names no child)."""
    principal = context.principal
    access.require_dsl(principal)
    query = select(User.id, User.display_name, User.role, User.active).where(
        col(User.school_id) == principal.school_id
    )
    if active is not None:
        query = query.where(col(User.active).is_(active))
    found = session.exec(query.order_by(col(User.display_name), col(User.id))).all()
    audit.record(
        session,
        actor=context.actor,
        action="staff.list",
        now=context.now,
        entity_type="user",
        request_id=context.request_id,
    )
    return [
        StaffMember(id=user_id, display_name=name, role=Role(role), active=is_active)
        for user_id, name, role, is_active in found
    ]
