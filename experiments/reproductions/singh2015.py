"""Singh et al. (2015) Table I: layer-specific adaptive rates on Caffe's LeNet/MNIST, reproduced.

The numbers come from two studies (``experiments/studies/specs/singh2015_table1_{files,shuffled}.toml``:
12 methods × 10 seeds each, one per data order) kept in a study store; this module reads them,
puts them beside the paper's Table I (``data/singh2015_table1.csv``), tests each of the paper's
comparisons with paired tests over the seeds, and records the per-layer rate multipliers
1 + ln(1 + 1/‖g_l‖) of the layer-specific methods over one run. It writes
``docs/reproductions/singh2015.md`` with its figures and claims.

    minigrad study run experiments/studies/specs/singh2015_table1_files.toml --store STORE
    minigrad study run experiments/studies/specs/singh2015_table1_shuffled.toml --store STORE
    python -m experiments.reproductions singh2015      # STORE = runs/reproductions/singh2015.sqlite
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from experiments.reproductions.common import (
    DOCS,
    ROOT,
    Claim,
    at_reduced_budget,
    format_duration,
    markdown_table,
    mean_std,
    mean_std_by_method,
    plain_log_axis,
    regenerate,
    save_figure,
    share_verdict,
    smoke_warning,
    verdicts_section,
    write_page,
)
from experiments.reproductions.stored import wall_span
from experiments.stepping import cross_entropy_per_sample, train_step
from experiments.studies import cell as study_cell
from experiments.studies.report import StudyReport, build_report
from experiments.studies.runner import inline, run_study
from experiments.studies.spec import Study, load_study
from experiments.studies.store import StudyStore

PAPER = "singh2015"
TITLE = "Singh et al. (2015), Table I"
SPECS = {
    "files": ROOT / "experiments/studies/specs/singh2015_table1_files.toml",
    "shuffled": ROOT / "experiments/studies/specs/singh2015_table1_shuffled.toml",
}
STORE = ROOT / "runs/reproductions/singh2015.sqlite"
TABLE = Path(__file__).parent / "data" / "singh2015_table1.csv"
#: The paper's comparisons: each layer-specific method against its base.
PAIRS = (("Ours-SGD", "SGD"), ("Ours-NAG", "NAG"), ("Ours-AdaGrad", "AdaGrad"))
#: The control the paper lacks: the base method at a larger global rate.
CONTROLS = {"SGD": ("SGD 2x", "SGD 3x"), "NAG": ("NAG 2x", "NAG 3x"), "AdaGrad": ("AdaGrad 2x", "AdaGrad 3x")}
ALPHA = 0.05
COMMAND = "python -m experiments.reproductions singh2015"


def paper_table(path: Path = TABLE) -> dict[str, dict[int, tuple[float, float]]]:
    """The paper's Table I: ``{method: {iteration: (mean %, std %)}}``."""
    return mean_std_by_method(path)


def cell_verdict(report: StudyReport, method: str, iteration: int) -> str:
    """'lower' / 'higher' (paired t-test p < 0.05 on the per-seed differences) or 'n.s.' against the baseline."""
    paired = report.paired.get(method, {}).get(iteration)
    if paired is None or paired.t_p is None:
        return "n/a"
    if paired.t_p >= ALPHA:
        return "n.s."
    return "lower" if paired.mean < 0 else "higher"


# ----- the per-layer multipliers ----------------------------------------------------------------------
def layer_multipliers(study: Study, method: str, seed: int, iterations: int) -> dict[str, np.ndarray]:
    """The factor 1 + ln(1 + 1/‖g_l‖) of every layer at every step of one cell of ``study`` (same settings)."""
    cell = next(c for c in study.cells() if c.method == method and c.seed == seed)
    cell = dataclasses.replace(cell, iterations=iterations)
    (train_x, train_y), _ = study_cell.prepare_data(cell.data)
    model = study_cell.build_model(cell.model, cell.seed)
    loader = study_cell.datasets.DataLoader(train_x, train_y, cell.data.batch_size,
                                            shuffle=cell.data.order == "shuffle", seed=cell.seed)
    optimizer = study_cell.build_optimizer(cell, model, steps_per_epoch=len(loader))
    factors: dict[str, list[float]] = {}
    step, epoch = 0, 0
    while step < iterations:
        loader.set_epoch(epoch)
        for x, y in loader:
            train_step(model, optimizer, cross_entropy_per_sample, (x, y))
            for name, value in optimizer.layer_factors.items():
                factors.setdefault(name, []).append(float(value))
            step += 1
            if step == iterations:
                break
        epoch += 1
    return {name: np.asarray(values) for name, values in factors.items()}


# ----- figures ------------------------------------------------------------------------------------
def plot_error_curves(reports: dict[str, StudyReport], paper: dict[str, dict[int, tuple[float, float]]],
                      path: Path, note: str) -> Path:
    """Test error against iteration for each pair (ours: mean ± std band per order; the paper's as markers)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), sharey=False)
    styles = {"files": "-", "shuffled": "--"}
    for ax, (ours, base) in zip(axes, PAIRS):
        for order, report in reports.items():
            for method, color in ((base, "tab:blue"), (ours, "tab:red")):
                xs = [it for it in report.iterations if it in report.summaries.get(method, {})]
                mean = np.array([100 * report.summaries[method][it].mean for it in xs])
                std = np.array([100 * (report.summaries[method][it].std or 0.0) for it in xs])
                ax.plot(xs, mean, styles[order], color=color, label=f"{method}, ours ({order} order)")
                ax.fill_between(xs, mean - std, mean + std, color=color, alpha=0.12)
        for method, color in ((base, "tab:blue"), (ours, "tab:red")):
            its = sorted(paper.get(method, {}))
            ax.errorbar(its, [paper[method][i][0] for i in its], [paper[method][i][1] for i in its], fmt="o",
                        color=color, mfc="white", capsize=3, label=f"{method}, paper")
        ax.set(xlabel="iteration", ylabel="test error (%)", yscale="log", title=f"{ours} vs {base}")
        plain_log_axis(ax)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    return save_figure(fig, path, f"Caffe's LeNet on MNIST, mean ± std over seeds; {note}")


def plot_multipliers(curves: dict[str, dict[str, np.ndarray]], path: Path, note: str) -> Path:
    """Each layer's factor 1 + ln(1 + 1/‖g_l‖) against the iteration, one panel per layer-specific method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 4), sharey=True)
    for ax, (method, factors) in zip(np.atleast_1d(axes), curves.items()):
        for name, values in factors.items():
            ax.plot(np.arange(1, len(values) + 1), values, lw=0.8, label=name)
        ax.set(xlabel="iteration", ylabel="rate multiplier 1 + ln(1 + 1/‖g_l‖)", yscale="log", title=method)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, title="layer")
    return save_figure(fig, path, f"Per-layer rate multipliers, one run (seed 0); {note}")


# ----- the page -----------------------------------------------------------------------------------
def _studies(smoke: bool) -> dict[str, Study]:
    studies = {order: load_study(path) for order, path in SPECS.items()}
    return {order: s.smoke_version() for order, s in studies.items()} if smoke else studies


def _cell_times(store: StudyStore, names: dict[str, str]) -> dict[str, tuple[float, float | None]]:
    """Per order: the sum of the done cells' wall times, and the span from the first cell's start to the last's end."""
    out = {}
    for order, name in names.items():
        cells = store.cells(name)
        out[order] = (sum(c["wall_time"] or 0.0 for c in cells if c["status"] == "done"), wall_span(cells))
    return out


def run(smoke: bool = False, out: Path = DOCS, store_path: Path | None = None) -> Path:
    """Write the page from the stored studies (``--smoke``: run the smoke studies in-process first)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    studies = _studies(smoke)
    cpu = time.process_time()
    if smoke:
        tmp = tempfile.TemporaryDirectory()
        store_path = Path(tmp.name) / "smoke.sqlite"
        for study in studies.values():
            run_study(study, inline(), store_path, progress=False)
    store_path = Path(store_path or STORE)
    if not store_path.exists():
        raise FileNotFoundError(f"no study store at {store_path}: run the studies first (see {__name__}'s docstring)")
    paper = paper_table()
    with StudyStore.open(store_path) as store:
        names = {order: s.name for order, s in studies.items()}
        reports = {order: build_report(store, name, baseline="SGD") for order, name in names.items()}
        pair_reports = {
            (order, base): build_report(store, names[order], baseline=base)
            for order in names for _, base in PAIRS
        }
        ours_vs_controls = {
            (order, ours, control): build_report(store, names[order], baseline=control)
            for order in names for ours, base in PAIRS for control in CONTROLS[base]
        }
        times = _cell_times(store, names)
        cell_seconds = {order: cell for order, (cell, _) in times.items()}
        cells_done = {order: reports[order].counts.get("done", 0) for order in names}
        cells_total = {order: reports[order].total for order in names}
    iterations = list(studies["files"].eval_at)
    budget = "smoke run: a few seeds, iterations and images, NOT the paper's budget" if smoke else (
        f"{len(studies['files'].seeds)} seeds, {studies['files'].iterations} iterations, all 60,000 training and "
        "10,000 test images"
    )
    multiplier_steps = 10 if smoke else studies["files"].iterations
    multipliers = {m: layer_multipliers(studies["files"], m, studies["files"].seeds[0], multiplier_steps)
                   for m, _ in PAIRS}
    fig_errors = plot_error_curves(reports, paper, out / "singh2015_test_error.png", budget)
    fig_mult = plot_multipliers(multipliers, out / "singh2015_layer_multipliers.png", f"files order; {budget}")
    cpu = time.process_time() - cpu

    sections = [f"# {TITLE}: layer-specific adaptive learning rates on MNIST", _conditions(studies, budget, smoke)]
    sections.append(_table_section(reports, paper, iterations))
    verdicts, paired_text = _paired_section(pair_reports, iterations)
    sections.append(paired_text)
    control_verdicts, control_text = _control_section(ours_vs_controls, iterations)
    sections.append(control_text)
    sections.append("## Figures\n\n"
                    f"![test error against iteration]({fig_errors.name})\n\n"
                    f"![per-layer rate multipliers]({fig_mult.name})\n\n" + _multiplier_text(multipliers))
    claims = _claims(verdicts, control_verdicts, reports, paper, iterations, cell_seconds, smoke)
    sections.append(verdicts_section(claims))
    time_lines = [f"- {order} order: {cells_done[order]} of {cells_total[order]} cells done, "
                  f"{format_duration(cell_seconds[order])} of cell time (the sum over cells)"
                  + (f", {format_duration(span)} from the first cell's start to the last's end"
                     if (span := times[order][1]) is not None else "")
                  for order in names]
    sections.append("## Cost\n\n" + "\n".join(time_lines) + f"\n- this page (report and multiplier run): "
                    f"{format_duration(cpu)} of CPU time\n\n" + regenerate(COMMAND, smoke))
    return write_page(PAPER, sections, claims, out)


def _conditions(studies: dict[str, Study], budget: str, smoke: bool) -> str:
    study = studies["files"]
    warning = smoke_warning(smoke, "a tiny budget")
    return f"""Singh, De, Zhang, Goldstein & Taylor, *Layer-specific adaptive learning rates for deep networks*
(ICMLA 2015) add a per-layer factor $1 + \\ln(1 + 1/\\lVert g_l\\rVert_2)$ to the global rate of SGD, NAG
and AdaGrad (eq. 9-13; `docs/optimizers/layer-specific.md`) and report, in Table I, lower mean test error
on MNIST at every checkpoint for each of the three.{warning}

## Conditions

Caffe's LeNet MNIST example as the paper ran it: `caffe_lenet` (conv 20 → pool → conv 50 → pool → 500 → ReLU
→ 10), Caffe's "xavier" weights U(±√(3/fan_in)) and zero biases, pixels scaled by 1/256, batch
{study.data.batch_size}, base rate 0.01 with the `inv` policy (γ = 1e-4, power 0.75), momentum 0.9, weight decay
5e-4, biases at twice the rate (Caffe's `lr_mult` 2). NAG is the same solver with Caffe's Nesterov update.
Test error on {f"the first {study.data.eval_limit:,}" if study.data.eval_limit else "the 10,000"} test images at
iterations {', '.join(map(str, study.eval_at))}; {budget}.

What the paper leaves unstated, and what we chose:

- **AdaGrad's settings**: Caffe's own AdaGrad example solver (its MNIST autoencoder) uses base rate 0.01,
  the `fixed` policy and weight decay 5e-4, with Caffe's default δ = 1e-8; we use these, with the same
  bias `lr_mult` 2.
- **Data order**: Caffe reads its LMDB in the order the conversion wrote it (the files' order) and the paper
  does not say it shuffled, so both are run: `files` (only the initial weights differ between seeds) and
  `shuffled` (a per-seed shuffle every epoch).
- **"Layer"**: the parameters of one module (weights and bias together), minigrad's default grouping; the
  natural log in the factor.
- **A control the paper lacks**: each base method at 2× and 3× the global rate, since the factor is always
  ≥ 1: does "layer-specific" beat "a larger rate"?

Paired design: within a seed every method starts from the same weights and sees the same batches
(checked by the study layer's fingerprints). Paired t-test and Wilcoxon signed-rank p-values over the seeds;
a cell's verdict is **lower**/**higher** when the paired t-test gives p < {ALPHA}, else **n.s.**"""


def _table_section(reports: dict[str, StudyReport], paper: dict[str, dict[int, tuple[float, float]]],
                   iterations: list[int]) -> str:
    methods = [m for pair in PAIRS for m in reversed(pair)]
    parts = ["## Table I beside ours (test error %, mean ± std over seeds)"]
    for it in iterations:
        rows = []
        for m in methods:
            theirs = paper.get(m, {}).get(it)
            row = [m, f"{theirs[0]:.2f} ± {theirs[1]:.2f}" if theirs else "—"]
            for report in reports.values():
                per_seed = report.values.get(m, {}).get(it, {})
                row.append(mean_std([100 * v for v in per_seed.values()]) if per_seed else "—")
            rows.append(row)
        header = ["method", "paper", *[f"ours, {order} order" for order in reports]]
        parts.append(f"**Iteration {it}**\n\n" + markdown_table(header, rows))
    controls = [c for base in CONTROLS.values() for c in base]
    rows = []
    for c in controls:
        row = [c]
        for report in reports.values():
            row.append(" / ".join(mean_std([100 * v for v in report.values.get(c, {}).get(it, {}).values()])
                                  for it in (iterations[0], iterations[-1])))
        rows.append(row)
    parts.append(f"**Controls** (test error % at iterations {iterations[0]} / {iterations[-1]})\n\n"
                 + markdown_table(["method", *[f"ours, {o} order" for o in reports]], rows))
    return "\n\n".join(parts)


def _fmt_p(p: float | None) -> str:
    return "n/a" if p is None else (f"{p:.1e}" if p < 1e-3 else f"{p:.3f}")


def _paired_section(pair_reports: dict[tuple[str, str], StudyReport],
                    iterations: list[int]) -> tuple[dict[tuple[str, str, int], str], str]:
    verdicts: dict[tuple[str, str, int], str] = {}
    rows = []
    for (order, base), report in pair_reports.items():
        ours = next(o for o, b in PAIRS if b == base)
        for it in iterations:
            p = report.paired.get(ours, {}).get(it)
            verdict = cell_verdict(report, ours, it)
            verdicts[(order, ours, it)] = verdict
            if p is None:
                rows.append([order, f"{ours} − {base}", it, "—", "—", "—", "—", verdict])
                continue
            rows.append([order, f"{ours} − {base}", it, f"{100 * p.mean:+.2f} ± {100 * (p.std or 0):.2f}",
                         _fmt_p(p.t_p), _fmt_p(p.wilcoxon_p), f"{p.better}/{len(p.seeds)}", f"**{verdict}**"])
    text = ("## The paper's comparisons, paired by seed\n\nDifference in test error (percentage points, "
            "layer-specific minus base; negative favours the paper's method), per data order and iteration.\n\n"
            + markdown_table(["order", "difference", "iteration", "mean ± std (pt)", "t-test p", "Wilcoxon p",
                              "seeds better", "verdict"], rows))
    return verdicts, text


def _control_section(reports: dict[tuple[str, str, str], StudyReport],
                     iterations: list[int]) -> tuple[dict[tuple[str, str, str, int], str], str]:
    verdicts: dict[tuple[str, str, str, int], str] = {}
    rows = []
    for (order, ours, control), report in reports.items():
        cells = []
        for it in (iterations[0], iterations[-1]):
            p = report.paired.get(ours, {}).get(it)
            verdict = cell_verdict(report, ours, it)
            verdicts[(order, ours, control, it)] = verdict
            cells.append("—" if p is None else f"{100 * p.mean:+.2f} (p {_fmt_p(p.t_p)}, {verdict})")
        rows.append([order, f"{ours} − {control}", *cells])
    text = ("## Control: layer-specific rates against a larger global rate\n\nDifference in test error "
            "(percentage points) of each layer-specific method minus its base method at 2× and 3× the rate, "
            f"at iterations {iterations[0]} and {iterations[-1]}.\n\n"
            + markdown_table(["order", "difference", f"iteration {iterations[0]}", f"iteration {iterations[-1]}"],
                             rows))
    return verdicts, text


def _multiplier_text(multipliers: dict[str, dict[str, np.ndarray]]) -> str:
    rows = []
    for method, factors in multipliers.items():
        for name, values in factors.items():
            q = max(1, len(values) // 10)
            rows.append([method, name, f"{values[:q].mean():.2f}", f"{values[-q:].mean():.2f}",
                         f"{values.min():.2f}–{values.max():.2f}"])
    return ("Mean multiplier over the first and the last tenth of the run, per layer (seed 0, files order):\n\n"
            + markdown_table(["method", "layer", "first tenth", "last tenth", "range"], rows))


def _claims(verdicts: dict[tuple[str, str, int], str], controls: dict[tuple[str, str, str, int], str],
            reports: dict[str, StudyReport], paper: dict[str, dict[int, tuple[float, float]]], iterations: list[int],
            cell_seconds: dict[str, float], smoke: bool) -> list[Claim]:
    claims = []
    cost = format_duration(sum(cell_seconds.values()))
    command = COMMAND + (" --smoke" if smoke else "")
    for ours, base in PAIRS:
        lower = {order: [it for it in iterations if verdicts.get((order, ours, it)) == "lower"] for order in reports}
        higher = {order: [it for it in iterations if verdicts.get((order, ours, it)) == "higher"] for order in reports}
        n = len(iterations) * len(reports)
        verdict = share_verdict(sum(len(v) for v in lower.values()), n)
        theirs = paper[ours]
        their_text = ", ".join(f"{it}: {paper[base][it][0]:.2f}→{theirs[it][0]:.2f}" for it in sorted(theirs))
        ours_text = "; ".join(
            f"{order}: significantly lower at {', '.join(map(str, lower[order])) or 'no checkpoint'}"
            + (f", higher at {', '.join(map(str, higher[order]))}" if higher[order] else "")
            for order in reports
        )
        claims.append(Claim(paper=TITLE, claim=f"{ours} has lower test error than {base} (Table I)",
                            theirs=f"mean error % {base}→{ours}: {their_text}", ours=ours_text, verdict=verdict,
                            command=command, cpu_time=cost, page=f"{PAPER}.md"))
    # Our control: is the layer factor more than a larger rate?
    beats = [key for key, v in controls.items() if v == "lower"]
    loses = [key for key, v in controls.items() if v == "higher"]
    claims.append(Claim(
        paper=TITLE,
        claim="the gain is layer-specific, not just a larger global rate (our control; not in the paper)",
        theirs="not tested",
        ours=f"layer-specific significantly lower than a 2×/3× base in {len(beats)} of {len(controls)} comparisons, "
             f"higher in {len(loses)}",
        verdict=share_verdict(len(beats), len(controls)),
        command=command, cpu_time=cost, page=f"{PAPER}.md"))
    return at_reduced_budget(claims) if smoke else claims


def _finite_or_dash(x: Any) -> str:
    return "—" if x is None or (isinstance(x, float) and not math.isfinite(x)) else str(x)
