"""Password hashing (argon2id through pwdlib): the only importer of the password hasher."""

from __future__ import annotations

import os
import secrets
import threading

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

# argon2id at OWASP's minimum (m=19 MiB, t=2, p=1). Hashes made with other parameters are
# upgraded on the next successful login.
password_hasher = PasswordHash((Argon2Hasher(time_cost=2, memory_cost=19 * 1024, parallelism=1),))
# Verified against when the account does not exist, so both paths cost the same.
_DUMMY_HASH = password_hasher.hash(secrets.token_urlsafe(16))


def hashing_concurrency(processes: int = 1) -> int:
    """How many argon2id hashes may run at once in this process: half the cores it may
    use, shared among the ``processes`` server processes on the machine
    (``CONCERNLOG_SERVER_PROCESSES``, which ``concernlog serve --workers N`` sets).

    A hash takes 19 MiB and a whole core while it runs. A burst of sign-ins (the start of
    the school day) then never starves the requests of people already signed in, and
    memory stays bounded whatever the number of connections (measurements:
    docs/adr/0028-sign-ins-hashed-in-turns.md), however many processes serve.
    """
    try:
        cores = len(os.sched_getaffinity(0))  # honours a container's CPU set
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 2
    return max(1, cores // 2 // max(1, processes))


# The bound itself, for every caller (sign-in, password changes, the CLI). The sign-in
# route also queues for its turn on the event loop, before it holds a database session
# (``api.deps.SignInTurn``), so sign-ins waiting here never hold connections.
_HASHING_SLOTS = threading.BoundedSemaphore(hashing_concurrency())
_hashing_processes = 1


def share_hashing(processes: int) -> None:
    """Bound this process's hashing to its share (``hashing_concurrency(processes)``): for
    a server process, at start-up, before any password is hashed."""
    global _HASHING_SLOTS, _hashing_processes
    _hashing_processes = processes
    _HASHING_SLOTS = threading.BoundedSemaphore(hashing_concurrency(processes))


def hashing_share() -> int:
    """How many hashes this process runs at once (what ``share_hashing`` set)."""
    return hashing_concurrency(_hashing_processes)


def hash_password(password: str) -> str:
    with _HASHING_SLOTS:
        return password_hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """Check a password. Returns (valid, new hash if the stored one should be upgraded).

    With no stored hash (unknown account, or no password set yet) a dummy hash is checked
    anyway so the answer takes as long as a real one."""
    with _HASHING_SLOTS:
        if password_hash is None:
            password_hasher.verify(password, _DUMMY_HASH)
            return False, None
        try:
            return password_hasher.verify_and_update(password, password_hash)
        except Exception:  # a corrupt stored hash must not become a 500 or a way in
            return False, None
