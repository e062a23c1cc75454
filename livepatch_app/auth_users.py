"""Admin users from `auth_basic_users`: `user:<bcrypt hash>` entries, as
`htpasswd -bnBC 10 user pass` prints them, separated by commas or new lines."""

import re

import bcrypt

_BCRYPT_RE = re.compile(r"^\$2[abxy]\$(\d\d)\$[./A-Za-z0-9]{53}$")
_USER_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


def parse_users(text):
    """-> {user: hash bytes}. Raises ValueError naming the bad entry (never its hash)."""
    users = {}
    for number, entry in enumerate(re.split(r"[,\n]", text or ""), start=1):
        entry = entry.strip()
        if not entry:
            continue
        user, sep, hashed = entry.partition(":")
        if not sep or not _USER_RE.match(user):
            raise ValueError(f"entry {number} is not user:bcrypt-hash")
        if not _BCRYPT_RE.match(hashed):
            raise ValueError(f"entry {number} ({user}) does not hold a bcrypt hash (use htpasswd -bnBC 10)")
        if user in users:
            raise ValueError(f"user {user} appears twice")
        users[user] = hashed.encode("ascii")
    return users


def hash_password(password, rounds=10):
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii").replace("$2b$", "$2y$", 1)


# A hash to compare against for unknown users, so that timing does not tell
# whether a user name exists.
_DUMMY_HASH = bcrypt.hashpw(b"not-a-password", bcrypt.gensalt(10))


def check_password(users, username, password):
    hashed = users.get(username)
    secret = password.encode("utf-8")
    if len(secret) > 72:  # bcrypt's limit; such a password can never match
        return False
    if hashed is None:
        bcrypt.checkpw(secret, _DUMMY_HASH)
        return False
    return bcrypt.checkpw(secret, hashed)
