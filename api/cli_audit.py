"""``concernlog audit``: verify a school's audit chain, and sign checkpoints of it with a
key kept off the database (ADR 0054)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from api.cli_support import fail, load_settings, open_database

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


def _private_key_file(key: Path | None) -> Path:
    path = key or load_settings().audit_checkpoint_key_file
    if path is None:
        raise fail("no checkpoint key: give --key or set CONCERNLOG_AUDIT_CHECKPOINT_KEY_FILE", 2)
    return path


def _public_key(public_key: Path | None, key: Path | None) -> bytes:
    """The checkpoint's verification key: the public key file, or the private key's own."""
    from core import signing

    try:
        if public_key is not None:
            return signing.read_key_file(public_key)
        return signing.public_key_of(signing.read_key_file(_private_key_file(key)))
    except signing.SigningKeyError as exc:
        raise fail(str(exc), code=2) from None


def _read_checkpoint(file: Path) -> object:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        # On standard output with the other verdicts: an altered file is one of them.
        typer.echo(f"checkpoint {file} is not a JSON audit checkpoint")
        raise typer.Exit(1) from None


@audit_app.command("verify")
def audit_verify(
    school_urn: Annotated[str, typer.Option(help="The school's URN")],
    checkpoint: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Also check against a signed checkpoint"),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="The checkpoint key's public key (PEM)"),
    ] = None,
    key: Annotated[
        Path | None, typer.Option(help="The checkpoint private key (default: from settings)")
    ] = None,
) -> None:
    """Check a school's audit hash chain (and, with --checkpoint, that it still holds the
    checkpointed event: not rewritten, not truncated). Prints one line; exits 1 if the
    chain is broken or does not match the checkpoint (2 if the school, a migrated database
    or a key does not exist)."""
    from core.errors import DomainError
    from services import audit, schools

    document = _read_checkpoint(checkpoint) if checkpoint is not None else None
    public_pem = _public_key(public_key, key) if checkpoint is not None else b""
    database = open_database()
    try:
        with database.transaction() as session:
            school = schools.school_by_urn(session, school_urn)
            if document is None:
                result = audit.verify_chain(session, school_id=school.id)
            else:
                held = audit.check_checkpoint(
                    session, school_id=school.id, document=document, public_key_pem=public_pem
                )
    except DomainError as exc:
        raise fail(exc.detail, code=2) from None
    except audit.CheckpointError as exc:
        typer.echo(f"checkpoint {checkpoint}: {exc}")
        raise typer.Exit(1) from None
    finally:
        database.dispose()
    if document is not None:
        if not held.ok:
            typer.echo(f"school {school_urn}: {held.problem}")
            raise typer.Exit(1)
        typer.echo(
            f"audit chain of school {school_urn} is intact ({held.events_checked} events) "
            f"and holds the checkpoint at event {held.seq}"
        )
        return
    if not result.ok:
        typer.echo(
            f"audit chain of school {school_urn} is BROKEN at event {result.first_bad_seq} "
            f"({result.events_checked} events checked)"
        )
        raise typer.Exit(1)
    typer.echo(f"audit chain of school {school_urn} is intact ({result.events_checked} events)")


@audit_app.command("checkpoint")
def audit_checkpoint(
    school_urn: Annotated[str, typer.Option(help="The school's URN")],
    out: Annotated[Path | None, typer.Option(help="Write it here (default: standard output)")] = (
        None
    ),
    key: Annotated[
        Path | None, typer.Option(help="The private key (default: from settings)")
    ] = None,
) -> None:
    """Sign the school's audit chain head with the checkpoint key and write the checkpoint
    (JSON). Keep it off the database server. Exits 1 if the chain is broken. The counts of
    closed security-probe windows are put in the chain first, in a transaction of their
    own, so that the checkpoint vouches for them too (ADR 0060)."""
    from core import signing
    from core.clock import utcnow
    from core.errors import DomainError
    from services import audit, schools
    from services.audit import probes

    try:
        private_pem = signing.read_key_file(_private_key_file(key))
        signing.public_key_of(private_pem)  # refuse a bad key before reading the chain
    except signing.SigningKeyError as exc:
        raise fail(str(exc), code=2) from None
    database = open_database()
    try:
        with database.transaction() as session:
            school = schools.school_by_urn(session, school_urn)
            probes.summarise_closed_windows(session, school_id=school.id, now=utcnow())
        with database.transaction() as session:
            document = audit.take_checkpoint(
                session, school_id=school.id, now=utcnow(), private_key_pem=private_pem
            )
    except DomainError as exc:
        raise fail(exc.detail, code=2) from None
    except audit.CheckpointError as exc:
        raise fail(str(exc)) from None
    finally:
        database.dispose()
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {out}: {exc.strerror}", code=2) from None
    typer.echo(f"checkpoint of school {school_urn} at event {document['seq']} written to {out}")


@audit_app.command("checkpoint-key")
def audit_checkpoint_key(
    out: Annotated[Path, typer.Option(help="The new private key file (never overwritten)")],
) -> None:
    """Create a new Ed25519 checkpoint key (PEM, mode 0600) and print its public key. Keep
    the private key off the database and out of the repository."""
    from core import signing

    try:
        public_pem = signing.write_new_private_key(out)
    except signing.SigningKeyError as exc:
        raise fail(str(exc), code=2) from None
    typer.echo(public_pem.decode("ascii"), nl=False)
    typer.echo(f"fingerprint {signing.fingerprint(public_pem)}", err=True)
