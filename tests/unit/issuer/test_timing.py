from __future__ import annotations

from datetime import UTC, datetime

from controller.clock import parse_rfc3339, rfc3339
from controller.issuer.timing import after, backoff


def test_deadlines_round_up_to_the_stored_precision() -> None:
    now = datetime(2026, 1, 1, 0, 0, 0, 900_000, tzinfo=UTC)
    stored = parse_rfc3339(rfc3339(after(now, 0.5)))
    assert stored >= datetime(2026, 1, 1, 0, 0, 1, 400_000, tzinfo=UTC)
    assert after(datetime(2026, 1, 1, tzinfo=UTC), 2) == datetime(2026, 1, 1, 0, 0, 2, tzinfo=UTC)


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff(n, 5, 30) for n in (1, 2, 3, 4, 5)] == [5, 10, 20, 30, 30]


def test_the_quota_retry_is_a_setting() -> None:
    from controller.config import load  # noqa: PLC0415
    from controller.issuer.decide_issuer import IssuerPolicy  # noqa: PLC0415

    policy = IssuerPolicy.from_settings(load({"ZEROSSL_ISSUER_QUOTA_RETRY": "60"}, []))
    assert policy.quota_retry == 60
