"""What signing in hands out: the token issuer's configuration, access tokens, refresh-token
rows, and the audit of a user acting on their own account."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col

from core.tokens import KeyRing, create_access_token, digest
from models.user import PRIVILEGED_ROLES, RefreshToken, Role, User
from services import audit
from services.audit import Actor

# Domain separation: the key that derives refresh-token successors is not the JWT key
# itself, so neither use can stand in for the other.
_SUCCESSOR_KEY_LABEL = b"concernlog/refresh-token-successor/v1"


def successor_key(secret: str) -> bytes:
    """The key that derives a spent refresh token's successor, from the server secret
    (``CONCERNLOG_SECRET_KEY``), which is never in the database."""
    return hmac.new(secret.encode("utf-8"), _SUCCESSOR_KEY_LABEL, hashlib.sha256).digest()


@dataclass(frozen=True)
class TokenIssuer:
    keys: KeyRing
    access_lifetime: timedelta
    refresh_lifetime: timedelta
    # How long the just-spent refresh token still answers with its successor (docs/adr/0047).
    refresh_grace: timedelta
    successor_key: bytes


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    expires_in: int
    refresh_token: str | None


def user_actor(user: User) -> Actor:
    return Actor(type="user", id=user.id, role=user.role, school_id=user.school_id)


def audit_user(
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
        actor=user_actor(user),
        action=action,
        now=now,
        entity_type="user",
        entity_id=user.id,
        request_id=request_id,
        outcome=outcome,
    )


def user_tokens(
    issuer: TokenIssuer,
    *,
    user: User,
    refresh_token: str,
    now: datetime,
    auth_time: datetime | None,
) -> IssuedTokens:
    """A fresh access token for ``user`` beside ``refresh_token``, carrying ``auth_time``
    (when the person last signed in with a one-time code; RFC 9470)."""
    access = create_access_token(
        issuer.keys,
        subject=user.id,
        role=user.role,
        school_id=user.school_id,
        token_version=user.token_version,
        subject_type="user",
        now=now,
        lifetime=issuer.access_lifetime,
        mfa_enrollment_only=Role(user.role) in PRIVILEGED_ROLES and not user.mfa_enrolled,
        auth_time=auth_time,
    )
    return IssuedTokens(
        access_token=access,
        expires_in=int(issuer.access_lifetime.total_seconds()),
        refresh_token=refresh_token,
    )


def add_refresh_token(
    session: Session,
    issuer: TokenIssuer,
    *,
    token: str,
    user: User,
    family_id: uuid.UUID,
    now: datetime,
    auth_time: datetime | None,
) -> None:
    """Store ``token`` (its SHA-256 digest only) as a live member of ``family_id``, whose
    access tokens carry ``auth_time``."""
    session.add(
        RefreshToken(
            family_id=family_id,
            user_id=user.id,
            token_hash=digest(token),
            token_version=user.token_version,
            issued_at=now,
            expires_at=now + issuer.refresh_lifetime,
            auth_time=auth_time,
        )
    )


def revoke_all_refresh_tokens(session: Session, *, user_id: uuid.UUID, now: datetime) -> None:
    """Revoke every live refresh token of a user (on role, password, MFA or active changes)."""
    session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.user_id) == user_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )
