"""Leader data: what every unit of the application shares.

Keys: ``resource-token`` (from the get-resource-token action; every unit uses
it as its sync token unless the sync_token option is set) and
``schema-version`` (set after the leader changes the schema, so that the
other units get leader-settings-changed and restart on the new schema).
"""

from charmhelpers.core import hookenv

RESOURCE_TOKEN = "resource-token"
SCHEMA_VERSION = "schema-version"


def resource_token():
    return hookenv.leader_get(RESOURCE_TOKEN) or ""


def store_resource_token(token):
    hookenv.leader_set({RESOURCE_TOKEN: token})


def schema_version():
    return hookenv.leader_get(SCHEMA_VERSION) or ""


def record_schema_version(version):
    """Leader only; a no-op when unchanged, so followers are not woken for nothing."""
    if schema_version() != str(version):
        hookenv.leader_set({SCHEMA_VERSION: str(version)})
