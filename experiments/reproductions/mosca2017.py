"""Mosca & Magoulas (2017) Table 2: WAME against SGD with momentum, RMSprop and Adam, reproduced.

The numbers come from the study specs ``experiments/studies/specs/mosca2017_table2_*.toml`` (net 1a on
MNIST, net 1b on CIFAR-10; a full spec with the paper's 100 epochs and 20 seeds, and a reduced one for
2 CPU cores) kept in ``runs/reproductions/mosca2017.sqlite``. This module computes the paper's measures
from the per-epoch evaluations: for each run the epoch of the best validation accuracy (the first, on
ties, as early stopping keeps the first best), the test accuracy at that epoch, and the training time
up to it; puts them beside the paper's Table 2 (``data/mosca2017_table2.csv``), decides each claim, and
writes the page ``mosca2017.md`` with its figures (under ``docs/reproductions``).

    python -m experiments.studies run experiments/studies/specs/mosca2017_table2_mnist_reduced.toml \\
        --store runs/reproductions/mosca2017.sqlite --workers 2
    python -m experiments.reproductions mosca2017
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.reproductions.common import (
    DOCS,
    Claim,
    at_reduced_budget,
    markdown_table,
    mean_std,
    read_csv_rows,
    regenerate,
    save_figure,
    share_verdict,
    smoke_warning,
    verdicts_section,
    write_page,
)
from experiments.reproductions.stored import (
    SPECS,
    STORES,
    Results,
    Series,
    SpecFile,
    describe_budget,
    load_results,
    run_command,
    run_smoke,
    steps_per_epoch,
)

PAPER = "mosca2017"
TITLE = "Mosca & Magoulas (2017), Table 2"
STORE = STORES / "mosca2017.sqlite"
TABLE = Path(__file__).parent / "data" / "mosca2017_table2.csv"
METHODS = ("SGD", "RMSprop", "Adam", "WAME")
ADAPTIVE = ("RMSprop", "Adam")
DATASETS = {
    "mnist": (SpecFile(SPECS / "mosca2017_table2_mnist.toml", "full"),
              SpecFile(SPECS / "mosca2017_table2_mnist_reduced.toml", "reduced")),
    "cifar10": (SpecFile(SPECS / "mosca2017_table2_cifar10.toml", "full"),
                SpecFile(SPECS / "mosca2017_table2_cifar10_reduced.toml", "reduced")),
}
NAMES = {"mnist": "MNIST (net 1a)", "cifar10": "CIFAR-10 (net 1b)"}
#: "As accurate as": a mean test accuracy no more than this many percentage points below (the paper's
#: gap between SGD and the adaptive methods on MNIST is 0.23-0.24 points).
ON_PAR_POINTS = 0.2
COMMAND = "python -m experiments.reproductions mosca2017"


def paper_table(path: Path = TABLE) -> dict[str, dict[str, dict[str, float]]]:
    """The paper's Table 2: ``{dataset: {method: {column: value}}}`` (columns as in the CSV)."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for row in read_csv_rows(path):
        values = {k: float(v) for k, v in row.items() if k not in ("dataset", "method")}
        table.setdefault(row["dataset"], {})[row["method"]] = values
    return table


# ----- the paper's measures, per run and per method -------------------------------------------------
@dataclass
class RunMeasures:
    """One run (cell): its per-epoch curves and the paper's three measures."""

    seed: int
    epochs: list[float]
    validation: list[float]  # accuracy %, per evaluation
    test: list[float]  # accuracy %, per evaluation
    train_loss: list[float]  # mean minibatch loss since the previous evaluation
    best_epoch: float
    test_at_best: float
    minutes_to_best: float


def run_measures(series: Series, spe: int) -> RunMeasures | None:
    """The paper's measures of one finished run of ``spe`` steps per epoch; None if it has no validation accuracy.

    The validation split is ``validation`` where the study has one, else ``test`` (the paper used the
    test set for validation on CIFAR). The best epoch is the first of the highest validation accuracy;
    the time to it is the run's training time (optimizer steps) times the fraction of its steps done by then.
    """
    val_split = "validation" if "validation" in series.values else "test"
    validation = [100 * v for v in series.column(val_split, "eval_accuracy")]
    test = [100 * v for v in series.column("test", "eval_accuracy")]
    if not validation or all(math.isnan(v) for v in validation):
        return None
    best = int(np.nanargmax(validation))  # the first maximum
    done = series.iterations[-1]
    return RunMeasures(
        seed=series.seed,
        epochs=[it / spe for it in series.iterations],
        validation=validation,
        test=test,
        train_loss=series.column(val_split, "train_loss"),
        best_epoch=series.iterations[best] / spe,
        test_at_best=test[best] if test else math.nan,
        minutes_to_best=series.train_time * series.iterations[best] / done / 60 if done else math.nan,
    )


def method_measures(results: Results) -> dict[str, list[RunMeasures]]:
    """Every finished run of each method (``done`` cells only), seeds in order."""
    spe = steps_per_epoch(results.study)
    out: dict[str, list[RunMeasures]] = {}
    for variant, cells in results.by_variant().items():
        runs = [run_measures(s, spe=spe) for s in cells if s.status == "done"]
        out[variant] = [r for r in runs if r is not None]
    return out


def spread(values: list[float], digits: int = 2) -> str:
    """``"mean ± std"`` over seeds (std with n − 1), just the value for one seed, "—" for none."""
    if not values:
        return "—"
    return f"{values[0]:.{digits}f}" if len(values) == 1 else mean_std(values, digits)


def summary(values: list[float], digits: int = 2) -> str:
    """``"mean ± std [min–max]"`` over seeds (:func:`spread`; no range for one seed)."""
    if len(values) < 2:
        return spread(values, digits)
    return f"{spread(values, digits)} [{min(values):.{digits}f}–{max(values):.{digits}f}]"


def paired(runs: dict[str, list[RunMeasures]], method: str, baseline: str) -> list[float]:
    """Per seed run by both: test accuracy at the best epoch of ``method`` minus ``baseline``'s (points)."""
    base = {r.seed: r.test_at_best for r in runs.get(baseline, [])}
    return [r.test_at_best - base[r.seed] for r in runs.get(method, []) if r.seed in base]


def mean_curve(runs: list[RunMeasures], what: str) -> tuple[list[float], np.ndarray]:
    """Epochs and the mean over runs of ``what`` (``validation``, ``test`` or ``train_loss``) per epoch."""
    if not runs:
        return [], np.array([])
    n = min(len(r.epochs) for r in runs)
    values = np.array([getattr(r, what)[:n] for r in runs], dtype=np.float64)
    return runs[0].epochs[:n], values.mean(axis=0)


# ----- verdicts -------------------------------------------------------------------------------------
def claims_for(dataset: str, results: Results | None, paper: dict[str, dict[str, float]], command: str,
               full_command: str, smoke: bool) -> list[Claim]:
    """The paper's claims about one data set, decided from ``results`` (or marked not run); verdicts from a
    reduced budget or a smoke run read as such (:func:`~experiments.reproductions.common.at_reduced_budget`)."""
    name = NAMES[dataset]
    theirs_acc = ", ".join(f"{m} {paper[m]['acc_mean']:.2f}" for m in METHODS)
    theirs_epoch = ", ".join(f"{m} {paper[m]['epoch_mean']:.1f}" for m in METHODS)
    theirs_time = ", ".join(f"{m} {paper[m]['time_min']:.0f}" for m in METHODS)
    texts = [
        (f"{name}: WAME's test accuracy is as high as Adam's and RMSprop's (no loss of generalisation)",
         f"test accuracy %: {theirs_acc} (20 runs)"),
        (f"{name}: SGD with momentum is the least accurate", f"test accuracy %: {theirs_acc}"),
        (f"{name}: WAME reaches its best validation accuracy in the fewest epochs",
         f"best validation epoch: {theirs_epoch}"),
        (f"{name}: WAME's time to its best epoch is shorter than Adam's and RMSprop's",
         f"minutes per run with early stopping: {theirs_time}"),
    ]
    if dataset == "mnist":
        texts.append((f"{name}: WAME's training loss stays below Adam's and RMSprop's (Fig. 1)",
                      "average training loss of WAME consistently below (Fig. 1; the data set is not named)"))
    page = f"{PAPER}.md"
    if results is None:
        return [Claim(paper=TITLE, claim=c, theirs=t, ours="not run", verdict="not run: data not available",
                      command=full_command, cpu_time="—", page=page) for c, t in texts]
    runs = method_measures(results)
    acc = {m: [r.test_at_best for r in runs.get(m, [])] for m in METHODS}
    epochs = {m: [r.best_epoch for r in runs.get(m, [])] for m in METHODS}
    minutes = {m: [r.minutes_to_best for r in runs.get(m, [])] for m in METHODS}
    if any(not acc[m] for m in METHODS):
        missing = ", ".join(m for m in METHODS if not acc[m])
        decided = [(f"no finished run of {missing}", "not reproduced")] * len(texts)
    else:
        decided = _decide(dataset, runs, acc, epochs, minutes)
    claims = [Claim(paper=TITLE, claim=c, theirs=t, ours=o, verdict=v, command=command, cpu_time=results.cost(),
                    page=page) for (c, t), (o, v) in zip(texts, decided)]
    return claims if results.budget == "full" and not smoke else at_reduced_budget(claims)


def _decide(dataset: str, runs: dict[str, list[RunMeasures]], acc: dict[str, list[float]],
            epochs: dict[str, list[float]], minutes: dict[str, list[float]]) -> list[tuple[str, str]]:
    """Each claim's ``(ours, verdict)`` in the paper's words, from the per-method measures of finished runs."""
    mean = {k: {m: float(np.mean(v[m])) for m in METHODS} for k, v in
            (("acc", acc), ("epoch", epochs), ("minutes", minutes))}
    claims = []

    # 1. As accurate as Adam and RMSprop.
    gaps = {m: mean["acc"]["WAME"] - mean["acc"][m] for m in ADAPTIVE}
    on_par = [m for m in ADAPTIVE if gaps[m] >= -ON_PAR_POINTS]
    ours = "; ".join(f"WAME − {m}: {gaps[m]:+.2f} points (paired over {len(paired(runs, 'WAME', m))} seeds)"
                     for m in ADAPTIVE)
    verdict = share_verdict(len(on_par), len(ADAPTIVE))
    claims.append((ours + f"; 'as high' = at most {ON_PAR_POINTS} points below", verdict))

    # 2. SGD least accurate.
    order = sorted(METHODS, key=lambda m: mean["acc"][m])
    ours = "test accuracy %: " + ", ".join(f"{m} {mean['acc'][m]:.2f}" for m in METHODS)
    claims.append((ours, "reproduced" if order[0] == "SGD" else "not reproduced"))

    # 3. Fewest epochs to the best validation accuracy.
    others = [m for m in METHODS if m != "WAME"]
    beaten = [m for m in others if mean["epoch"]["WAME"] < mean["epoch"][m]]
    ours = "best validation epoch: " + ", ".join(f"{m} {mean['epoch'][m]:.1f}" for m in METHODS)
    claims.append((ours, share_verdict(len(beaten), len(others))))

    # 4. Shorter time than Adam and RMSprop.
    faster = [m for m in ADAPTIVE if mean["minutes"]["WAME"] < mean["minutes"][m]]
    ours = "training minutes to the best epoch: " + ", ".join(f"{m} {mean['minutes'][m]:.2f}" for m in METHODS)
    claims.append((ours, share_verdict(len(faster), len(ADAPTIVE))))

    # 5. Training loss below (MNIST; Fig. 1).
    if dataset == "mnist":
        curves = {m: mean_curve(runs[m], "train_loss")[1] for m in ("WAME", *ADAPTIVE)}
        n = min(len(c) for c in curves.values())
        later = range(1, n) if n > 1 else range(n)  # after the first epoch, where all start from the same loss
        below = sum(curves["WAME"][i] < min(curves[m][i] for m in ADAPTIVE) for i in later)
        total = len(later)
        ours = f"mean training loss per epoch below both at {below} of {total} epochs after the first"
        verdict = "reproduced" if below == total else "partly reproduced" if below > total / 2 else "not reproduced"
        claims.append((ours, verdict))
    return claims


# ----- figures --------------------------------------------------------------------------------------
def plot_dataset(runs: dict[str, list[RunMeasures]], path: Path, title: str) -> Path:
    """Validation accuracy and training loss against the epoch, mean over seeds, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    for method in METHODS:
        epochs, val = mean_curve(runs.get(method, []), "validation")
        if len(val):
            left.plot(epochs, val, label=method)
        epochs, loss = mean_curve(runs.get(method, []), "train_loss")
        if len(loss):
            right.plot(epochs, loss, label=method)
    left.set(xlabel="epoch", ylabel="validation accuracy (%)", title="validation accuracy, mean over seeds")
    right.set(xlabel="epoch", ylabel="training loss", yscale="log",
              title="training loss per epoch, mean over seeds")
    for ax in (left, right):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    return save_figure(fig, path, title)


# ----- the page -------------------------------------------------------------------------------------
def run(smoke: bool = False, out: Path = DOCS, store_path: Path | None = None) -> Path:
    """Write the page and claims from the stored studies (``smoke``: run the smoke versions first, in-process)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paper = paper_table()
    results: dict[str, Results | None] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if smoke:
            smoke_store = Path(tmp) / "smoke.sqlite"
            ran = run_smoke([specs[1] for specs in DATASETS.values()], smoke_store)
            results = {d: ran[specs[1]] for d, specs in DATASETS.items()}
        else:
            results = {d: load_results(store_path or STORE, specs) for d, specs in DATASETS.items()}
            if results["mnist"] is None:
                raise FileNotFoundError(f"no results of the MNIST study in {store_path or STORE}: run it first, "
                                        f"{run_command(DATASETS['mnist'][1], STORE)}")
    sections = [f"# {TITLE}: WAME against SGD, RMSprop and Adam", _introduction(smoke)]
    claims: list[Claim] = []
    for dataset, (full_spec, reduced_spec) in DATASETS.items():
        res = results[dataset]
        cifar = dataset.startswith("cifar")
        full_command = run_command(full_spec, STORE, gpu=True, cifar=cifar)
        reduced_command = run_command(reduced_spec, STORE, cifar=cifar)
        command = (f"{COMMAND} --smoke" if smoke else
                   f"{full_command if res is not None and res.budget == 'full' else reduced_command}; {COMMAND}")
        claims += claims_for(dataset, res, paper[dataset], command, f"{full_command}; {COMMAND}", smoke)
        sections.append(_dataset_section(dataset, res, paper[dataset], out, smoke, full_command, reduced_command))
    sections += [verdicts_section(claims), regenerate(COMMAND, smoke)]
    return write_page(PAPER, sections, claims, out)


def _introduction(smoke: bool) -> str:
    warning = smoke_warning(smoke)
    return f"""Mosca & Magoulas, *Training Convolutional Networks with Weight-wise Adaptive Learning Rates* (ESANN
2017), propose WAME ([docs/optimizers/wame.md](../optimizers/wame.md)) and compare it in their Table 2 with SGD
with momentum, RMSprop and Adam: 20 runs of 100 epochs per method and data set, each run of the four methods
from the same initial weights, reporting the test accuracy at the epoch of the best validation accuracy, that
epoch, and the time of a run with early stopping. WAME needs fewer epochs and less time for the same (MNIST) or
a better (CIFAR) accuracy.{warning}

**Which WAME.** minigrad implements Algorithm 1 as printed, except that it divides by $\\sqrt{{\\theta}}$ as the
authors' Keras code does (line 11 prints θ). The step multiplies the gradient by $Z$, the moving average of ζ.
The authors' code differs in five more points: it multiplies by the ratio ζ/Z, keeps a separate 0.999 average of
g², bias-corrects the rate, starts Z at 1, and (a bug) tests the sign of the gradient against the stored
parameter. The table in [docs/optimizers/wame.md](../optimizers/wame.md) lists them. The verdicts below are
about minigrad's reading of Algorithm 1; the authors' code may behave otherwise.

## Conditions

What the paper gives: the nets of its Table 1 (`wame_mnist`, `wame_cifar`), 100 epochs, 20 runs from shared
initial weights, a validation set on MNIST (none on CIFAR: the test set served), no augmentation, WAME's
α = 0.9, η₊ = 1.2, η₋ = 0.1, ζ ∈ [0.01, 100]. What it leaves out, and what the specs choose (each spec's header
says why): Keras's Glorot-uniform initialisation with zero biases; WAME's rate 1e-3 (the authors' Keras code);
the baselines at Keras's defaults (RMSprop 1e-3, ρ 0.9; Adam 1e-3, 0.9, 0.999; SGD 0.01 with momentum 0.9);
batch 128 on MNIST and 100 on CIFAR (the authors' Toupee examples); MNIST's last 10,000 training images as
the validation set; per-channel standardisation on CIFAR; no rate decay, no weight decay, no batch
normalisation. Within a seed every method starts from the same weights and sees the same batches.

The measures, per run: the **best epoch** is the first epoch of the highest validation accuracy; the **test
accuracy** is the one measured after that epoch; the **time** is the run's training time (optimizer steps,
excluding evaluation) up to that epoch. The paper's time is the wall time of a whole run with early stopping
on its hardware, so only the ratios between methods compare. Cells ran two at a time on the 2-core
development machine."""


def _dataset_section(dataset: str, res: Results | None, paper: dict[str, dict[str, float]], out: Path,
                     smoke: bool, full_command: str, reduced_command: str) -> str:
    name = NAMES[dataset]
    full_spec, reduced_spec = DATASETS[dataset]
    full_study = full_spec.study()
    head = f"## {name}"
    commands = (f"Full study ({describe_budget(full_study)}): `{full_command}`, then `{COMMAND}`.\n"
                f"Reduced study: `{reduced_command}`, then `{COMMAND}`.")
    if res is None:
        why = ("its data set is not on this machine" if dataset.startswith("cifar") else "it has not been run")
        rows = [[m, f"{paper[m]['acc_mean']:.2f} ± {paper[m]['acc_std']:.2f}",
                 f"{paper[m]['epoch_mean']:.2f} ± {paper[m]['epoch_std']:.2f}", f"{paper[m]['time_min']:.0f}"]
                for m in METHODS]
        return "\n\n".join([head, f"**Not run**: {why}. The specs load, validate and run in smoke mode on synthetic "
                            "files of the official format in the tests (`tests/test_reproductions_papers2.py`).",
                            commands, "The paper's numbers:", markdown_table(
                                ["method", "test accuracy % (paper)", "best validation epoch (paper)",
                                 "time, min (paper)"], rows)])
    runs = method_measures(res)
    budget = describe_budget(res.study)
    label = {"full": "FULL (the paper's budget)", "reduced": "REDUCED BUDGET", "smoke": "SMOKE RUN"}[res.budget]
    state = "" if res.complete else f" PARTIAL: {res.finished} of {res.total} cells finished."
    rows = []
    for m in METHODS:
        p = paper[m]
        mine = runs.get(m, [])
        rows.append([
            m,
            f"{p['acc_mean']:.2f} ± {p['acc_std']:.2f} [{p['acc_min']:.2f}–{p['acc_max']:.2f}]",
            summary([r.test_at_best for r in mine]),
            f"{p['epoch_mean']:.2f} ± {p['epoch_std']:.2f} [{p['epoch_min']:.0f}–{p['epoch_max']:.0f}]",
            summary([r.best_epoch for r in mine], 1),
            f"{p['time_min']:.0f}",
            f"{np.mean([r.minutes_to_best for r in mine]):.2f}" if mine else "—",
            f"{len(mine)}",
        ])
    table = markdown_table(["method", "test acc. % (paper)", "test acc. % (ours)", "best val. epoch (paper)",
                            "best val. epoch (ours)", "time, min (paper)", "train time to best, min (ours)",
                            "runs (ours)"], rows)
    diffs = []
    for m in ("SGD", *ADAPTIVE):
        d = paired(runs, "WAME", m)
        diffs.append([f"WAME − {m}", spread(d), f"{sum(x > 0 for x in d)}/{len(d)}"])
    failures = [f"- {s.variant} seed {s.seed}: {s.error}" for s in res.series if s.status == "failed"]
    figure = plot_dataset(runs, out / f"{PAPER}_{dataset}.png",
                          f"{name}, {label}: {budget}; paper: {describe_budget(full_study)}")
    parts = [head,
             f"**{label}**: {budget} (the paper: {describe_budget(full_study)}).{state} "
             f"Study `{res.name}`, {res.cost()} on the 2-core machine.",
             "Table 2 beside ours (mean ± std over runs [min–max]):", table,
             "Test accuracy at the best epoch, WAME minus each method, paired by seed (percentage points; "
             "seeds where WAME is higher):",
             markdown_table(["difference", "mean ± std", "WAME higher"], diffs),
             f"![validation accuracy and training loss]({figure.name})"]
    if failures:
        parts.append("Failed runs (left out above):\n\n" + "\n".join(failures))
    parts.append(commands)
    return "\n\n".join(parts)
