"""The patch cache reports the failures a download survives (the metric
livepatch_server_patch_cache_errors_total counts them by stage; the `open` stage is
tested over HTTP in tests/server/test_metrics_state.py)."""

import hashlib
import os

from livepatch_app.patch_cache import PatchCache

DATA = b"x" * 5000
SHA = hashlib.sha256(DATA).hexdigest()


def test_bytes_that_do_not_match_their_hash_are_served_not_cached_and_reported(tmp_path):
    errors = []
    cache = PatchCache(str(tmp_path / "c"), 1 << 20, 3600, on_error=errors.append)
    served = b"".join(cache.fill_through(SHA, len(DATA), iter([DATA[:-1] + b"y"])))
    assert served == DATA[:-1] + b"y"
    assert errors == ["verify"] and os.listdir(tmp_path / "c") == []


def test_a_fill_that_cannot_be_written_is_reported(tmp_path):
    errors = []
    cache = PatchCache(str(tmp_path / "c"), 1 << 20, 3600, on_error=errors.append)
    os.rmdir(tmp_path / "c")  # the folder went away under the running server
    assert b"".join(cache.fill_through(SHA, len(DATA), iter([DATA]))) == DATA
    assert errors == ["write"]


def test_a_good_fill_reports_nothing(tmp_path):
    errors = []
    cache = PatchCache(str(tmp_path / "c"), 1 << 20, 3600, on_error=errors.append)
    assert b"".join(cache.fill_through(SHA, len(DATA), iter([DATA[:100], DATA[100:]]))) == DATA
    assert errors == [] and os.listdir(tmp_path / "c") == [SHA]
