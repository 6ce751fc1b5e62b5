"""``python -m experiments`` runs the ``minigrad`` command line."""

from experiments.cli import main

raise SystemExit(main())
