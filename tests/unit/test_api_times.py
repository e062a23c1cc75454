"""Times in and out of the API (api/common.py): RFC 3339, answered in UTC."""

from datetime import datetime, timedelta, timezone

import pytest

from livepatch_app.api.common import format_time, parse_time
from livepatch_app.errors import BadRequest


def test_answers_pad_early_years_and_drop_fractions():
    assert format_time(datetime(402, 3, 11, 13, 19, 15, 250, tzinfo=timezone.utc)) == "0402-03-11T13:19:15Z"
    east = timezone(timedelta(hours=2))
    assert format_time(datetime(2026, 12, 2, 1, 0, tzinfo=east)) == "2026-12-01T23:00:00Z"


def test_offsets_past_postgresqls_bound_are_converted_to_utc():
    # RFC 3339 allows -19:56; PostgreSQL's timestamptz takes at most 15:59 (it gave 500).
    assert parse_time("4714-11-29T19:25:12.432-19:56", "valid-until") == datetime(
        4714, 11, 30, 15, 21, 12, 432000, tzinfo=timezone.utc)


@pytest.mark.parametrize("text", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00", "soon", "2026-13-01T00:00:00Z"])
def test_times_out_of_range_or_malformed_are_400(text):
    with pytest.raises(BadRequest) as caught:
        parse_time(text, "valid-until")
    assert caught.value.code == "invalid-field"
