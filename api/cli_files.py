"""``concernlog files``: the attachments' file store (ADR 0105)."""

from __future__ import annotations

import uuid

import typer

from api.cli_support import load_settings, open_database

files_app = typer.Typer(help="The attachments' sealed files.", no_args_is_help=True)


@files_app.command("sweep")
def files_sweep() -> None:
    """Remove the sealed files that no attachment names and that are older than an hour
    (left by an upload killed before its record was committed; nothing ever serves them)
    and print how many. Safe at any time, e.g. hourly or daily from cron."""
    from core.clock import utcnow
    from services import attachments

    settings = load_settings()
    database = open_database(settings)
    store = attachments.FileStore(settings.files_url, settings.files_key_bytes)

    def known(ids: list[uuid.UUID]) -> set[uuid.UUID]:
        with database.transaction() as session:
            return attachments.live_attachment_ids(session, ids)

    try:
        result = attachments.sweep(store, known=known, now=utcnow())
    finally:
        database.dispose()
    typer.echo(
        f"removed {result.removed} orphan files; left {result.kept_young} younger than an hour"
    )
