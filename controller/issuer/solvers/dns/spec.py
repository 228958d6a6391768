"""Reading the ``dns`` solver spec: typed fields with errors that name the field.

Invariant: every accessor raises :class:`InvalidSolverSpec` naming the field's path (e.g.
``dns.rfc2136.tsigSecretRef.key``) when a value has the wrong type or a required one is missing,
so a hand-written or pre-validation object fails clearly, never with a KeyError.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.issuer.solvers.dns.errors import InvalidSolverSpec
from controller.issuer.solvers.dns.protocols import SecretReader
from controller.observability.redact import register_secret


@dataclass(frozen=True, slots=True)
class Fields:
    """A spec object and its path, for error messages."""

    data: Mapping[str, Any]
    path: str

    @classmethod
    def of(cls, value: object, path: str) -> Fields:
        if not isinstance(value, Mapping):
            raise InvalidSolverSpec(f"{path} must be an object")
        return cls(value, path)

    def text(self, field: str) -> str | None:
        """The stripped string, or None when absent or empty."""
        value = self.data.get(field)
        if value is None:
            return None
        if not isinstance(value, str):
            raise InvalidSolverSpec(f"{self.path}.{field} must be a string")
        return value.strip() or None

    def required_text(self, field: str) -> str:
        value = self.text(field)
        if value is None:
            raise InvalidSolverSpec(f"{self.path}.{field} is required")
        return value

    def child(self, field: str) -> Fields | None:
        value = self.data.get(field)
        return None if value is None else Fields.of(value, f"{self.path}.{field}")

    def string_map(self, field: str) -> dict[str, str]:
        value = self.data.get(field) or {}
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise InvalidSolverSpec(f"{self.path}.{field} must map strings to strings")
        return dict(value)

    def secret_ref(self, field: str) -> SecretRef | None:
        ref = self.child(field)
        if ref is None:
            return None
        return SecretRef(ref.required_text("name"), ref.required_text("key"))


@dataclass(frozen=True, slots=True)
class SecretRef:
    """One key of a Secret in the issuer's Secret namespace."""

    name: str
    key: str

    async def read(self, secrets: SecretReader, namespace: str) -> str:
        """The value, registered for redaction before anyone can log it."""
        value = await secrets.read(namespace, self.name, self.key)
        register_secret(value)
        return value.strip()

    def describe(self, namespace: str) -> str:
        return f"Secret {namespace}/{self.name} key {self.key!r}"
