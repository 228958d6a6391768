"""Where the emulator's "internet" reaches a domain: domain or IP -> host:port on loopback."""

from __future__ import annotations

Address = tuple[str, int]


def parse_address(text: str) -> Address:
    """``HOST:PORT`` (``[v6]:PORT`` too) -> (host, port); ValueError with the reason otherwise."""
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


class Resolver:
    """Per-domain targets (case-insensitive), falling back to an optional default target."""

    def __init__(self) -> None:
        self._targets: dict[str, Address] = {}
        self.default: Address | None = None

    def set(self, domain: str, address: Address | None) -> None:
        """Map ``domain`` to ``address``; None removes the mapping."""
        if address is None:
            self._targets.pop(domain.lower(), None)
        else:
            self._targets[domain.lower()] = address

    def target(self, domain: str) -> Address | None:
        return self._targets.get(domain.lower(), self.default)
