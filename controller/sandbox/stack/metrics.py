"""One scrape of a replica's ``/metrics``, parsed for assertions in tests and load runs."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


@dataclass(frozen=True, slots=True)
class Metrics:
    text: str

    def samples(self, name: str) -> list[Sample]:
        """Every sample named exactly ``name`` (``_total``, ``_bucket``... included)."""
        return [
            sample
            for family in text_string_to_metric_families(self.text)
            for sample in family.samples
            if sample.name == name
        ]

    def value(self, name: str, **labels: str) -> float | None:
        """The sum of the samples named ``name`` whose labels include ``labels``; None when
        none does (the series was never exported)."""
        matching = [
            s.value
            for s in self.samples(name)
            if all(s.labels.get(k) == v for k, v in labels.items())
        ]
        return sum(matching) if matching else None
