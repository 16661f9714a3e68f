"""User and service-account administration (the school's admin role, own school only)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from core.errors import Conflict, InvalidInput, NotFound
from core.passwords import hash_password
from core.tokens import digest, new_client_id, new_client_secret
from models.privileged_request import PrivilegedKind, PrivilegedRequestPublic
from models.user import Role, ServiceAccount, User, UserCreate, UserUpdate
from services import access, accounts, audit, privileged
from services.auth import revoke_all_refresh_tokens
from services.context import RequestContext
from services.pagination import page_by_id
from services.password_policy import check_password_policy
from services.principal import Principal

CHANGE_YOUR_OWN_SIGN_IN = (
    "You cannot set your own password here: change it at POST /api/v1/auth/password with "
    "your current password and a code from your authenticator app."
)
RESET_YOUR_OWN_MFA = (
    "You cannot reset your own two-factor authentication here: to move to a new device, "
    "clear it at POST /api/v1/auth/mfa/reset with your password and a current code; if you "
    "have lost your device, ask another admin to reset it."
)


@dataclass(frozen=True)
class Account:
    """A user as administration shows them: the account, and the role they have been
    asked for and not yet given (a grant waiting for a DSL's approval), if any."""

    user: User
    pending_role: str | None


def _user_in_school(session: Session, *, principal: Principal, user_id: uuid.UUID) -> User:
    user = session.get(User, user_id)
    if user is None or user.school_id != principal.school_id:
        raise NotFound("There is no user with that id.")
    return user


def _record(
    session: Session,
    context: RequestContext,
    action: str,
    entity_type: str,
    entity_id: uuid.UUID,
) -> None:
    audit.record(
        session,
        actor=context.actor,
        action=action,
        now=context.now,
        entity_type=entity_type,
        entity_id=entity_id,
        request_id=context.request_id,
    )


def create_user(
    session: Session, context: RequestContext, *, data: UserCreate, window: timedelta
) -> Account:
    """Create a user in the caller's school (admins; the router guards the role). Without
    a password the user cannot sign in until one is set; with one, it is hashed here
    (argon2id: run it off the event loop). Audits ``user.create``.

    A DSL's or deputy DSL's account is created as ``staff``, with a request for the role
    that waits ``window`` for a DSL of the school to approve it (``services.privileged``):
    an admin never makes an account that reads concerns alone."""
    access.require_admin(context.principal)
    asked = data.role.value
    later = access.grant_needs_a_dsl(asked)
    made = data.model_copy(update={"role": Role.staff}) if later else data
    user = create_user_in_school(
        session, school_id=context.principal.school_id, data=made, now=context.now
    )
    _record(session, context, "user.create", "user", user.id)
    if not later:
        return Account(user, None)
    privileged.request_change(
        session, context, user=user, kind=PrivilegedKind.grant_role, role=asked, window=window
    )
    return Account(user, asked)


def create_user_in_school(
    session: Session, *, school_id: uuid.UUID, data: UserCreate, now: datetime
) -> User:
    """Shared by the API and the CLI: validates the password policy and email uniqueness."""
    email = str(data.email).strip().lower()
    if data.password is not None:
        check_password_policy(data.password, account=(email, data.display_name))
    if session.exec(select(User.id).where(User.email == email)).first() is not None:
        raise Conflict("A user with that email address already exists.")
    user = User(
        school_id=school_id,
        email=email,
        display_name=data.display_name.strip(),
        role=data.role.value,
        password_hash=hash_password(data.password) if data.password else None,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    session.flush()
    return user


def _accounts(session: Session, users: list[User], now: datetime) -> list[Account]:
    pending = privileged.pending_roles(session, user_ids=[u.id for u in users], now=now)
    return [Account(user, pending.get(user.id)) for user in users]


def list_users(
    session: Session, context: RequestContext, *, limit: int, cursor: str | None = None
) -> tuple[list[Account], str | None]:
    """A page of the caller's school's users in the order they were created (ids are
    time-ordered), and the cursor of the next page."""
    principal = context.principal
    access.require_admin(principal)
    query = select(User).where(User.school_id == principal.school_id)
    rows, next_cursor = page_by_id(session, query, col(User.id), limit=limit, cursor=cursor)
    return _accounts(session, rows, context.now), next_cursor


def get_user(session: Session, context: RequestContext, *, user_id: uuid.UUID) -> Account:
    """One user of the caller's school (404 for any other)."""
    access.require_admin(context.principal)
    user = _user_in_school(session, principal=context.principal, user_id=user_id)
    return _accounts(session, [user], context.now)[0]


def update_user(
    session: Session,
    context: RequestContext,
    *,
    user_id: uuid.UUID,
    data: UserUpdate,
    window: timedelta,
) -> Account:
    """Change a user's display name, role or active flag. An admin cannot change their own
    role, and a school never loses its last active admin (``services.accounts``: checked,
    with the school's admins locked, before anything changes). A role or active change
    ends the user's tokens at once. Audits ``user.update``.

    ``dsl`` or ``deputy_dsl`` is not given here: it becomes a request that waits ``window``
    for a DSL of the school to approve it (``services.privileged``), and the answer shows
    it as the account's pending role; the rest of the change applies now."""
    access.require_admin(context.principal)
    principal, now = context.principal, context.now
    user = _user_in_school(session, principal=principal, user_id=user_id)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("role") is not None and user.id == principal.id and changes["role"] != user.role:
        raise Conflict("You cannot change your own role; ask another admin.")
    role = Role(changes["role"]).value if changes.get("role") is not None else user.role
    active = bool(changes["active"]) if changes.get("active") is not None else user.active
    asked: str | None = None
    if role != user.role and access.grant_needs_a_dsl(role):
        asked, role = role, user.role
    security_change = role != user.role or active != user.active
    if security_change or asked is not None:
        # A grant asked for is checked now too: it could only fail when approved.
        accounts.keep_an_active_admin(
            session, school_id=principal.school_id, user=user, role=asked or role, active=active
        )
    if asked is not None:
        privileged.request_change(
            session, context, user=user, kind=PrivilegedKind.grant_role, role=asked, window=window
        )
    if "display_name" in changes and changes["display_name"] is not None:
        user.display_name = changes["display_name"].strip()
    if security_change:
        user.role, user.active = role, active
        user.token_version += 1
        revoke_all_refresh_tokens(session, user_id=user.id, now=now)
    user.updated_at = now
    session.add(user)
    _record(session, context, "user.update", "user", user.id)
    return _accounts(session, [user], now)[0]


def _needs_a_dsl(session: Session, user: User, now: datetime) -> bool:
    """Whether an admin's change of ``user``'s credentials waits for a DSL. The account is
    locked first: a grant asked for at the same moment is seen, not raced."""
    privileged.lock_account(session, user.id)
    being_granted = privileged.pending_grant(session, user_id=user.id, now=now) is not None
    return access.credentials_need_a_dsl(user.role, being_granted=being_granted)


def set_password(
    session: Session,
    context: RequestContext,
    *,
    user_id: uuid.UUID,
    password: str,
    window: timedelta,
) -> PrivilegedRequestPublic | None:
    """Set or reset a user's password (policy-checked; hashed with argon2id: run it off
    the event loop). Ends their current tokens. Audits ``user.password_set``. Never the
    caller's own (403 ``self-service-required``: ``POST /auth/password`` takes the current
    password and a one-time code).

    A DSL's or deputy DSL's password (or that of an account being granted such a role) is
    not set here: the request that waits ``window`` for a DSL's approval is answered, and
    holds the password's hash until it is decided (``services.privileged``)."""
    access.require_admin(context.principal)
    principal, now = context.principal, context.now
    access.require_someone_else(principal, user_id, instead=CHANGE_YOUR_OWN_SIGN_IN)
    user = _user_in_school(session, principal=principal, user_id=user_id)
    check_password_policy(password, account=(user.email, user.display_name))
    hashed = hash_password(password)
    if _needs_a_dsl(session, user, now):
        request = privileged.request_change(
            session,
            context,
            user=user,
            kind=PrivilegedKind.set_password,
            password_hash=hashed,
            window=window,
        )
        return privileged.one(session, context, request)
    user.password_hash = hashed
    user.token_version += 1
    user.updated_at = now
    session.add(user)
    revoke_all_refresh_tokens(session, user_id=user.id, now=now)
    _record(session, context, "user.password_set", "user", user.id)
    return None


def reset_mfa(
    session: Session, context: RequestContext, *, user_id: uuid.UUID, window: timedelta
) -> PrivilegedRequestPublic | None:
    """Clear a user's TOTP enrolment (a lost phone). A privileged user must enrol again at
    next sign-in. Ends their current tokens. Audits ``user.mfa_reset``. Never the caller's
    own (403 ``self-service-required``: ``POST /auth/mfa/reset`` takes the password and a
    current code; a lost device is another admin's to reset).

    A DSL's or deputy DSL's (or that of an account being granted such a role) is not
    cleared here: the request that waits ``window`` for a DSL's approval is answered
    (``services.privileged``)."""
    access.require_admin(context.principal)
    principal, now = context.principal, context.now
    access.require_someone_else(principal, user_id, instead=RESET_YOUR_OWN_MFA)
    user = _user_in_school(session, principal=principal, user_id=user_id)
    if _needs_a_dsl(session, user, now):
        request = privileged.request_change(
            session, context, user=user, kind=PrivilegedKind.reset_mfa, window=window
        )
        return privileged.one(session, context, request)
    user.totp_secret = None
    user.totp_last_step = None
    user.mfa_enrolled = False
    user.token_version += 1
    user.updated_at = now
    session.add(user)
    revoke_all_refresh_tokens(session, user_id=user.id, now=now)
    _record(session, context, "user.mfa_reset", "user", user.id)
    return None


# --- service accounts ----------------------------------------------------------------------


def create_service_account(
    session: Session, *, school_id: uuid.UUID, name: str, now: datetime
) -> tuple[ServiceAccount, str]:
    """A new ``mis`` service account. Returns it and its client secret, which is never
    stored (only its SHA-256) and cannot be shown again."""
    name = name.strip()
    if not name:
        raise InvalidInput("The name must not be empty.", loc=["name"])
    secret = new_client_secret()
    account = ServiceAccount(
        school_id=school_id,
        name=name,
        client_id=new_client_id(),
        secret_hash=digest(secret),
        created_at=now,
    )
    session.add(account)
    session.flush()
    return account, secret


def create_service_account_as(
    session: Session, context: RequestContext, *, name: str
) -> tuple[ServiceAccount, str]:
    """Create a service account in the caller's school (admins; the router guards the
    role). Audits ``service_account.create``."""
    access.require_admin(context.principal)
    account, secret = create_service_account(
        session, school_id=context.principal.school_id, name=name, now=context.now
    )
    _record(session, context, "service_account.create", "service_account", account.id)
    return account, secret


def list_service_accounts(
    session: Session, *, principal: Principal, limit: int, cursor: str | None = None
) -> tuple[list[ServiceAccount], str | None]:
    """A page of the caller's school's service accounts (never their secrets), oldest
    first, and the cursor of the next page."""
    access.require_admin(principal)
    query = select(ServiceAccount).where(ServiceAccount.school_id == principal.school_id)
    return page_by_id(session, query, col(ServiceAccount.id), limit=limit, cursor=cursor)


def set_service_account_active(
    session: Session, context: RequestContext, *, account_id: uuid.UUID, active: bool
) -> ServiceAccount:
    """Activate or deactivate a service account; deactivation ends its tokens at once.
    Audits ``service_account.update``."""
    access.require_admin(context.principal)
    account = session.get(ServiceAccount, account_id)
    if account is None or account.school_id != context.principal.school_id:
        raise NotFound("There is no service account with that id.")
    if account.active != active:
        account.active = active
        account.token_version += 1
        session.add(account)
    _record(session, context, "service_account.update", "service_account", account.id)
    return account
