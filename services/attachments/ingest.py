"""What an upload becomes before it is stored: recognised by its content, checked, and,
for an image, without its metadata (ADR 0105).

- The kind is the content's (``filetype``, from the first bytes), never the name's or the
  declared type's: PDF, PNG or JPEG, anything else ``UnsupportedMediaType`` (415).
- An image must decode (Pillow), within Pillow's decompression-bomb limit (a larger one
  is ``PayloadTooLarge``, 413): a JPEG at an eighth of its size (the whole entropy-coded
  stream is still read), a PNG in full.
- Its metadata is then removed from the container, without re-encoding the pixels (a
  photograph kept as evidence is never recompressed): a PNG keeps only the chunks that
  say how to draw it (``_PNG_KEPT``), a JPEG loses every APPn segment but JFIF, its ICC
  profile and Adobe's colour marker, and every comment. A JPEG's EXIF orientation, if it
  had one, is written back alone (so the photo still shows upright); GPS position, camera,
  times and thumbnails are gone. A PNG or JPEG that had no metadata comes out byte for
  byte as it went in.
- The bytes that remain are what is hashed (SHA-256), sealed and served.

Everything is read and written in pieces: the upload is never held in memory whole.
"""

from __future__ import annotations

import hashlib
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from core.errors import PayloadTooLarge, UnsupportedMediaType
from models.attachment import MEDIA_TYPES

MAX_BYTES = 20 * 1024 * 1024
_PIECE = 64 * 1024
_SNIFF_BYTES = 262

Write = Callable[[bytes], None]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_KEPT = frozenset(
    {
        b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP",
        b"sBIT", b"bKGD", b"hIST", b"pHYs", b"acTL", b"fcTL", b"fdAT",
    }
)  # fmt: skip
_ORIENTATION = 0x0112


@dataclass(frozen=True)
class Ingested:
    media_type: str
    size: int
    sha256: str


def refused_kind() -> UnsupportedMediaType:
    return UnsupportedMediaType(
        "Only PDF, PNG and JPEG files may be attached, recognised by their content (not "
        "their name or declared type).",
        slug="unsupported-media-type",
    )


def too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"An attachment may be at most {MAX_BYTES} bytes (20 MiB).", slug="payload-too-large"
    )


def media_type_of(upload: BinaryIO) -> str:
    """The upload's media type by its content (415 unless PDF, PNG or JPEG)."""
    import filetype  # loaded with the first upload, not by every server at start-up

    upload.seek(0)
    head = upload.read(_SNIFF_BYTES)
    upload.seek(0)
    kind = filetype.guess(head) if head else None
    if kind is None or kind.mime not in MEDIA_TYPES:
        raise refused_kind()
    return str(kind.mime)


def ingest(upload: BinaryIO, media_type: str, write: Write) -> Ingested:
    """Give ``write`` the bytes to store for ``upload`` (of ``media_type``, from
    ``media_type_of``), piece by piece, and say what they were."""
    digest = hashlib.sha256()
    size = 0

    def out(data: bytes) -> None:
        nonlocal size
        if data:
            size += len(data)
            if size > MAX_BYTES:
                raise too_large()
            digest.update(data)
            write(data)

    if media_type == "application/pdf":
        upload.seek(0)
        _copy_rest(upload, out)
    else:
        orientation = _check_image(upload, "PNG" if media_type == "image/png" else "JPEG")
        upload.seek(0)
        if media_type == "image/png":
            _strip_png(upload, out)
        else:
            _strip_jpeg(upload, out, orientation=orientation)
    return Ingested(media_type=media_type, size=size, sha256=digest.hexdigest())


def _copy_rest(source: BinaryIO, out: Write) -> None:
    while piece := source.read(_PIECE):
        out(piece)


def _check_image(upload: BinaryIO, kind: str) -> int | None:
    """Decode the image (415 if it does not, 413 past the decompression-bomb limit); its
    EXIF orientation (2 to 8) if it has one that turns it."""
    from PIL import Image  # loaded with the first image (Pillow: ~2 MiB)

    upload.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(upload, formats=[kind]) as image:
                if kind == "JPEG":
                    image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
                image.load()
                orientation = image.getexif().get(_ORIENTATION) if kind == "JPEG" else None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PayloadTooLarge(
            "The image has too many pixels to be checked safely.", slug="payload-too-large"
        ) from None
    except (OSError, SyntaxError, ValueError, struct.error, EOFError):
        raise UnsupportedMediaType(
            f"The file looks like a {kind} image but cannot be read as one.",
            slug="unsupported-media-type",
        ) from None
    return orientation if isinstance(orientation, int) and 2 <= orientation <= 8 else None


def _exact(source: BinaryIO, size: int) -> bytes:
    data = source.read(size)
    if len(data) != size:
        raise UnsupportedMediaType("The image is truncated.", slug="unsupported-media-type")
    return data


def _strip_png(source: BinaryIO, out: Write) -> None:
    out(_exact(source, len(_PNG_SIGNATURE)))
    while True:
        header = _exact(source, 8)
        (length,) = struct.unpack(">I", header[:4])
        chunk_type = header[4:]
        keep = chunk_type in _PNG_KEPT
        if keep:
            out(header)
        remaining = length + 4  # the data and its CRC
        while remaining:
            piece = _exact(source, min(_PIECE, remaining))
            remaining -= len(piece)
            if keep:
                out(piece)
        if chunk_type == b"IEND":
            return  # anything after the end is not the image's


def _jpeg_app_kept(marker: int, data: bytes) -> bool:
    if marker == 0xE0:
        return data.startswith(b"JFIF\x00")
    if marker == 0xE2:
        return data.startswith(b"ICC_PROFILE\x00")
    if marker == 0xEE:
        return data.startswith(b"Adobe")
    return False


def _orientation_segment(orientation: int) -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[_ORIENTATION] = orientation
    payload = b"Exif\x00\x00" + exif.tobytes()
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def _strip_jpeg(source: BinaryIO, out: Write, *, orientation: int | None) -> None:
    if _exact(source, 2) != b"\xff\xd8":
        raise UnsupportedMediaType("Not a JPEG image.", slug="unsupported-media-type")
    out(b"\xff\xd8")
    pending_orientation = orientation
    while True:
        byte = _exact(source, 1)
        if byte != b"\xff":
            raise UnsupportedMediaType(
                "The JPEG image is malformed.", slug="unsupported-media-type"
            )
        marker = _exact(source, 1)[0]
        while marker == 0xFF:  # fill bytes
            marker = _exact(source, 1)[0]
        if marker == 0xD9 or marker == 0x01 or 0xD0 <= marker <= 0xD7:
            out(bytes((0xFF, marker)))
            if marker == 0xD9:
                return
            continue
        length_bytes = _exact(source, 2)
        (length,) = struct.unpack(">H", length_bytes)
        data = _exact(source, length - 2) if length >= 2 else b""
        is_app = 0xE0 <= marker <= 0xEF
        if (is_app and not _jpeg_app_kept(marker, data)) or marker == 0xFE:
            continue
        if pending_orientation is not None and marker != 0xE0:
            out(_orientation_segment(pending_orientation))  # after JFIF, before the rest
            pending_orientation = None
        out(bytes((0xFF, marker)) + length_bytes + data)
        if marker == 0xDA:
            # The scans follow; their markers are the image itself, copied as they are.
            _copy_rest(source, out)
            return
