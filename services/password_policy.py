"""The password policy: long enough, not one everybody tries first, and hard to guess.

Hard to guess is zxcvbn's estimate (a maintained port of Dropbox's estimator): patterns,
repeats, keyboard walks, dates, dictionary words and the account's own name and email
all count against a password. ``aaaaaaaaaaaa`` is long enough and on no list, and is
refused here.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.errors import InvalidInput

MIN_LENGTH = 12
# zxcvbn's score, 0 to 4: 3 is "safely unguessable: moderate protection from an offline
# slow-hash scenario" (argon2id here), which is what a stolen database would face.
MIN_SCORE = 3
# zxcvbn's time grows with the length, and it refuses more than 72 characters (bcrypt's
# limit, its default): a password is estimated on its first 72, as a longer one is only
# stronger.
ESTIMATED_CHARACTERS = 72

# A small built-in list of the passwords (12+ characters) most often seen in breaches and
# in schools' own first guesses; compared case-insensitively.
COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890123",
        "12345678910",
        "123456123456",
        "111111111111",
        "000000000000",
        "qwertyuiopas",
        "qwerty123456",
        "qwertyuiop123",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "zaq12wsxcde3",
        "password1234",
        "password12345",
        "password123!",
        "passwordpassword",
        "p@ssw0rd1234",
        "letmein12345",
        "iloveyou1234",
        "welcome12345",
        "welcome123456",
        "changeme1234",
        "changemenow!",
        "administrator",
        "admin1234567",
        "abc123456789",
        "abcdefghijkl",
        "trustno1trustno1",
        "football1234",
        "baseball1234",
        "sunshine1234",
        "princess1234",
        "starwars1234",
        "monkey123456",
        "dragon123456",
        "superman1234",
        "teacher12345",
        "teacher123456",
        "school123456",
        "schoolpassword",
        "safeguarding",
        "safeguarding1",
        "safeguarding123",
        "headteacher1",
        "september2026",
        "summer2026!!",
        "winter2026!!",
        "autumn2026!!",
        "spring2026!!",
        "correcthorsebatterystaple",
    }
)


def check_password_policy(
    password: str, *, account: Iterable[str] = (), field: str = "password"
) -> None:
    """Raise InvalidInput (422, naming the body's ``field``) for a password that is too
    short, too common or too easy to guess; ``account`` is what the account is known by
    (its email, its name), which a password must not lean on. The error says what would
    help, never the password."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(
            f"The password must be at least {MIN_LENGTH} characters long.",
            loc=[field],
            error_type="password_too_short",
        )
    if password.lower() in COMMON_PASSWORDS:
        raise InvalidInput(
            "That password is on the list of commonly used passwords; choose another.",
            loc=[field],
            error_type="password_too_common",
        )
    words = [part for value in account for part in _parts(value)]
    # zxcvbn's dictionaries (~13 MiB) are loaded with the first password set, not by
    # every server at start-up.
    from zxcvbn import zxcvbn

    estimate = zxcvbn(password[:ESTIMATED_CHARACTERS], user_inputs=words)
    if estimate["score"] < MIN_SCORE:
        feedback = estimate["feedback"]
        advice = " ".join(
            text for text in (feedback.get("warning"), *feedback.get("suggestions", [])) if text
        )
        raise InvalidInput(
            "That password would be easy to guess. "
            + (advice or "Use a longer passphrase of several uncommon words."),
            loc=[field],
            error_type="password_too_weak",
        )


def _parts(value: str) -> list[str]:
    """An email or a name, and its words: ``jo.bloggs@example.org`` is also ``jo``,
    ``bloggs`` and ``example``."""
    words = [value]
    for separator in ("@", ".", " ", "-", "_"):
        words = [part for word in words for part in word.split(separator)]
    return [value, *(word for word in words if len(word) >= 3)]
