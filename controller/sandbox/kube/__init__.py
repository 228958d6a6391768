"""Emulated kube-apiserver for tests, demos and load tests (see ``server.KubeAPIServer``).

Stands alone: imports nothing from the rest of ``controller``.
"""

from .server import KubeAPIServer, RequestKey

__all__ = ["KubeAPIServer", "RequestKey"]
