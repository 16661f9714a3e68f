"""A school's own guidance (issue 19): drafts refused with the path of each mistake,
publishing immutable versions, public reads by URN with ETags, concerns citing the
school's documents and keeping the version they were logged against.

Every name and every text here is invented.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from db.engine import Database
from models.guidance import MAX_DEPTH, TEXT_MAX
from tests.desk import API, CONCERNS, Desk, concern_body, events

DRAFTS = f"{API}/guidance-drafts"


def _draft(**overrides: Any) -> dict[str, Any]:
    """A fictional school's document about neglect, as a DSL writes it."""
    document: dict[str, Any] = {
        "key": "neglect-signs",
        "title": "Signs of neglect at Fictional Academy",
        "category": "neglect",
        "sections": [
            {
                "id": "what-to-look-for",
                "heading": "What might I notice?",
                "lead": "A child may:",
                "items": [
                    {"id": "often-hungry", "text": "Arrive hungry", "indicator": "often-hungry"},
                    {
                        "id": "unwashed-clothes",
                        "text": "Wear the same unwashed clothes",
                        "indicator": "unwashed-clothes",
                        "items": [{"id": "for-days", "text": "For days on end"}],
                    },
                ],
            },
            {
                "id": "what-to-do",
                "heading": "What do I do?",
                "items": [{"id": "tell", "text": "Tell the DSL today", "action": "tell-dsl"}],
            },
        ],
        "indicators": [
            {"id": "often-hungry", "text": "Arrive hungry"},
            {"id": "unwashed-clothes", "text": "Wear the same unwashed clothes"},
        ],
        "actions": [{"id": "tell-dsl", "text": "Tell the DSL today", "when": "always"}],
    }
    return document | overrides


def _school_guidance(desk: Desk, path: str = "", *, urn: str | None = None, **kw: Any) -> Any:
    return desk.client.get(f"{API}/schools/{urn or desk.world.school.urn}/guidance{path}", **kw)


def _post_draft(desk: Desk, body: dict[str, Any], who: Any = None) -> Any:
    return desk.client.post(DRAFTS, json=body, headers=desk.headers(who))


def _publish(desk: Desk, body: dict[str, Any], who: Any = None) -> dict[str, Any]:
    drafted = _post_draft(desk, body, who)
    assert drafted.status_code == 201, drafted.text
    published = desk.client.post(
        f"{DRAFTS}/{drafted.json()['id']}/publish", headers=desk.headers(who)
    )
    assert published.status_code == 201, published.text
    answer: dict[str, Any] = published.json()
    return answer


def _refused(desk: Desk, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = _post_draft(desk, body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors: list[dict[str, Any]] = response.json()["errors"]
    return errors


def _with(change: Any) -> dict[str, Any]:
    document = copy.deepcopy(_draft())
    change(document)
    return document


def _shown(value: Any) -> Any:
    """``value`` without what a document may leave out (nulls, empty lists of items)."""
    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items() if v is not None and v != []}
    if isinstance(value, list):
        return [_shown(v) for v in value]
    return value


def _nest(depth: int) -> dict[str, Any]:
    item: dict[str, Any] = {"id": f"level-{depth}", "text": "Deep"}
    for level in range(depth - 1, 0, -1):
        item = {"id": f"level-{level}", "text": "Deep", "items": [item]}
    return item


# (what is wrong, how to make the mistake, the error's loc, its type)
MISTAKES: list[tuple[str, Any, list[Any], str]] = [
    (
        "an id that is not kebab-case",
        lambda d: d["indicators"][1].update(id="Unwashed Clothes"),
        ["body", "indicators", 1, "id"],
        "string_pattern_mismatch",
    ),
    (
        "an item id used twice",
        lambda d: d["sections"][1]["items"][0].update(id="for-days"),
        ["body", "sections", 1, "items", 0, "id"],
        "duplicate_id",
    ),
    (
        "an indicator id used twice",
        lambda d: d["indicators"].append({"id": "often-hungry", "text": "Again"}),
        ["body", "indicators", 2, "id"],
        "duplicate_id",
    ),
    (
        "an item naming an indicator the document lacks",
        lambda d: d["sections"][0]["items"][1].update(indicator="bruises"),
        ["body", "sections", 0, "items", 1, "indicator"],
        "unresolved_reference",
    ),
    (
        "an item naming an action the document lacks",
        lambda d: d["sections"][1]["items"][0].update(action="call-the-police"),
        ["body", "sections", 1, "items", 0, "action"],
        "unresolved_reference",
    ),
    (
        "blank text",
        lambda d: d["sections"][0]["items"][1]["items"][0].update(text="   "),
        ["body", "sections", 0, "items", 1, "items", 0, "text"],
        "value_error",
    ),
    (
        "a blank heading",
        lambda d: d["sections"][1].update(heading="\n"),
        ["body", "sections", 1, "heading"],
        "value_error",
    ),
    (
        "text over the size limit",
        lambda d: d["indicators"][0].update(text="x" * (TEXT_MAX + 1)),
        ["body", "indicators", 0, "text"],
        "string_too_long",
    ),
    (
        "too many sections",
        lambda d: d.update(sections=[dict(d["sections"][0], id=f"s-{i}") for i in range(31)]),
        ["body", "sections"],
        "too_long",
    ),
    (
        "items nested too deep",
        lambda d: d["sections"][1]["items"].append(_nest(MAX_DEPTH + 1)),
        ["body", "sections", 1, "items", 1] + ["items", 0] * MAX_DEPTH,
        "too_deep",
    ),
    (
        "an unknown category",
        lambda d: d.update(category="sadness"),
        ["body", "category"],
        "unknown_category",
    ),
    (
        "a built-in document's key",
        lambda d: d.update(key="cse"),
        ["body", "key"],
        "reserved_key",
    ),
    (
        "a version, which publishing sets",
        lambda d: d.update(version="7"),
        ["body", "version"],
        "extra_forbidden",
    ),
    (
        "no sections",
        lambda d: d.update(sections=[]),
        ["body", "sections"],
        "too_short",
    ),
]


@pytest.mark.parametrize(
    ("change", "loc", "error_type"),
    [mistake[1:] for mistake in MISTAKES],
    ids=[mistake[0] for mistake in MISTAKES],
)
def test_each_kind_of_mistake_is_refused_with_its_path(
    desk: Desk, database: Database, change: Any, loc: list[Any], error_type: str
) -> None:
    errors = _refused(desk, _with(change))
    assert [(e["loc"], e["type"]) for e in errors] == [(loc, error_type)], errors
    if error_type in ("duplicate_id", "unresolved_reference", "too_deep", "unknown_category"):
        # The message starts with the same path, as a JSON Pointer into the document.
        pointer = "/" + "/".join(str(part) for part in loc[1:])
        assert errors[0]["msg"].startswith(pointer + ": "), errors[0]["msg"]
    # Nothing was kept, nothing was recorded.
    listed = desk.client.get(DRAFTS, headers=desk.headers()).json()
    assert listed["items"] == []
    assert events(database, "guidance_draft.create") == []


def test_every_mistake_is_named_at_once(desk: Desk) -> None:
    def two_mistakes(d: dict[str, Any]) -> None:
        d["sections"][0]["items"][0]["indicator"] = "missing"
        d["actions"].append(dict(d["actions"][0]))

    errors = _refused(desk, _with(two_mistakes))
    assert [(e["loc"], e["type"]) for e in errors] == [
        (["body", "actions", 1, "id"], "duplicate_id"),
        (["body", "sections", 0, "items", 0, "indicator"], "unresolved_reference"),
    ]
    assert "first at /actions/0/id" in errors[0]["msg"]


def test_an_unknown_category_names_the_valid_ones(desk: Desk) -> None:
    (error,) = _refused(desk, _draft(category="sadness"))
    assert "neglect" in error["msg"] and "self-harm" in error["msg"]


def test_draft_read_and_listed_by_its_schools_dsls(desk: Desk, database: Database) -> None:
    response = _post_draft(desk, _draft())
    assert response.status_code == 201, response.text
    draft = response.json()
    assert response.headers["location"] == f"{DRAFTS}/{draft['id']}"
    assert draft["created_by"]["display_name"] == "Jo Lead"
    assert draft["published_version"] is None
    assert _shown(draft["sections"]) == _shown(_draft()["sections"])
    read = desk.client.get(f"{DRAFTS}/{draft['id']}", headers=desk.headers(desk.world.deputy))
    assert read.status_code == 200 and read.json() == draft
    listed = desk.client.get(DRAFTS, headers=desk.headers()).json()
    assert [d["id"] for d in listed["items"]] == [draft["id"]]
    assert "sections" not in listed["items"][0]
    (event,) = events(database, "guidance_draft.create")
    assert (event.entity_type, str(event.entity_id), event.pupil_id) == (
        "guidance_draft",
        draft["id"],
        None,
    )


def test_drafts_page_with_a_cursor(desk: Desk) -> None:
    made = [_post_draft(desk, _draft(key=f"doc-{n}")).json()["id"] for n in range(3)]
    first = desk.client.get(DRAFTS, params={"limit": 2}, headers=desk.headers()).json()
    assert [d["id"] for d in first["items"]] == made[:2]
    second = desk.client.get(
        DRAFTS, params={"limit": 2, "cursor": first["next_cursor"]}, headers=desk.headers()
    ).json()
    assert [d["id"] for d in second["items"]] == made[2:] and second["next_cursor"] is None


def test_publish_read_cite_republish_and_the_old_concern_keeps_its_words(
    desk: Desk, database: Database
) -> None:
    w = desk.world
    assert _publish(desk, _draft()) == {"key": "neglect-signs", "version": "1"}

    # Anyone reads it, without a token, with a strong ETag.
    index = _school_guidance(desk)
    assert index.status_code == 200
    assert [(d["key"], d["version"], d["category"]) for d in index.json()] == [
        ("cse", "1", "cse"),
        ("neglect-signs", "1", "neglect"),
    ]
    whole = _school_guidance(desk, "/neglect-signs")
    assert whole.status_code == 200
    assert _shown(whole.json()["sections"]) == _shown(_draft()["sections"])
    assert whole.json()["version"] == "1" and whole.json()["category"] == "neglect"
    schema = desk.client.get(f"{API}/guidance/schema.json").json()
    assert list(Draft202012Validator(schema).iter_errors(whole.json())) == []
    etag = whole.headers["etag"]
    assert etag.startswith('"') and "max-age" in whole.headers["cache-control"]
    again = _school_guidance(desk, "/neglect-signs", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    indicators = _school_guidance(desk, "/neglect-signs/indicators")
    assert indicators.json()[0] == {"id": "often-hungry", "text": "Arrive hungry"}

    # A member of staff cites it: its category by default, its words of version 1.
    logged = desk.client.post(
        CONCERNS,
        json=concern_body(
            desk.clock, [w.zoe], guidance_key="neglect-signs", indicators=["often-hungry"]
        ),
        headers=desk.headers(w.staff_a),
    )
    assert logged.status_code == 201, logged.text
    old = logged.json()
    assert (old["guidance_key"], old["guidance_version"]) == ("neglect-signs", "1")
    assert old["categories"] == ["neglect"]
    assert old["indicator_texts"] == {"often-hungry": "Arrive hungry"}
    assert [a["id"] for a in old["actions"]] == ["tell-dsl"]

    # Version 2 rewords the sign.
    def reworded(d: dict[str, Any]) -> None:
        d["indicators"][0]["text"] = "Often arrive hungry, or take food from others"
        d["sections"][0]["items"][0]["text"] = "Often arrive hungry, or take food from others"

    assert _publish(desk, _with(reworded)) == {"key": "neglect-signs", "version": "2"}
    latest = _school_guidance(desk, "/neglect-signs", headers={"If-None-Match": etag})
    assert latest.status_code == 200 and latest.json()["version"] == "2"
    assert latest.headers["etag"] != etag

    # The old concern still shows version 1's words, to its recorder and to the DSL.
    for who in (w.staff_a, w.dsl):
        read = desk.client.get(f"{CONCERNS}/{old['id']}", headers=desk.headers(who)).json()
        assert read["guidance_version"] == "1"
        assert read["indicator_texts"] == {"often-hungry": "Arrive hungry"}
    listed = desk.client.get(CONCERNS, headers=desk.headers()).json()["items"]
    assert listed[0]["indicator_texts"] == {"often-hungry": "Arrive hungry"}
    # A new concern is logged against version 2.
    new = desk.concern(guidance_key="neglect-signs", indicators=["often-hungry"])
    assert new["guidance_version"] == "2"
    assert new["indicator_texts"]["often-hungry"].startswith("Often arrive hungry")
    # Version 1 itself stays readable, for good.
    first = _school_guidance(desk, "/neglect-signs/versions/1")
    assert first.status_code == 200 and first.json()["indicators"][0]["text"] == "Arrive hungry"
    assert "immutable" in first.headers["cache-control"]
    assert _school_guidance(desk, "/neglect-signs/versions/3").status_code == 404

    publishes = events(database, "guidance_draft.publish")
    assert [e.entity_type for e in publishes] == ["guidance_draft", "guidance_draft"]


def test_a_published_draft_is_published_once(desk: Desk) -> None:
    draft = _post_draft(desk, _draft()).json()
    path = f"{DRAFTS}/{draft['id']}/publish"
    published = desk.client.post(path, headers=desk.headers())
    assert published.status_code == 201
    assert published.headers["location"] == (
        f"{API}/schools/{desk.world.school.urn}/guidance/neglect-signs/versions/1"
    )
    again = desk.client.post(path, headers=desk.headers())
    assert again.status_code == 409
    assert again.json()["version"] == "1"
    read = desk.client.get(f"{DRAFTS}/{draft['id']}", headers=desk.headers()).json()
    assert read["published_version"] == "1" and read["published_at"] is not None


def test_another_school_cannot_read_or_cite_drafts_but_reads_what_is_published(
    desk: Desk,
) -> None:
    w = desk.world
    draft = _post_draft(desk, _draft()).json()
    other = desk.headers(w.other_dsl)
    assert desk.client.get(f"{DRAFTS}/{draft['id']}", headers=other).status_code == 404
    assert desk.client.post(f"{DRAFTS}/{draft['id']}/publish", headers=other).status_code == 404
    assert desk.client.get(DRAFTS, headers=other).json()["items"] == []

    def cite(who: Any, pupil: Any) -> Any:
        body = concern_body(
            desk.clock, [pupil], guidance_key="neglect-signs", indicators=["often-hungry"]
        )
        return desk.client.post(CONCERNS, json=body, headers=desk.headers(who))

    # A draft is not citable, even by its own school.
    unpublished = cite(w.staff_a, w.zoe)
    assert unpublished.status_code == 422
    assert unpublished.json()["errors"][0]["loc"] == ["body", "guidance_key"]
    desk.client.post(f"{DRAFTS}/{draft['id']}/publish", headers=desk.headers())
    assert cite(w.staff_a, w.zoe).status_code == 201
    # Another school's staff cannot cite it...
    refused = cite(w.other_staff, w.elsewhere)
    assert refused.status_code == 422
    assert refused.json()["valid_guidance_keys"] == ["cse"]
    # ... but anyone may read it, with or without a token.
    assert _school_guidance(desk, "/neglect-signs", headers=other).status_code == 200
    assert _school_guidance(desk, "/neglect-signs").status_code == 200
    # The other school's own guidance is the built-ins only.
    theirs = _school_guidance(desk, urn=w.other_school.urn).json()
    assert [d["key"] for d in theirs] == ["cse"]
    assert _school_guidance(desk, "/neglect-signs", urn=w.other_school.urn).status_code == 404


def test_a_concern_citing_the_schools_guidance_takes_its_indicators_only(desk: Desk) -> None:
    _publish(desk, _draft())
    body = concern_body(
        desk.clock, [desk.world.zoe], guidance_key="neglect-signs", indicators=["secretive"]
    )
    response = desk.client.post(CONCERNS, json=body, headers=desk.headers(desk.world.staff_a))
    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"][0]["loc"] == ["body", "indicators", 0]
    assert problem["valid_indicators"] == ["often-hungry", "unwashed-clothes"]
    valid = desk.client.post(
        CONCERNS,
        json=body | {"indicators": ["unwashed-clothes"], "categories": ["neglect", "cse"]},
        headers=desk.headers(desk.world.staff_a),
    )
    assert valid.status_code == 201
    assert valid.json()["categories"] == ["neglect", "cse"]


@pytest.mark.parametrize(
    "path",
    ["", "/cse", "/cse/indicators", "/cse/versions/1", "/neglect-signs/versions/1"],
)
def test_unknown_school_is_404(desk: Desk, path: str) -> None:
    response = _school_guidance(desk, path, urn="123456")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_built_ins_are_part_of_every_schools_guidance(desk: Desk) -> None:
    built_in = desk.client.get(f"{API}/guidance/cse")
    via_school = _school_guidance(desk, "/cse")
    assert via_school.status_code == 200
    assert via_school.content == built_in.content
    assert via_school.headers["etag"] == built_in.headers["etag"]
    assert _school_guidance(desk, "/cse/versions/1").content == built_in.content
    assert _school_guidance(desk, "/cse/versions/2").status_code == 404
    indicators = _school_guidance(desk, "/cse/indicators")
    etag = indicators.headers["etag"]
    assert (
        _school_guidance(desk, "/cse/indicators", headers={"If-None-Match": etag}).status_code
        == 304
    )
    index = _school_guidance(desk)
    assert (
        _school_guidance(desk, headers={"If-None-Match": index.headers["etag"]}).status_code == 304
    )
    for path in ("/nope", "/nope/indicators"):
        assert _school_guidance(desk, path).status_code == 404
