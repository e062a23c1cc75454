-- The whole first schema. Every query on a hot path (check-in, download,
-- token lookup) has an index here.

CREATE TABLE tiers (
    id          serial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    position    integer NOT NULL UNIQUE,  -- order: lowest is the first tier
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO tiers (name, position) VALUES
    ('edge', 10), ('beta', 20), ('candidate', 30), ('stable', 40);

-- Patch bytes for the postgres store, in chunks so that neither upload nor
-- download needs a whole file in memory. A blob without a patch row pointing at
-- it is an unfinished upload: invisible, and swept later.
CREATE TABLE blobs (
    id          bigserial PRIMARY KEY,
    chunk_size  integer NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE blob_chunks (
    blob_id     bigint NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,
    seq         integer NOT NULL,
    data        bytea NOT NULL,
    PRIMARY KEY (blob_id, seq)
);

CREATE TABLE patches (
    id            bigserial PRIMARY KEY,
    filename      text NOT NULL UNIQUE,
    kernel        text NOT NULL,          -- 5.15.0-107.117
    kernel_base   text NOT NULL,          -- 5.15.0
    abi           integer NOT NULL,       -- 107
    build         integer NOT NULL,       -- 117
    flavour       text NOT NULL,          -- generic, aws-fips, ...
    version       text NOT NULL,          -- 107.1
    version_major integer NOT NULL,
    version_minor integer NOT NULL,
    architecture  text NOT NULL,          -- amd64, arm64, s390x
    sha256        char(64) NOT NULL,
    size          bigint NOT NULL,
    storage_key   text NOT NULL,          -- where the store keeps the bytes
    source        text NOT NULL DEFAULT 'upload',  -- upload | sync | import
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX patches_match_idx ON patches (kernel, flavour, architecture);
CREATE INDEX patches_version_idx ON patches (version);

CREATE TABLE patch_tiers (
    patch_id    bigint NOT NULL REFERENCES patches(id) ON DELETE CASCADE,
    tier_id     integer NOT NULL REFERENCES tiers(id) ON DELETE CASCADE,
    added_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (patch_id, tier_id)
);
CREATE INDEX patch_tiers_tier_idx ON patch_tiers (tier_id);

-- By file name, so that an upstream block applies before (or without) the file.
CREATE TABLE blocklist (
    filename    text PRIMARY KEY,
    reason      text NOT NULL DEFAULT '',
    source      text NOT NULL DEFAULT 'local',   -- local | upstream
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE admin_sessions (
    id          bigserial PRIMARY KEY,
    token_hash  text NOT NULL UNIQUE,
    username    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);

CREATE TABLE auth_tokens (
    id            bigserial PRIMARY KEY,
    label         text NOT NULL UNIQUE,
    token_hash    text NOT NULL UNIQUE,
    tier_id       integer NOT NULL REFERENCES tiers(id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text NOT NULL DEFAULT '',
    valid_until   timestamptz,
    max_machines  integer,
    revoked_at    timestamptz
);

CREATE TABLE machines (
    machine_id     text PRIMARY KEY,
    token_hash     text NOT NULL UNIQUE,
    tier_id        integer NOT NULL REFERENCES tiers(id),
    auth_token_id  bigint REFERENCES auth_tokens(id) ON DELETE SET NULL,
    enabled        boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_check_in  timestamptz,
    kernel         text,
    architecture   text,
    patch_state    text,
    patch_version  text,
    client_version text,
    boot_time      text,
    uptime         bigint,
    cpu_model      text
);
CREATE INDEX machines_tier_idx ON machines (tier_id);
CREATE INDEX machines_auth_token_idx ON machines (auth_token_id);
CREATE INDEX machines_last_check_in_idx ON machines (last_check_in);

CREATE TABLE machine_reports (
    id             bigserial PRIMARY KEY,
    machine_id     text NOT NULL,
    reported_at    timestamptz NOT NULL DEFAULT now(),
    tier_id        integer,
    kernel         text,
    architecture   text,
    patch_state    text,
    patch_version  text,
    client_version text,
    boot_time      text,
    uptime         bigint,
    cpu_model      text
);
CREATE INDEX machine_reports_reported_at_idx ON machine_reports (reported_at);
CREATE INDEX machine_reports_machine_idx ON machine_reports (machine_id, reported_at);

CREATE TABLE sync_tokens (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    token_hash   text NOT NULL UNIQUE,
    tier_id      integer NOT NULL REFERENCES tiers(id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    valid_until  timestamptz,
    revoked_at   timestamptz
);

CREATE TABLE sync_runs (
    id             bigserial PRIMARY KEY,
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    trigger        text NOT NULL DEFAULT 'schedule',  -- schedule | manual
    result         text NOT NULL DEFAULT 'running',   -- running | success | failed
    patches_added  integer NOT NULL DEFAULT 0,
    bytes          bigint NOT NULL DEFAULT 0,
    error          text
);
CREATE INDEX sync_runs_started_idx ON sync_runs (started_at DESC);

-- What downstream deployments told us (upstream side of sync).
CREATE TABLE sync_deployments (
    deployment_id  text PRIMARY KEY,
    sync_token_id  bigint REFERENCES sync_tokens(id) ON DELETE SET NULL,
    machine_count  integer NOT NULL,
    exact          boolean NOT NULL DEFAULT false,
    reported_at    timestamptz NOT NULL DEFAULT now()
);

-- Small server-wide facts (deployment id, last clean-up run, ...).
CREATE TABLE server_state (
    key    text PRIMARY KEY,
    value  text NOT NULL
);
