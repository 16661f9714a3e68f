"""``concernlog transfer``: check a transfer bundle offline, and add another service's keys
to the list of keys whose bundles this service imports (docs/transfer-bundle.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer

from api.cli_support import fail

transfer_app = typer.Typer(
    help="Transfer bundles: verify one offline, trust another service's keys.",
    no_args_is_help=True,
)

_READABLE = {"exists": True, "dir_okay": False, "readable": True}


@transfer_app.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(**_READABLE, help="The bundle (a compact JWS)")],
    jwks: Annotated[
        Path | None,
        typer.Option(
            **_READABLE,
            help="A JWKS file of the keys to trust (default: this service's own keys and "
            "its trust list, CONCERNLOG_TRANSFER_TRUSTED_KEYS_FILE)",
        ),
    ] = None,
) -> None:
    """Check a bundle without importing it: its signature against the trusted keys, then
    its payload against the JSON Schema. Prints the result and what identifies the bundle
    (its id, the schools' URNs, when it was issued, how many entries, the key), never the
    child's file. Exits 1 when it does not verify."""
    from core import bundles
    from core.errors import InvalidInput
    from core.settings import get_settings
    from services.transfers.bundle import checked

    trusted: Mapping[str, Mapping[str, str]]
    try:
        if jwks is not None:
            trusted = {k["kid"]: k for k in bundles.parse_jwks(jwks.read_text(encoding="utf-8"))}
        else:
            trusted = bundles.TransferKeys.from_settings(get_settings()).trusted
    except bundles.BundleKeyError as key_error:
        raise fail(f"keys: {key_error}") from None
    token = file.read_text(encoding="ascii", errors="replace").strip()
    try:
        document = checked(bundles.verify(token, trusted))
    except bundles.BundleRefused as refusal:
        typer.echo(f"NOT VALID ({refusal.reason}): {refusal}")
        raise typer.Exit(1) from None
    except InvalidInput as refusal:
        typer.echo(f"NOT VALID ({refusal.slug}): {refusal.detail}")
        for problem in refusal.extra.get("errors", []):
            typer.echo(f"  {problem['msg']}")
        raise typer.Exit(1) from None
    kid = bundles.unverified_header(token)["kid"]
    issued = document.issued_at.isoformat().replace("+00:00", "Z")
    typer.echo(
        f"valid: bundle {document.bundle_id} from URN {document.issuer.urn} to URN "
        f"{document.addressee.urn}, issued {issued}, {len(document.chronology)} chronology "
        f"entries, {len(document.concerns)} concerns, {len(document.cases)} cases; "
        f"signed by key {kid}"
    )


@transfer_app.command("trust")
def trust(
    jwks: Annotated[Path, typer.Argument(**_READABLE, help="The other service's JWKS file")],
) -> None:
    """Add the keys of another service's JWKS (its ``/.well-known/jwks.json``, fetched and
    checked by you) to this service's trust list, the file
    ``CONCERNLOG_TRANSFER_TRUSTED_KEYS_FILE`` names (made when missing). Prints each key id
    added. Restart the service to use them."""
    from core import bundles
    from core.settings import get_settings

    target = get_settings().transfer_trusted_keys_file
    if target is None:
        raise fail("set CONCERNLOG_TRANSFER_TRUSTED_KEYS_FILE to the trust list's path first")
    try:
        adding = bundles.parse_jwks(jwks.read_text(encoding="utf-8"))
        present = bundles.parse_jwks(target.read_text(encoding="utf-8")) if target.exists() else []
    except (bundles.BundleKeyError, OSError) as error:
        raise fail(f"keys: {error}") from None
    known = {key["kid"] for key in present}
    added = [key for key in adding if key["kid"] not in known]
    target.write_text(
        json.dumps(bundles.jwks_document([*present, *added]), indent=2) + "\n", encoding="utf-8"
    )
    for key in added:
        typer.echo(key["kid"])
