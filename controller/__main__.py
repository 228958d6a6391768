"""``python -m controller`` runs the controller, like the ``zerossl-issuer`` script."""

from controller.cli import main

raise SystemExit(main())
