"""The password policy (issue 22, point 9): long enough, not common, and hard to guess by a
maintained estimator (zxcvbn), with the account's own name and email counted against it."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from core.errors import InvalidInput
from db.engine import Database
from services.password_policy import check_password_policy
from tests.factories import auth, make_school, make_user

USERS = "/api/v1/users"


@pytest.mark.parametrize(
    "password",
    [
        "aaaaaaaaaaaa",  # long enough, on no list: a repeat
        "qwertyuiopasdf",  # a keyboard walk
        "Passw0rd12345",  # a common password, decorated
        "abcdefghijklmn",  # a sequence
    ],
)
def test_easy_to_guess_passwords_are_refused_with_advice(password: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_password_policy(password)
    error = refused.value.extra["errors"][0]
    assert error["type"] in {"password_too_weak", "password_too_common"}
    assert error["loc"] == ["body", "password"]
    assert password not in str(refused.value.extra) and password not in str(refused.value)


def test_the_accounts_own_name_counts_against_its_password() -> None:
    check_password_policy("bloggsjoanne1")  # fine for someone else (12+ characters)
    with pytest.raises(InvalidInput) as refused:
        check_password_policy(
            "bloggsjoanne1", account=("joanne.bloggs@fictional.example", "Joanne Bloggs")
        )
    assert refused.value.extra["errors"][0]["type"] == "password_too_weak"


def test_a_passphrase_of_uncommon_words_passes() -> None:
    check_password_policy("lantern-orchard-velvet-42")
    check_password_policy("x" * 60 + "-correct-orchard-lantern")  # long ones are estimated fast


def test_the_api_refuses_a_weak_password_saying_what_would_help(
    app: FastAPI, client: TestClient, database: Database
) -> None:
    school = make_school(database)
    admin = make_user(database, school, "admin")
    staff = make_user(database, school, "staff")
    for path, body in (
        (f"{USERS}/{staff.id}/password", {"password": "aaaaaaaaaaaa"}),
        (
            USERS,
            {
                "email": "new.teacher@fictional.example",
                "display_name": "New Teacher",
                "role": "staff",
                "password": "aaaaaaaaaaaa",
            },
        ),
    ):
        response = client.post(path, json=body, headers=auth(app, admin))
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["errors"][0]["type"] == "password_too_weak"
        assert "aaaa" not in response.text
        assert "guess" in problem["detail"]
