"""The console's formatting: relative times, durations, sizes, numbers, and the
machines page's query parsing (a bad value is BadQuery, a 400 page)."""

from datetime import datetime, timedelta, timezone

import pytest
from werkzeug.datastructures import MultiDict

from livepatch_app import console_pages as pages

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("delta, text", [
    (timedelta(seconds=5), "just now"), (timedelta(minutes=3), "3 min ago"), (timedelta(hours=2), "2 h ago"),
    (timedelta(days=1, hours=3), "1 day ago"), (timedelta(days=9), "9 days ago"),
    (timedelta(minutes=-10), "in 10 min"), (timedelta(seconds=-20), "in less than a minute"),
])
def test_ago(delta, text):
    assert pages.ago(NOW - delta, now=NOW) == text


def test_ago_of_none_is_never_and_exact_time_is_rfc3339():
    assert pages.ago(None) == "never"
    assert pages.exact_time(NOW) == "2026-12-03T12:00:00Z"
    assert pages.exact_time(None) == ""


@pytest.mark.parametrize("seconds, text", [(172800, "2 days"), (86400, "1 day"), (7200, "2 h"), (5400, "90 min"),
                                           (61, "61 s")])
def test_duration(seconds, text):
    assert pages.duration(seconds) == text


@pytest.mark.parametrize("nbytes, text", [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 * 1024 ** 2, "5.0 MiB"),
                                          (3 * 1024 ** 4, "3072.0 GiB")])
def test_size(nbytes, text):
    assert pages.size(nbytes) == text


def test_number():
    assert pages.number(1234567) == "1,234,567"


def test_machine_filters():
    tiers = ("edge", "stable")
    assert pages.machine_filters(MultiDict(), tiers) == {
        "tier": None, "kernel": None, "state": None, "stale": False, "sort": "-last_check_in", "page": 1}
    assert pages.machine_filters(MultiDict({"tier": "edge", "kernel": " 6.8.0-35.35-generic ", "state": "applied",
                                            "stale": "1", "sort": "last_check_in", "page": "3"}), tiers) == {
        "tier": "edge", "kernel": "6.8.0-35.35-generic", "state": "applied", "stale": True,
        "sort": "last_check_in", "page": 3}
    for bad in ({"tier": "nope"}, {"state": "exploded"}, {"sort": "machine_id"}, {"page": "0"}, {"page": "x"},
                {"page": "-2"}, {"page": "1" * 20}, {"kernel": "k" * 201}):
        with pytest.raises(pages.BadQuery):
            pages.machine_filters(MultiDict(bad), tiers)
