"""Kubernetes timestamps: always UTC with a Z, whatever zone the moment was taken in; the
memoized formatting and parsing give the same answers for equal instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from controller.clock import parse_rfc3339, rfc3339, rfc3339_micro

MOMENT = datetime(2026, 12, 7, 23, 59, 58, 123456, tzinfo=UTC)
EAST = timezone(timedelta(hours=2))


def test_times_are_written_in_utc_to_the_second() -> None:
    assert rfc3339(MOMENT) == "2026-12-07T23:59:58Z"
    assert rfc3339(MOMENT.astimezone(EAST)) == "2026-12-07T23:59:58Z"  # equal instant
    assert rfc3339(MOMENT + timedelta(seconds=2)) == "2026-12-08T00:00:00Z"
    assert rfc3339_micro(MOMENT.astimezone(EAST)) == "2026-12-07T23:59:58.123456Z"


def test_times_are_read_as_aware_utc() -> None:
    for text in ("2026-12-07T23:59:58Z", "2026-12-08T01:59:58+02:00"):
        parsed = parse_rfc3339(text)
        assert parsed == MOMENT.replace(microsecond=0)
        assert parsed.tzinfo is UTC
    assert parse_rfc3339("2026-12-07T23:59:58.123456Z") == MOMENT
    assert rfc3339(parse_rfc3339("2026-12-07T23:59:58Z")) == "2026-12-07T23:59:58Z"
