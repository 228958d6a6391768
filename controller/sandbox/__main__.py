"""``python -m controller.sandbox <component> ...``: run a sandbox component.

Each component is ``module:function`` with ``function(argv) -> int``; modules are imported
lazily so that one component's dependencies never burden another.
"""

from __future__ import annotations

import importlib
import sys

COMPONENTS = {
    "kube": "controller.sandbox.kube.cli:main",
    "zerossl": "controller.sandbox.zerossl.cli:main",
    "demo": "controller.sandbox.demo:main",
    "cert-manager": "controller.sandbox.certmanager.cli:main",
    "approve": "controller.sandbox.certmanager.cli:approve_main",
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMPONENTS:
        print(f"usage: python -m controller.sandbox {{{'|'.join(COMPONENTS)}}} [options]")
        return 2
    module, _, function = COMPONENTS[argv[0]].partition(":")
    result: int = getattr(importlib.import_module(module), function)(argv[1:])
    return result


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
