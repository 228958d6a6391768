"""What the API was asked: one record per call, for tests and load-test reports.

Records name the account by its hash, never by its access key. The ring keeps the newest
``capacity`` records; the per-endpoint counts cover every call since the last :meth:`clear`.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class RequestRecord:
    seq: int
    time: float
    endpoint: str
    method: str
    status: int
    error_code: int | None
    account: str | None
    certificate_id: str | None

    def to_json(self) -> dict[str, object]:
        return asdict(self)


class RequestLog:
    def __init__(self, capacity: int = 100_000) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=capacity)
        self._counts: Counter[str] = Counter()
        self._seq = itertools.count(1)

    def record(
        self,
        endpoint: str,
        method: str,
        status: int,
        *,
        error_code: int | None,
        account: str | None,
        certificate_id: str | None,
    ) -> RequestRecord:
        entry = RequestRecord(
            next(self._seq),
            time.time(),
            endpoint,
            method,
            status,
            error_code,
            account,
            certificate_id,
        )
        self._records.append(entry)
        self._counts[endpoint] += 1
        return entry

    def entries(self, since: int = 0) -> list[RequestRecord]:
        """Retained records with ``seq > since``, oldest first."""
        return [r for r in self._records if r.seq > since]

    def counts_by_endpoint(self) -> dict[str, int]:
        return dict(self._counts)

    def clear(self) -> None:
        self._records.clear()
        self._counts.clear()
