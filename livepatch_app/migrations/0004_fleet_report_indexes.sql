-- Indexes for a large fleet (issue 12: 100,000 machines, millions of reports), each
-- serving a query of a hot path; tests/server/test_query_plans.py checks their plans.
--
-- report machines <tier> [<version> [<state>]] and report patch-health <tier> <version>
-- (data/machines.py search, state_counts), the tier counts (data/tiers.py): the counts
-- are read from this index alone (an index-only scan), and a page of one tier, version
-- and state comes out in machine_id order without a sort. Its tier_id prefix does the
-- work of machines_tier_idx, which goes.
CREATE INDEX machines_tier_patch_idx ON machines (tier_id, patch_version, patch_state, machine_id);
DROP INDEX machines_tier_idx;

-- Enabling a machine on an auth token with a machine limit counts the token's enabled
-- machines (data/machines.py count_enabled_by_token), and the token list counts them
-- for every token: with a fleet on one token this was a sequential scan of machines.
-- Its auth_token_id prefix also serves the foreign key's ON DELETE SET NULL.
CREATE INDEX machines_auth_token_enabled_idx ON machines (auth_token_id, enabled, machine_id);
DROP INDEX machines_auth_token_idx;

-- No query reads machines by last_check_in, and every check-in sets it: while it is
-- indexed, no check-in can be a heap-only (HOT) update, so each one writes a new entry
-- into every index of machines. Without it, a check-in that changes no indexed column
-- (tier, patch version and state as before) can skip them all.
DROP INDEX machines_last_check_in_idx;
