"""Free loopback ports for processes that must be told their port before they start.

A port found by binding port 0 and closing the socket can be taken by someone else before the
process binds it; callers detect that failure (:func:`address_in_use`) and retry with new ports.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Final

LOOPBACK: Final = "127.0.0.1"
_IN_USE_MARKERS: Final = ("address already in use", "errno 98", "eaddrinuse")


class PortAllocator:
    """Hands out free TCP ports on ``host``, never the same one twice in this allocator's life
    (so concurrently started processes cannot be told the same port)."""

    def __init__(self, host: str = LOOPBACK) -> None:
        self.host = host
        self._handed_out: set[int] = set()

    def allocate(self, count: int) -> tuple[int, ...]:
        """``count`` distinct ports, all free at the time of the call."""
        with contextlib.ExitStack() as sockets:
            ports: list[int] = []
            while len(ports) < count:
                sock = sockets.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                sock.bind((self.host, 0))
                port = int(sock.getsockname()[1])
                if port not in self._handed_out:
                    ports.append(port)
            self._handed_out.update(ports)
            return tuple(ports)


def address_in_use(stderr: str) -> bool:
    """Whether a process's error output says a listen address was taken."""
    lowered = stderr.lower()
    return any(marker in lowered for marker in _IN_USE_MARKERS)
