"""The ``minigrad study`` command: ``run``, ``status``, ``report`` and ``list``.

``experiments.cli`` adds it to ``minigrad`` with :func:`add_parser` and :func:`run`;
``python -m experiments.studies ...`` runs the same commands on their own (:func:`main`).

::

    minigrad study run SPEC.toml [--workers N | --scheduler ADDR|local] [--store PATH] [--seeds 0-9] [--smoke]
    minigrad study status NAME       # from another shell, while it runs
    minigrad study report NAME --out DIR
    minigrad study list
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from experiments.arguments import HelpFormatter, nonnegative_int
from experiments.studies.spec import DEVICES, StudySpecError, load_study, parse_seeds, validate_study, variant_name
from experiments.studies.store import DEFAULT_STORE, StoreError, StudyChanged, StudyStore

PROG = "minigrad study"


def _add_commands(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="study_command", required=True, metavar="{run,status,report,list}")
    store_help = "the SQLite file of results"
    examples = (
        "examples:\n"
        "  minigrad study run experiments/studies/specs/layer_nag_vs_nag.toml --smoke\n"
        "  minigrad study run SPEC.toml --seeds 0-9 --workers 2\n"
        "  minigrad study run SPEC.toml --scheduler tcp://HOST:8786"
    )
    r = sub.add_parser(
        "run", help="run (or resume) a study from its TOML spec", epilog=examples, formatter_class=HelpFormatter
    )
    r.add_argument("spec", help="the study's TOML file")
    r.add_argument(
        "--workers",
        type=nonnegative_int,
        default=None,
        help="worker processes (default: one per core); 0 runs the cells in this process; with --scheduler local, "
        "the number of Dask workers",
    )
    r.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDR|local",
        help="run on Dask: tcp://HOST:8786 for a running scheduler, or 'local' for a LocalCluster "
        '(pip install ".[cluster]")',
    )
    r.add_argument("--store", default=str(DEFAULT_STORE), help=store_help)
    r.add_argument("--seeds", default=None, help="seeds instead of the spec's, e.g. 0-9 or 0-4,7")
    r.add_argument("--smoke", action="store_true", help="a small copy NAME-smoke: few seeds, iterations and images")
    r.add_argument("--device", default=None, choices=DEVICES, help="the device cells run on (default: the spec's)")
    r.add_argument("--restart", action="store_true", help="delete the stored results of a changed spec and start over")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")

    s = sub.add_parser("status", help="how far a study has got (works while it runs)", formatter_class=HelpFormatter)
    s.add_argument("name")
    s.add_argument("--store", default=str(DEFAULT_STORE), help=store_help)

    p = sub.add_parser(
        "report", help="write report.md and figures of a study (partial while it runs)", formatter_class=HelpFormatter
    )
    p.add_argument("name")
    p.add_argument("--out", required=True, help="the folder to write report.md and the PNGs into")
    p.add_argument("--baseline", default=None, help="the method to compare against (default: the spec's)")
    p.add_argument("--metric", default=None, help="the metric to compare (default: the spec's)")
    p.add_argument("--split", default=None, help="the evaluated split to compare (default: the spec's)")
    p.add_argument("--store", default=str(DEFAULT_STORE), help=store_help)

    ls = sub.add_parser("list", help="the studies in a store", formatter_class=HelpFormatter)
    ls.add_argument("--store", default=str(DEFAULT_STORE), help=store_help)


def add_parser(subparsers: Any) -> None:
    """Add ``study`` and its sub-commands to a subparsers object (``minigrad study ...``)."""
    parser = subparsers.add_parser(
        "study",
        help="compare optimizers over seeds: run, status, report, list",
        description="Studies: methods compared over seeds, run on a process pool or Dask, stored in SQLite.",
    )
    _add_commands(parser)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m experiments.studies``."""
    parser = argparse.ArgumentParser(prog="python -m experiments.studies", description="minigrad studies")
    _add_commands(parser)
    return parser


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def _workers(args: argparse.Namespace) -> Any:
    from experiments.studies import runner

    if args.scheduler == "local":
        return runner.dask_local(args.workers or None)
    if args.scheduler is not None:
        if args.workers is not None:
            raise ValueError("--workers counts local processes: a running scheduler has its own workers")
        workers = runner.dask_connect(args.scheduler)
        slow = runner.slow_malloc_workers(workers.client)
        if slow:
            print(
                f"warning: {len(slow)} Dask worker(s) run with MALLOC_TRIM_THRESHOLD_ and no MALLOC_MMAP_THRESHOLD_, "
                f"which doubles the CPU time of a cell; start them as: {runner.DASK_WORKER_COMMAND}",
                file=sys.stderr,
            )
        return workers
    if args.workers == 0:
        return runner.inline()
    return runner.process_pool(args.workers)


def _run(args: argparse.Namespace) -> int:
    from experiments.studies.runner import StudyInterrupted, run_study

    study = load_study(args.spec)
    if args.smoke:
        study = study.smoke_version()
    if args.seeds is not None:
        study = study.with_seeds(parse_seeds(args.seeds, "--seeds", "--seeds"))
    if args.device is not None:
        study = study.with_device(args.device)
    validate_study(study)
    with StudyStore.open(args.store, create=True) as store:
        try:
            workers = _workers(args)
        except ImportError as err:
            _error(f'--scheduler needs Dask: pip install ".[cluster]" ({err})')
            return 2
        print(f"study {study.name!r}: {len(study.cells())} cells on {workers.description}; store {args.store}")
        try:
            summary = run_study(study, workers, store, restart=args.restart, progress=not args.no_progress)
        except (KeyboardInterrupt, StudyInterrupted) as err:
            _error(
                f"interrupted ({type(err).__name__}); finished cells are stored in {args.store}: run again to resume"
            )
            return 130
        finally:
            workers.close()
    print(summary)
    print(
        f"report: minigrad study report {study.name} --out runs/studies/{study.name}"
        + (f" --store {args.store}" if args.store != str(DEFAULT_STORE) else "")
    )
    return 0 if summary.lost == 0 else 1


def _status(args: argparse.Namespace) -> int:
    with StudyStore.open(args.store) as store:
        stored = store.require_study(args.name)
        cells = store.cells(args.name)
    study = stored.study
    counts: dict[str, int] = {}
    for c in cells:
        counts[c["status"]] = counts.get(c["status"], 0) + 1
    finished = counts.get("done", 0) + counts.get("failed", 0)
    print(
        f"study {stored.name!r}: {finished} of {len(cells)} cells finished  "
        + "  ".join(f"{s} {n}" for s, n in sorted(counts.items()))
    )
    print(
        f"spec hash {stored.spec_hash[:16]}, minigrad {stored.minigrad_version}, created {stored.created}, "
        f"updated {stored.updated}"
    )
    print(f"{'method':<32} " + " ".join(f"{s:>8}" for s in ("done", "failed", "running", "pending", "lost")))
    for v in study.variants():
        mine = [c for c in cells if variant_name(c["method"], c["grid"]) == v]
        row = [sum(c["status"] == s for c in mine) for s in ("done", "failed", "running", "pending", "lost")]
        print(f"{v:<32} " + " ".join(f"{n:>8}" for n in row))
    times = [c["wall_time"] for c in cells if c["status"] in ("done", "failed") and c["wall_time"] is not None]
    if times:
        mean = sum(times) / len(times)
        remaining = len(cells) - finished
        running = max(counts.get("running", 0), 1)
        print(
            f"mean cell wall time {mean:.1f} s; about {remaining * mean / running / 60:.1f} min left at "
            f"{running} cell(s) at once"
        )
    last = max((c["finished"] for c in cells if c["finished"]), default=None)
    if last:
        print(f"last cell finished {last} (now {time.strftime('%Y-%m-%dT%H:%M:%S%z')})")
    for c in cells:
        if c["status"] in ("failed", "lost"):
            print(f"  {c['status']}: {c['key']}: {c['error']}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from experiments.studies.report import REPORT, write_report

    with StudyStore.open(args.store) as store:
        report = write_report(store, args.name, args.out, baseline=args.baseline, metric=args.metric, split=args.split)
    state = f"PARTIAL ({report.finished} of {report.total} cells)" if report.partial else "complete"
    print(f"wrote {args.out}/{REPORT} and figures: study {args.name!r}, {state}")
    return 0


def _list(args: argparse.Namespace) -> int:
    with StudyStore.open(args.store) as store:
        names = store.study_names()
        if not names:
            print(f"no studies in {args.store}")
        for name in names:
            stored = store.require_study(name)
            counts = store.status_counts(name)
            total = sum(counts.values())
            finished = counts.get("done", 0) + counts.get("failed", 0)
            print(f"{name:<40} {finished:>5}/{total:<5} cells finished  created {stored.created}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Carry out ``minigrad study ...``; returns the exit status (errors are printed, not raised)."""
    commands = {"run": _run, "status": _status, "report": _report, "list": _list}
    try:
        return commands[args.study_command](args)
    except StudySpecError as err:
        _error(str(err))
        return 2
    except (StudyChanged, StoreError, FileNotFoundError, KeyError, ValueError) as err:
        _error(str(err.args[0]) if isinstance(err, KeyError) else str(err))
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m experiments.studies ...``: the study commands on their own."""
    return run(build_parser().parse_args(argv))
