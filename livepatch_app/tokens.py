"""Secrets handed out by the server: random, shown once, stored only as a hash."""

import hashlib
import secrets
import uuid


def new_token():
    """A UUIDv4-shaped random token (122 random bits), as livepatch clients expect."""
    return str(uuid.UUID(bytes=secrets.token_bytes(16), version=4))


def new_session_token():
    return secrets.token_urlsafe(32)


def token_hash(token):
    # Tokens carry >=122 random bits, so a plain (fast) hash is enough to make a
    # stolen table useless while keeping the lookup an index hit.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
