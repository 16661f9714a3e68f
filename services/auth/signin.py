"""Signing in: passwords, TOTP, client credentials, throttling.

Every failure answers the same way whether or not the account exists, costs about the
same time (a dummy hash is verified), and is remembered in the database so throttling
holds across worker processes. The token endpoint's failures carry the OAuth 2.0 ``error``
code (RFC 6749 section 5.2) beside the problem's own members.
"""

from __future__ import annotations

import hmac
import uuid
from datetime import datetime, timedelta

import pyotp
from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from core import metrics
from core.errors import AuthenticationFailed, InvalidInput, TooManyRequests
from core.passwords import verify_password
from core.tokens import constant_time_equals, create_access_token, digest, new_refresh_token
from models.user import LoginAttempt, ServiceAccount, User
from services import audit
from services.audit import Actor
from services.auth.issuing import (
    IssuedTokens,
    TokenIssuer,
    add_refresh_token,
    audit_user,
    user_tokens,
)

THROTTLE_WINDOW = timedelta(minutes=15)
MAX_ACCOUNT_FAILURES = 5
MAX_ADDRESS_FAILURES = 20
TOTP_STEP_SECONDS = 30
TOTP_ISSUER = "concernlog"

WRONG_CREDENTIALS = "The email address or password is wrong."
WRONG_CLIENT = "The client id or secret is wrong."

# RFC 6749 section 5.2 codes of the token endpoint's answers.
INVALID_GRANT = {"error": "invalid_grant"}
INVALID_CLIENT = {"error": "invalid_client"}
# Not a section 5.2 code: RFC 6749's own "try again later" (section 4.1.2.1), beside
# Retry-After, so that a client switching on `error` finds one on every token answer.
THROTTLED = {"error": "temporarily_unavailable"}


class MfaRequired(AuthenticationFailed):
    slug, title = "mfa-required", "A one-time code is required"


class TotpRejected(InvalidInput):
    """A wrong code at enrolment: it counts towards the throttle, so the attempt row must
    survive the failed request."""

    keeps_writes = True


# --- throttling ----------------------------------------------------------------------------


def _check_throttle(
    session: Session,
    *,
    account_key: str,
    client_address: str,
    now: datetime,
    extra: dict[str, str] | None = None,
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
                extra=extra,
            )


def _record_failure(
    session: Session, *, account_key: str, client_address: str, now: datetime
) -> None:
    session.add(
        LoginAttempt(account_key=account_key, client_address=client_address, attempted_at=now)
    )
    session.flush()
    metrics.FAILED_LOGINS.inc()


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
        audit_user(
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
    failures for the account (5) or the address (20) in 15 minutes: 429. The 401s carry
    the OAuth ``error`` ``invalid_grant``. Audits ``auth.login`` and ``auth.login_failed``
    (for accounts that exist)."""
    account_key = email.strip().lower()
    _check_throttle(
        session, account_key=account_key, client_address=client_address, now=now, extra=THROTTLED
    )
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
        raise AuthenticationFailed(WRONG_CREDENTIALS, extra=INVALID_GRANT)
    if new_hash is not None:
        user.password_hash = new_hash  # parameters changed: upgrade the stored hash
    if user.mfa_enrolled:
        if not totp:
            raise MfaRequired(
                "Enter the 6-digit code from your authenticator app as `totp`.",
                extra=INVALID_GRANT,
            )
        if not _accept_totp(user, totp.strip(), now):
            _fail_login(
                session,
                user=user,
                account_key=account_key,
                client_address=client_address,
                now=now,
                request_id=request_id,
            )
            raise MfaRequired(
                "The one-time code is wrong, expired or already used.", extra=INVALID_GRANT
            )
    session.execute(delete(LoginAttempt).where(col(LoginAttempt.account_key) == account_key))
    session.add(user)
    refresh = new_refresh_token()
    add_refresh_token(session, issuer, token=refresh, user=user, family_id=uuid.uuid4(), now=now)
    audit_user(session, user, "auth.login", now=now, request_id=request_id)
    return user_tokens(issuer, user=user, refresh_token=refresh, now=now)


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
    """Sign a service account (the school's MIS) in. No refresh token: it holds its secret.
    A wrong id or secret: 401 with the OAuth ``error`` ``invalid_client``."""
    account_key = "client:" + client_id.strip()
    _check_throttle(
        session, account_key=account_key, client_address=client_address, now=now, extra=THROTTLED
    )
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
        raise AuthenticationFailed(WRONG_CLIENT, extra=INVALID_CLIENT)
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
