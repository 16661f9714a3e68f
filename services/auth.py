"""Signing in: passwords, TOTP, client credentials, refresh-token rotation, throttling.

Every failure answers the same way whether or not the account exists, costs about the
same time (a dummy hash is verified), and is remembered in the database so throttling
holds across worker processes.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from core import metrics
from core.errors import AuthenticationFailed, Conflict, InvalidInput, TooManyRequests
from core.passwords import verify_password
from core.tokens import (
    KeyRing,
    constant_time_equals,
    create_access_token,
    digest,
    new_refresh_token,
)
from models.user import PRIVILEGED_ROLES, LoginAttempt, RefreshToken, Role, ServiceAccount, User
from services import access, audit
from services.audit import Actor
from services.context import RequestContext
from services.principal import Principal

THROTTLE_WINDOW = timedelta(minutes=15)
MAX_ACCOUNT_FAILURES = 5
MAX_ADDRESS_FAILURES = 20
TOTP_STEP_SECONDS = 30
TOTP_ISSUER = "concernlog"

WRONG_CREDENTIALS = "The email address or password is wrong."
WRONG_CLIENT = "The client id or secret is wrong."


class MfaRequired(AuthenticationFailed):
    slug, title = "mfa-required", "A one-time code is required"


class TotpRejected(InvalidInput):
    """A wrong code at enrolment: it counts towards the throttle, so the attempt row must
    survive the failed request."""

    keeps_writes = True


@dataclass(frozen=True)
class TokenIssuer:
    keys: KeyRing
    access_lifetime: timedelta
    refresh_lifetime: timedelta


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    expires_in: int
    refresh_token: str | None


# --- throttling ----------------------------------------------------------------------------


def _check_throttle(
    session: Session, *, account_key: str, client_address: str, now: datetime
) -> None:
    since = now - THROTTLE_WINDOW
    for column, value, limit in (
        (LoginAttempt.account_key, account_key, MAX_ACCOUNT_FAILURES),
        (LoginAttempt.client_address, client_address, MAX_ADDRESS_FAILURES),
    ):
        recent = session.exec(
            select(LoginAttempt.attempted_at)
            .where(column == value, col(LoginAttempt.attempted_at) > since)
            .order_by(col(LoginAttempt.attempted_at).desc())
            .limit(limit)
        ).all()
        if len(recent) >= limit:
            # Open again when the limit-th most recent failure leaves the window.
            reopens = recent[limit - 1] + THROTTLE_WINDOW
            raise TooManyRequests(
                "Too many failed attempts; wait before trying again.",
                retry_after_seconds=int((reopens - now).total_seconds()) + 1,
            )


def _record_failure(
    session: Session, *, account_key: str, client_address: str, now: datetime
) -> None:
    session.add(
        LoginAttempt(account_key=account_key, client_address=client_address, attempted_at=now)
    )
    session.flush()
    metrics.FAILED_LOGINS.inc()


def _user_actor(user: User) -> Actor:
    return Actor(type="user", id=user.id, role=user.role, school_id=user.school_id)


def _audit_user(
    session: Session,
    user: User,
    action: str,
    *,
    now: datetime,
    request_id: str | None,
    outcome: str = "success",
) -> None:
    """Audit ``action`` by the user on their own account."""
    audit.record(
        session,
        actor=_user_actor(user),
        action=action,
        now=now,
        entity_type="user",
        entity_id=user.id,
        request_id=request_id,
        outcome=outcome,
    )


def _fail_login(
    session: Session,
    *,
    user: User | None,
    account_key: str,
    client_address: str,
    now: datetime,
    request_id: str | None,
) -> None:
    """Count a failed sign-in towards the throttle and, for an account that exists, audit
    ``auth.login_failed``. The caller raises the answer."""
    _record_failure(session, account_key=account_key, client_address=client_address, now=now)
    if user is not None:
        _audit_user(
            session, user, "auth.login_failed", now=now, request_id=request_id, outcome="denied"
        )


# --- TOTP ----------------------------------------------------------------------------------


def _accept_totp(user: User, code: str, now: datetime) -> bool:
    """RFC 6238 with a ±1 step window; each step's code is accepted once only."""
    if not user.totp_secret or not code.isdigit() or len(code) != 6:
        return False
    totp = pyotp.TOTP(user.totp_secret, interval=TOTP_STEP_SECONDS)
    current = int(now.timestamp()) // TOTP_STEP_SECONDS
    for step in (current - 1, current, current + 1):
        expected = totp.at(step * TOTP_STEP_SECONDS)
        if hmac.compare_digest(expected, code):
            if user.totp_last_step is not None and step <= user.totp_last_step:
                return False  # replayed, or older than one already used
            user.totp_last_step = step
            return True
    return False


# --- issuing -------------------------------------------------------------------------------


def _access_token(issuer: TokenIssuer, *, user: User, now: datetime) -> str:
    return create_access_token(
        issuer.keys,
        subject=user.id,
        role=user.role,
        school_id=user.school_id,
        token_version=user.token_version,
        subject_type="user",
        now=now,
        lifetime=issuer.access_lifetime,
        mfa_enrollment_only=Role(user.role) in PRIVILEGED_ROLES and not user.mfa_enrolled,
    )


def _new_refresh(
    session: Session, issuer: TokenIssuer, *, user: User, family_id: uuid.UUID, now: datetime
) -> str:
    token = new_refresh_token()
    session.add(
        RefreshToken(
            family_id=family_id,
            user_id=user.id,
            token_hash=digest(token),
            token_version=user.token_version,
            issued_at=now,
            expires_at=now + issuer.refresh_lifetime,
        )
    )
    return token


def revoke_all_refresh_tokens(session: Session, *, user_id: uuid.UUID, now: datetime) -> None:
    """Revoke every live refresh token of a user (on role, password, MFA or active changes)."""
    session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.user_id) == user_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )


# --- grants --------------------------------------------------------------------------------


def password_grant(
    session: Session,
    issuer: TokenIssuer,
    *,
    email: str,
    password: str,
    totp: str | None,
    client_address: str,
    now: datetime,
    request_id: str | None,
) -> IssuedTokens:
    """Sign a person in. Wrong email or password: 401, the same answer either way. An
    MFA-enrolled user without a valid, unused ``totp``: 401 ``mfa-required``. Too many
    failures for the account (5) or the address (20) in 15 minutes: 429. Audits
    ``auth.login`` and ``auth.login_failed`` (for accounts that exist)."""
    account_key = email.strip().lower()
    _check_throttle(session, account_key=account_key, client_address=client_address, now=now)
    user = session.exec(select(User).where(User.email == account_key)).first()
    usable = user is not None and user.active
    valid, new_hash = verify_password(password, user.password_hash if usable and user else None)
    if not valid or user is None:
        _fail_login(
            session,
            user=user,
            account_key=account_key,
            client_address=client_address,
            now=now,
            request_id=request_id,
        )
        raise AuthenticationFailed(WRONG_CREDENTIALS)
    if new_hash is not None:
        user.password_hash = new_hash  # parameters changed: upgrade the stored hash
    if user.mfa_enrolled:
        if not totp:
            raise MfaRequired("Enter the 6-digit code from your authenticator app as `totp`.")
        if not _accept_totp(user, totp.strip(), now):
            _fail_login(
                session,
                user=user,
                account_key=account_key,
                client_address=client_address,
                now=now,
                request_id=request_id,
            )
            raise MfaRequired("The one-time code is wrong, expired or already used.")
    session.execute(delete(LoginAttempt).where(col(LoginAttempt.account_key) == account_key))
    session.add(user)
    refresh = _new_refresh(session, issuer, user=user, family_id=uuid.uuid4(), now=now)
    _audit_user(session, user, "auth.login", now=now, request_id=request_id)
    return IssuedTokens(
        access_token=_access_token(issuer, user=user, now=now),
        expires_in=int(issuer.access_lifetime.total_seconds()),
        refresh_token=refresh,
    )


def client_credentials_grant(
    session: Session,
    issuer: TokenIssuer,
    *,
    client_id: str,
    client_secret: str,
    client_address: str,
    now: datetime,
    request_id: str | None,
) -> IssuedTokens:
    """Sign a service account (the school's MIS) in. No refresh token: it holds its secret."""
    account_key = "client:" + client_id.strip()
    _check_throttle(session, account_key=account_key, client_address=client_address, now=now)
    account = session.exec(
        select(ServiceAccount).where(ServiceAccount.client_id == client_id.strip())
    ).first()
    expected = account.secret_hash if account is not None and account.active else digest("x")
    if (
        account is None
        or not account.active
        or not constant_time_equals(digest(client_secret), expected)
    ):
        _record_failure(session, account_key=account_key, client_address=client_address, now=now)
        raise AuthenticationFailed(WRONG_CLIENT)
    audit.record(
        session,
        actor=Actor(type="service", id=account.id, role=account.role, school_id=account.school_id),
        action="auth.login",
        now=now,
        entity_type="service_account",
        entity_id=account.id,
        request_id=request_id,
    )
    token = create_access_token(
        issuer.keys,
        subject=account.id,
        role=account.role,
        school_id=account.school_id,
        token_version=account.token_version,
        subject_type="service",
        now=now,
        lifetime=issuer.access_lifetime,
    )
    return IssuedTokens(
        access_token=token,
        expires_in=int(issuer.access_lifetime.total_seconds()),
        refresh_token=None,
    )


def refresh(
    session: Session,
    issuer: TokenIssuer,
    *,
    refresh_token: str,
    now: datetime,
    request_id: str | None,
) -> IssuedTokens:
    """Spend a refresh token for a new pair in the same family. A token spent before means
    it was copied: the whole family is revoked (and ``auth.refresh_reuse`` audited)."""
    refused = AuthenticationFailed(
        "The refresh token is invalid, expired or revoked; sign in again."
    )
    stored = session.exec(
        select(RefreshToken).where(RefreshToken.token_hash == digest(refresh_token))
    ).first()
    if stored is None or stored.revoked_at is not None or stored.expires_at <= now:
        raise refused
    user = session.get(User, stored.user_id)
    if stored.spent_at is not None:
        _revoke_family(session, family_id=stored.family_id, now=now)
        if user is not None:
            _audit_user(
                session,
                user,
                "auth.refresh_reuse",
                now=now,
                request_id=request_id,
                outcome="denied",
            )
        raise refused
    # Spend it atomically: of two concurrent refreshes with one token, one wins and the
    # other is treated as reuse.
    spent = session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.id) == stored.id, col(RefreshToken.spent_at).is_(None))
        .values(spent_at=now)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        _revoke_family(session, family_id=stored.family_id, now=now)
        raise refused
    if user is None or not user.active or user.token_version != stored.token_version:
        raise refused
    new = _new_refresh(session, issuer, user=user, family_id=stored.family_id, now=now)
    return IssuedTokens(
        access_token=_access_token(issuer, user=user, now=now),
        expires_in=int(issuer.access_lifetime.total_seconds()),
        refresh_token=new,
    )


def _revoke_family(session: Session, *, family_id: uuid.UUID, now: datetime) -> None:
    session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )


def logout(session: Session, *, refresh_token: str, now: datetime, request_id: str | None) -> None:
    """Revoke the refresh token's family. Unknown tokens are ignored (nothing to reveal)."""
    stored = session.exec(
        select(RefreshToken).where(RefreshToken.token_hash == digest(refresh_token))
    ).first()
    if stored is None:
        return
    _revoke_family(session, family_id=stored.family_id, now=now)
    user = session.get(User, stored.user_id)
    if user is not None:
        _audit_user(session, user, "auth.logout", now=now, request_id=request_id)


# --- the signed-in user --------------------------------------------------------------------


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


def count_recent_failures(session: Session, *, account_key: str, now: datetime) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(LoginAttempt)
            .where(
                LoginAttempt.account_key == account_key,
                col(LoginAttempt.attempted_at) > now - THROTTLE_WINDOW,
            )
        ).one()
    )
