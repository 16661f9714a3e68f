"""``concernlog privileged-requests``: the service's operator decides a request for a
change that needs a DSL when the school has no other DSL to decide it (its only DSL lost
their phone), as it creates a school's first DSL with ``create-user`` (ADR 0080)."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from api.cli_support import fail, open_database

privileged_app = typer.Typer(
    help="Requests for changes that need a DSL (a DSL role, a DSL's password or MFA).",
    no_args_is_help=True,
)


@privileged_app.command("list")
def list_pending(
    school_urn: Annotated[str, typer.Option(help="The school's URN")],
) -> None:
    """The school's pending requests, one a line: id, kind, account email, role asked for
    (or -), and when it expires."""
    from core.clock import utcnow
    from core.errors import DomainError
    from services import privileged, schools

    database = open_database()
    try:
        with database.transaction() as session:
            school = schools.school_by_urn(session, school_urn)
            pending = privileged.pending_in_school(session, school_id=school.id, now=utcnow())
            lines = [
                f"{request.id} {request.kind} {user.email} {request.role or '-'} "
                f"{request.expires_at.isoformat().replace('+00:00', 'Z')}"
                for request, user in pending
            ]
    except DomainError as exc:
        raise fail(exc.detail) from None
    finally:
        database.dispose()
    for line in lines:
        typer.echo(line)


@privileged_app.command("approve")
def approve(
    request_id: Annotated[str, typer.Argument(help="The request's id (from `list`)")],
) -> None:
    """Approve a pending request and apply it, as the operator (audited as the system's
    act, and told to the school's DSLs). Prints `approved`."""
    from core.clock import utcnow
    from core.errors import DomainError
    from services import privileged

    try:
        parsed = uuid.UUID(request_id)
    except ValueError:
        raise fail("the request id is not a UUID", code=2) from None
    database = open_database()
    try:
        with database.transaction() as session:
            privileged.approve_as_operator(session, request_id=parsed, now=utcnow())
    except DomainError as exc:
        raise fail(exc.detail) from None
    finally:
        database.dispose()
    typer.echo("approved")
