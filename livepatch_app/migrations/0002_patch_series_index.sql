-- Lookups by kernel series rather than exact kernel (GET /v1/api/kernels/supported):
-- "which kernels of this flavour and architecture have patches" and "the newest
-- patched ABI of series X.Y.Z". patches_match_idx starts with the exact kernel,
-- so it cannot serve them.
CREATE INDEX patches_series_idx ON patches (flavour, architecture, kernel_base, abi DESC, build DESC);
