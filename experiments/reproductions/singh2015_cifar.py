"""Singh et al. (2015) Table II: layer-specific adaptive rates on Caffe's CIFAR-10 net, reproduced.

The numbers come from the study specs ``experiments/studies/specs/singh2015_table2_cifar10*.toml`` (6
methods; a full spec with the paper's 70,000 iterations and 5 runs, and a reduced one for 2 CPU cores)
kept in ``runs/reproductions/singh2015_cifar.sqlite``. CIFAR-10 is not shipped with minigrad and cannot
be downloaded by it: on a machine without the files this module writes the page with the paper's
numbers, the commands, and claims marked "not run: data not available". With results in the store it
puts them beside the paper's Table II (``data/singh2015_table2.csv``) and decides each claim.

    MINIGRAD_CIFAR_ROOT=DIR python -m experiments.studies run experiments/studies/specs/singh2015_table2_cifar10.toml \\
        --store runs/reproductions/singh2015_cifar.sqlite --device gpu
    python -m experiments.reproductions singh2015_cifar
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from experiments.reproductions.common import (
    DOCS,
    Claim,
    at_reduced_budget,
    markdown_table,
    mean_std,
    mean_std_by_method,
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
    SpecFile,
    describe_budget,
    load_results,
    run_command,
    run_smoke,
)

PAPER = "singh2015_cifar"
TITLE = "Singh et al. (2015), Table II"
STORE = STORES / "singh2015_cifar.sqlite"
TABLE = Path(__file__).parent / "data" / "singh2015_table2.csv"
SPEC_FILES = (SpecFile(SPECS / "singh2015_table2_cifar10.toml", "full"),
              SpecFile(SPECS / "singh2015_table2_cifar10_reduced.toml", "reduced"))
#: The paper's comparisons: each layer-specific method against its base.
PAIRS = (("Ours-SGD", "SGD"), ("Ours-NAG", "NAG"), ("Ours-AdaGrad", "AdaGrad"))
COMMAND = "python -m experiments.reproductions singh2015_cifar"


def paper_table(path: Path = TABLE) -> dict[str, dict[int, tuple[float, float]]]:
    """The paper's Table II: ``{method: {iteration: (mean accuracy %, std %)}}``."""
    return mean_std_by_method(path)


def accuracies(results: Results) -> dict[str, dict[int, dict[int, float]]]:
    """Test accuracy % of the finished (``done``) cells: ``{method: {iteration: {seed: value}}}``."""
    out: dict[str, dict[int, dict[int, float]]] = {}
    for variant, cells in results.by_variant().items():
        per_it: dict[int, dict[int, float]] = {}
        for s in cells:
            if s.status != "done":
                continue
            for it, acc in zip(s.iterations, s.column("test", "eval_accuracy")):
                per_it.setdefault(it, {})[s.seed] = 100 * acc
        out[variant] = per_it
    return out


def compare(acc: dict[str, dict[int, dict[int, float]]], iteration: int) -> list[tuple[str, str, list[float]]]:
    """Per pair: the per-seed differences (layer-specific − base, points) at ``iteration``."""
    out = []
    for ours, base in PAIRS:
        a, b = acc.get(ours, {}).get(iteration, {}), acc.get(base, {}).get(iteration, {})
        out.append((ours, base, [a[s] - b[s] for s in sorted(a) if s in b]))
    return out


def pair_verdict(diffs: list[tuple[str, str, list[float]]]) -> tuple[int, str]:
    """How many pairs the layer-specific method wins on mean, and the verdict (all: reproduced; some: partly)."""
    wins = sum(bool(d) and float(np.mean(d)) > 0 for _, _, d in diffs)
    return wins, share_verdict(wins, len(diffs))


def claims_for(results: Results | None, paper: dict[str, dict[int, tuple[float, float]]], command: str,
               smoke: bool) -> list[Claim]:
    """The paper's two claims about Table II (final and early accuracy), decided or marked not run."""
    first, last = 5000, 70000
    texts = []
    for it, what in ((last, "at the end (70,000 iterations)"), (first, "early (5,000 iterations)")):
        theirs = ", ".join(f"{b} {paper[b][it][0]:.2f}→{paper[o][it][0]:.2f}" for o, b in PAIRS)
        texts.append((f"CIFAR-10: each layer-specific method is more accurate than its base {what}",
                      f"test accuracy %: {theirs} (5 runs)"))
    page = f"{PAPER}.md"
    if results is None:
        return [Claim(paper=TITLE, claim=c, theirs=t, ours="not run", verdict="not run: data not available",
                      command=command, cpu_time="—", page=page) for c, t in texts]
    acc = accuracies(results)
    evaluated = list(results.study.eval_at)
    claims = []
    for (claim, theirs), it in zip(texts, (evaluated[-1], evaluated[0])):
        diffs = compare(acc, it)
        wins, verdict = pair_verdict(diffs)
        ours = f"at iteration {it}: " + "; ".join(
            f"{o} − {b} {np.mean(d):+.2f} points over {len(d)} seeds" if d else f"{o} − {b}: no pair"
            for o, b, d in diffs) + f" ({wins} of {len(diffs)} higher)"
        claims.append(Claim(paper=TITLE, claim=claim, theirs=theirs, ours=ours, verdict=verdict, command=command,
                            cpu_time=results.cost(), page=page))
    return claims if results.budget == "full" and not smoke else at_reduced_budget(claims)


def plot_accuracy(acc: dict[str, dict[int, dict[int, float]]], paper: dict[str, dict[int, tuple[float, float]]],
                  path: Path, title: str) -> Path:
    """Test accuracy against the iteration per pair: ours (mean ± std band) and the paper's (markers)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, (ours, base) in zip(axes, PAIRS):
        for method, color in ((base, "tab:blue"), (ours, "tab:red")):
            its = sorted(acc.get(method, {}))
            if its:
                values = [list(acc[method][i].values()) for i in its]
                mean = np.array([np.mean(v) for v in values])
                std = np.array([np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in values])
                ax.plot(its, mean, color=color, label=f"{method}, ours")
                ax.fill_between(its, mean - std, mean + std, color=color, alpha=0.15)
            pits = sorted(paper[method])
            ax.errorbar(pits, [paper[method][i][0] for i in pits], [paper[method][i][1] for i in pits], fmt="o",
                        color=color, mfc="white", capsize=3, label=f"{method}, paper")
        ax.set(xlabel="iteration", ylabel="test accuracy (%)", title=f"{ours} vs {base}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return save_figure(fig, path, title)


def run(smoke: bool = False, out: Path = DOCS, store_path: Path | None = None) -> Path:
    """Write the page and claims from the stored study (``smoke``: run the smoke version first if CIFAR is here)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paper = paper_table()
    with tempfile.TemporaryDirectory() as tmp:
        if smoke:
            results = run_smoke([SPEC_FILES[1]], Path(tmp) / "smoke.sqlite")[SPEC_FILES[1]]
        else:
            results = load_results(store_path or STORE, SPEC_FILES)
    full_command = run_command(SPEC_FILES[0], STORE, gpu=True, cifar=True)
    reduced_command = run_command(SPEC_FILES[1], STORE, cifar=True)
    if results is None:  # not run: say how to run it
        command = f"{full_command}; {COMMAND}"
    elif smoke:
        command = f"{COMMAND} --smoke"
    elif results.budget == "reduced":
        command = f"{reduced_command}; {COMMAND}"
    else:
        command = f"{full_command}; {COMMAND}"
    claims = claims_for(results, paper, command, smoke)
    sections = [f"# {TITLE}: layer-specific adaptive learning rates on CIFAR-10", _introduction(smoke),
                _results_section(results, paper, out, full_command, reduced_command)]
    sections += [verdicts_section(claims), regenerate(COMMAND, smoke)]
    return write_page(PAPER, sections, claims, out)


def _introduction(smoke: bool) -> str:
    warning = smoke_warning(smoke)
    return f"""Singh, De, Zhang, Goldstein & Taylor, *Layer-specific adaptive learning rates for deep networks*
(ICMLA 2015), multiply the global rate of SGD, NAG and AdaGrad by $1 + \\ln(1 + 1/\\lVert g_l\\rVert_2)$ per
layer (eq. 9-13; [docs/optimizers/layer-specific.md](../optimizers/layer-specific.md)). Their Table II reports
the mean test accuracy of Caffe's CIFAR-10 net over 5 runs at 5,000 to 70,000 iterations: each layer-specific
method ends above its base, and is ahead early on. (Table I, on MNIST, has a page of its own.){warning}

## Conditions

The paper's net and schedule: Caffe's CIFAR-10 "full" example (`caffe_cifar10`: three 5×5 convolutions with
pooling and local response normalisation, one inner-product layer of 10), ReLU, rate 0.001 for 60,000 iterations
then dropped tenfold at 60,000 and 65,000, 70,000 iterations. Caffe's example gives the rest: momentum 0.9,
weight decay 0.004 (×250 on the last layer's weights), batch 100, biases of conv1, conv2 and ip1 at twice the
rate, Gaussian initial weights, zero biases, the training images in their files' order. AdaGrad: the same solver
with Caffe's AdaGrad update (delta 1e-8), since the paper says it used "default parameters".

Where the specs depart from Caffe, because the study layer cannot express it yet (the change each needs is
in the headers of `experiments/studies/specs/singh2015_table2_cifar10*.toml`): Caffe subtracts the mean
training image from the 0-255 pixels, the specs feed the raw pixels; Caffe drops the rate a second time at
65,000, the specs' `step` schedule drops it once, at 60,000; Caffe does not decay the last layer's bias, the
specs decay it with that layer's weight decay; Caffe draws conv1's weights with std 0.0001, the specs draw all
weights with std 0.01."""


def _results_section(results: Results | None, paper: dict[str, dict[int, tuple[float, float]]], out: Path,
                     full_command: str, reduced_command: str) -> str:
    full_study = SPEC_FILES[0].study()
    commands = (f"Full study ({describe_budget(full_study)}): `{full_command}`. Reduced study "
                f"({describe_budget(SPEC_FILES[1].study())}): `{reduced_command}`. Then `{COMMAND}`.")
    methods = [m for pair in PAIRS for m in reversed(pair)]
    iterations = sorted(paper["SGD"])
    if results is None:
        rows = [[m, *(f"{paper[m][it][0]:.2f} ± {paper[m][it][1]:.2f}" for it in iterations)] for m in methods]
        return "\n\n".join([
            "## Results",
            "**Not run: data not available.** CIFAR-10 is not on this machine (minigrad reads the official binary "
            "files from the folder named by `MINIGRAD_CIFAR_ROOT`, and downloads nothing). The specs load, validate "
            "and run in smoke mode on synthetic files of the official format in the tests "
            "(`tests/test_reproductions_papers2.py`).",
            commands,
            "The paper's Table II (test accuracy %, mean ± std over 5 runs):",
            markdown_table(["method", *(f"{it:,}" for it in iterations)], rows)])
    label = {"full": "FULL (the paper's budget)", "reduced": "REDUCED BUDGET", "smoke": "SMOKE RUN"}[results.budget]
    state = "" if results.complete else f" PARTIAL: {results.finished} of {results.total} cells finished."
    budget = describe_budget(results.study)
    acc = accuracies(results)
    ours_its = list(results.study.eval_at)
    rows = []
    for m in methods:
        row = [m]
        for it in ours_its:
            theirs = paper[m].get(it)
            mine = list(acc.get(m, {}).get(it, {}).values())
            row.append(f"{mean_std(mine) if mine else '—'}" + (f" (paper {theirs[0]:.2f})" if theirs else ""))
        rows.append(row)
    figure = plot_accuracy(acc, paper, out / f"{PAPER}_accuracy.png",
                           f"CIFAR-10, {label}: {budget}; paper: {describe_budget(full_study)}")
    failures = [f"- {s.variant} seed {s.seed}: {s.error}" for s in results.series if s.status == "failed"]
    parts = ["## Results",
             f"**{label}**: {budget} (the paper: {describe_budget(full_study)}).{state} Study `{results.name}`, "
             f"{results.cost()}.",
             "Test accuracy % (mean ± std over seeds), with the paper's at the same iteration where it has one:",
             markdown_table(["method", *(f"{it:,}" for it in ours_its)], rows),
             f"![test accuracy against iteration]({figure.name})"]
    if failures:
        parts.append("Failed runs (left out above):\n\n" + "\n".join(failures))
    parts.append(commands)
    return "\n\n".join(parts)
