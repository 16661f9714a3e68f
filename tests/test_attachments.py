"""Attachments on concerns and cases (issue 20, point 3; ADR 0105): recognised by content,
images without their metadata, sealed at rest, hashed into the audit chain, downloaded
only by whoever may read the record, a tampered file refused, orphans swept."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from sqlmodel import col, select

from db.engine import Database
from models.attachment import Attachment
from services import attachments
from services.attachments import FileStore
from tests.desk import API, CASES, CONCERNS, Desk, events

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def png(*, text: str | None = None) -> bytes:
    image = Image.new("RGB", (40, 30), (200, 10, 10))
    buffer = io.BytesIO()
    info = None
    if text is not None:
        info = PngInfo()
        info.add_text("Comment", text)
    image.save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def jpeg_with_gps(orientation: int | None = None) -> bytes:
    image = Image.new("RGB", (64, 48), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "Fictional Camera Co"
    if orientation is not None:
        exif[ORIENTATION] = orientation
    exif[GPS_IFD] = {1: "N", 2: (51.0, 30.0, 12.5), 3: "W", 4: (0.0, 7.0, 39.0)}
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif, quality=90)
    return buffer.getvalue()


MARKER = b"FICTIONAL-MINUTES-MARKER-7f3a"


def pdf(size: int = 150_000) -> bytes:
    """A small PDF whose text is plain in its bytes, longer than two sealed chunks."""
    head = b"%PDF-1.4\n%" + MARKER + b"\n"
    body = b"".join(
        f"% strategy meeting minutes, fictional line {i:06d}\n".encode() for i in range(size // 48)
    )
    tail = b"1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    return head + body + tail


def upload(
    desk: Desk,
    path: str,
    content: bytes,
    *,
    filename: str = "evidence.bin",
    who: Any = None,
    declared: str = "application/octet-stream",
    **headers: str,
) -> Any:
    return desk.client.post(
        path,
        files={"file": (filename, content, declared)},
        headers=desk.headers(who, **headers),
    )


def store_of(app: FastAPI) -> FileStore:
    store: FileStore = app.state.files
    return store


def stored_files(app: FastAPI) -> list[Path]:
    root = Path(store_of(app).root)
    return sorted(root.rglob("*.sealed")) if root.exists() else []


def rows(database: Database) -> list[Attachment]:
    with database.transaction() as session:
        return list(session.exec(select(Attachment).order_by(col(Attachment.uploaded_at))))


@pytest.fixture
def concern(desk: Desk) -> dict[str, Any]:
    return desk.concern()


def test_a_png_and_a_pdf_round_trip_byte_for_byte(
    desk: Desk, concern: dict[str, Any], database: Database
) -> None:
    path = f"{CONCERNS}/{concern['id']}/attachments"
    for content, filename, media_type in (
        (png(), "drawing.png", "image/png"),
        (pdf(), "minutes.pdf", "application/pdf"),
    ):
        created = upload(desk, path, content, filename=filename, who=desk.world.staff_a)
        assert created.status_code == 201, created.text
        body = created.json()
        assert set(body) == {"id", "filename", "media_type", "size", "sha256"}
        assert (body["filename"], body["media_type"], body["size"]) == (
            filename,
            media_type,
            len(content),
        )
        import hashlib

        assert body["sha256"] == hashlib.sha256(content).hexdigest()
        assert created.headers["location"] == f"{API}/attachments/{body['id']}"
        for who in (desk.world.staff_a, desk.world.dsl, desk.world.deputy):
            got = desk.client.get(created.headers["location"], headers=desk.headers(who))
            assert got.status_code == 200, got.text
            assert got.content == content
            assert got.headers["content-type"].startswith(media_type)
            assert got.headers["x-content-type-options"] == "nosniff"
            assert got.headers["content-disposition"].startswith("attachment;")
            assert filename in got.headers["content-disposition"]
    # On disk: sealed, never the plaintext.
    files = stored_files(desk.world.app)
    assert len(files) == 2
    for stored in files:
        raw = stored.read_bytes()
        assert raw.startswith(b"CLF1")
        assert MARKER not in raw and b"strategy meeting" not in raw and b"IHDR" not in raw
    listed = desk.client.get(path, headers=desk.headers(desk.world.staff_a)).json()["items"]
    assert [item["filename"] for item in listed] == ["drawing.png", "minutes.pdf"]
    assert listed[0]["uploaded_by"]["display_name"] == "Sam Teacher"


def test_image_metadata_is_stripped_and_the_stripped_form_hashed(
    desk: Desk, concern: dict[str, Any]
) -> None:
    import hashlib

    path = f"{CONCERNS}/{concern['id']}/attachments"
    photo = jpeg_with_gps(orientation=6)
    assert b"Fictional Camera Co" in photo
    created = upload(desk, path, photo, filename="bruise.jpg", who=desk.world.staff_a)
    assert created.status_code == 201, created.text
    got = desk.client.get(created.headers["location"], headers=desk.headers(desk.world.staff_a))
    assert got.status_code == 200
    served = got.content
    assert b"Fictional Camera Co" not in served
    exif = Image.open(io.BytesIO(served)).getexif()
    assert GPS_IFD not in exif and 0x010F not in exif
    assert exif.get(ORIENTATION) == 6  # still shown upright
    assert created.json()["sha256"] == hashlib.sha256(served).hexdigest()
    assert created.json()["size"] == len(served) < len(photo)
    # The pixels are the same: nothing was re-encoded.
    assert Image.open(io.BytesIO(served)).tobytes() == Image.open(io.BytesIO(photo)).tobytes()

    plain = jpeg_with_gps()
    got = upload(desk, path, plain, filename="plain.jpg", who=desk.world.staff_a)
    served = desk.client.get(got.headers["location"], headers=desk.headers()).content
    assert ORIENTATION not in Image.open(io.BytesIO(served)).getexif()
    assert GPS_IFD not in Image.open(io.BytesIO(served)).getexif()

    annotated = png(text="Fictional Road, Anytown")
    got = upload(desk, path, annotated, filename="note.png", who=desk.world.staff_a)
    served = desk.client.get(got.headers["location"], headers=desk.headers()).content
    assert b"Fictional Road" not in served
    assert served == png()  # the same image, without its text chunk


def test_kind_is_by_content_not_by_name(
    desk: Desk, concern: dict[str, Any], database: Database
) -> None:
    path = f"{CONCERNS}/{concern['id']}/attachments"
    executable = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 400
    for content, name, declared in (
        (executable, "minutes.pdf", "application/pdf"),
        (b"just some fictional words", "photo.png", "image/png"),
        (b"GIF89a" + b"\x00" * 100, "photo.jpg", "image/jpeg"),
    ):
        answer = upload(desk, path, content, filename=name, declared=declared)
        assert answer.status_code == 415, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"].endswith("unsupported-media-type")
    # A PNG by its signature that is not really one: 415 too.
    broken = png()[:60]
    answer = upload(desk, path, broken, filename="broken.png")
    assert answer.status_code == 415, answer.text
    # What was refused left nothing behind.
    assert rows(database) == []
    assert stored_files(desk.world.app) == []


def test_an_oversized_upload_is_413_and_leaves_nothing(
    desk: Desk, concern: dict[str, Any], database: Database
) -> None:
    path = f"{CONCERNS}/{concern['id']}/attachments"
    # Just over 20 MiB of file: within the body limit's framing, refused by the service.
    just_over = pdf(1000) + b"\x00" * (attachments.MAX_BYTES + 1 - len(pdf(1000)))
    answer = upload(desk, path, just_over, filename="big.pdf")
    assert answer.status_code == 413, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    # Far over: refused from the declared length, before the body is read.
    far_over = b"%PDF-1.4\n" + b"\x00" * (attachments.MAX_BYTES + 200_000)
    answer = upload(desk, path, far_over, filename="bigger.pdf")
    assert answer.status_code == 413, answer.text
    assert rows(database) == []
    assert stored_files(desk.world.app) == []


def test_a_tampered_file_is_refused_with_a_clear_error(
    desk: Desk, concern: dict[str, Any], database: Database
) -> None:
    path = f"{CONCERNS}/{concern['id']}/attachments"
    first = upload(desk, path, pdf(), filename="a.pdf").json()
    second = upload(desk, path, png(), filename="b.png").json()
    stored = {p.name.split(".")[0]: p for p in stored_files(desk.world.app)}
    raw = bytearray(stored[first["id"]].read_bytes())
    raw[100_000] ^= 0x01
    stored[first["id"]].write_bytes(bytes(raw))
    answer = desk.client.get(f"{API}/attachments/{first['id']}", headers=desk.headers())
    assert answer.status_code == 409
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"].endswith("stored-file-integrity")
    assert "integrity" in problem["detail"]
    assert MARKER not in answer.content
    assert [e.entity_id for e in events(database, "attachment.integrity_failed")] == [
        uuid.UUID(first["id"])
    ]
    # A whole sealed file copied over another's does not open either (bound to its id).
    stored[first["id"]].write_bytes(stored[second["id"]].read_bytes())
    answer = desk.client.get(f"{API}/attachments/{first['id']}", headers=desk.headers())
    assert answer.status_code == 409
    # Truncated at a chunk boundary: refused.
    good = upload(desk, path, pdf(), filename="c.pdf").json()
    path_c = next(p for p in stored_files(desk.world.app) if p.name.startswith(good["id"]))
    path_c.write_bytes(path_c.read_bytes()[: 36 + 65536 + 16])
    answer = desk.client.get(f"{API}/attachments/{good['id']}", headers=desk.headers())
    assert answer.status_code == 409


def test_who_may_attach_and_download(desk: Desk, database: Database) -> None:
    world = desk.world
    concern = desk.concern(world.staff_a)
    path = f"{CONCERNS}/{concern['id']}/attachments"
    created = upload(desk, path, png(), who=world.staff_a)
    location = created.headers["location"]
    # Another member of staff, another school's DSL: the concern is not theirs (404).
    for who in (world.staff_b, world.other_dsl, world.other_staff):
        assert upload(desk, path, png(), who=who).status_code == 404
        assert desk.client.get(location, headers=desk.headers(who)).status_code == 404
        assert desk.client.get(path, headers=desk.headers(who)).status_code == 404
    # Admins and the MIS never read concern content.
    for refused in (world.admin, world.mis):
        assert desk.client.get(location, headers=desk.headers(refused)).status_code == 403
    assert len(rows(database)) == 1
    assert len(stored_files(world.app)) == 1  # refused uploads left no file
    # The DSL desk attaches to the concern and to a case; staff never reach a case's files.
    assert upload(desk, path, png(), who=world.deputy).status_code == 201
    case, _ = desk.open_case(concern_ids=[concern["id"]])
    on_case = upload(desk, f"{CASES}/{case['id']}/attachments", pdf(), who=world.dsl)
    assert on_case.status_code == 201, on_case.text
    assert desk.client.get(on_case.headers["location"], headers=desk.headers()).status_code == 200
    staff_get = desk.client.get(on_case.headers["location"], headers=desk.headers(world.staff_a))
    assert staff_get.status_code == 404
    staff_post = upload(desk, f"{CASES}/{case['id']}/attachments", pdf(), who=world.staff_a)
    assert staff_post.status_code == 403
    elsewhere = upload(desk, f"{CASES}/{case['id']}/attachments", pdf(), who=world.other_dsl)
    assert elsewhere.status_code == 404
    listed = desk.client.get(f"{CASES}/{case['id']}/attachments", headers=desk.headers())
    assert [item["media_type"] for item in listed.json()["items"]] == ["application/pdf"]
    # Never edited or deleted through the API.
    for method in ("PUT", "PATCH", "DELETE"):
        assert desk.client.request(method, location, headers=desk.headers()).status_code == 405


def test_the_hash_is_in_the_audit_chain(desk: Desk, database: Database) -> None:
    concern = desk.concern(pupils=[desk.world.zoe, desk.world.zack])
    created = upload(desk, f"{CONCERNS}/{concern['id']}/attachments", pdf()).json()
    recorded = events(database, "attachment.create")
    assert {e.pupil_id for e in recorded} == {desk.world.zoe.id, desk.world.zack.id}
    assert {e.digest for e in recorded} == {created["sha256"]}
    desk.client.get(f"{API}/attachments/{created['id']}", headers=desk.headers())
    assert len(events(database, "attachment.read")) == 2
    verified = desk.client.get(f"{API}/audit/verify", headers=desk.headers())
    assert verified.json()["ok"] is True
    # Changing the recorded hash breaks the chain.
    with database.transaction() as session:
        event = session.get(type(recorded[0]), recorded[0].id)
        assert event is not None
        event.digest = "0" * 64
        session.add(event)
    assert desk.client.get(f"{API}/audit/verify", headers=desk.headers()).json()["ok"] is False


def test_a_repeated_upload_with_its_key_is_one_attachment(
    desk: Desk, concern: dict[str, Any], database: Database
) -> None:
    path = f"{CONCERNS}/{concern['id']}/attachments"
    key = {"Idempotency-Key": "fictional-upload-1"}
    first = upload(desk, path, png(), filename="a.png", **key)
    again = upload(desk, path, png(), filename="a.png", **key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = upload(desk, path, pdf(), filename="a.png", **key)
    assert other.status_code == 422
    assert len(rows(database)) == 1
    assert len(stored_files(desk.world.app)) == 1


def test_orphan_files_are_never_served_and_are_swept(
    desk: Desk, concern: dict[str, Any], database: Database
) -> None:
    """The crash points of an upload: killed after its file was sealed but before its row
    was committed (a whole file, or part of one, that no row names)."""
    store = store_of(desk.world.app)
    school = desk.world.school.id
    kept = upload(desk, f"{CONCERNS}/{concern['id']}/attachments", png()).json()
    orphan, partial = uuid.uuid4(), uuid.uuid4()
    store.write(school, orphan, lambda write: write(pdf()))

    def killed(write: Any) -> None:
        write(pdf())
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        store.write(school, partial, killed)
    assert not any(p.name.startswith(str(partial)) for p in stored_files(desk.world.app))
    # A partial file left by a real kill (no cleanup ran): written by hand.
    (Path(store.root) / str(school) / f"{partial}.sealed").write_bytes(b"CLF1" + b"\x00" * 90)
    assert desk.client.get(f"{API}/attachments/{orphan}", headers=desk.headers()).status_code == 404

    def known(ids: list[uuid.UUID]) -> set[uuid.UUID]:
        with database.transaction() as session:
            return attachments.live_attachment_ids(session, ids)

    now = desk.clock.now()
    young = attachments.sweep(store, known=known, now=now)
    assert (young.removed, young.kept_young) == (0, 2)
    later = attachments.sweep(store, known=known, now=now + timedelta(hours=2))
    assert (later.removed, later.kept_young) == (2, 0)
    assert [p.name for p in stored_files(desk.world.app)] == [f"{kept['id']}.sealed"]
    got = desk.client.get(f"{API}/attachments/{kept['id']}", headers=desk.headers())
    assert got.content == png()


def test_erasing_a_childs_attachments_keeps_the_rows(
    desk: Desk, concern: dict[str, Any], database: Database
) -> None:
    created = upload(desk, f"{CONCERNS}/{concern['id']}/attachments", pdf(), filename="m.pdf")
    body = created.json()
    with database.transaction() as session:
        erased = attachments.erase_attachments(
            session,
            desk.world.school.id,
            desk.world.zoe.id,
            store=store_of(desk.world.app),
            now=desk.clock.now(),
        )
    assert erased == 1
    assert stored_files(desk.world.app) == []
    (row,) = rows(database)
    assert (row.filename, row.sha256, row.size) == (None, body["sha256"], body["size"])
    assert row.erased_at is not None
    assert desk.client.get(created.headers["location"], headers=desk.headers()).status_code == 404
    listed = desk.client.get(f"{CONCERNS}/{concern['id']}/attachments", headers=desk.headers())
    assert listed.json()["items"][0]["erased"] is True


def test_safe_download_names() -> None:
    from routers.attachments import _disposition, safe_filename

    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\x\\note.png") == "note.png"
    assert safe_filename("a\r\nb\x00.pdf") == "ab.pdf"
    assert safe_filename("   ") is None
    header = _disposition('Zoë "quoted".pdf', uuid.UUID(int=5), "application/pdf")
    assert header.startswith('attachment; filename="Zoe _quoted_.pdf"; ')
    assert "filename*=UTF-8''Zo%C3%AB%20%22quoted%22.pdf" in header


def test_the_sweep_command_removes_old_orphans(
    cli_env: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import os
    import time

    from typer.testing import CliRunner

    from api.cli import app
    from core.settings import get_settings

    monkeypatch.setenv("CONCERNLOG_FILES_URL", str(tmp_path / "swept"))
    get_settings.cache_clear()
    settings = get_settings()
    store = FileStore(settings.files_url, settings.files_key_bytes)
    school, old, young = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for orphan in (old, young):
        store.write(school, orphan, lambda write: write(pdf(1000)))
    two_hours_ago = time.time() - 7200
    os.utime(tmp_path / "swept" / str(school) / f"{old}.sealed", (two_hours_ago, two_hours_ago))
    result = CliRunner().invoke(app, ["files", "sweep"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "removed 1 orphan files; left 1 younger than an hour"
    assert [p.name for p in (tmp_path / "swept").rglob("*.sealed")] == [f"{young}.sealed"]


def test_production_needs_a_files_key(migrated_url: str) -> None:
    from core.settings import ConfigurationError, Settings

    strong = "a-fictional-but-long-enough-secret-key-0123456789"
    from tests.factories import TRANSFER_KEY

    production = Settings(
        env="production",
        database_url=migrated_url,
        secret_key=strong,
        transfer_signing_key=TRANSFER_KEY,
    )
    with pytest.raises(ConfigurationError, match="CONCERNLOG_FILES_KEY"):
        production.check_usable()
    import base64

    key = base64.b64encode(bytes(range(32))).decode()
    keyed = Settings(
        env="production",
        database_url=migrated_url,
        secret_key=strong,
        files_key=key,
        transfer_signing_key=TRANSFER_KEY,
    )
    keyed.check_usable()
    assert keyed.files_key_bytes == bytes(range(32))
    assert Settings(files_key="ab" * 32).files_key_bytes == b"\xab" * 32
    with pytest.raises(ConfigurationError, match="32 bytes"):
        Settings(files_key="too-short").check_usable()
