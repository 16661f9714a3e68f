"""Step-up (RFC 9470): a signed-in person proves the second factor again, without their
password, for a token pair whose ``auth_time`` is now.

The most sensitive reads and writes (a chronology, an export, destroying a file) need a
sign-in with a one-time code in the last few minutes (``access.require_recent_second_factor``);
a refresh keeps the sign-in's ``auth_time``, so only a code renews it. Wrong codes count
towards the sign-in throttle of the account, as wrong sign-ins do.
"""

from __future__ import annotations

from sqlmodel import Session

from core.errors import Conflict
from services.auth.credentials import CredentialsRejected
from services.auth.issuing import IssuedTokens, TokenIssuer, audit_user
from services.auth.mfa import current_user
from services.auth.signin import _accept_totp, _check_throttle, _new_family, _record_failure
from services.context import RequestContext


def step_up(
    session: Session,
    issuer: TokenIssuer,
    context: RequestContext,
    *,
    totp: str,
    client_address: str,
) -> IssuedTokens:
    """A new token pair (a new refresh-token family) whose ``auth_time`` is now, for a
    person who gives a current, unused one-time code. People only (403 for a service
    account); 409 when not enrolled in MFA (nothing to prove). A wrong code: 422 naming
    ``totp``, counted towards the sign-in throttle (429 with ``Retry-After`` when over it)
    and audited ``auth.step_up`` ``denied``; success audits ``auth.step_up``."""
    now = context.now
    user = current_user(session, principal=context.principal)
    if not user.mfa_enrolled:
        raise Conflict(
            "Two-factor authentication is not set up: enrol first (/auth/mfa/setup, "
            "/auth/mfa/verify), then sign in with a code."
        )
    _check_throttle(session, account_key=user.email, client_address=client_address, now=now)
    if not _accept_totp(user, totp.strip(), now):
        _record_failure(session, account_key=user.email, client_address=client_address, now=now)
        audit_user(
            session, user, "auth.step_up", now=now, request_id=context.request_id, outcome="denied"
        )
        raise CredentialsRejected(
            "The one-time code is wrong, expired or already used.",
            loc=["totp"],
            error_type="totp_invalid",
        )
    session.add(user)
    audit_user(session, user, "auth.step_up", now=now, request_id=context.request_id)
    return _new_family(session, issuer, user=user, now=now, auth_time=now)
