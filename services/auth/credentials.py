"""The signed-in user's own credentials: changing their password, clearing their MFA.

An access token alone never changes them (a token left in a browser, or stolen, would be
enough to take the account over): both need the current password and, once enrolled, a
current one-time code, the proof a sign-in needs. Wrong answers count towards the sign-in
throttle of the account, as wrong sign-ins do (docs/adr/0059-own-credentials-and-the-last-admin.md).
"""

from __future__ import annotations

from sqlmodel import Session

from core.errors import Conflict, InvalidInput
from core.passwords import hash_password, verify_password
from models.user import User
from services import access
from services.auth.issuing import audit_user, revoke_all_refresh_tokens
from services.auth.mfa import current_user
from services.auth.signin import _accept_totp, _check_throttle, _record_failure
from services.context import RequestContext
from services.password_policy import check_password_policy


class CredentialsRejected(InvalidInput):
    """A wrong current password or one-time code: it counts towards the sign-in throttle,
    so the attempt row (and its audit event) must survive the failed request."""

    keeps_writes = True


def _prove(
    session: Session,
    context: RequestContext,
    user: User,
    *,
    action: str,
    current_password: str,
    totp: str | None,
    client_address: str,
) -> None:
    """Check the caller's current password and, once enrolled, their one-time code (the
    password first: a code is spent only by a request that knew the password). A failure
    is counted and audited (``action``, outcome ``denied``) and answered 422 naming the
    field; too many failures are a 429, as for a sign-in."""
    now = context.now
    _check_throttle(session, account_key=user.email, client_address=client_address, now=now)
    valid, _ = verify_password(current_password, user.password_hash)
    failed_field: str | None = None
    if not valid:
        failed_field = "current_password"
    elif user.mfa_enrolled and not (totp and _accept_totp(user, totp.strip(), now)):
        failed_field = "totp"
    if failed_field is None:
        return
    _record_failure(session, account_key=user.email, client_address=client_address, now=now)
    audit_user(session, user, action, now=now, request_id=context.request_id, outcome="denied")
    if failed_field == "totp":
        raise CredentialsRejected(
            "Enter the current 6-digit code from your authenticator app as `totp` "
            "(a code works once).",
            loc=["totp"],
            error_type="totp_invalid",
        )
    raise CredentialsRejected(
        "The current password is wrong.", loc=["current_password"], error_type="password_wrong"
    )


def _end_sessions(session: Session, context: RequestContext, user: User) -> None:
    user.token_version += 1
    user.updated_at = context.now
    session.add(user)
    revoke_all_refresh_tokens(session, user_id=user.id, now=context.now)


def change_own_password(
    session: Session,
    context: RequestContext,
    *,
    current_password: str,
    new_password: str,
    totp: str | None,
    client_address: str,
) -> None:
    """Change the caller's own password (people only). The new one must meet the password
    policy (422 on ``new_password``); the current password and, once enrolled, a current
    code must be right (422 on the field, counted towards the throttle; 429 when over it).
    Every token of the account ends (sign in again). Two argon2id hashes: run it off the
    event loop. Audits ``auth.password_change`` (``denied`` for a wrong answer)."""
    access.require_person(context.principal)
    user = current_user(session, principal=context.principal)
    check_password_policy(
        new_password, account=(user.email, user.display_name), field="new_password"
    )
    _prove(
        session,
        context,
        user,
        action="auth.password_change",
        current_password=current_password,
        totp=totp,
        client_address=client_address,
    )
    user.password_hash = hash_password(new_password)
    _end_sessions(session, context, user)
    audit_user(
        session, user, "auth.password_change", now=context.now, request_id=context.request_id
    )


def reset_own_mfa(
    session: Session,
    context: RequestContext,
    *,
    current_password: str,
    totp: str,
    client_address: str,
) -> None:
    """Clear the caller's own MFA enrolment, to enrol a new device (people only): 409 when
    not enrolled; the current password and a current code must be right (as for
    ``change_own_password``). Every token of the account ends; a DSL, deputy or admin
    signs in again and must enrol before anything else. A lost device cannot give a code:
    another admin resets it (``POST /users/{id}/reset-mfa``). Audits ``auth.mfa_reset``."""
    access.require_person(context.principal)
    user = current_user(session, principal=context.principal)
    if not user.mfa_enrolled:
        raise Conflict("Two-factor authentication is not set up; nothing to reset.")
    _prove(
        session,
        context,
        user,
        action="auth.mfa_reset",
        current_password=current_password,
        totp=totp,
        client_address=client_address,
    )
    user.totp_secret = None
    user.totp_last_step = None
    user.mfa_enrolled = False
    _end_sessions(session, context, user)
    audit_user(session, user, "auth.mfa_reset", now=context.now, request_id=context.request_id)
