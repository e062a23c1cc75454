-- The console (issue 14): the top kernels of the overview and the machines page's
-- kernel filter (data/fleet.py top_kernels, data/machines.py search with kernel=) read
-- machines by kernel; without this index both were sequential scans of machines.
-- A machine's kernel changes only when it boots another kernel, so a check-in still
-- changes no indexed column (and stays a heap-only update) as a rule.
CREATE INDEX machines_kernel_idx ON machines (kernel);
