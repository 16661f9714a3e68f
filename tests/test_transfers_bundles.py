"""Issue 21, point 1: the file travels between services as an open, signed bundle. One
service (this test's database) sends a file to a school on another service (a second
database, of the other backend when PostgreSQL is configured, with its own key and a trust
list holding the first one's JWKS); the second imports it, once, and links it. A bundle
with one byte changed, addressed to another school or signed by an unknown key is refused
with a clear 422 and nothing is written. ``concernlog transfer verify`` checks one offline.

Every name and every text here is invented.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from sqlalchemy import func, select
from typer.testing import CliRunner

from api.cli import app as cli
from api.cli import run_migrations
from api.main import create_app
from core import bundles
from core.settings import Settings, get_settings
from db.engine import Database
from models import PupilTransfer, School
from models.user import Role
from tests import factories
from tests.conftest import PG_ENV
from tests.desk import API, Desk
from tests.factories import TEST_SECRET, auth, make_pupil, make_school, make_user

TRANSFERS = f"{API}/transfers"
RECEIVING_URN = "700777"
JOSE = {"Content-Type": "application/jose"}
runner = CliRunner()


@dataclass
class Service:
    """Another concernlog service: its own database, key and trust list; one school."""

    client: TestClient
    database: Database
    school: School
    dsl: factories.TestUser
    pupil_id: uuid.UUID

    def headers(self, now: datetime) -> dict[str, str]:
        return auth(self.client.app, self.dsl, now=now)  # type: ignore[arg-type]

    def count(self) -> int:
        with self.database.transaction() as session:
            return int(
                session.execute(select(func.count()).select_from(PupilTransfer)).scalar_one()
            )


def _other_backend(backend: str) -> str:
    if backend == "sqlite" and os.environ.get(PG_ENV):
        return "postgresql"
    return "sqlite"


@pytest.fixture
def sender_jwks(desk: Desk, tmp_path: Path) -> Path:
    """The sending service's published keys, as its operator would fetch them."""
    response = desk.client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    path = tmp_path / "sender-jwks.json"
    path.write_text(response.text, encoding="utf-8")
    return path


@pytest.fixture
def receiving(backend: str, empty_database_url, sender_jwks: Path, desk: Desk) -> Iterator[Service]:
    url = empty_database_url(_other_backend(backend))
    run_migrations(url)
    database = Database.from_url(url)
    settings = Settings(
        env="test",
        database_url=url,
        secret_key=TEST_SECRET,
        transfer_trusted_keys_file=sender_jwks,
    )
    app = create_app(settings, database=database)
    app.state.clock = desk.clock
    school = make_school(database, name="Imaginary Secondary", urn=RECEIVING_URN)
    dsl = make_user(database, school, Role.dsl, display_name="Ria Receiver")
    pupil = make_pupil(database, school, "Zoe", "Fictional", year_group="Year 8")
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Service(client, database, school, dsl, pupil.id)
    database.dispose()


@pytest.fixture
def sent_bundle(desk: Desk) -> tuple[dict, str]:
    """Zoë's file, sent from the desk's school to the school on the other service."""
    desk.clock._now = datetime(2026, 12, 18, 10, 0, tzinfo=UTC)
    desk.fill_file(concerns=1)
    response = desk.client.post(
        f"{API}/pupils/{desk.world.zoe.id}/transfers",
        json={"to_school_urn": RECEIVING_URN, "left_on": "2026-12-18"},
        headers=desk.headers(),
    )
    assert response.status_code == 201, response.text
    transfer = response.json()
    bundle = desk.client.get(f"{TRANSFERS}/{transfer['id']}/bundle", headers=desk.headers())
    assert bundle.status_code == 200
    assert bundle.headers["content-type"] == "application/jose"
    return transfer, bundle.text


def _payload(token: str) -> dict:
    segment = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def _with_payload_byte_changed(token: str) -> str:
    header, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    at = bytes(raw).index(b"Had a new phone")
    raw[at] ^= 0x01  # "Had" becomes "Iad": one byte
    changed = base64.urlsafe_b64encode(bytes(raw)).decode("ascii").rstrip("=")
    return f"{header}.{changed}.{signature}"


def test_the_bundle_is_open_signed_and_published(desk: Desk, sent_bundle: tuple[dict, str]) -> None:
    transfer, token = sent_bundle
    world = desk.world
    header = bundles.unverified_header(token)
    assert header["alg"] == "ES256" and header["cty"] == "concernlog-transfer+json"
    jwks = desk.client.get("/.well-known/jwks.json").json()  # public: no token
    assert [key["kid"] for key in jwks["keys"]] == [header["kid"]]
    assert all("d" not in key for key in jwks["keys"])  # never the private half
    schema = desk.client.get(f"{API}/transfers/schema.json")
    assert schema.status_code == 200
    assert schema.headers["content-type"].startswith("application/schema+json")
    payload = _payload(token)
    assert list(Draft202012Validator(schema.json()).iter_errors(payload)) == []
    assert payload["format"] == "concernlog-transfer/1"
    assert payload["bundle_id"] == transfer["id"]
    assert payload["issuer"] == {"urn": world.school.urn, "name": "Fictional Academy"}
    assert payload["addressee"]["urn"] == RECEIVING_URN
    assert payload["issued_at"] == "2026-12-18T10:00:00Z"
    assert payload["pupil"]["given_name"] == "Zoë"
    assert payload["concerns"][0]["addenda"][0]["text"] == "More."
    assert payload["cases"][0]["actions"] and payload["cases"][0]["decisions"]
    assert payload["chronology"]
    assert bundles.verify(token, {k["kid"]: k for k in jwks["keys"]})


def test_a_bundle_from_one_database_imports_into_another(
    desk: Desk, sent_bundle: tuple[dict, str], receiving: Service
) -> None:
    transfer, token = sent_bundle
    now = desk.clock.now()
    first = receiving.client.post(
        f"{TRANSFERS}/import", content=token, headers=receiving.headers(now) | JOSE
    )
    assert first.status_code == 201, first.text
    imported = first.json()
    assert imported["source"] == "bundle" and imported["direction"] == "incoming"
    assert imported["from_school_urn"] == desk.world.school.urn
    assert imported["due_by"] == transfer["due_by"] == "2026-12-29"
    assert imported["child"]["given_name"] == "Zoë"
    # The same bundle again: the same transfer, nothing duplicated.
    again = receiving.client.post(
        f"{TRANSFERS}/import", content=token, headers=receiving.headers(now) | JOSE
    )
    assert again.status_code == 200 and again.json()["id"] == imported["id"]
    assert receiving.count() == 1
    incoming = receiving.client.get(f"{TRANSFERS}/incoming", headers=receiving.headers(now))
    assert [t["id"] for t in incoming.json()["items"]] == [imported["id"]]
    receipt = receiving.client.post(
        f"{TRANSFERS}/{imported['id']}/receipt",
        json={"pupil_id": str(receiving.pupil_id)},
        headers=receiving.headers(now),
    )
    assert receipt.status_code == 200, receipt.text
    assert receipt.json()["status"] == "received"
    chronology = receiving.client.get(
        f"{API}/pupils/{receiving.pupil_id}/chronology",
        params={"limit": 200},
        headers=receiving.headers(now),
    ).json()["items"]
    assert {item["type"] for item in chronology} == {"received"}
    assert len(chronology) == len(_payload(token)["chronology"])


def test_a_changed_misaddressed_or_unknown_bundle_is_refused(
    desk: Desk, sent_bundle: tuple[dict, str], receiving: Service
) -> None:
    _, token = sent_bundle
    now = desk.clock.now()

    def imported(body: str, headers: dict[str, str] = JOSE):
        return receiving.client.post(
            f"{TRANSFERS}/import", content=body, headers=receiving.headers(now) | headers
        )

    changed = imported(_with_payload_byte_changed(token))
    assert changed.status_code == 422
    assert changed.json()["type"].endswith("/bundle-bad-signature")
    assert "altered" in changed.json()["detail"]

    # Signed by the desk's service, but addressed to the desk's other school.
    response = desk.client.post(
        f"{API}/pupils/{desk.world.zoe.id}/transfers",
        json={"to_school_urn": desk.world.other_school.urn},
        headers=desk.headers(),
    )
    elsewhere = desk.client.get(
        f"{TRANSFERS}/{response.json()['id']}/bundle", headers=desk.headers()
    ).text
    misaddressed = imported(elsewhere)
    assert misaddressed.status_code == 422
    assert misaddressed.json()["type"].endswith("/bundle-wrong-addressee")

    # Signed with a key nobody listed.
    stranger = bundles.SigningKey.from_pem(bundles.new_private_pem())
    forged = bundles.sign(json.dumps(_payload(token)).encode("utf-8"), stranger)
    unknown = imported(forged)
    assert unknown.status_code == 422
    assert unknown.json()["type"].endswith("/bundle-untrusted-key")

    assert imported("not a bundle").json()["type"].endswith("/bundle-malformed")
    as_json = imported(json.dumps({"bundle": token}), {"Content-Type": "application/json"})
    assert as_json.status_code == 415
    assert receiving.count() == 0


def test_a_bundle_that_breaks_the_schema_is_refused_naming_where(
    desk: Desk, sent_bundle: tuple[dict, str]
) -> None:
    """Signed by a trusted key (the service's own) but not a valid bundle."""
    _, token = sent_bundle
    payload = _payload(token) | {"addressee": {"urn": desk.world.school.urn}}
    payload["issued_at"] = "2026-12-18T10:00:00"  # no offset
    del payload["pupil"]["family_name"]
    keys = desk.world.app.state.transfer_keys
    signed = bundles.sign(json.dumps(payload).encode("utf-8"), keys.signing)
    refused = desk.client.post(f"{TRANSFERS}/import", content=signed, headers=desk.headers() | JOSE)
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["type"].endswith("/bundle-invalid")
    places = {tuple(error["loc"]) for error in problem["errors"]}
    assert ("bundle", "issued_at") in places and ("bundle", "pupil") in places
    for name in ("Zoë", "Zo\\u00eb", "Fictional"):  # never the file's content
        assert name not in refused.text


def test_concernlog_transfer_verify_checks_a_bundle_offline(
    desk: Desk, sent_bundle: tuple[dict, str], sender_jwks: Path, tmp_path: Path, cli_env
) -> None:
    transfer, token = sent_bundle
    path = tmp_path / "bundle.jws"
    path.write_text(token, encoding="ascii")
    result = runner.invoke(cli, ["transfer", "verify", str(path), "--jwks", str(sender_jwks)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"valid: bundle {transfer['id']} from URN")
    # Whole words only: a key's thumbprint in the output may hold any two letters.
    for content in ("Zoë", "phone", "Fictional"):
        assert content not in result.output

    path.write_text(_with_payload_byte_changed(token), encoding="ascii")
    result = runner.invoke(cli, ["transfer", "verify", str(path), "--jwks", str(sender_jwks)])
    assert result.exit_code == 1 and result.output.startswith("NOT VALID (bad-signature)")

    # Without --jwks: the service's trust list, which the operator fills with `trust`.
    trust_list = tmp_path / "trusted.json"
    trust_list.write_text('{"keys": []}', encoding="utf-8")
    os.environ["CONCERNLOG_TRANSFER_TRUSTED_KEYS_FILE"] = str(trust_list)
    try:
        get_settings.cache_clear()
        path.write_text(token, encoding="ascii")
        untrusted = runner.invoke(cli, ["transfer", "verify", str(path)])
        assert untrusted.exit_code == 1 and "unknown-key" in untrusted.output
        added = runner.invoke(cli, ["transfer", "trust", str(sender_jwks)])
        assert added.exit_code == 0, added.output
        assert added.output.split() == [
            k["kid"] for k in json.loads(sender_jwks.read_text())["keys"]
        ]
        assert runner.invoke(cli, ["transfer", "trust", str(sender_jwks)]).output == ""
        get_settings.cache_clear()
        trusted = runner.invoke(cli, ["transfer", "verify", str(path)])
        assert trusted.exit_code == 0, trusted.output
    finally:
        del os.environ["CONCERNLOG_TRANSFER_TRUSTED_KEYS_FILE"]
        get_settings.cache_clear()


def test_production_refuses_to_start_without_a_signing_key(tmp_path: Path) -> None:
    from core.settings import ConfigurationError

    production = {
        "env": "production",
        "secret_key": "a-production-secret-of-enough-length-42",
        "files_key": "ab" * 32,
    }
    with pytest.raises(ConfigurationError, match="CONCERNLOG_TRANSFER_SIGNING_KEY"):
        Settings(**production).check_usable()  # type: ignore[arg-type]
    pem = bundles.new_private_pem()
    settings = Settings(**production, transfer_signing_key=pem)  # type: ignore[arg-type]
    settings.check_usable()
    keys = bundles.TransferKeys.from_settings(settings)
    assert keys.jwks()["keys"][0]["kid"] == bundles.SigningKey.from_pem(pem).kid
    assert pem not in repr(settings) and pem not in repr(keys)


def test_development_keeps_its_key_across_restarts(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(env="development", database_url=f"sqlite:///{tmp_path / 'x.db'}")
    first = bundles.TransferKeys.from_settings(settings)
    again = bundles.TransferKeys.from_settings(settings)
    assert first.signing.kid == again.signing.kid
    key_file = tmp_path / "data" / "transfer-signing-key.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_retired_keys_stay_published_and_trusted(tmp_path: Path) -> None:
    old = bundles.SigningKey.from_pem(bundles.new_private_pem())
    retired = tmp_path / "retired.json"
    retired.write_text(json.dumps(bundles.jwks_document([old.public])), encoding="utf-8")
    settings = Settings(env="test", transfer_retired_keys_file=retired)
    keys = bundles.TransferKeys.from_settings(settings)
    assert [k["kid"] for k in keys.jwks()["keys"]] == [keys.signing.kid, old.kid]
    signed_before = bundles.sign(b'{"format": "concernlog-transfer/1"}', old)
    assert bundles.verify(signed_before, keys.trusted)
