"""What a list of events about a child (the chronology) shows of a concern: who recorded
it, when, what was seen, where, the signs in order."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

from db.batch import Batch
from services.concerns.statements import PUPIL_OUTLINE_INDICATORS, PUPIL_OUTLINES
from services.principal import Principal

# A concern row of ``statements.OUTLINE_COLUMNS`` with its indicator ids, by concern id.
Outlines = dict[uuid.UUID, tuple[Any, list[str]]]


def add_pupil_outlines(
    batch: Batch,
    principal: Principal,
    *,
    pupil_id: uuid.UUID,
    observed_from: datetime,
    observed_to: datetime,
) -> Batch:
    """``batch`` with the two queries for the concerns about ``pupil_id`` observed from
    ``observed_from`` to ``observed_to`` (both inclusive) and their indicators (rows
    named ``outlines`` and ``outline_indicators``, for ``outlines_from``). The DSL desk
    only (403 otherwise): a pupil's chronology is theirs. Records nothing: the caller
    records its own read."""
    parameters = {
        "pupil_id": pupil_id,
        "observed_from": observed_from,
        "observed_to": observed_to,
    }
    statement, parameters = PUPIL_OUTLINES.for_dsl_desk(principal, parameters)
    return batch.add("outlines", statement, parameters).add(
        "outline_indicators", PUPIL_OUTLINE_INDICATORS, parameters
    )


def outlines_from(found: dict[str, list[Any]]) -> Outlines:
    """The rows of ``add_pupil_outlines``'s queries by concern id, each with its indicator
    ids (none when the batch had no such queries)."""
    if "outlines" not in found:
        return {}
    indicators: dict[uuid.UUID, list[str]] = defaultdict(list)
    for concern_id, indicator_id in found["outline_indicators"]:
        indicators[concern_id].append(indicator_id)
    return {row.id: (row, indicators[row.id]) for row in found["outlines"]}
