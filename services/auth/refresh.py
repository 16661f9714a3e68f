"""Refresh-token rotation: spending a token for its successor, the grace window in which
the just-spent token answers again, reuse detection, and signing out.

A spent token's successor is derived, not drawn: HMAC-SHA256 under the successor key (from
the server secret, never in the database) of the spent token and its row id. So the
answer to a spend can be given again, within the grace window, without the successor ever
being stored in clear: the database holds SHA-256 digests only, as for every refresh
token (docs/adr/0047).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from core.errors import AuthenticationFailed
from core.tokens import digest
from models.user import RefreshToken, User
from services.auth.issuing import (
    IssuedTokens,
    TokenIssuer,
    add_refresh_token,
    audit_user,
    user_tokens,
)

REFRESH_REFUSED = "The refresh token is invalid, expired or revoked; sign in again."


def _refused() -> AuthenticationFailed:
    # RFC 6749 section 5.2: an invalid, expired or revoked refresh token is `invalid_grant`.
    return AuthenticationFailed(REFRESH_REFUSED, extra={"error": "invalid_grant"})


def successor_of(issuer: TokenIssuer, *, spent: RefreshToken, token: str) -> str:
    """The one successor the refresh token ``token`` (stored as ``spent``) can have. The
    row id (random, in the database only) keeps a stolen token and a leaked key from
    sufficing, without the database, to walk a family forward."""
    mac = hmac.new(issuer.successor_key, spent.id.bytes + token.encode("utf-8"), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")


def refresh(
    session: Session,
    issuer: TokenIssuer,
    *,
    refresh_token: str,
    now: datetime,
    request_id: str | None,
) -> IssuedTokens:
    """Spend a refresh token for a new pair in the same family.

    Presented again within the grace window while its successor is still unspent (two
    refreshes racing, or a response lost on the way), it answers with that same successor
    and a new access token. Otherwise a token spent before means it was copied: the whole
    family is revoked and ``auth.refresh_reuse`` audited (ids only). A successful refresh
    is not audited."""
    stored = session.exec(
        select(RefreshToken).where(RefreshToken.token_hash == digest(refresh_token))
    ).first()
    if stored is None or stored.revoked_at is not None or stored.expires_at <= now:
        raise _refused()
    user = session.get(User, stored.user_id)
    spent_at = stored.spent_at
    if spent_at is None:
        # Spend it atomically: of two concurrent refreshes with one token, one wins here.
        spent = session.execute(
            update(RefreshToken)
            .where(col(RefreshToken.id) == stored.id, col(RefreshToken.spent_at).is_(None))
            .values(spent_at=now)
        )
        if spent.rowcount == 1:  # type: ignore[attr-defined]
            if user is None or not user.active or user.token_version != stored.token_version:
                raise _refused()
            successor = successor_of(issuer, spent=stored, token=refresh_token)
            add_refresh_token(
                session,
                issuer,
                token=successor,
                user=user,
                family_id=stored.family_id,
                now=now,
                auth_time=stored.auth_time,
            )
            return user_tokens(
                issuer, user=user, refresh_token=successor, now=now, auth_time=stored.auth_time
            )
        # Lost the race: the winner's update held the row until it committed, so its
        # spend (and the successor it stored) can be read now.
        spent_at = session.exec(
            select(RefreshToken.spent_at).where(RefreshToken.id == stored.id)
        ).one()
    again = _answer_again(
        session, issuer, stored=stored, token=refresh_token, spent_at=spent_at, user=user, now=now
    )
    if again is not None:
        return again
    revoke_family(session, family_id=stored.family_id, now=now)
    if user is not None:
        audit_user(
            session, user, "auth.refresh_reuse", now=now, request_id=request_id, outcome="denied"
        )
    raise _refused()


def _answer_again(
    session: Session,
    issuer: TokenIssuer,
    *,
    stored: RefreshToken,
    token: str,
    spent_at: datetime | None,
    user: User | None,
    now: datetime,
) -> IssuedTokens | None:
    """The answer the spend of ``stored`` gave, if it is asked again within the grace
    window and its successor is still the family's live token; None otherwise (reuse).
    ``now`` may be before ``spent_at``: the loser of a race may have started first."""
    if spent_at is None or now - spent_at >= issuer.refresh_grace:
        return None
    if user is None or not user.active or user.token_version != stored.token_version:
        return None
    successor_token = successor_of(issuer, spent=stored, token=token)
    successor = session.exec(
        select(RefreshToken).where(RefreshToken.token_hash == digest(successor_token))
    ).first()
    if (
        successor is None  # spent before the server secret changed
        or successor.family_id != stored.family_id
        or successor.spent_at is not None  # not the just-spent token: an older one
        or successor.revoked_at is not None
        or successor.expires_at <= now
    ):
        return None
    return user_tokens(
        issuer, user=user, refresh_token=successor_token, now=now, auth_time=stored.auth_time
    )


def revoke_family(session: Session, *, family_id: uuid.UUID, now: datetime) -> None:
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
    revoke_family(session, family_id=stored.family_id, now=now)
    user = session.get(User, stored.user_id)
    if user is not None:
        audit_user(session, user, "auth.logout", now=now, request_id=request_id)
