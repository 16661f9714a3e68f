"""Where attachments' bytes live: sealed files (``core.sealing``) in an fsspec file
system at ``CONCERNLOG_FILES_URL`` (a directory by default; ``s3://bucket/prefix`` with
s3fs installed, or any other fsspec URL).

A file is written under its final name, ``{school_id}/{attachment_id}.sealed``, *before*
its row is committed, and served only through its row: a request killed between the two
leaves a file no row names, which nothing serves and ``sweep`` removes once it is older
than an hour (ADR 0105). A file is never overwritten: its name is a new id.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core import sealing

log = logging.getLogger(__name__)

SUFFIX = ".sealed"
# A file younger than this with no row may be an upload whose transaction is still open.
SWEEP_AGE = timedelta(hours=1)


@dataclass(frozen=True)
class StoredFile:
    school_id: uuid.UUID
    attachment_id: uuid.UUID
    modified: datetime | None


class FileStore:
    """The sealed files of every school, under one fsspec URL, sealed with one key."""

    def __init__(self, url: str, key: bytes) -> None:
        self.url = url
        self._key = key

    @functools.cached_property
    def _resolved(self) -> tuple[Any, str]:
        # fsspec is imported with the first file stored or read, not by every server at
        # start-up (and an s3:// store connects only when it is needed).
        import fsspec

        fs, root = fsspec.core.url_to_fs(self.url)
        return fs, str(root).rstrip("/")

    @property
    def fs(self) -> Any:
        return self._resolved[0]

    @property
    def root(self) -> str:
        return self._resolved[1]

    def path(self, school_id: uuid.UUID, attachment_id: uuid.UUID) -> str:
        return f"{self.root}/{school_id}/{attachment_id}{SUFFIX}"

    @staticmethod
    def context(attachment_id: uuid.UUID) -> bytes:
        """What a file's seal binds it to: its attachment (a file copied over another's
        does not open)."""
        return b"concernlog attachment " + attachment_id.bytes

    def write(
        self,
        school_id: uuid.UUID,
        attachment_id: uuid.UUID,
        fill: Callable[[Callable[[bytes], None]], None],
    ) -> None:
        """Seal what ``fill`` writes (it is given a ``write(bytes)``) into the file of
        ``attachment_id``; on any error the partial file is removed and the error raised."""
        path = self.path(school_id, attachment_id)
        self.fs.makedirs(f"{self.root}/{school_id}", exist_ok=True)
        try:
            with self.fs.open(path, "wb") as sink:
                writer = sealing.SealingWriter(self._key, sink, context=self.context(attachment_id))
                fill(writer.write)
                writer.close()
        except BaseException:
            self.remove(school_id, attachment_id)
            raise

    def verify(self, school_id: uuid.UUID, attachment_id: uuid.UUID) -> str:
        """Read the whole file through its seal; the hex SHA-256 of its plaintext.
        ``sealing.BrokenSeal`` when it does not open, ``FileNotFoundError`` when absent."""
        digest = hashlib.sha256()
        for chunk in self.chunks(school_id, attachment_id):
            digest.update(chunk)
        return digest.hexdigest()

    def intact(self, school_id: uuid.UUID, attachment_id: uuid.UUID, sha256: str) -> bool:
        """Whether the file is there, opens under its seal and has the SHA-256 its row
        recorded. Read whole before anything of it is served; a failure is logged by ids."""
        try:
            intact = self.verify(school_id, attachment_id) == sha256
        except (sealing.BrokenSeal, OSError):
            intact = False
        if not intact:
            log.warning(
                "a stored attachment failed its integrity check",
                extra={"attachment_id": str(attachment_id), "school_id": str(school_id)},
            )
        return intact

    def chunks(self, school_id: uuid.UUID, attachment_id: uuid.UUID) -> Iterator[bytes]:
        """The file's plaintext, chunk by chunk, each verified before it is given."""
        with self.fs.open(self.path(school_id, attachment_id), "rb") as source:
            yield from sealing.opened(
                self._key, _Reader(source), context=self.context(attachment_id)
            )

    def remove(self, school_id: uuid.UUID, attachment_id: uuid.UUID) -> bool:
        """Remove the file if it is there; whether it was."""
        path = self.path(school_id, attachment_id)
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            return False
        return True

    def files(self) -> Iterator[StoredFile]:
        """Every sealed file in the store (any other file is left alone)."""
        try:
            found = self.fs.find(self.root, detail=True)
        except FileNotFoundError:
            return
        for path, info in found.items():
            name = str(path).rstrip("/").split("/")
            if len(name) < 2 or not name[-1].endswith(SUFFIX):
                continue
            try:
                school_id = uuid.UUID(name[-2])
                attachment_id = uuid.UUID(name[-1][: -len(SUFFIX)])
            except ValueError:
                continue
            yield StoredFile(school_id, attachment_id, _modified(self.fs, path, info))


class _Reader:
    """``read(n)`` that returns ``n`` bytes unless the file ends (some fsspec files return
    fewer)."""

    def __init__(self, source: Any) -> None:
        self._source = source

    def read(self, size: int) -> bytes:
        parts: list[bytes] = []
        wanted = size
        while wanted > 0:
            part = self._source.read(wanted)
            if not part:
                break
            parts.append(part)
            wanted -= len(part)
        return b"".join(parts)


def _modified(fs: Any, path: str, info: dict[str, Any]) -> datetime | None:
    for name in ("mtime", "LastModified", "last_modified", "created"):
        value = info.get(name)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, tz=UTC)
    with contextlib.suppress(Exception):
        moment = fs.modified(path)
        if isinstance(moment, datetime):
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None
