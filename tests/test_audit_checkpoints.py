"""Signed checkpoints of the audit chain (issue 22, point 7; ADR 0054): whoever can write
the database can rewrite the chain consistently or cut its tail, and plain verification
cannot tell; a checkpoint signed with a key kept elsewhere can."""

from __future__ import annotations

import json
import stat
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from api.cli import app
from db.engine import Database
from models import School
from models.audit import AuditChainHead, AuditEvent
from services import audit
from services.audit import Actor

runner = CliRunner()
T0 = datetime(2026, 11, 27, 15, 40, tzinfo=UTC)
EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
HEADS = AuditChainHead.__table__  # type: ignore[attr-defined]
CARRIED = (
    "school_id",
    "occurred_at",
    "actor_type",
    "actor_id",
    "actor_role",
    "action",
    "entity_type",
    "entity_id",
    "pupil_id",
    "request_id",
    "run_id",
    "outcome",
)


def _append(database: Database, school: School, count: int, start: int = 0) -> None:
    actor = Actor(type="user", id=uuid.uuid4(), role="dsl", school_id=school.id)
    with database.transaction() as session:
        for n in range(count):
            audit.record(
                session, actor=actor, action="concern.read", now=T0 + timedelta(minutes=start + n)
            )


def _key(tmp_path: Path, name: str = "checkpoint.pem") -> Path:
    path = tmp_path / name
    result = runner.invoke(app, ["audit", "checkpoint-key", "--out", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    return path


def _checkpoint(school: School, key: Path, out: Path) -> dict[str, Any]:
    args = ["audit", "checkpoint", "--school-urn", school.urn, "--key", str(key)]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return document


def _verify(school: School, *extra: str) -> tuple[int, str]:
    result = runner.invoke(app, ["audit", "verify", "--school-urn", school.urn, *extra])
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return result.exit_code, lines[0]


def _events(database: Database, school: School) -> list[dict[str, Any]]:
    with database.engine.begin() as connection:
        rows = connection.execute(
            sa.select(EVENTS).where(EVENTS.c.school_id == school.id).order_by(EVENTS.c.seq)
        ).all()
    return [dict(row._mapping) for row in rows]


def _rewrite_from(database: Database, school: School, seq: int, **changes: object) -> None:
    """What an attacker with write access does: change event ``seq`` and re-link every
    event after it with recomputed hashes, then move the head, so the chain verifies."""
    events = _events(database, school)
    kept, rewritten = events[: seq - 1], events[seq - 1 :]
    rows = [{name: event[name] for name in CARRIED} for event in rewritten]
    rows[0].update(changes)
    after_hash = kept[-1]["hash"] if kept else "0" * 64
    head_seq, head_hash = audit.link(rows, after_seq=seq - 1, after_hash=after_hash)
    with database.engine.begin() as connection:
        connection.execute(
            sa.delete(EVENTS).where(EVENTS.c.school_id == school.id, EVENTS.c.seq >= seq)
        )
        connection.execute(sa.insert(EVENTS), rows)
        connection.execute(
            sa.update(HEADS)
            .where(HEADS.c.school_id == school.id)
            .values(seq=head_seq, hash=head_hash)
        )


def _truncate_after(database: Database, school: School, seq: int) -> None:
    """Drop the tail and move the head back to event ``seq``."""
    events = _events(database, school)
    with database.engine.begin() as connection:
        connection.execute(
            sa.delete(EVENTS).where(EVENTS.c.school_id == school.id, EVENTS.c.seq > seq)
        )
        connection.execute(
            sa.update(HEADS)
            .where(HEADS.c.school_id == school.id)
            .values(seq=seq, hash=events[seq - 1]["hash"])
        )


def test_a_new_key_is_private_and_prints_its_public_half(cli_env: Database, tmp_path: Path) -> None:
    key = _key(tmp_path)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    again = runner.invoke(app, ["audit", "checkpoint-key", "--out", str(key)])
    assert again.exit_code == 2 and "cannot create" in again.stderr


def test_an_intact_chain_holds_its_checkpoint_and_older_ones(
    cli_env: Database, school: School, tmp_path: Path
) -> None:
    key = _key(tmp_path)
    _append(cli_env, school, 4)
    older = _checkpoint(school, key, tmp_path / "older.json")
    _append(cli_env, school, 3, start=10)
    newer = _checkpoint(school, key, tmp_path / "newer.json")
    assert (older["seq"], newer["seq"]) == (4, 7)
    assert newer["school_id"] == str(school.id) and newer["key_fingerprint"].startswith("SHA256:")
    _append(cli_env, school, 2, start=20)
    for name in ("older.json", "newer.json"):
        code, line = _verify(school, "--checkpoint", str(tmp_path / name), "--key", str(key))
        assert code == 0, line
        assert "intact (9 events)" in line


def test_the_checkpoint_goes_to_stdout_and_the_key_comes_from_settings(
    cli_env: Database, school: School, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.settings import get_settings

    key, public = tmp_path / "checkpoint.pem", tmp_path / "checkpoint.pub"
    created = runner.invoke(app, ["audit", "checkpoint-key", "--out", str(key)])
    public.write_text(created.stdout)  # what the operator keeps beside the checkpoints
    missing = runner.invoke(app, ["audit", "checkpoint", "--school-urn", school.urn])
    assert missing.exit_code == 2 and "CONCERNLOG_AUDIT_CHECKPOINT_KEY_FILE" in missing.stderr
    monkeypatch.setenv("CONCERNLOG_AUDIT_CHECKPOINT_KEY_FILE", str(key))
    get_settings.cache_clear()
    _append(cli_env, school, 2)
    result = runner.invoke(app, ["audit", "checkpoint", "--school-urn", school.urn])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["seq"] == 2
    (tmp_path / "cp.json").write_text(result.stdout)
    code, line = _verify(school, "--checkpoint", str(tmp_path / "cp.json"))
    assert code == 0, line
    code, line = _verify(
        school, "--checkpoint", str(tmp_path / "cp.json"), "--public-key", str(public)
    )
    assert code == 0, line


def test_a_rewritten_chain_fails_against_the_checkpoint(
    cli_env: Database, school: School, tmp_path: Path
) -> None:
    key = _key(tmp_path)
    _append(cli_env, school, 5)
    _checkpoint(school, key, tmp_path / "cp.json")
    _append(cli_env, school, 2, start=10)
    _rewrite_from(cli_env, school, 3, action="concern.list")
    assert _verify(school)[0] == 0  # the rewrite is consistent: plain verification passes
    code, line = _verify(school, "--checkpoint", str(tmp_path / "cp.json"), "--key", str(key))
    assert code == 1
    assert "REWRITTEN" in line and "event 5" in line


def test_a_truncated_chain_fails_against_the_checkpoint(
    cli_env: Database, school: School, tmp_path: Path
) -> None:
    key = _key(tmp_path)
    _append(cli_env, school, 6)
    _checkpoint(school, key, tmp_path / "cp.json")
    _truncate_after(cli_env, school, 4)
    assert _verify(school)[0] == 0
    code, line = _verify(school, "--checkpoint", str(tmp_path / "cp.json"), "--key", str(key))
    assert code == 1
    assert "TRUNCATED" in line and "head is event 4" in line and "event 6" in line


def test_a_tampered_checkpoint_fails(cli_env: Database, school: School, tmp_path: Path) -> None:
    key = _key(tmp_path)
    _append(cli_env, school, 5)
    document = _checkpoint(school, key, tmp_path / "cp.json")
    # Moved back to match a truncated chain: the signature no longer covers it.
    _truncate_after(cli_env, school, 3)
    document.update(seq=3, hash=_events(cli_env, school)[2]["hash"])
    (tmp_path / "cp.json").write_text(json.dumps(document))
    code, line = _verify(school, "--checkpoint", str(tmp_path / "cp.json"), "--key", str(key))
    assert code == 1
    assert "signature is invalid" in line
    (tmp_path / "junk.json").write_text("{not json")
    code, line = _verify(school, "--checkpoint", str(tmp_path / "junk.json"), "--key", str(key))
    assert code == 1 and "not a JSON audit checkpoint" in line


def test_a_checkpoint_signed_by_another_key_fails(
    cli_env: Database, school: School, tmp_path: Path
) -> None:
    key, other = _key(tmp_path), _key(tmp_path, "other.pem")
    _append(cli_env, school, 3)
    _checkpoint(school, other, tmp_path / "cp.json")
    code, line = _verify(school, "--checkpoint", str(tmp_path / "cp.json"), "--key", str(key))
    assert code == 1
    assert "signed by another key" in line


def test_a_broken_chain_is_not_checkpointed(
    cli_env: Database, school: School, tmp_path: Path
) -> None:
    key = _key(tmp_path)
    _append(cli_env, school, 3)
    with cli_env.engine.begin() as connection:
        connection.execute(
            sa.update(EVENTS)
            .where(EVENTS.c.school_id == school.id, EVENTS.c.seq == 2)
            .values(action="concern.list")
        )
    args = ["audit", "checkpoint", "--school-urn", school.urn, "--key", str(key)]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "cp.json")])
    assert result.exit_code == 1 and "broken at event 2" in result.stderr
    assert not (tmp_path / "cp.json").exists()
