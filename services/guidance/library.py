"""The guidance library: the built-in documents (``guidance/``), validated once at start-up,
and each school's published versions, read once per process.

A document's version never changes once published (a built-in changes only with a deploy;
a school's version is never written again), so each version is prepared once (an
``Edition``: its representations, each serialised once with a strong ETag over its exact
bytes, and what a concern shows of it) and kept: the built-ins for the process's life, a
school's versions in a bounded cache keyed by school, key and version.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlmodel import Session

from core.errors import NotFound
from models.guidance import GuidanceAction, GuidanceDocument, GuidanceSummary, Indicator
from services.guidance.schema import schema_errors
from services.guidance.statements import LATEST_OF_SCHOOL, VERSIONS_OF

# A school's versions kept in memory, at most (least recently used first out).
PUBLISHED_KEPT = 2_000

_INDICATORS: TypeAdapter[list[Indicator]] = TypeAdapter(list[Indicator])


class GuidanceLoadError(RuntimeError):
    """A guidance file is malformed; the service must not start with it."""


@dataclass(frozen=True)
class Representation:
    body: bytes
    etag: str


def represent(value: object) -> Representation:
    """``value`` as compact UTF-8 JSON, with a strong ETag over its bytes."""
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Representation(body=body, etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def summary_of(document: GuidanceDocument) -> dict[str, Any]:
    """A document's entry in an index of documents."""
    return GuidanceSummary.model_validate(
        document.model_dump(include={"key", "title", "version", "updated_at", "category"})
    ).model_dump(mode="json")


@dataclass(frozen=True)
class Edition:
    """One version of one document: served as it is, and shown beside the concerns that
    cite it (their indicators' words, the actions to take)."""

    document: GuidanceDocument
    full: Representation
    indicators: Representation
    summary: dict[str, Any]
    # Each indicator's text, by id.
    indicator_texts: dict[str, str]
    actions: dict[bool, tuple[GuidanceAction, ...]] = field(repr=False)

    @classmethod
    def of(cls, document: GuidanceDocument) -> Edition:
        return cls(
            document=document,
            full=represent(document.model_dump(mode="json", exclude_none=True)),
            indicators=represent(_INDICATORS.dump_python(document.indicators, mode="json")),
            summary=summary_of(document),
            indicator_texts={i.id: i.text for i in document.indicators},
            # Chosen once per version, not once per concern on every page of concerns.
            actions={
                danger: tuple(
                    action
                    for action in document.actions
                    if action.when == "always" or (danger and action.when == "immediate_danger")
                )
                for danger in (False, True)
            },
        )

    def actions_for(self, *, immediate_danger: bool) -> tuple[GuidanceAction, ...]:
        """What a concern under this version tells its reader to do: the actions for every
        concern, and those for immediate danger when it was reported."""
        return self.actions[immediate_danger]

    def texts_of(self, indicator_ids: Iterable[str]) -> dict[str, str]:
        """The text of each of ``indicator_ids``, as this version words it (an id this
        version lacks shows as itself)."""
        texts = self.indicator_texts
        return {i: texts.get(i, i) for i in indicator_ids}


class Cited:
    """The editions a set of concerns cite, by (key, version): built-ins whatever the
    version (a built-in's ids never change meaning), a school's by its exact version."""

    __slots__ = ("_builtins", "_published")

    def __init__(
        self, builtins: dict[str, Edition], published: dict[tuple[str, str], Edition]
    ) -> None:
        self._builtins = builtins
        self._published = published

    def get(self, key: str, version: str) -> Edition | None:
        """None for a document withdrawn since (a built-in removed by a deploy): the
        concern must still read, without its guidance's words."""
        return self._builtins.get(key) or self._published.get((key, version))


class GuidanceLibrary:
    def __init__(self, documents: list[GuidanceDocument]) -> None:
        self._documents = {doc.key: doc for doc in documents}
        if len(self._documents) != len(documents):
            raise GuidanceLoadError("two guidance documents share a key")
        self._builtins = {key: Edition.of(doc) for key, doc in self._documents.items()}
        self.index = represent([edition.summary for edition in self._builtins.values()])
        self._published: OrderedDict[tuple[uuid.UUID, str, str], Edition] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def load(cls, directory: Path) -> GuidanceLibrary:
        """Every ``<key>.json`` of ``directory``, each checked against the published JSON
        Schema and the rules it cannot state; ``GuidanceLoadError`` names the first
        mistake of the first bad file."""
        documents = []
        for path in sorted(directory.glob("*.json")):
            raw = path.read_bytes()
            try:
                parsed = json.loads(raw)
            except ValueError as exc:
                raise GuidanceLoadError(f"guidance file {path.name} is not JSON: {exc}") from exc
            refused = schema_errors(parsed)
            if refused:
                raise GuidanceLoadError(
                    f"guidance file {path.name} does not conform to the guidance JSON "
                    f"Schema at {refused[0]}"
                )
            try:
                document = GuidanceDocument.model_validate_json(raw)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(part) for part in first["loc"]) or "document"
                raise GuidanceLoadError(
                    f"guidance file {path.name} is invalid at {where}: {first['msg']}"
                ) from exc
            if document.key != path.stem:
                raise GuidanceLoadError(
                    f"guidance file {path.name} has key {document.key!r}; they must match"
                )
            documents.append(document)
        if not documents:
            raise GuidanceLoadError(f"no guidance documents found in {directory}")
        return cls(documents)

    # --- the built-in documents --------------------------------------------------------

    def keys(self) -> list[str]:
        """The built-in documents' keys (a school may not use them for its own)."""
        return list(self._documents)

    def get(self, key: str) -> GuidanceDocument:
        try:
            return self._documents[key]
        except KeyError:
            raise NotFound(f"There is no guidance document with key {key!r}.") from None

    def builtin(self, key: str) -> Edition | None:
        return self._builtins.get(key)

    def builtins(self) -> list[Edition]:
        return list(self._builtins.values())

    def document(self, key: str) -> Representation:
        self.get(key)
        return self._builtins[key].full

    def indicators(self, key: str) -> Representation:
        self.get(key)
        return self._builtins[key].indicators

    def actions_for(self, key: str, *, immediate_danger: bool) -> tuple[GuidanceAction, ...]:
        """What a concern under built-in guidance ``key`` tells its reader to do (see
        ``Edition.actions_for``). None for a document withdrawn since the concern was
        recorded: the record must still read."""
        edition = self._builtins.get(key)
        return edition.actions_for(immediate_danger=immediate_danger) if edition else ()

    # --- a school's published versions ---------------------------------------------------

    def edition(
        self, session: Session, school_id: uuid.UUID, key: str, version: str
    ) -> Edition | None:
        """Version ``version`` of the school's document ``key`` (or the built-in ``key``):
        from memory, or read once (one query) and kept. None when there is no such
        version."""
        return self.cited(session, school_id, [(key, version)]).get(key, version)

    def cited(
        self, session: Session, school_id: uuid.UUID, pairs: Iterable[tuple[str, str]]
    ) -> Cited:
        """The editions of the (key, version) ``pairs`` that concerns of the school cite:
        built-ins and versions in memory at no cost, the others read in one query and
        kept (a version never changes)."""
        builtins = self._builtins
        found: dict[tuple[str, str], Edition] = {}
        wanted = {(key, version) for key, version in pairs if key not in builtins}
        if not wanted:  # the usual case: concerns citing built-in guidance only
            return Cited(builtins, found)
        missing: set[tuple[str, str]] = set()
        with self._lock:
            for key, version in wanted:
                edition = self._published.get((school_id, key, version))
                if edition is None:
                    missing.add((key, version))
                else:
                    self._published.move_to_end((school_id, key, version))
                    found[key, version] = edition
        if missing:
            for edition in self._read(session, school_id, missing):
                found[edition.document.key, edition.document.version] = edition
        return Cited(builtins, found)

    def latest_of_school(self, session: Session, school_id: uuid.UUID) -> list[Edition]:
        """The latest version of every document the school has published, in key order."""
        pairs = [
            (row.key, str(row.version))
            for row in LATEST_OF_SCHOOL.rows(session, {"school_id": school_id})
        ]
        cited = self.cited(session, school_id, pairs)
        return [edition for key, version in pairs if (edition := cited.get(key, version))]

    def _read(
        self, session: Session, school_id: uuid.UUID, wanted: set[tuple[str, str]]
    ) -> list[Edition]:
        versions = sorted({int(version) for _, version in wanted if version.isdigit()})
        if not versions:
            return []
        rows = VERSIONS_OF.rows(
            session,
            {
                "school_id": school_id,
                "keys": sorted({key for key, _ in wanted}),
                "versions": versions,
            },
        )
        read = [
            Edition.of(GuidanceDocument.model_validate_json(row.document))
            for row in rows
            if (row.key, str(row.version)) in wanted
        ]
        with self._lock:
            for edition in read:
                self._published[school_id, edition.document.key, edition.document.version] = edition
            while len(self._published) > PUBLISHED_KEPT:
                self._published.popitem(last=False)
        return read
