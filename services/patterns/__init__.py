"""Seeing the jigsaw (issue 25): pattern flags when signs gather on one child, and links
between children.

- ``settings``: the school's rules; ``evidence``: the one query every rule reads;
- ``evaluation``: the queue a concern's transaction fills, and the worker's evaluation;
- ``flags``: listing, explaining and acknowledging flags;
- ``links``: entities of concern, a child's links, the entities connecting children.
"""

from services.patterns.evaluation import (
    concern_logged,
    evaluate_all,
    evaluate_pupil,
    evaluate_queued,
)
from services.patterns.flags import (
    OPEN_FLAGS,
    acknowledge_flag,
    list_flags,
    open_flags_parameters,
    shape,
)
from services.patterns.links import (
    connecting_entities,
    create_entity,
    get_pupil_links,
    list_entities,
)
from services.patterns.settings import get_pattern_settings, put_pattern_settings, rules_of

__all__ = [
    "OPEN_FLAGS",
    "acknowledge_flag",
    "concern_logged",
    "connecting_entities",
    "create_entity",
    "evaluate_all",
    "evaluate_pupil",
    "evaluate_queued",
    "get_pattern_settings",
    "get_pupil_links",
    "list_entities",
    "list_flags",
    "open_flags_parameters",
    "put_pattern_settings",
    "rules_of",
    "shape",
]
