"""A school's own guidance: drafts written by its DSLs, and publishing them as versions.

DSLs and deputy DSLs only (``access.require_guidance_author``), always their own school's
drafts: another school's draft is a 404, exactly as if it did not exist. A draft is
checked when it is written, every mistake named by its path in the document; publishing
makes the next version of the draft's key (1, 2, ...), never changed afterwards, and a
draft is published once. Writing and publishing a draft each record an audit event
(``guidance_draft.create``, ``guidance_draft.publish``: the draft's id, never its text).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, col, select

from core.errors import Conflict, InvalidInput, NotFound
from db.batch import Batch
from models.guidance import GuidanceContent, GuidanceDocument, pointer, problems_of
from models.school_guidance import (
    GuidanceDraft,
    GuidanceDraftCreate,
    GuidanceDraftPage,
    GuidanceDraftPublic,
    GuidanceDraftSummary,
    GuidanceVersion,
    PublishedGuidance,
)
from models.user import User
from services import access, audit
from services.context import RequestContext
from services.guidance.library import GuidanceLibrary
from services.guidance.statements import DRAFT_TO_PUBLISH, ONE_DRAFT, SCHOOL_URN
from services.pagination import decode_cursor, encode_cursor, invalid_cursor

_CONTENT_FIELDS = ("sections", "indicators", "actions")


def _not_found() -> NotFound:
    return NotFound("There is no guidance draft with that id.")


def draft_problems(library: GuidanceLibrary, draft: GuidanceContent) -> list[dict[str, Any]]:
    """Every mistake of ``draft`` its schema could not see, as validation errors whose
    ``loc`` is the path in the request's body (``["body", "sections", 0, "items", 2,
    "indicator"]``) and whose message starts with that path as a JSON Pointer."""
    errors: list[dict[str, Any]] = []
    built_in = library.keys()
    if draft.key in built_in:
        errors.append(
            {
                "loc": ["body", "key"],
                "msg": f"/key: {draft.key!r} is a built-in document's key; choose another "
                f"(built-in keys: {', '.join(built_in)})",
                "type": "reserved_key",
            }
        )
    for problem in problems_of(draft):
        errors.append(
            {
                "loc": ["body", *problem.loc],
                "msg": f"{pointer(problem.loc)}: {problem.msg}",
                "type": problem.type,
            }
        )
    return errors


def _refuse(errors: list[dict[str, Any]]) -> InvalidInput:
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return InvalidInput(
        f"The guidance draft is not valid: {errors[0]['msg']}{more}.", extra={"errors": errors}
    )


def _content(draft: GuidanceContent) -> str:
    return json.dumps(
        draft.model_dump(mode="json", include=set(_CONTENT_FIELDS), exclude_none=True),
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _summary_fields(row: Any, author_name: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "key": row.key,
        "title": row.title,
        "category": row.category,
        "created_at": row.created_at,
        "created_by": {"id": row.created_by, "display_name": author_name},
        "published_version": (
            None if row.published_version is None else str(row.published_version)
        ),
        "published_at": row.published_at,
    }


def _public(row: Any, author_name: str) -> GuidanceDraftPublic:
    return GuidanceDraftPublic.model_validate(
        {**_summary_fields(row, author_name), **json.loads(row.content)}
    )


def create_draft(
    session: Session, context: RequestContext, *, draft: GuidanceDraftCreate
) -> GuidanceDraftPublic:
    """Keep a draft of a document of the caller's school, once it passes every check the
    schema could not make (422 naming each mistake's path otherwise). DSLs and deputy
    DSLs. Records ``guidance_draft.create``."""
    principal = context.principal
    access.require_guidance_author(principal)
    errors = draft_problems(context.guidance, draft)
    if errors:
        raise _refuse(errors)
    author = session.get(User, principal.id)
    if author is None or author.school_id != principal.school_id:
        raise NotFound("Your account no longer exists.")
    row = GuidanceDraft(
        school_id=principal.school_id,
        key=draft.key,
        title=draft.title,
        category=draft.category,
        content=_content(draft),
        created_by=principal.id,
        created_at=context.now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=context.actor,
        action="guidance_draft.create",
        now=context.now,
        entity_type="guidance_draft",
        entity_id=row.id,
        request_id=context.request_id,
    )
    return _public(row, author.display_name)


def get_draft(
    session: Session, context: RequestContext, *, draft_id: uuid.UUID
) -> GuidanceDraftPublic:
    """One draft of the caller's school, whole (404 for any other). DSLs and deputy DSLs."""
    principal = context.principal
    access.require_guidance_author(principal)
    row = ONE_DRAFT.one_or_none(session, {"school_id": principal.school_id, "id": draft_id})
    if row is None:
        raise _not_found()
    return _public(row, row.created_by_name)


def list_drafts(
    session: Session, context: RequestContext, *, limit: int, cursor: str | None = None
) -> GuidanceDraftPage:
    """The drafts of the caller's school, oldest first, a page at a time (keyset on the
    draft's time-ordered id), published ones included (``published_version`` says which
    version each made). DSLs and deputy DSLs."""
    principal = context.principal
    access.require_guidance_author(principal)
    query = (
        select(GuidanceDraft, User.display_name)
        .join(User, col(User.id) == col(GuidanceDraft.created_by))
        .where(col(GuidanceDraft.school_id) == principal.school_id)
    )
    if cursor is not None:
        try:
            after = uuid.UUID(str(decode_cursor(cursor, fields=("id",))["id"]))
        except ValueError:
            raise invalid_cursor() from None
        query = query.where(col(GuidanceDraft.id) > after)
    rows = list(session.exec(query.order_by(col(GuidanceDraft.id)).limit(limit + 1)).all())
    page = rows[:limit]
    next_cursor = encode_cursor({"id": str(page[-1][0].id)}) if len(rows) > limit else None
    return GuidanceDraftPage(
        items=[GuidanceDraftSummary.model_validate(_summary_fields(d, name)) for d, name in page],
        next_cursor=next_cursor,
    )


@dataclass(frozen=True)
class Publication:
    published: PublishedGuidance
    urn: str  # the school's, for the published document's public address


def publish_draft(session: Session, context: RequestContext, *, draft_id: uuid.UUID) -> Publication:
    """Publish a draft of the caller's school as the next version of its key (1 for a new
    key); the version is never changed afterwards. DSLs and deputy DSLs; 404 for a draft
    of another school, 409 for a draft already published, 422 when the draft no longer
    passes the checks (a rule or a built-in key added since it was written). Records
    ``guidance_draft.publish``.

    Publishing takes the school's audit chain head first, with the draft and its key's
    latest version in the same round trip on PostgreSQL: two publications of one school
    follow each other, so a version number is never taken twice."""
    principal = context.principal
    access.require_guidance_author(principal)
    batch = (
        Batch()
        .add("draft", DRAFT_TO_PUBLISH, {"school_id": principal.school_id, "id": draft_id})
        .add("school", SCHOOL_URN, {"school_id": principal.school_id})
    )
    found = audit.read_with_head_locked(session, school_id=principal.school_id, batch=batch)
    if not found["draft"]:
        raise _not_found()
    row = found["draft"][0]
    if row.published_version is not None:
        raise Conflict(
            f"This draft was published already, as version {row.published_version} of "
            f"{row.key!r}. To publish a new version, write a new draft.",
            extra={"key": row.key, "version": str(row.published_version)},
        )
    version = (row.latest_version or 0) + 1
    fields = {"key": row.key, "title": row.title, "category": row.category}
    content = json.loads(row.content)
    try:  # checked when it was written; a rule may have tightened since
        errors = draft_problems(
            context.guidance, GuidanceContent.model_validate({**fields, **content})
        )
        if errors:
            raise _refuse(errors)
        document = GuidanceDocument.model_validate(
            {**fields, "version": str(version), "updated_at": context.now, **content}
        )
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        raise InvalidInput(
            f"The draft no longer makes a valid document, at "
            f"{pointer(tuple(first['loc']))}: {first['msg']}. Write a new draft."
        ) from None
    session.add(
        GuidanceVersion(
            school_id=principal.school_id,
            key=row.key,
            version=version,
            title=row.title,
            category=row.category,
            document=json.dumps(
                document.model_dump(mode="json", exclude_none=True),
                ensure_ascii=False,
                separators=(",", ":"),
            ),
            draft_id=row.id,
            published_by=principal.id,
            published_at=context.now,
        )
    )
    draft = session.get(GuidanceDraft, row.id)
    assert draft is not None  # read above, in this transaction
    draft.published_version = version
    draft.published_at = context.now
    session.flush()
    audit.record(
        session,
        actor=context.actor,
        action="guidance_draft.publish",
        now=context.now,
        entity_type="guidance_draft",
        entity_id=row.id,
        request_id=context.request_id,
    )
    (school,) = found["school"]
    return Publication(
        published=PublishedGuidance(key=row.key, version=str(version)), urn=school.urn
    )
