"""Dozat (2016), "Optimizing CNNs", Tables 1-3: the hyperalgorithm's variants on the autoencoder, reproduced.

The numbers come from the study specs ``experiments/studies/specs/dozat2016_table{1,2,3}*.toml`` (one
study per table; a full spec with the paper's 50 epochs, and a reduced one for 2 CPU cores) kept in
``runs/reproductions/dozat2016.sqlite``. The paper's measure is the training MSE × 1000 after 50 epochs:
here the mean minibatch loss of the last epoch (the study's ``train_loss`` at its last evaluation,
which averages the steps since the evaluation before), × 1000; a run that diverged counts as NaN, as in
the paper's Table 2. This module puts each setting beside the paper's number
(``data/dozat2016_tables.csv``), decides the paper's claims from the comparisons between settings, and
writes the page ``dozat2016.md`` with its figures (under ``docs/reproductions``).

    python -m experiments.studies run experiments/studies/specs/dozat2016_table1_reduced.toml \\
        --store runs/reproductions/dozat2016.sqlite --workers 2      # and table2, table3
    python -m experiments.reproductions dozat2016
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from experiments.reproductions.common import (
    DOCS,
    Claim,
    at_reduced_budget,
    markdown_table,
    plain_log_axis,
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
    SpecFile,
    describe_budget,
    load_results,
    run_command,
    run_smoke,
    steps_per_epoch,
)
from experiments.studies.spec import variant_name

PAPER = "dozat2016"
TITLE = "Dozat (2016), Tables 1-3"
STORE = STORES / "dozat2016.sqlite"
TABLE = Path(__file__).parent / "data" / "dozat2016_tables.csv"
TABLES = {
    t: (SpecFile(SPECS / f"dozat2016_table{t}.toml", "full"), SpecFile(SPECS / f"dozat2016_table{t}_reduced.toml",
                                                                     "reduced"))
    for t in (1, 2, 3)
}
GRID_KEYS = ("mu", "mu_schedule", "nu", "nu_schedule")
#: Table 2: "fails" = diverged, or at least this many times the bias-corrected run's MSE (the paper: NaN and 6.2×).
FAILS_RATIO = 1.5
#: Table 2: "changes little" = within this fraction of the bias-corrected run's MSE (the paper: 1.0 % and 0.3 %).
LITTLE = 0.05
COMMAND = "python -m experiments.reproductions dozat2016"


def paper_table(path: Path = TABLE) -> dict[int, dict[str, float]]:
    """The paper's tables: ``{table: {variant name as the specs spell it: MSE × 1000 (NaN: diverged)}}``."""
    out: dict[int, dict[str, float]] = {}
    for row in read_csv_rows(path):
        point: dict[str, float | str] = {}
        for key in GRID_KEYS:
            if row[key]:
                point[key] = float(row[key]) if key in ("mu", "nu") else row[key]
        out.setdefault(int(row["table"]), {})[variant_name(row["method"], point)] = float(row["mse1000"])
    return out


def final_mse(results: Results) -> dict[str, dict[str, float]]:
    """Per variant: ``train`` (mean minibatch MSE × 1000 of the last epoch, NaN if the run failed) and
    ``validation`` (the validation MSE × 1000 after it), averaged over the finished seeds."""
    out: dict[str, dict[str, float]] = {}
    split = results.study.data.eval_split[0]
    last = results.study.iterations
    for variant, cells in results.by_variant().items():
        train, valid = [], []
        for s in cells:
            if s.status != "done" or not s.iterations or s.iterations[-1] != last:
                train.append(math.nan)
                valid.append(math.nan)
                continue
            train.append(1000 * s.column(split, "train_loss")[-1])
            valid.append(1000 * s.column(split, "eval_loss")[-1])
        if cells:
            out[variant] = {"train": float(np.mean(train)), "validation": float(np.mean(valid)), "runs": len(cells)}
    return out


def fmt(x: float | None) -> str:
    """MSE × 1000 as the paper prints it ("nan" for a diverged run, "—" for none)."""
    if x is None:
        return "—"
    if not math.isfinite(x):
        return "nan"
    return f"{x:.2f}" if x < 1e4 else f"{x:.2e}"


def worse(a: float, b: float) -> bool:
    """``a`` is a worse (higher) MSE than ``b``, a diverged run being worse than any finite one."""
    if not math.isfinite(a):
        return math.isfinite(b)
    return math.isfinite(b) and a > b


# ----- the claims -----------------------------------------------------------------------------------
def decide(ours: dict[int, dict[str, float]]) -> list[tuple[str, str, str, str]]:
    """The paper's claims about Tables 1-3, each ``(claim, paper, ours, verdict)``, from the MSE × 1000 of
    every setting (``ours[table][variant]``; tables that did not run are missing)."""
    paper = paper_table()
    out = []

    def both(table: int) -> tuple[dict[str, float], dict[str, float]] | None:
        return (paper[table], ours[table]) if table in ours else None

    def t1(m: str, mu: float, sched: str) -> str:
        return variant_name(m, {"mu": mu, "mu_schedule": sched})

    def t2(m: str, nu: float, sched: str | None) -> str:
        return variant_name(m, {"nu": nu, **({"nu_schedule": sched} if sched else {})})

    def t3(m: str, mu: float, nu: float) -> str:
        return variant_name(m, {"mu": mu, "nu": nu})

    def count(values: dict[str, float], pairs: list[tuple[str, str]], test: Callable[[float, float], bool]) -> int:
        return sum(test(values[a], values[b]) for a, b in pairs)

    settings = [(mu, s) for mu in (0.9, 0.95) for s in ("constant", "bias_correction")]
    if (tables := both(1)) is not None:
        p, o = tables
        pairs = [(t1("CM", mu, s), t1("NAG", mu, s)) for mu, s in settings]
        k, kp = count(o, pairs, lambda a, b: worse(b, a)), count(p, pairs, lambda a, b: worse(b, a))
        out.append(("Table 1: at α0 = 2, classical momentum (CM) has a lower MSE than NAG",
                    f"CM lower in {kp} of 4 (μ, schedule) settings", f"CM lower in {k} of 4",
                    share_verdict(k, 4)))
        pairs = [(t1(m, mu, "constant"), t1(m, mu, "bias_correction")) for m in ("CM", "NAG") for mu in (0.9, 0.95)]
        k, kp = count(o, pairs, lambda a, b: worse(b, a)), count(p, pairs, lambda a, b: worse(b, a))
        out.append(("Table 1: bias-correcting μ hurts momentum (a constant μ gives the lower MSE)",
                    f"constant μ lower in {kp} of 4 (CM/NAG × μ) pairs", f"constant μ lower in {k} of 4",
                    share_verdict(k, 4, needed=0.75)))
    if (tables := both(2)) is not None:
        p, o = tables

        def fails(values: dict[str, float], m: str) -> bool:
            bad, fixed = values[t2(m, 0.999, "constant")], values[t2(m, 0.999, "bias_correction")]
            return not math.isfinite(bad) or (math.isfinite(fixed) and bad >= FAILS_RATIO * fixed)

        k, kp = sum(fails(o, m) for m in ("L1", "L2")), sum(fails(p, m) for m in ("L1", "L2"))
        shown = ", ".join(f"{m} {fmt(o[t2(m, 0.999, 'constant')])} vs {fmt(o[t2(m, 0.999, 'bias_correction')])}"
                          for m in ("L1", "L2"))
        out.append((f"Table 2: without bias correction, ν = .999 fails (diverges, or ≥ {FAILS_RATIO}× the "
                    "corrected MSE)",
                    f"fails for {kp} of 2 norms (L1 nan vs 7.22, L2 44.35 vs 7.15)",
                    f"fails for {k} of 2 ({shown})", share_verdict(k, 2)))

        def little(values: dict[str, float], m: str) -> bool:
            a, b = values[t2(m, 0.9, "constant")], values[t2(m, 0.9, "bias_correction")]
            return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= LITTLE * b

        k, kp = sum(little(o, m) for m in ("L1", "L2")), sum(little(p, m) for m in ("L1", "L2"))
        shown = ", ".join(f"{m} {fmt(o[t2(m, 0.9, 'constant')])} vs {fmt(o[t2(m, 0.9, 'bias_correction')])}"
                          for m in ("L1", "L2"))
        out.append((f"Table 2: at ν = .9 the bias correction changes little (within {LITTLE:.0%})",
                    f"holds for {kp} of 2 norms (L1 6.98 vs 6.91, L2 7.08 vs 7.10)",
                    f"holds for {k} of 2 ({shown})", share_verdict(k, 2)))
        others = [t2(m, 0.9, s) for m in ("L1", "L2") for s in ("constant", "bias_correction")]
        linf = t2("Linf", 0.9, None)
        k, kp = sum(worse(o[linf], o[v]) for v in others), sum(worse(p[linf], p[v]) for v in others)
        out.append(("Table 2: the L∞ variant is worse than the L1 and L2 variants (ν = .9)",
                    f"L∞ {fmt(p[linf])} above {kp} of 4 L1/L2 runs", f"L∞ {fmt(o[linf])} above {k} of 4",
                    share_verdict(k, 4)))
        if 1 in ours:
            adaptive = [*others, linf]
            best_momentum = min((v for v in ours[1].values() if math.isfinite(v)), default=math.inf)
            best_paper = min(paper[1].values())
            k = sum(math.isfinite(o[v]) and o[v] < best_momentum for v in adaptive)
            kp = sum(p[v] < best_paper for v in adaptive)
            out.append(("Tables 1-2: the adaptive variants all beat momentum (every ν = .9 run below the best of "
                        "Table 1)", f"{kp} of {len(adaptive)} below {best_paper:.2f}",
                        f"{k} of {len(adaptive)} below {fmt(best_momentum)}", share_verdict(k, len(adaptive))))
    if (tables := both(3)) is not None:
        p, o = tables
        grid = [(mu, nu) for mu in (0.9, 0.95) for nu in (0.9, 0.999)]
        pairs = [(t3(f"{m} L2", mu, nu), t3(f"{m} L1", mu, nu)) for m in ("CM", "NAG") for mu, nu in grid]
        k, kp = count(o, pairs, lambda a, b: worse(b, a)), count(p, pairs, lambda a, b: worse(b, a))
        out.append(("Table 3: with momentum, the L2 variants generally reach a lower MSE than the L1 ones",
                    f"L2 lower in {kp} of 8 pairs", f"L2 lower in {k} of 8", share_verdict(k, 8, needed=0.75)))
        best_p = min(p, key=lambda v: p[v])
        finite = {v: x for v, x in o.items() if math.isfinite(x)}
        best_o = min(finite, key=lambda v: finite[v]) if finite else "none (all diverged)"
        out.append(("Table 3: NAG with the L∞ norm at μ = ν = .9 reaches the lowest MSE of all",
                    f"lowest: {best_p} ({fmt(p[best_p])})", f"lowest: {best_o} ({fmt(finite.get(best_o))})",
                    "reproduced" if best_o == best_p else "not reproduced"))
    return out


# ----- figures --------------------------------------------------------------------------------------
def plot_table(results: Results, path: Path, title: str) -> Path:
    """The training MSE × 1000 of each epoch (mean of its minibatches), one panel per method, one line per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [m.label for m in results.study.methods]
    cols = min(3, len(labels))
    rows = -(-len(labels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.8 * rows), squeeze=False, sharey=True)
    spe = steps_per_epoch(results.study)
    split = results.study.data.eval_split[0]
    by_variant = results.by_variant()
    for ax, label in zip(axes.flat, labels):
        for variant, cells in by_variant.items():
            if not variant.startswith(label + "[") and variant != label:
                continue
            for s in cells:
                loss = np.array(s.column(split, "train_loss")) * 1000
                epochs = np.array(s.iterations) / spe
                shown = variant[len(label):].strip("[]").replace('"', "") or label
                ax.plot(epochs[: len(loss)], loss, marker="." if len(loss) < 15 else None,
                        label=shown + (" (diverged)" if s.status == "failed" else ""))
        ax.set(title=label, xlabel="epoch", yscale="log")
        plain_log_axis(ax)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("training MSE × 1000 (epoch mean)")
    for ax in list(axes.flat)[len(labels):]:
        ax.set_visible(False)
    return save_figure(fig, path, title)


# ----- the page -------------------------------------------------------------------------------------
def run(smoke: bool = False, out: Path = DOCS, store_path: Path | None = None) -> Path:
    """Write the page and claims from the stored studies (``smoke``: run the smoke versions first, in-process)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if smoke:
            ran = run_smoke([specs[1] for specs in TABLES.values()], Path(tmp) / "smoke.sqlite")
            results = {t: ran[specs[1]] for t, specs in TABLES.items()}
        else:
            results = {t: load_results(store_path or STORE, specs) for t, specs in TABLES.items()}
    if not smoke and all(r is None for r in results.values()):
        raise FileNotFoundError(
            f"no results of {', '.join(s[1].study().name for s in TABLES.values())} in {store_path or STORE}: "
            f"run them first, e.g. {run_command(TABLES[1][1], STORE)}")
    paper = paper_table()
    # Claims are decided on finished tables only (every cell done or failed); a table still running is shown
    # as far as it got, and its claims wait for it.
    ours = {t: {v: x["train"] for v, x in final_mse(r).items()} for t, r in results.items()
            if r is not None and r.complete}
    budgets = {r.budget for r in results.values() if r is not None}
    decided = decide(ours)  # only the claims whose tables ran
    cost = "; ".join(f"Table {t}: {r.cost()}" for t, r in results.items() if r is not None) or "—"
    command = (f"{COMMAND} --smoke" if smoke else
               "; ".join(run_command(TABLES[t][0 if r.budget == "full" else 1], STORE, gpu=r.budget == "full")
                         for t, r in results.items() if r is not None) + f"; {COMMAND}")
    claims = [Claim(paper=TITLE, claim=c, theirs=t, ours=o, verdict=v, command=command, cpu_time=cost,
                    page=f"{PAPER}.md") for c, t, o, v in decided]
    if budgets != {"full"} or smoke:
        claims = at_reduced_budget(claims)
    sections = [f"# {TITLE}: momentum and adaptive-rate variants on a convolutional autoencoder", _introduction(smoke)]
    for t, res in results.items():
        sections.append(_table_section(t, res, paper[t], out))
    sections += [verdicts_section(claims), regenerate(COMMAND, smoke)]
    return write_page(PAPER, sections, claims, out)


def _introduction(smoke: bool) -> str:
    warning = smoke_warning(smoke)
    return f"""Dozat, *Optimizing CNNs* (Stanford University, 2016), writes the common first-order optimizers as one
"hyperalgorithm" (Algorithm 1; [docs/optimizers/dozat.md](../optimizers/dozat.md), registry name `dozat`) and
compares its variants on a convolutional autoencoder for MNIST, reporting the training MSE × 1000 after 50
epochs of one run per setting: momentum variants in Table 1, the L1/L2/L∞ decaying-mean AdaGrad variants in
Table 2, their combinations in Table 3.{warning}

## Conditions

What the paper gives (§4.1): the autoencoder (`dozat_autoencoder`: its printed kernel sizes do not give its
printed parameter count, and 3×3 kernels give both, see `layers/models.py`), leaky ReLUs, pixels in [0, 1],
training MSE, 50 epochs, the rate decayed by 0.94 every two epochs, and per table the rates and switches in its
captions: α0 = 2 with unscaled-gradient momentum (Table 1), α0 = .001/.002/.005 for L1/L2/L∞ (Tables 2 and 3),
both μ and ν bias-corrected in Table 3. What the specs choose (each spec's header says why): the momentum as a
decaying mean (the only reading under which "bias correction" applies and α0 = 2 stays stable); batch 128 and
the 50,000-image training split of the Lasagne code the paper adapted; Lasagne's Glorot-uniform initialisation;
ε = 1e-8; the max form v ← max(νv, |g|) for L∞. Every setting starts from the same weights and sees the same
batches (one seed). The measure: the mean minibatch MSE of the last epoch × 1000; a diverged run is "nan", as in
the paper. The validation MSE (on held-out training images) is shown beside it."""


def _table_section(table: int, res: Results | None, paper: dict[str, float], out: Path) -> str:
    full_spec, reduced_spec = TABLES[table]
    full_study = full_spec.study()
    head = f"## Table {table}"
    commands = (f"Full study ({describe_budget(full_study)}): `{run_command(full_spec, STORE, gpu=True)}`. "
                f"Reduced study: `{run_command(reduced_spec, STORE)}`. Then `{COMMAND}`.")
    if res is None:
        rows = [[v, fmt(x)] for v, x in paper.items()]
        return "\n\n".join([head, "**Not run** (no results in the store; its claims are left out of the verdicts).",
                            commands, markdown_table(["setting", "MSE × 1000 (paper)"], rows)])
    label = {"full": "FULL (the paper's budget)", "reduced": "REDUCED BUDGET", "smoke": "SMOKE RUN"}[res.budget]
    state = "" if res.complete else f" PARTIAL: {res.finished} of {res.total} cells finished."
    budget = describe_budget(res.study)
    mine = final_mse(res)
    rows = []
    for variant in res.study.variants():
        m = mine.get(variant)
        rows.append([variant, fmt(paper.get(variant)), fmt(m["train"]) if m else "—",
                     fmt(m["validation"]) if m else "—"])
    failures = [f"- {s.variant}: {s.error}" for s in res.series if s.status == "failed"]
    figure = plot_table(res, out / f"{PAPER}_table{table}.png",
                        f"Table {table}, {label}: {budget}; paper: {describe_budget(full_study)}")
    parts = [head, f"**{label}**: {budget} (the paper: {describe_budget(full_study)}).{state} Study `{res.name}`, "
             f"{res.cost()} on the 2-core machine.",
             markdown_table(["setting", "MSE × 1000, paper (50 epochs)",
                             f"MSE × 1000, ours ({res.study.iterations / steps_per_epoch(res.study):g} epochs)",
                             "validation MSE × 1000, ours"], rows),
             f"![training MSE per epoch]({figure.name})"]
    if failures:
        parts.append("Runs that stopped (their MSE is nan above):\n\n" + "\n".join(failures))
    parts.append(commands)
    return "\n\n".join(parts)
