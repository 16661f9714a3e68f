"""Ed25519 signatures with keys kept outside the database (the only importer of
``cryptography``): the audit chain's checkpoints are signed with them, so that whoever can
write the database cannot also forge what vouches for it. And sealing (AES-256-GCM) with a
key derived from the server's secret, for what the database keeps but must not show to
whoever reads it: the stored answers of idempotent creates (a client secret shown once)."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class SigningKeyError(ValueError):
    """A key file is missing, unreadable or not an Ed25519 key; the message is one line."""


def _private_key(pem: bytes) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError("not a PEM private key without a passphrase") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError("not an Ed25519 private key")
    return key


def _public_key(pem: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError("not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError("not an Ed25519 public key")
    return key


def read_key_file(path: Path) -> bytes:
    """A key file's bytes; ``SigningKeyError`` (one line) when it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"cannot read key file {path}: {exc.strerror}") from None


def write_new_private_key(path: Path) -> bytes:
    """Create a new Ed25519 private key at ``path`` (PEM, mode 0600, never over an existing
    file) and return its public key (PEM)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        # Created with its final mode: the key is never readable by others, not even briefly.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise SigningKeyError(f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    return public_key_of(pem)


def public_key_of(private_pem: bytes) -> bytes:
    """The public key (PEM) of a private key (PEM)."""
    return (
        _private_key(private_pem)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def fingerprint(public_pem: bytes) -> str:
    """``SHA256:`` and the hex SHA-256 of the raw 32-byte public key: names a key in a
    signed document without carrying the key itself."""
    raw = _public_key(public_pem).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return "SHA256:" + hashlib.sha256(raw).hexdigest()


def sign(private_pem: bytes, message: bytes) -> str:
    """The Ed25519 signature of ``message``, base64."""
    return base64.b64encode(_private_key(private_pem).sign(message)).decode("ascii")


def signature_holds(public_pem: bytes, message: bytes, signature: str) -> bool:
    """Whether ``signature`` (base64) is the key's signature of ``message``."""
    try:
        raw = base64.b64decode(signature.encode("ascii"), validate=True)
        _public_key(public_pem).verify(raw, message)
    except (InvalidSignature, ValueError):
        return False
    return True


_NONCE_BYTES = 12


def seal(key: bytes, plaintext: bytes, *, context: bytes = b"") -> str:
    """``plaintext`` encrypted and authenticated with AES-256-GCM under ``key`` (32 bytes),
    bound to ``context`` (authenticated, not encrypted): base64 of a random nonce and the
    ciphertext."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext, context)
    return base64.b64encode(nonce + sealed).decode("ascii")


def unseal(key: bytes, sealed: str, *, context: bytes = b"") -> bytes | None:
    """What ``seal`` sealed with the same key and context; None when it was sealed with
    another key (the server's secret changed), for another context, or was altered."""
    try:
        raw = base64.b64decode(sealed.encode("ascii"), validate=True)
        return AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context)
    except (InvalidTag, ValueError):
        return None
