"""The guidance library: every document in ``guidance/``, validated once at start-up.

Documents are immutable while the process runs, so each representation is serialised
once and served from memory with a strong ETag computed over its exact bytes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from core.errors import NotFound
from models.guidance import GuidanceAction, GuidanceDocument, GuidanceSummary, Indicator


class GuidanceLoadError(RuntimeError):
    """A guidance file is malformed; the service must not start with it."""


@dataclass(frozen=True)
class Representation:
    body: bytes
    etag: str


def _represent(value: object) -> Representation:
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Representation(body=body, etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"')


class GuidanceLibrary:
    def __init__(self, documents: list[GuidanceDocument]) -> None:
        self._documents = {doc.key: doc for doc in documents}
        if len(self._documents) != len(documents):
            raise GuidanceLoadError("two guidance documents share a key")
        summaries = [
            GuidanceSummary.model_validate(
                doc.model_dump(include={"key", "title", "version", "updated_at"})
            )
            for doc in documents
        ]
        self.index = _represent(
            TypeAdapter(list[GuidanceSummary]).dump_python(summaries, mode="json")
        )
        self._full = {
            key: _represent(doc.model_dump(mode="json", exclude_none=True))
            for key, doc in self._documents.items()
        }
        self._indicators = {
            key: _represent(TypeAdapter(list[Indicator]).dump_python(doc.indicators, mode="json"))
            for key, doc in self._documents.items()
        }
        # A concern shows its guidance's actions (see ``actions_for``): chosen once per
        # document, not once per concern on every page of concerns.
        self._actions = {
            (key, immediate_danger): tuple(
                action
                for action in doc.actions
                if action.when == "always"
                or (immediate_danger and action.when == "immediate_danger")
            )
            for key, doc in self._documents.items()
            for immediate_danger in (False, True)
        }

    @classmethod
    def load(cls, directory: Path) -> GuidanceLibrary:
        documents = []
        for path in sorted(directory.glob("*.json")):
            try:
                document = GuidanceDocument.model_validate_json(path.read_bytes())
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

    def keys(self) -> list[str]:
        return list(self._documents)

    def get(self, key: str) -> GuidanceDocument:
        try:
            return self._documents[key]
        except KeyError:
            raise NotFound(f"There is no guidance document with key {key!r}.") from None

    def document(self, key: str) -> Representation:
        self.get(key)
        return self._full[key]

    def actions_for(self, key: str, *, immediate_danger: bool) -> tuple[GuidanceAction, ...]:
        """What a concern under guidance ``key`` tells its reader to do: the actions for
        every concern, and those for immediate danger when it was reported. None for a
        document withdrawn since the concern was recorded: the record must still read."""
        return self._actions.get((key, immediate_danger), ())

    def indicators(self, key: str) -> Representation:
        self.get(key)
        return self._indicators[key]
