"""The end of a unit of work: commit on success, roll back on error, once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlmodel import Session

from core.errors import DomainError

T = TypeVar("T")


@contextmanager
def finishing(session: Session) -> Iterator[Session]:
    """``session`` for a block, then ``finish``: commit when the block ends normally, roll
    back (see ``finish``) when it raises."""
    try:
        yield session
    except BaseException as exc:
        finish(session, exc)
        raise
    finish(session, None)


def run_and_finish(session: Session, work: Callable[[], T]) -> T:
    """Run ``work`` with ``session``, then commit (or, if it raised, roll back): the
    request's whole unit of work in one call, so in one worker thread."""
    with finishing(session):
        return work()


# session.info key: set once the session has been committed or rolled back and closed.
_FINISHED = "concernlog.db.finished"


def is_finished(session: Session) -> bool:
    return bool(session.info.get(_FINISHED))


def finish(session: Session, error: BaseException | None) -> None:
    """End a unit of work: commit on success, roll back on error (except a domain error
    that keeps its writes: a failed sign-in keeps its throttling row), then close. A
    session is finished once; later calls do nothing."""
    if is_finished(session):
        return
    session.info[_FINISHED] = True
    try:
        if error is None or (isinstance(error, DomainError) and error.keeps_writes):
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()
