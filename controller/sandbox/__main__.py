"""``python -m controller.sandbox <kube|zerossl|demo> ...``: run a sandbox component.

Each component's module exposes ``main(argv) -> int``; they are imported lazily so that one
component's dependencies never burden another.
"""

from __future__ import annotations

import importlib
import sys

COMPONENTS = {
    "kube": "controller.sandbox.kube.cli",
    "zerossl": "controller.sandbox.zerossl.cli",
    "demo": "controller.sandbox.demo",
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMPONENTS:
        print(f"usage: python -m controller.sandbox {{{'|'.join(COMPONENTS)}}} [options]")
        return 2
    module = importlib.import_module(COMPONENTS[argv[0]])
    result: int = module.main(argv[1:])
    return result


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
