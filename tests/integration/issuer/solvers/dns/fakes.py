"""Test doubles for the DNS providers' collaborators."""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.issuer.solvers.dns import SecretUnavailable


@dataclass
class FakeSecrets:
    """``values[(namespace, name, key)] = value``; reads are recorded."""

    values: dict[tuple[str, str, str], str] = field(default_factory=dict)
    reads: list[tuple[str, str, str]] = field(default_factory=list)

    def put(self, namespace: str, name: str, key: str, value: str) -> None:
        self.values[(namespace, name, key)] = value

    async def read(self, namespace: str, name: str, key: str) -> str:
        self.reads.append((namespace, name, key))
        try:
            return self.values[(namespace, name, key)]
        except KeyError:
            raise SecretUnavailable(
                f"Secret {namespace}/{name} has no key {key!r}", retryable=True
            ) from None
