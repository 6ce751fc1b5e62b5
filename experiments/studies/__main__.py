"""``python -m experiments.studies`` runs the study commands (``run``, ``status``, ``report``, ``list``)."""

from experiments.studies.cli import main

if __name__ == "__main__":  # worker processes started by spawn import this module without running it
    raise SystemExit(main())
