"""The password policy: long enough, and not one everybody tries first."""

from __future__ import annotations

from core.errors import InvalidInput

MIN_LENGTH = 12

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


def check_password_policy(password: str) -> None:
    """Raise InvalidInput (422) for a password that is too short or too common."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(
            f"The password must be at least {MIN_LENGTH} characters long.",
            loc=["password"],
            error_type="password_too_short",
        )
    if password.lower() in COMMON_PASSWORDS:
        raise InvalidInput(
            "That password is on the list of commonly used passwords; choose another.",
            loc=["password"],
            error_type="password_too_common",
        )
