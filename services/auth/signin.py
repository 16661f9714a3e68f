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
from typing import Any, NoReturn

import pyotp
from sqlalchemy import delete, func
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from core import metrics
from core.errors import AuthenticationFailed, InvalidInput, TooManyRequests
from core.passwords import verify_password
from core.tokens import constant_time_equals, create_access_token, digest, new_refresh_token
from db.driver import connection_of
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

# The limits and the delay schedule are argued in docs/adr/0052-sign-in-throttling-per-pair.md.
THROTTLE_WINDOW = timedelta(minutes=15)
# Failures of one account, from anywhere.
MAX_ACCOUNT_FAILURES = 5
# Failures of one account from one address. A school shares one address (its NAT), so the
# address limit counts per account; while the account limit is the lower it binds first.
MAX_PAIR_FAILURES = 10
# Failures from one address across every account: the ceiling against password spraying.
MAX_ADDRESS_FAILURES = 200
# Below the ceiling, an address's failed attempts answer late: not before this many
# failures, then DELAY_FIRST_SECONDS, doubling every DELAY_DOUBLING_FAILURES, capped.
DELAY_FREE_FAILURES = 20
DELAY_FIRST_SECONDS = 0.25
DELAY_DOUBLING_FAILURES = 10
DELAY_MAX_SECONDS = 4.0
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


class SignInFailed(AuthenticationFailed):
    """A refused sign-in. ``delay_seconds`` is how long the router holds the answer, on the
    event loop, after the database work is done (see :func:`failure_delay`)."""

    def __init__(self, detail: str, *, delay_seconds: float = 0.0, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.delay_seconds = delay_seconds


class MfaRequired(SignInFailed):
    slug, title = "mfa-required", "A one-time code is required"


class TotpRejected(InvalidInput):
    """A wrong code at enrolment: it counts towards the throttle, so the attempt row must
    survive the failed request."""

    keeps_writes = True


# --- throttling ----------------------------------------------------------------------------


def failure_delay(address_failures: int) -> float:
    """How long to hold the answer to a failed sign-in, given the failures from its address
    in the window, this one included: nothing for the first ``DELAY_FREE_FAILURES - 1``,
    then ``DELAY_FIRST_SECONDS`` doubling every ``DELAY_DOUBLING_FAILURES``, at most
    ``DELAY_MAX_SECONDS``. A pure function: the caller sleeps, never a worker thread."""
    if address_failures < DELAY_FREE_FAILURES:
        return 0.0
    doublings = (address_failures - DELAY_FREE_FAILURES) // DELAY_DOUBLING_FAILURES
    return min(DELAY_MAX_SECONDS, DELAY_FIRST_SECONDS * float(2 ** min(doublings, 32)))


def _refuse(oldest_counted: datetime, now: datetime, extra: dict[str, str] | None) -> NoReturn:
    # Open again when the oldest failure that reaches the limit leaves the window.
    reopens = oldest_counted + THROTTLE_WINDOW
    raise TooManyRequests(
        "Too many failed attempts; wait before trying again.",
        retry_after_seconds=int((reopens - now).total_seconds()) + 1,
        extra=extra,
    )


# The first key of the advisory locks that serialise one account's attempts (PostgreSQL;
# the two-key space, apart from the publisher's single-key lock); the second is a hash of
# the account key.
_THROTTLE_LOCK_CLASS = 1_818_000_002


def _serialise_attempts(session: Session, account_key: str) -> None:
    """Hold the account's attempt lock until this transaction ends, so that attempts at
    one account are counted one after another, whichever server process takes them (ADR
    0123): the next one's check sees this one's failure. SQLite needs none: every
    transaction holds the database's write lock from its start."""
    connection = connection_of(session)
    if connection.dialect.name != "postgresql":
        return
    connection.execute(
        sql_select(func.pg_advisory_xact_lock(_THROTTLE_LOCK_CLASS, func.hashtext(account_key)))
    )


def _check_throttle(
    session: Session,
    *,
    account_key: str,
    client_address: str,
    now: datetime,
    extra: dict[str, str] | None = None,
) -> int:
    """Refuse (429) an account over its limit, an (address, account) pair over its limit,
    or an address over its ceiling. Returns the address's failures in the window, which
    sets the delay of the next one. Two queries, as before the pair limit, after the
    account's attempt lock (``_serialise_attempts``) on PostgreSQL."""
    _serialise_attempts(session, account_key)
    since = now - THROTTLE_WINDOW
    by_account = session.exec(
        select(LoginAttempt.attempted_at)
        .where(LoginAttempt.account_key == account_key, col(LoginAttempt.attempted_at) > since)
        .order_by(col(LoginAttempt.attempted_at).desc())
        .limit(MAX_ACCOUNT_FAILURES)
    ).all()
    if len(by_account) >= MAX_ACCOUNT_FAILURES:
        _refuse(by_account[MAX_ACCOUNT_FAILURES - 1], now, extra)
    # Below the ceiling this is every failure from the address in the window, so the pair's
    # own failures are all among them.
    by_address = session.exec(
        select(LoginAttempt.attempted_at, LoginAttempt.account_key)
        .where(
            LoginAttempt.client_address == client_address,
            col(LoginAttempt.attempted_at) > since,
        )
        .order_by(col(LoginAttempt.attempted_at).desc())
        .limit(MAX_ADDRESS_FAILURES)
    ).all()
    if len(by_address) >= MAX_ADDRESS_FAILURES:
        _refuse(by_address[MAX_ADDRESS_FAILURES - 1][0], now, extra)
    by_pair = [attempted_at for attempted_at, key in by_address if key == account_key]
    if len(by_pair) >= MAX_PAIR_FAILURES:
        _refuse(by_pair[MAX_PAIR_FAILURES - 1], now, extra)
    return len(by_address)


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
    failures in 15 minutes for the account (5), for the account from this address (10) or
    from the address over all accounts (200): 429. A failure's 401 is a
    :class:`SignInFailed` whose ``delay_seconds`` grows with the address's failures. The
    401s carry the OAuth ``error`` ``invalid_grant``. Audits ``auth.login`` and
    ``auth.login_failed`` (for accounts that exist)."""
    account_key = email.strip().lower()
    address_failures = _check_throttle(
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
        raise SignInFailed(
            WRONG_CREDENTIALS,
            delay_seconds=failure_delay(address_failures + 1),
            extra=INVALID_GRANT,
        )
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
                "The one-time code is wrong, expired or already used.",
                delay_seconds=failure_delay(address_failures + 1),
                extra=INVALID_GRANT,
            )
    session.execute(delete(LoginAttempt).where(col(LoginAttempt.account_key) == account_key))
    session.add(user)
    # RFC 9470: a sign-in with a one-time code is the moment the second factor was proved.
    auth_time = now if user.mfa_enrolled else None
    audit_user(session, user, "auth.login", now=now, request_id=request_id)
    return _new_family(session, issuer, user=user, now=now, auth_time=auth_time)


def _new_family(
    session: Session,
    issuer: TokenIssuer,
    *,
    user: User,
    now: datetime,
    auth_time: datetime | None,
) -> IssuedTokens:
    """A new refresh-token family for ``user`` and its first pair."""
    refresh = new_refresh_token()
    add_refresh_token(
        session,
        issuer,
        token=refresh,
        user=user,
        family_id=uuid.uuid4(),
        now=now,
        auth_time=auth_time,
    )
    return user_tokens(issuer, user=user, refresh_token=refresh, now=now, auth_time=auth_time)


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
    A wrong id or secret: 401 with the OAuth ``error`` ``invalid_client``, throttled and
    delayed like a password grant's failures."""
    account_key = "client:" + client_id.strip()
    address_failures = _check_throttle(
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
        raise SignInFailed(
            WRONG_CLIENT, delay_seconds=failure_delay(address_failures + 1), extra=INVALID_CLIENT
        )
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
