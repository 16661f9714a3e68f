"""The signed-in user's own account and MFA enrolment."""

from __future__ import annotations

import pyotp
from sqlmodel import Session

from core.errors import Conflict
from models.user import User
from services import access, audit
from services.auth.issuing import revoke_all_refresh_tokens
from services.auth.signin import (
    TOTP_ISSUER,
    TotpRejected,
    _accept_totp,
    _check_throttle,
    _record_failure,
)
from services.context import RequestContext
from services.principal import Principal


def current_user(session: Session, *, principal: Principal) -> User:
    """The principal's own account (people only: service accounts have none)."""
    access.require_person(principal)
    user = session.get(User, principal.id)
    assert user is not None  # authenticate() has just read it
    return user


def start_mfa_setup(session: Session, context: RequestContext) -> tuple[str, str]:
    """Create a new TOTP secret for the caller, pending until verified. Returns the secret
    and its ``otpauth://`` URI. Refused (409) once enrolled: an admin resets MFA."""
    now = context.now
    user = current_user(session, principal=context.principal)
    if user.mfa_enrolled:
        raise Conflict("Two-factor authentication is already set up; ask an admin to reset it.")
    user.totp_secret = pyotp.random_base32()
    user.totp_last_step = None
    user.updated_at = now
    session.add(user)
    uri = pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)
    return user.totp_secret, uri


def verify_mfa_setup(
    session: Session, context: RequestContext, *, code: str, client_address: str
) -> None:
    """Enrol the caller in MFA with a code from the pending secret. Wrong codes count
    towards the login throttle. Enrolment changes the token version: the caller signs in
    again, with a code. Audits ``auth.mfa_enrolled``."""
    principal, now, request_id = context.principal, context.now, context.request_id
    user = current_user(session, principal=principal)
    if user.mfa_enrolled:
        raise Conflict("Two-factor authentication is already set up.")
    if not user.totp_secret:
        raise Conflict("Start with POST /api/v1/auth/mfa/setup.")
    _check_throttle(session, account_key=user.email, client_address=client_address, now=now)
    if not _accept_totp(user, code.strip(), now):
        _record_failure(session, account_key=user.email, client_address=client_address, now=now)
        raise TotpRejected("The code is wrong or expired.", loc=["code"], error_type="totp_invalid")
    user.mfa_enrolled = True
    user.token_version += 1
    user.updated_at = now
    session.add(user)
    revoke_all_refresh_tokens(session, user_id=user.id, now=now)
    audit.record(
        session,
        actor=principal.actor,
        action="auth.mfa_enrolled",
        now=now,
        entity_type="user",
        entity_id=user.id,
        request_id=request_id,
    )
