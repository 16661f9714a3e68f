"""Rules about a school's accounts taken together: a school never loses its last active
admin, whatever path changes an account (docs/adr/0059-own-credentials-and-the-last-admin.md).

Every path that can take an admin's account out of administration, by deactivating it or
by changing its role, asks ``keep_an_active_admin`` before it changes anything:

- ``PATCH /users/{id}`` (``services.users.update_user``), for another admin or oneself;
- the MIS (staff upserts and leavers, ``services.mis.staff``) never reaches an admin's
  account at all (ADR 0046): its leavers call answers ``last_admin_kept`` for one;
- the CLI creates accounts and changes none.

The check locks the school's active admins' rows (``SELECT ... FOR UPDATE``, in id order)
before deciding, so two requests that each take away a different admin are serialised on
PostgreSQL: the second reads the first's change once it commits, and is refused if it would
leave none. SQLite's ``BEGIN IMMEDIATE`` serialises every writer already.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlmodel import Session

from core.errors import Conflict
from models.user import Role, User

_USERS: sa.Table = User.__table__  # type: ignore[attr-defined]
_ACTIVE_ADMINS_LOCKED = (
    sa.select(_USERS.c.id)
    .where(
        _USERS.c.school_id == sa.bindparam("school_id"),
        _USERS.c.role == Role.admin.value,
        _USERS.c.active.is_(True),
    )
    # One order for every request that locks them: two such requests never deadlock.
    .order_by(_USERS.c.id)
    .with_for_update()
)

LAST_ADMIN = "The school must keep at least one active admin."


def leaves_no_active_admin(
    session: Session, *, school_id: uuid.UUID, user: User, role: str, active: bool
) -> bool:
    """Whether giving ``user`` ``role`` and ``active`` would leave their school without an
    active admin. Reads nothing when the change takes no admin away (the user is not an
    active admin, or stays one); otherwise locks the school's active admins' rows for the
    rest of the transaction and decides on what they are now. Call it before changing
    ``user``: a change already flushed would hold its row's lock first, and two requests
    locking in different orders could deadlock."""
    takes_an_admin_away = (user.role == Role.admin.value and user.active) and not (
        role == Role.admin.value and active
    )
    if not takes_an_admin_away:
        return False
    admins = session.connection().execute(_ACTIVE_ADMINS_LOCKED, {"school_id": school_id})
    return all(admin_id == user.id for (admin_id,) in admins)


def keep_an_active_admin(
    session: Session, *, school_id: uuid.UUID, user: User, role: str, active: bool
) -> None:
    """409 when giving ``user`` ``role`` and ``active`` would leave their school without an
    active admin (see ``leaves_no_active_admin``, which locks what it reads)."""
    if leaves_no_active_admin(session, school_id=school_id, user=user, role=role, active=active):
        raise Conflict(LAST_ADMIN)
