"""Admin users: an unknown user name is checked against a dummy hash of the same
bcrypt cost as the configured users' (the highest), computed once when the
configuration is loaded, so the time of an answer does not tell which names exist.
Compared by the cost factor each check uses, not by timing."""

import bcrypt
import pytest

from livepatch_app import auth_users
from livepatch_app.auth_users import check_password, hash_password, parse_users
from livepatch_app.config import ConfigError, load_config


def cost(hashed):
    return int(hashed.split(b"$")[2])


@pytest.fixture
def checked(monkeypatch):
    """The hashes bcrypt.checkpw is asked to check against, in order."""
    seen = []
    real = bcrypt.checkpw

    def spy(password, hashed):
        seen.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(auth_users.bcrypt, "checkpw", spy)
    return seen


def test_unknown_users_cost_what_the_configured_users_cost(checked):
    users = parse_users(f"ops:{hash_password('a', rounds=5)}\nadmin:{hash_password('b', rounds=6)}")
    assert check_password(users, "nobody", "x") is False
    assert check_password(users, "admin", "wrong") is False
    assert check_password(users, "admin", "b") is True
    assert [cost(h) for h in checked] == [6, 6, 6]


def test_the_dummy_is_made_once_when_the_configuration_loads(monkeypatch, checked):
    entry = f"admin:{hash_password('pw', rounds=7)}"
    users = load_config(None, environ={"LIVEPATCH_AUTH_BASIC_USERS": entry}).auth_basic_users
    made = []
    monkeypatch.setattr(auth_users.bcrypt, "hashpw", lambda *a: made.append(a))
    for _ in range(3):
        assert check_password(users, "nobody", "x") is False
    assert made == [] and [cost(h) for h in checked] == [7, 7, 7]


def test_without_users_the_dummy_has_the_documented_cost(checked):
    assert check_password(parse_users(""), "admin", "x") is False
    assert cost(checked[0]) == 10


def test_a_cost_bcrypt_cannot_use_is_refused():
    hashed = hash_password("pw", rounds=4).replace("$04$", "$32$")
    with pytest.raises(ConfigError) as err:
        load_config(None, environ={"LIVEPATCH_AUTH_BASIC_USERS": f"admin:{hashed}"})
    assert "cost" in str(err.value) and hashed not in str(err.value)
