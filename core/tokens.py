"""Tokens and secrets: access tokens (the only importer of python-jose), refresh tokens,
service-account secrets.

Access tokens are short JWTs signed with one configured key; decoding trusts nothing in
the token's header except a ``kid`` that must be on the configured allowlist, and passes
exactly one key and one algorithm to python-jose.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jose import jwt
from jose.exceptions import JOSEError

from core.settings import Settings

MAX_TOKEN_BYTES = 8 * 1024
ACCESS_TYPE = "access"
REQUIRED_CLAIMS = ("exp", "iat", "aud", "iss", "sub", "jti")
# Verified tokens remembered per process (~1 KiB each): more than the staff of the schools
# one server serves are signed in at once.
VERIFIED_TOKENS_KEPT = 4096


class InvalidToken(Exception):
    """The token cannot be trusted. The reason is for logs and tests, never the client."""


@dataclass(frozen=True)
class VerificationKey:
    algorithm: str
    key: str


@dataclass(frozen=True)
class AccessClaims:
    subject: uuid.UUID
    role: str
    school_id: uuid.UUID
    token_version: int
    subject_type: str  # "user" or "service"
    mfa_enrollment_only: bool
    jti: str
    expires_at: datetime
    # When the person last proved a second factor (RFC 9470 ``auth_time``, whole seconds):
    # the sign-in with a one-time code this token descends from; None without one.
    auth_time: datetime | None = None


class KeyRing:
    """The signing key and the allowlist of verification keys, by ``kid``."""

    def __init__(self, settings: Settings) -> None:
        self.algorithm = settings.jwt_algorithm
        self.kid = settings.jwt_key_id
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        if self.algorithm == "HS256":
            self.signing_key = settings.secret_key
            current = VerificationKey("HS256", settings.secret_key)
        else:
            if settings.jwt_private_key_file is None:
                raise ValueError("an asymmetric algorithm needs CONCERNLOG_JWT_PRIVATE_KEY_FILE")
            self.signing_key = settings.jwt_private_key_file.read_text(encoding="utf-8")
            current = VerificationKey(self.algorithm, _public_pem(self.signing_key, self.algorithm))
        self.verification: dict[str, VerificationKey] = {self.kid: current}
        for kid, value in settings.jwt_verification_keys.items():
            if kid == self.kid:
                continue
            if self.algorithm == "HS256":
                self.verification[kid] = VerificationKey("HS256", value)
            else:
                self.verification[kid] = VerificationKey(
                    self.algorithm, Path(value).read_text(encoding="utf-8")
                )
        self.verified = VerifiedTokens()


def _public_pem(private_pem: str, algorithm: str) -> str:
    from jose import jwk

    key = jwk.construct(private_pem, algorithm)
    public: Any = key.public_key().to_pem()
    return public.decode("ascii") if isinstance(public, bytes) else str(public)


def create_access_token(
    keys: KeyRing,
    *,
    subject: uuid.UUID,
    role: str,
    school_id: uuid.UUID,
    token_version: int,
    subject_type: str,
    now: datetime,
    lifetime: timedelta,
    mfa_enrollment_only: bool = False,
    auth_time: datetime | None = None,
) -> str:
    issued = int(now.timestamp())
    claims: dict[str, Any] = {
        "sub": str(subject),
        "role": role,
        "school_id": str(school_id),
        "iss": keys.issuer,
        "aud": keys.audience,
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(lifetime.total_seconds()),
        "jti": uuid.uuid4().hex,
        "typ": ACCESS_TYPE,
        "ver": token_version,
        "stp": subject_type,
    }
    if mfa_enrollment_only:
        claims["scope"] = "mfa-enrollment"
    if auth_time is not None:
        claims["auth_time"] = int(auth_time.timestamp())
    return jwt.encode(claims, keys.signing_key, algorithm=keys.algorithm, headers={"kid": keys.kid})


def decode_access_token(keys: KeyRing, token: str, *, now: datetime) -> AccessClaims:
    """Verify a bearer token; raise :class:`InvalidToken` on anything doubtful.

    python-jose checks the signature (one key, one algorithm), issuer, audience and the
    presence of every required claim. The times (``exp``, ``nbf``) are checked here
    against the application's clock, on every call, so that the service has one notion of
    "now". What does not depend on the time is remembered per exact token string (see
    ``KeyRing.verified``): a client sends the same token with every request until it
    expires, and its signature need not be checked again each time."""
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken("token too large")
    verified = keys.verified.get(token)
    if verified is None:
        verified = _verify(keys, token)
        keys.verified.put(token, verified)
    moment = now.timestamp()
    if verified.expires <= moment:
        raise InvalidToken("expired")
    if verified.not_before > moment:
        raise InvalidToken("not yet valid")
    return verified.claims


@dataclass(frozen=True)
class VerifiedToken:
    """What a token's signature vouches for, and the times between which it is valid."""

    claims: AccessClaims
    expires: float
    not_before: float


class VerifiedTokens:
    """Tokens whose signature, issuer, audience and claims have been checked, by their
    exact text: a bounded memo (oldest dropped first) with no way in for a token that was
    not verified, since a forged or altered token is another string. Per ``KeyRing``, so
    it lives exactly as long as the keys it was verified with. Thread-safe."""

    def __init__(self, capacity: int = VERIFIED_TOKENS_KEPT) -> None:
        self.capacity = capacity
        self._tokens: dict[str, VerifiedToken] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> VerifiedToken | None:
        return self._tokens.get(token)

    def put(self, token: str, verified: VerifiedToken) -> None:
        with self._lock:
            if len(self._tokens) >= self.capacity:
                del self._tokens[next(iter(self._tokens))]
            self._tokens[token] = verified

    def __len__(self) -> int:
        return len(self._tokens)


def _verify(keys: KeyRing, token: str) -> VerifiedToken:
    try:
        header = jwt.get_unverified_header(token)
    except JOSEError as exc:
        raise InvalidToken("malformed header") from exc
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in keys.verification:
        raise InvalidToken("unknown kid")
    key = keys.verification[kid]
    if header.get("alg") != key.algorithm:
        raise InvalidToken("algorithm not allowed for this key")
    try:
        claims = jwt.decode(  # exactly one key and one algorithm: algorithms=[key.algorithm]
            token,
            key.key,
            algorithms=[key.algorithm],
            audience=keys.audience,
            issuer=keys.issuer,
            options={
                "require_exp": True,
                "require_iat": True,
                "require_aud": True,
                "require_iss": True,
                "require_sub": True,
                "require_jti": True,
                "require_nbf": False,
                "verify_exp": False,  # checked by the caller against the injected clock
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except JOSEError as exc:
        raise InvalidToken(type(exc).__name__) from exc
    if claims.get("typ") != ACCESS_TYPE:
        raise InvalidToken("not an access token")
    try:
        expires, issued = float(claims["exp"]), float(claims["iat"])
        not_before = float(claims.get("nbf", issued))
    except (TypeError, ValueError) as exc:
        raise InvalidToken("time claims malformed") from exc
    try:
        auth_time = claims.get("auth_time")
        access = AccessClaims(
            subject=uuid.UUID(str(claims["sub"])),
            role=str(claims["role"]),
            school_id=uuid.UUID(str(claims["school_id"])),
            token_version=int(claims["ver"]),
            subject_type=str(claims.get("stp", "user")),
            mfa_enrollment_only=claims.get("scope") == "mfa-enrollment",
            jti=str(claims["jti"]),
            expires_at=datetime.fromtimestamp(int(claims["exp"])).astimezone(),
            auth_time=None if auth_time is None else datetime.fromtimestamp(int(auth_time), tz=UTC),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidToken("claims malformed") from exc
    return VerifiedToken(claims=access, expires=expires, not_before=not_before)


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)


def new_client_id() -> str:
    return "cl_" + secrets.token_hex(12)


def digest(secret: str) -> str:
    """SHA-256 of a high-entropy random secret (refresh tokens): enough to store it safely,
    fast enough to look up by."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
