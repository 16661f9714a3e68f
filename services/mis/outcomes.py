"""What a sync call answers: one outcome per pushed record or leaver, with counts."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field

from models.mis import LeaverResult, SyncResult


@dataclass
class RecordOutcome:
    index: int
    external_id: str | None
    result: SyncResult
    warnings: list[str] = field(default_factory=list)
    reason: str | None = None


@dataclass
class BatchOutcome:
    run_id: uuid.UUID | None
    results: list[RecordOutcome]

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(r.result.value for r in self.results)
        return {result.value: found.get(result.value, 0) for result in SyncResult}


@dataclass
class LeaversOutcome:
    results: list[tuple[str, LeaverResult]]

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(result.value for _, result in self.results))
