"""Files sealed at rest: AES-256-GCM in authenticated chunks (an importer of
``cryptography`` beside ``core.signing``: ADR 0105).

The on-disk format (version 1), for a file of any size, written and read in one pass
without holding the file in memory:

    magic   4 bytes   b"CLF1"
    salt   32 bytes   random, fresh for every file
    chunks            each: ciphertext of up to 64 KiB of plaintext + its 16-byte GCM tag

Each file is sealed under its own key, HKDF-SHA256(master key, salt, "concernlog file
v1"), so nonces never repeat across files whatever their number: chunk ``i`` (from 0) has
the nonce ``i`` (11 bytes, big-endian) followed by one byte, 1 for the last chunk and 0
for every other (an empty file is one empty last chunk). Every chunk's associated data is
the header and the ``context`` the caller binds the file to (the attachment's id), so a
file copied over another's, truncated at a chunk boundary, extended, reordered or altered
anywhere fails to open (``BrokenSeal``), chunk by chunk, before its plaintext is used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"CLF1"
SALT_BYTES = 32
HEADER_BYTES = len(MAGIC) + SALT_BYTES
CHUNK_BYTES = 64 * 1024
TAG_BYTES = 16
_INFO = b"concernlog file v1"


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


class Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


class BrokenSeal(ValueError):
    """A sealed file that does not open: altered, truncated, of another file, or sealed
    with another key. The message never carries any of its content."""


def _file_cipher(key: bytes, salt: bytes) -> AESGCM:
    if len(key) != 32:
        raise ValueError("the files key must be 32 bytes")
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFO).derive(key)
    return AESGCM(derived)


def _nonce(index: int, *, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class SealingWriter:
    """Writes a sealed file to ``sink`` as plaintext is given to ``write``; ``close``
    seals the last chunk (it does not close ``sink``)."""

    def __init__(self, key: bytes, sink: Writable, *, context: bytes) -> None:
        salt = os.urandom(SALT_BYTES)
        self._cipher = _file_cipher(key, salt)
        header = MAGIC + salt
        self._associated = header + context
        self._sink = sink
        self._buffer = bytearray()
        self._index = 0
        self._closed = False
        sink.write(header)

    def write(self, data: bytes) -> None:
        self._buffer += data
        # Strictly more than a chunk held back: the last chunk is sealed by ``close``.
        while len(self._buffer) > CHUNK_BYTES:
            self._seal(bytes(self._buffer[:CHUNK_BYTES]), last=False)
            del self._buffer[:CHUNK_BYTES]

    def close(self) -> None:
        if not self._closed:
            self._seal(bytes(self._buffer), last=True)
            self._buffer.clear()
            self._closed = True

    def _seal(self, plaintext: bytes, *, last: bool) -> None:
        nonce = _nonce(self._index, last=last)
        self._sink.write(self._cipher.encrypt(nonce, plaintext, self._associated))
        self._index += 1


def opened(key: bytes, source: Readable, *, context: bytes) -> Iterator[bytes]:
    """The plaintext of the sealed file ``source``, chunk by chunk, each chunk verified
    before it is given; raises ``BrokenSeal`` at the first that does not verify (and at
    the end if the last chunk is missing or anything follows it)."""
    header = source.read(HEADER_BYTES)
    if len(header) != HEADER_BYTES or not header.startswith(MAGIC):
        raise BrokenSeal("not a sealed file of this format")
    cipher = _file_cipher(key, header[len(MAGIC) :])
    associated = header + context
    block = CHUNK_BYTES + TAG_BYTES
    index = 0
    current = source.read(block)
    while True:
        following = source.read(block) if len(current) == block else b""
        last = not following
        if len(current) < TAG_BYTES:
            raise BrokenSeal("the sealed file is truncated")
        try:
            yield cipher.decrypt(_nonce(index, last=last), current, associated)
        except InvalidTag:
            raise BrokenSeal("a chunk of the sealed file does not verify") from None
        if last:
            return
        index += 1
        current = following


def sealed_size(plaintext_size: int) -> int:
    """How many bytes a sealed file of ``plaintext_size`` bytes takes."""
    chunks = max(1, -(-plaintext_size // CHUNK_BYTES))
    return HEADER_BYTES + plaintext_size + chunks * TAG_BYTES
