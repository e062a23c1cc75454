"""Admin users from `auth_basic_users`: `user:<bcrypt hash>` entries, as
`htpasswd -bnBC 10 user pass` prints them, separated by commas or new lines."""

import re

import bcrypt

_BCRYPT_RE = re.compile(r"^\$2[abxy]\$(\d\d)\$[./A-Za-z0-9]{53}$")
_USER_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
DEFAULT_COST = 10  # of the dummy hash when no user is configured (htpasswd -C 10)


class AdminUsers(dict):
    """{user: bcrypt hash bytes}, and `dummy_hash`: what an unknown user name is
    checked against, so that its answer takes as long as a known one's. Its cost is
    the highest of the users' costs; it is made once, here, when the configuration
    is loaded."""

    def __init__(self, users=()):
        super().__init__(users)
        self.cost = max((_cost(hashed) for hashed in self.values()), default=DEFAULT_COST)
        self.dummy_hash = bcrypt.hashpw(b"not-a-password", bcrypt.gensalt(self.cost))


def _cost(hashed):
    return int(_BCRYPT_RE.match(hashed.decode("ascii")).group(1))


def parse_users(text):
    """-> AdminUsers. Raises ValueError naming the bad entry (never its hash)."""
    users = {}
    for number, entry in enumerate(re.split(r"[,\n]", text or ""), start=1):
        entry = entry.strip()
        if not entry:
            continue
        user, sep, hashed = entry.partition(":")
        if not sep or not _USER_RE.match(user):
            raise ValueError(f"entry {number} is not user:bcrypt-hash")
        match = _BCRYPT_RE.match(hashed)
        if not match:
            raise ValueError(f"entry {number} ({user}) does not hold a bcrypt hash (use htpasswd -bnBC 10)")
        if not 4 <= int(match.group(1)) <= 31:
            raise ValueError(f"entry {number} ({user}) has a bcrypt cost outside 4-31")
        if user in users:
            raise ValueError(f"user {user} appears twice")
        users[user] = hashed.encode("ascii")
    return AdminUsers(users)


def hash_password(password, rounds=10):
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii").replace("$2b$", "$2y$", 1)


def check_password(users, username, password):
    """users: AdminUsers (parse_users). An unknown name costs as much as a known one."""
    hashed = users.get(username)
    secret = password.encode("utf-8")
    if len(secret) > 72:  # bcrypt's limit; such a password can never match
        return False
    if hashed is None:
        bcrypt.checkpw(secret, users.dummy_hash)
        return False
    return bcrypt.checkpw(secret, hashed)
