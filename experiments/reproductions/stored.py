"""Study results as the reproduction pages read them: which run to report, per-cell series, timings, smoke runs.

A paper's study comes in up to three sizes: the *full* spec (the paper's epochs and seeds, for a
GPU or a cluster), a *reduced* spec (fewer epochs, seeds or images, for 2 CPU cores in about an
hour) and the *smoke* version of either (a few steps, for CI). :func:`load_results` picks, from a
store, the largest that has finished cells, so that a page shows the full results once someone has
run them and the reduced ones until then, and says which it shows. :class:`Results` turns the
store's rows into per-cell series (one value per evaluation, in iteration order) and gives the
cell and wall times the pages quote. :func:`run_smoke` runs the smoke versions of a paper's specs
in this process into a store of their own, skipping (and reporting) those whose data set is not
on this machine.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.reproductions.common import ROOT, format_duration
from experiments.studies.runner import inline, run_study
from experiments.studies.spec import Study, load_study, variant_name
from experiments.studies.store import StudyStore

SPECS = ROOT / "experiments" / "studies" / "specs"
STORES = ROOT / "runs" / "reproductions"
#: Training images of each data set before any validation hold-out.
TRAIN_SIZES = {"mnist": 60_000, "fashion_mnist": 60_000, "cifar10": 50_000, "cifar100": 50_000}
BUDGETS = ("full", "reduced", "smoke")


@dataclass(frozen=True)
class SpecFile:
    """One spec of a paper's study at one budget: ``full`` or ``reduced`` (its smoke version is derived)."""

    path: Path
    budget: str

    def study(self, smoke: bool = False) -> Study:
        """The study of this file (its smoke version with ``smoke``)."""
        study = load_study(self.path)
        return study.smoke_version() if smoke else study

    def relative(self) -> str:
        """The file's path from the repository root, as commands quote it."""
        return str(self.path.relative_to(ROOT)) if self.path.is_relative_to(ROOT) else str(self.path)


def steps_per_epoch(study: Study) -> int:
    """Batches in one pass over the study's training images (after the validation hold-out and ``train_limit``)."""
    return -(-train_images(study) // study.data.batch_size)


@dataclass
class Series:
    """One cell's evaluations in iteration order: ``values[split][column]`` is a list aligned with ``iterations``."""

    variant: str
    seed: int
    status: str
    error: str | None
    wall_time: float
    train_time: float
    iterations: list[int] = field(default_factory=list)
    values: dict[str, dict[str, list[float | None]]] = field(default_factory=dict)

    def column(self, split: str, name: str) -> list[float]:
        """The values of ``eval_<name>`` (or ``train_loss``) on ``split`` as floats (NaN where missing)."""
        return [math.nan if v is None else float(v) for v in self.values.get(split, {}).get(name, [])]


@dataclass
class Results:
    """The stored results of one study: its spec as run, which budget it is, and its cells as :class:`Series`."""

    study: Study
    budget: str
    spec: SpecFile | None
    cells: list[dict[str, Any]]
    series: list[Series]

    @property
    def name(self) -> str:
        """The stored study's name."""
        return self.study.name

    @property
    def total(self) -> int:
        """Cells of the study."""
        return len(self.cells)

    @property
    def finished(self) -> int:
        """Cells done or failed."""
        return sum(c["status"] in ("done", "failed") for c in self.cells)

    @property
    def complete(self) -> bool:
        """True when every cell is done or failed."""
        return self.finished == self.total

    def by_variant(self) -> dict[str, list[Series]]:
        """The finished cells of each variant (in the spec's order), seeds in order."""
        out: dict[str, list[Series]] = {v: [] for v in self.study.variants()}
        for s in self.series:
            out.setdefault(s.variant, []).append(s)
        return {v: sorted(cells, key=lambda s: s.seed) for v, cells in out.items()}

    def cell_seconds(self) -> float:
        """The sum of the finished cells' wall times: the CPU time of the study, as each cell uses one core."""
        return sum(c["wall_time"] or 0.0 for c in self.cells if c["status"] in ("done", "failed"))

    def wall_seconds(self) -> float | None:
        """From the first cell's start to the last cell's end (None before any cell finished)."""
        return wall_span(self.cells)

    def cost(self) -> str:
        """``"1 h 05 min of cell time, 34 min wall"`` for the pages and claims."""
        wall = self.wall_seconds()
        text = f"{format_duration(self.cell_seconds())} of cell time"
        return text + (f", {format_duration(wall)} wall" if wall is not None else "")


def wall_span(cells: Sequence[Mapping[str, Any]]) -> float | None:
    """Seconds from the first cell's start to the last cell's end, as the store records them (None if none ended)."""
    starts = [_timestamp(c["started"]) for c in cells if c["started"]]
    ends = [_timestamp(c["finished"]) for c in cells if c["finished"]]
    if not starts or not ends:
        return None
    return max(ends) - min(starts)


def _timestamp(text: str) -> float:
    # The store writes ISO 8601 with the UTC offset; the offset must count, whatever the local time zone.
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z").timestamp()


def read_results(store: StudyStore, name: str, budget: str, spec: SpecFile | None = None) -> Results | None:
    """The results of study ``name`` in ``store`` (None if it is not there).

    Failed cells keep the evaluations they made before failing (a diverged run's last finite
    numbers), and their status says so.
    """
    stored = store.get_study(name)
    if stored is None:
        return None
    cells = store.cells(name)
    by_key: dict[str, Series] = {}
    for c in cells:
        if c["status"] not in ("done", "failed"):
            continue
        by_key[c["key"]] = Series(variant=variant_name(c["method"], c["grid"]), seed=c["seed"], status=c["status"],
                                  error=c["error"], wall_time=c["wall_time"] or 0.0, train_time=c["train_time"] or 0.0)
    for m in store.measurements(name):
        series = by_key.get(m["key"])
        if series is None:
            continue
        if not series.iterations or series.iterations[-1] != m["iteration"]:
            series.iterations.append(m["iteration"])
        split = series.values.setdefault(m["split"], {})
        for column in ("train_loss", "eval_loss", "eval_error", "eval_accuracy"):
            split.setdefault(column, []).append(m[column])
    return Results(study=stored.study, budget=budget, spec=spec, cells=cells, series=list(by_key.values()))


def load_results(store_path: Path, specs: Sequence[SpecFile]) -> Results | None:
    """The results to report among ``specs`` (largest budget first): the first with finished cells, else None.

    A missing store gives None (nothing has been run).
    """
    store_path = Path(store_path)
    if not store_path.exists():
        return None
    with StudyStore.open(store_path) as store:
        for spec in specs:
            results = read_results(store, spec.study().name, spec.budget, spec)
            if results is not None and results.finished:
                return results
    return None


def data_available(study: Study) -> bool:
    """Whether the study's data set can be read on this machine (MNIST always; CIFAR when its files are found).

    Only a missing data set is reported as False: a file that is found but fails its checks raises.
    """
    from experiments.studies.cell import DATASETS

    kwargs = {"root": study.data.data_root} if study.data.data_root else {}
    try:
        DATASETS[study.data.dataset]("test", **kwargs)
    except FileNotFoundError:
        return False
    return True


def run_smoke(specs: Sequence[SpecFile], store_path: Path) -> dict[SpecFile, Results | None]:
    """Run each spec's smoke version in this process into ``store_path``; None for those whose data is missing."""
    out: dict[SpecFile, Results | None] = {}
    for spec in specs:
        study = spec.study(smoke=True)
        if not data_available(study):
            out[spec] = None
            continue
        run_study(study, inline(), store_path, progress=False)
        with StudyStore.open(store_path) as store:
            out[spec] = read_results(store, study.name, "smoke", spec)
    return out


def run_command(spec: SpecFile, store: Path, gpu: bool = False, cifar: bool = False) -> str:
    """The exact command that runs ``spec`` into ``store`` (with ``--device gpu`` and the CIFAR folder as asked)."""
    store_text = str(store.relative_to(ROOT)) if store.is_relative_to(ROOT) else str(store)
    prefix = "MINIGRAD_CIFAR_ROOT=DIR " if cifar else ""
    device = " --device gpu" if gpu else " --workers 2"
    return f"{prefix}python -m experiments.studies run {spec.relative()} --store {store_text}{device}"


def train_images(study: Study) -> int:
    """Training images one epoch of the study visits (after the validation hold-out and ``train_limit``)."""
    data = study.data
    held_out = (data.validation_size or 0) if "validation" in data.eval_split else 0
    n = TRAIN_SIZES[data.dataset] - held_out
    return n if data.train_limit is None else min(n, data.train_limit)


def describe_budget(study: Study) -> str:
    """What a study spends, in words: seeds, epochs, training and evaluation images."""
    spe = steps_per_epoch(study)
    epochs = study.iterations / spe
    seeds = len(study.seeds)
    evaluated = " and ".join(study.data.eval_split)
    limit = f"the first {study.data.eval_limit:,}" if study.data.eval_limit else "all"
    return (f"{seeds} seed{'s' if seeds != 1 else ''}, {epochs:g} epoch{'s' if epochs != 1 else ''} of "
            f"{train_images(study):,} training images ({study.iterations:,} steps of {study.data.batch_size}), "
            f"{evaluated} measured on {limit} images")
