"""Signed transfer bundles: compact JWS (RFC 7515) with ES256 keys, their public halves as
a JWKS (RFC 7517), key ids as RFC 7638 thumbprints. Besides ``core.tokens`` the only
importer of python-jose, and besides ``core.signing`` the only importer of
``cryptography`` (to make and read P-256 keys): docs/adr/0085.

Verifying trusts nothing in a bundle's header but a ``kid`` that is on the caller's list
of trusted keys, and passes exactly that one key and one algorithm to python-jose, as
``core.tokens`` does for access tokens. Errors carry a reason for the operator and the
client (never the payload, which is a child's file).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jws
from jose.exceptions import JOSEError

ALGORITHM = "ES256"
# The JWS header's ``typ`` and ``cty`` (docs/transfer-bundle.md).
BUNDLE_TYPE = "JOSE"
BUNDLE_CONTENT_TYPE = "concernlog-transfer+json"
# A compact JWS of a large file is long; anything longer is not one of ours.
MAX_BUNDLE_BYTES = 64 * 1024 * 1024


class BundleKeyError(ValueError):
    """A key or key set cannot be used; the message is one line, never the key."""


class BundleRefused(ValueError):
    """A bundle that cannot be trusted: ``reason`` is a slug (``malformed``,
    ``unknown-key``, ``bad-signature``), the message one line for people."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _coordinate(value: int) -> str:
    return _b64url(value.to_bytes(32, "big"))


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 thumbprint (SHA-256, base64url) of an EC public key: its ``kid``."""
    members = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def _public_jwk(public: ec.EllipticCurvePublicKey) -> dict[str, str]:
    numbers = public.public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": _coordinate(numbers.x), "y": _coordinate(numbers.y)}
    return {**jwk, "kid": thumbprint(jwk), "use": "sig", "alg": ALGORITHM}


@dataclass(frozen=True)
class SigningKey:
    """A P-256 private key (PEM) and its public JWK (with its ``kid``)."""

    private_pem: str = field(repr=False)
    public: dict[str, str]

    @property
    def kid(self) -> str:
        return self.public["kid"]

    @classmethod
    def from_pem(cls, pem: str) -> SigningKey:
        try:
            key = serialization.load_pem_private_key(pem.encode("utf-8"), password=None)
        except (ValueError, TypeError):
            raise BundleKeyError("not a PEM private key without a passphrase") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise BundleKeyError("not an EC P-256 private key (ES256)")
        return cls(private_pem=pem, public=_public_jwk(key.public_key()))


def new_private_pem() -> str:
    """A new P-256 private key, PEM (PKCS #8)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def load_or_create(path: Path) -> SigningKey:
    """The key kept at ``path``, made there (mode 0600) the first time: a development
    service keeps its key across restarts, so bundles it signed still verify."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under another name, then linked into place: processes starting
        # together (``serve --workers N``) all read the one key that got there first,
        # never a file another is still writing.
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(new_private_pem())
        try:
            os.link(draft, path)
        except FileExistsError:  # another process made it first: use theirs
            pass
        finally:
            draft.unlink()
    try:
        return SigningKey.from_pem(path.read_text(encoding="ascii"))
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleKeyError(f"cannot read {path}: {type(exc).__name__}") from None


def public_key(jwk: Mapping[str, Any]) -> dict[str, str]:
    """One trusted key from a JWKS entry, checked (EC P-256, the coordinates decode to a
    point on the curve), with its ``kid`` (the thumbprint when it has none)."""
    try:
        if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
            raise BundleKeyError("a transfer key is an EC P-256 key (ES256)")
        x, y = (int.from_bytes(_unb64url(str(jwk[name])), "big") for name in ("x", "y"))
        checked = _public_jwk(ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key())
    except (KeyError, ValueError, TypeError) as exc:
        if isinstance(exc, BundleKeyError):
            raise
        raise BundleKeyError("a key of the set is not a valid EC P-256 public key") from None
    kid = jwk.get("kid")
    if kid is not None:
        if not isinstance(kid, str) or not kid or len(kid) > 200:
            raise BundleKeyError("a key's kid must be a short string")
        checked["kid"] = kid
    return checked


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_jwks(text: str) -> list[dict[str, str]]:
    """The keys of a JWKS document (``{"keys": [...]}``), each checked (``public_key``)."""
    try:
        document = json.loads(text)
    except ValueError:
        raise BundleKeyError("not a JSON document") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise BundleKeyError('a JWKS is a JSON object with a "keys" list')
    return [public_key(entry) for entry in document["keys"] if isinstance(entry, dict)]


def jwks_document(keys: Iterable[Mapping[str, str]]) -> dict[str, Any]:
    return {"keys": [dict(key) for key in keys]}


def sign(payload: bytes, key: SigningKey) -> str:
    """``payload`` as a compact JWS signed with ``key`` (ES256, its ``kid`` in the header)."""
    headers = {"kid": key.kid, "typ": BUNDLE_TYPE, "cty": BUNDLE_CONTENT_TYPE}
    signed: str = jws.sign(payload, key.private_pem, headers=headers, algorithm=ALGORITHM)
    return signed


def unverified_header(token: str) -> dict[str, Any]:
    try:
        header: dict[str, Any] = jws.get_unverified_header(token)
    except (JOSEError, ValueError, TypeError):
        raise BundleRefused("malformed", "The bundle is not a compact JWS.") from None
    return header


def verify(token: str, trusted: Mapping[str, Mapping[str, str]]) -> bytes:
    """The payload of ``token`` once its signature holds under the trusted key its header
    names (``trusted``: public JWKs by ``kid``); ``BundleRefused`` otherwise."""
    if len(token) > MAX_BUNDLE_BYTES or token.count(".") != 2:
        raise BundleRefused("malformed", "The bundle is not a compact JWS.")
    header = unverified_header(token)
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in trusted:
        raise BundleRefused(
            "unknown-key", "The bundle is signed with a key this service does not trust."
        )
    if header.get("alg") != ALGORITHM:
        raise BundleRefused("malformed", f"The bundle must be signed with {ALGORITHM}.")
    try:
        payload: bytes = jws.verify(token, dict(trusted[kid]), algorithms=[ALGORITHM])
    except (JOSEError, ValueError, TypeError):
        raise BundleRefused(
            "bad-signature", "The bundle's signature does not hold: it was altered or damaged."
        ) from None
    return payload


# Where a development service keeps the key it made (relative to where it runs, as the
# development database is).
DEVELOPMENT_KEY_FILE = Path("data") / "transfer-signing-key.pem"


def _read_jwks_file(path: Path, what: str) -> list[dict[str, str]]:
    try:
        return parse_jwks(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BundleKeyError(f"{what}: cannot read {path}: {exc.strerror}") from None
    except BundleKeyError as exc:
        raise BundleKeyError(f"{what} ({path}): {exc}") from None


@dataclass(frozen=True)
class TransferKeys:
    """The service's signing key, the public keys it publishes (the current one and
    retired ones, for rotation) and the keys whose bundles it trusts (its own published
    ones and the operator's trust list)."""

    signing: SigningKey
    published: tuple[dict[str, str], ...]
    trusted: Mapping[str, Mapping[str, str]]

    @classmethod
    def build(
        cls,
        signing: SigningKey,
        *,
        retired: Iterable[Mapping[str, str]] = (),
        trusted: Iterable[Mapping[str, str]] = (),
    ) -> TransferKeys:
        published = [signing.public, *(dict(k) for k in retired if k["kid"] != signing.kid)]
        trust: dict[str, Mapping[str, str]] = {key["kid"]: key for key in trusted}
        trust.update({key["kid"]: key for key in published})
        return cls(signing=signing, published=tuple(published), trusted=trust)

    @classmethod
    def from_settings(cls, settings: Any) -> TransferKeys:
        """From ``CONCERNLOG_TRANSFER_*`` (``core.settings``): the signing key from the
        PEM or its file; in development, the key under ``./data/`` (made the first time);
        in tests, a new key per application. ``BundleKeyError`` (one line) otherwise."""
        if settings.transfer_signing_key is not None:
            signing = SigningKey.from_pem(settings.transfer_signing_key.get_secret_value())
        elif settings.transfer_signing_key_file is not None:
            path = Path(settings.transfer_signing_key_file)
            try:
                signing = SigningKey.from_pem(path.read_text(encoding="ascii"))
            except (OSError, UnicodeDecodeError) as exc:
                raise BundleKeyError(
                    f"CONCERNLOG_TRANSFER_SIGNING_KEY_FILE: cannot read {path}: "
                    f"{type(exc).__name__}"
                ) from None
        elif settings.env == "development":
            signing = load_or_create(DEVELOPMENT_KEY_FILE)
        elif settings.env == "test":
            signing = SigningKey.from_pem(new_private_pem())
        else:
            raise BundleKeyError("CONCERNLOG_TRANSFER_SIGNING_KEY is needed in production")
        retired = (
            _read_jwks_file(settings.transfer_retired_keys_file, "retired transfer keys")
            if settings.transfer_retired_keys_file is not None
            else []
        )
        trusted = (
            _read_jwks_file(settings.transfer_trusted_keys_file, "trusted transfer keys")
            if settings.transfer_trusted_keys_file is not None
            else []
        )
        return cls.build(signing, retired=retired, trusted=trusted)

    def jwks(self) -> dict[str, Any]:
        """The published keys as a JWKS document (``/.well-known/jwks.json``)."""
        return jwks_document(self.published)
