"""What the user reads: a study's statistics, ``report.md`` and its figures, from the store alone.

For each evaluation iteration the report gives every method's mean ± sample standard deviation
over seeds, then the paired comparison with a baseline: per seed the difference method − baseline
(both trained from the same initial weights on the same batches), its mean ± std, the paired
t-test and Wilcoxon signed-rank p-values (``scipy.stats.ttest_rel``, ``scipy.stats.wilcoxon``)
and the number of seeds on which the method was better. Figures: the metric against the
iteration with ±std bands, the per-seed paired differences, and the training-loss curves.

Only finished cells count; a study still running (or interrupted) gives a partial report that
says so. Failed cells (diverged or raised) are listed with their messages and left out of the
statistics, so a pair needs both of its cells done.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from experiments.studies.spec import HIGHER_IS_BETTER, TASK_METRICS, Study, variant_name
from experiments.studies.store import StoredStudy, StudyStore

REPORT = "report.md"
FIG_METRIC = "metric_curves.png"
FIG_PAIRED = "paired_differences.png"
FIG_LOSS = "training_loss.png"


@dataclass
class Summary:
    """One method at one iteration: n seeds, mean and sample std (None for n < 2)."""

    n: int
    mean: float
    std: float | None


@dataclass
class Paired:
    """One method against the baseline at one iteration, over the seeds where both cells are done."""

    seeds: list[int]
    differences: list[float]  # method − baseline, per seed
    mean: float
    std: float | None
    t_p: float | None
    wilcoxon_p: float | None
    better: int
    worse: int
    ties: int


@dataclass
class StudyReport:
    """Everything the report states, computed from the store."""

    stored: StoredStudy
    metric: str
    split: str
    baseline: str
    variants: list[str]
    iterations: list[int]
    counts: dict[str, int]
    total: int
    #: values[variant][iteration][seed] = the metric of that cell (done cells only)
    values: dict[str, dict[int, dict[int, float]]]
    summaries: dict[str, dict[int, Summary]]
    paired: dict[str, dict[int, Paired]]
    failures: list[dict[str, Any]]
    unpaired_seeds: list[str]
    curves: dict[str, dict[int, dict[int, float]]] = field(default_factory=dict)

    @property
    def study(self) -> Study:
        """The study's spec as stored."""
        return self.stored.study

    @property
    def finished(self) -> int:
        """Cells done or failed."""
        return self.counts.get("done", 0) + self.counts.get("failed", 0)

    @property
    def partial(self) -> bool:
        """True while some cells are not finished (still running, pending, or lost)."""
        return self.finished < self.total


def _nan_to_none(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def paired_comparison(method: list[float], baseline: list[float], seeds: list[int], higher_better: bool) -> Paired:
    """Statistics of ``method − baseline`` paired by seed (both lists in the order of ``seeds``)."""
    a, b = np.asarray(method, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
    d = a - b
    n = len(d)
    t_p = w_p = None
    if n >= 2 and np.any(d != 0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # zero variance: p is NaN, reported as n/a
            t_p = _nan_to_none(stats.ttest_rel(a, b).pvalue)
            try:
                w_p = _nan_to_none(stats.wilcoxon(a, b).pvalue)
            except ValueError:  # scipy refuses some degenerate samples
                w_p = None
    sign = 1.0 if higher_better else -1.0
    return Paired(
        seeds=list(seeds),
        differences=[float(x) for x in d],
        mean=float(d.mean()) if n else math.nan,
        std=float(d.std(ddof=1)) if n >= 2 else None,
        t_p=t_p,
        wilcoxon_p=w_p,
        better=int(np.sum(sign * d > 0)),
        worse=int(np.sum(sign * d < 0)),
        ties=int(np.sum(d == 0)),
    )


def build_report(
    store: StudyStore, name: str, baseline: str | None = None, metric: str | None = None, split: str | None = None
) -> StudyReport:
    """Compute the report of study ``name`` (``baseline``, ``metric`` and ``split`` default to the spec's)."""
    stored = store.require_study(name)
    study = stored.study
    metric = metric or study.report_metric
    split = split or study.report_split
    if split not in study.data.eval_split:
        raise ValueError(
            f"split {split!r} was not evaluated in study {name!r}: expected one of {study.data.eval_split}"
        )
    if metric not in TASK_METRICS[study.task]:
        raise ValueError(
            f"unknown metric {metric!r} for task {study.task!r}: expected one of {TASK_METRICS[study.task]}"
        )
    variants = study.variants()
    baseline = baseline or study.report_baseline
    if baseline not in variants:
        raise ValueError(f"no method {baseline!r} in study {name!r}: expected one of {variants}")
    cells = store.cells(name)
    counts: dict[str, int] = {}
    for c in cells:
        counts[c["status"]] = counts.get(c["status"], 0) + 1
    column = f"eval_{metric}"
    values: dict[str, dict[int, dict[int, float]]] = {v: {} for v in variants}
    for m in store.measurements(name):
        if m["status"] != "done" or m["split"] != split or m[column] is None:
            continue
        variant = variant_name(m["method"], m["grid"])
        values.setdefault(variant, {}).setdefault(m["iteration"], {})[m["seed"]] = m[column]
    curves: dict[str, dict[int, dict[int, float]]] = {v: {} for v in variants}
    for k in store.curves(name):
        if k["status"] == "done":
            curves.setdefault(variant_name(k["method"], k["grid"]), {}).setdefault(k["iteration"], {})[k["seed"]] = k[
                "train_loss"
            ]
    iterations = list(study.eval_at)
    summaries: dict[str, dict[int, Summary]] = {}
    for v in variants:
        summaries[v] = {}
        for it in iterations:
            xs = np.array(list(values[v].get(it, {}).values()), dtype=np.float64)
            if len(xs):
                summaries[v][it] = Summary(len(xs), float(xs.mean()), float(xs.std(ddof=1)) if len(xs) >= 2 else None)
    higher = metric in HIGHER_IS_BETTER
    paired: dict[str, dict[int, Paired]] = {}
    for v in variants:
        if v == baseline:
            continue
        paired[v] = {}
        for it in iterations:
            mine, base = values[v].get(it, {}), values[baseline].get(it, {})
            seeds = [s for s in study.seeds if s in mine and s in base]
            if seeds:
                paired[v][it] = paired_comparison([mine[s] for s in seeds], [base[s] for s in seeds], seeds, higher)
    failures = [c for c in cells if c["status"] in ("failed", "lost")]
    unpaired = []
    for seed in study.seeds:
        done = [c for c in cells if c["seed"] == seed and c["status"] == "done"]
        for what in ("init_hash", "data_hash"):
            if len({c[what] for c in done}) > 1:
                unpaired.append(f"seed {seed}: cells differ in {what}")
    return StudyReport(
        stored=stored,
        metric=metric,
        split=split,
        baseline=baseline,
        variants=variants,
        iterations=iterations,
        counts=counts,
        total=len(cells),
        values=values,
        summaries=summaries,
        paired=paired,
        failures=failures,
        unpaired_seeds=unpaired,
        curves=curves,
    )


# ----- writing -----------------------------------------------------------------------------------
def _scale(metric: str) -> tuple[float, str]:
    """Errors and accuracies print as percentages; losses as they are."""
    return (100.0, " (%)") if metric in ("error", "accuracy") else (1.0, "")


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:.{digits}g}" if abs(x) < 1e-3 and x != 0 else f"{x:.{digits}f}"


def _p(x: float | None) -> str:
    return "n/a" if x is None else (f"{x:.2g}" if x < 0.001 else f"{x:.3f}")


def _label(report: StudyReport) -> str:
    scale, unit = _scale(report.metric)
    return f"{report.split} {report.metric}{unit}"


def render_markdown(report: StudyReport) -> str:
    """The text of ``report.md``."""
    study, stored = report.study, report.stored
    scale, unit = _scale(report.metric)
    digits = 2 if scale == 100.0 else 4
    lines = [f"# Study `{study.name}`", ""]
    if study.description:
        lines += [study.description, ""]
    if report.partial:
        lines += [
            f"**PARTIAL**: {report.finished} of {report.total} cells finished "
            f"({', '.join(f'{n} {s}' for s, n in sorted(report.counts.items()))}); the statistics below use the "
            "cells finished so far.",
            "",
        ]
    else:
        lines += [f"Complete: all {report.total} cells finished.", ""]
    data = study.data
    lines += [
        "## Setup",
        "",
        f"- model `{study.model.name}`"
        + (f" ({study.model.activation})" if study.model.activation else "")
        + (f", init {study.model.init}" if study.model.init else "")
        + (f", {study.model.kwargs}" if study.model.kwargs else ""),
        f"- data `{data.dataset}`, preprocess `{data.preprocess}`"
        + (f" (× {data.scale:g})" if data.scale else "")
        + f", order `{data.order}`, batch {data.batch_size}"
        + (f", first {data.train_limit} training images" if data.train_limit else "")
        + f"; evaluated on {' and '.join(data.eval_split)}"
        + (f" (validation: the last {data.validation_size} training images, held out)" if data.validation_size else "")
        + (f", first {data.eval_limit} images of each" if data.eval_limit else "")
        + f"; the report compares `{report.split}`",
        f"- task `{study.task}`, {study.iterations} iterations, evaluated at {list(study.eval_at)}, "
        f"device `{study.device}`",
        f"- seeds {list(study.seeds)}",
        f"- spec hash `{stored.spec_hash[:16]}`, minigrad {stored.minigrad_version}, created {stored.created}"
        + (f" from `{stored.source}`" if stored.source else ""),
        "",
        "| method | optimizer | hyperparameters |",
        "|---|---|---|",
    ]
    for m in study.methods:
        hyper = ", ".join(f"{k}={v}" for k, v in m.hyper.items())
        if m.grid:
            hyper += "; grid " + ", ".join(f"{k} ∈ {v}" for k, v in m.grid.items())
        extra = [f"groups `{g.match}`: {g.settings}" for g in m.groups] + [
            f"params `{p.match}`: {p.settings}" for p in m.params
        ]
        lines.append(f"| {m.label} | `{m.optimizer}` | {hyper}{'; ' + '; '.join(extra) if extra else ''} |")
    lines += ["", f"## {_label(report)}: mean ± sample std over seeds (n)", ""]
    lines.append("| method | " + " | ".join(f"iter {it}" for it in report.iterations) + " |")
    lines.append("|---|" + "---|" * len(report.iterations))
    for v in report.variants:
        cells = []
        for it in report.iterations:
            s = report.summaries[v].get(it)
            if s is None:
                cells.append("–")
            else:
                std = "n/a" if s.std is None else f"{s.std * scale:.{digits}f}"
                cells.append(f"{s.mean * scale:.{digits}f} ± {std} ({s.n})")
        lines.append(f"| {v}{' (baseline)' if v == report.baseline else ''} | " + " | ".join(cells) + " |")
    better = "higher" if report.metric in HIGHER_IS_BETTER else "lower"
    lines += [
        "",
        f"## Paired differences against `{report.baseline}`",
        "",
        f"Per seed, method − baseline in {_label(report)} ({better} is better); p-values of the paired t-test "
        'and the Wilcoxon signed-rank test; "better" counts the seeds where the method beat the baseline '
        "(ties apart).",
        "",
        "| method | iter | n | mean diff ± std | t-test p | Wilcoxon p | better / worse / tied |",
        "|---|---|---|---|---|---|---|",
    ]
    for v, per_it in report.paired.items():
        for it in report.iterations:
            p = per_it.get(it)
            if p is None:
                continue
            std = "n/a" if p.std is None else f"{p.std * scale:.{digits}f}"
            lines.append(
                f"| {v} | {it} | {len(p.seeds)} | {p.mean * scale:+.{digits}f} ± {std} | {_p(p.t_p)} | "
                f"{_p(p.wilcoxon_p)} | {p.better} / {p.worse} / {p.ties} |"
            )
    last = report.iterations[-1]
    lines += ["", f"Per-seed differences at iteration {last}:", ""]
    for v, per_it in report.paired.items():
        p = per_it.get(last)
        if p is not None:
            pairs = ", ".join(f"{s}: {d * scale:+.{digits}f}" for s, d in zip(p.seeds, p.differences))
            lines.append(f"- {v}: {pairs}")
    lines += [
        "",
        "## Figures",
        "",
        f"![{report.metric} against iteration]({FIG_METRIC})",
        "",
        f"![paired differences]({FIG_PAIRED})",
        "",
        f"![training loss]({FIG_LOSS})",
        "",
        "## Checks",
        "",
    ]
    if report.unpaired_seeds:
        lines.append("**The paired design is broken:** " + "; ".join(report.unpaired_seeds))
    else:
        lines.append(
            "Paired design: within every seed, all finished cells started from the same weights and saw the same "
            "batches (equal `init_hash` and `data_hash`)."
        )
    if report.failures:
        lines += ["", "Failed or lost cells (left out of the statistics):", ""]
        for c in report.failures:
            lines.append(f"- `{c['key']}` ({c['status']}): {c['error']}")
    return "\n".join(lines) + "\n"


def _band(ax: Any, xs: list[int], per_x: dict[int, dict[int, float]], scale: float, label: str, color: Any) -> None:
    xs = [x for x in xs if per_x.get(x)]
    if not xs:
        return
    means = np.array([np.mean(list(per_x[x].values())) for x in xs]) * scale
    stds = np.array([np.std(list(per_x[x].values()), ddof=1) if len(per_x[x]) > 1 else 0.0 for x in xs]) * scale
    ax.plot(xs, means, "o-" if len(xs) < 30 else "-", color=color, label=label, lw=1.5, ms=3)
    ax.fill_between(xs, means - stds, means + stds, color=color, alpha=0.2, lw=0)


def write_figures(report: StudyReport, out: Path) -> list[Path]:
    """The three PNGs of the report; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale, unit = _scale(report.metric)
    colors = plt.cm.tab10(np.arange(len(report.variants)) % 10)
    title = f"{report.study.name}" + (" (PARTIAL)" if report.partial else "")
    paths = []

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for v, color in zip(report.variants, colors):
        _band(ax, report.iterations, report.values[v], scale, v, color)
    ax.set(xlabel="iteration", ylabel=_label(report), title=f"{title}: mean ± std over seeds")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    paths.append(out / FIG_METRIC)
    fig.tight_layout()
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    others = [v for v in report.variants if v != report.baseline]
    fig, axes = plt.subplots(1, max(1, len(others)), figsize=(5 * max(1, len(others)), 4), squeeze=False)
    for ax, v, color in zip(axes[0], others, colors[1:] if len(colors) > 1 else colors):
        per_it = report.paired.get(v, {})
        seeds = sorted({s for p in per_it.values() for s in p.seeds})
        for seed in seeds:
            pts = [
                (it, d)
                for it in report.iterations
                if it in per_it
                for s, d in zip(per_it[it].seeds, per_it[it].differences)
                if s == seed
            ]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] * scale for p in pts], "o-", color="0.6", lw=0.7, ms=2.5)
        its = [it for it in report.iterations if it in per_it]
        ax.plot(its, [per_it[it].mean * scale for it in its], "o-", color=color, lw=2, label="mean")
        ax.axhline(0.0, color="k", lw=0.8)
        ax.set(xlabel="iteration", ylabel=f"Δ {report.metric}{unit}", title=f"{v} − {report.baseline}, per seed")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    if not others:
        axes[0][0].set_title("a single method: nothing to pair")
    fig.suptitle(title)
    paths.append(out / FIG_PAIRED)
    fig.tight_layout()
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for v, color in zip(report.variants, colors):
        xs = sorted(report.curves.get(v, {}))
        _band(ax, xs, report.curves.get(v, {}), 1.0, v, color)
    ax.set(
        xlabel="iteration",
        ylabel="training loss (mean of each stride)",
        yscale="log",
        title=f"{title}: training loss, mean ± std over seeds",
    )
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    paths.append(out / FIG_LOSS)
    fig.tight_layout()
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths


def write_report(
    store: StudyStore,
    name: str,
    out_dir: str | Path,
    baseline: str | None = None,
    metric: str | None = None,
    split: str | None = None,
) -> StudyReport:
    """Write ``report.md`` and the figures of study ``name`` into ``out_dir``; returns the computed report."""
    report = build_report(store, name, baseline, metric, split)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_figures(report, out)
    (out / REPORT).write_text(render_markdown(report))
    return report
