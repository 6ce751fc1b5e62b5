"""Zheng et al. (2019), Fig. 8: which optimizers get past a saddle point, rerun in the saddle lab.

This module owns the reproduction page ``docs/reproductions/zheng2019.md``, its figures
(``zheng2019_*.png``) and its claims. Everything comes from :mod:`experiments.saddle`, the code
behind ``minigrad saddle``, run afresh:

- the escape table (``minigrad saddle --escape-table``) for the optimizers of Fig. 8 (SGD, NAG,
  AdaGrad, Adam, LLb-SGD) on every toy surface with a saddle, AdaGrad also at a ten times smaller
  rate, and the steps the trapped ones need on the low-curvature saddle over a long horizon;
- the trajectories on the low-curvature and the degenerate (monkey) saddle;
- the small tanh network's weight paths in their PCA plane (``minigrad saddle --network``), the
  lab's nearest analogue of Fig. 8, which draws a small network's descent in the plane of two
  principal directions;
- LLb-SGD against SGD at the same rate, and against itself with the loss's direction switched off
  (κ = 1): since commit 4c4bb83 the lab steps LLb-SGD through its closure, so it sees the loss;
  before, it was stepped without it, which is the same as κ = 1.

LLb-SGD is minigrad's reconstruction (the paper's equations are lost: docs/optimizers/llb-sgd.md),
so nothing here tests the paper's method itself. ``python -m experiments.reproductions zheng2019``
regenerates the page; ``--smoke`` shortens every run, for CI.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datasets.surfaces import SURFACES, get_surface
from experiments.reproductions.common import (
    DOCS,
    Claim,
    format_duration,
    markdown_table,
    regenerate,
    verdicts_section,
    write_page,
)
from experiments.saddle import (
    CAVEAT,
    TOY_HYPERPARAMS,
    NetworkPaths,
    Trajectory,
    escape_step,
    escape_table,
    format_escape_table,
    hyperparams_for,
    plot_network_paths,
    plot_trajectories,
    run_trajectory,
    train_network_paths,
)

PAPER = "zheng2019"
TITLE = "Zheng et al. (2019), Fig. 8: getting past a saddle point"
COMMAND = "python -m experiments.reproductions zheng2019"
PAGE = f"{PAPER}.md"

#: The optimizers Fig. 8 compares, by registry name, in the lab's stated toy settings.
OPTIMIZERS = ("sgd", "nag", "adagrad", "adam", "llb_sgd")
#: Those the paper says are trapped, and those it says get past.
TRAPPED = ("sgd", "nag", "adagrad")
ESCAPING = ("adam", "llb_sgd")
#: AdaGrad at Adam's rate: the setting in which the lab finds it trapped on the low-curvature saddle.
ADAGRAD_SMALL_LR = 0.01
#: The figures' surfaces: the low-curvature saddle and the degenerate one.
FIGURE_SURFACES = ("flat_saddle", "monkey")
#: A network run has left the plateau around its start once its loss is below this share of the start's.
PLATEAU_SHARE = 0.5


@dataclass(frozen=True)
class Budget:
    """Steps of each run: the page's, or the smoke version's."""

    steps: int
    long_steps: int
    network_steps: int
    grid: int


FULL = Budget(steps=300, long_steps=50_000, network_steps=300, grid=41)
SMOKE = Budget(steps=30, long_steps=60, network_steps=20, grid=9)


def saddle_surfaces() -> list[str]:
    """Every toy surface with a saddle, in the order of :data:`datasets.surfaces.SURFACES` (the escape table's)."""
    return [s.name for s in SURFACES.values() if s.saddle is not None]


def long_escape(optimizer: str, steps: int, lr: float | None = None, surface: str = "flat_saddle") -> int | None:
    """The escape step of ``optimizer`` from ``surface``'s escape start within ``steps`` steps (None: still inside)."""
    surf = get_surface(surface)
    traj = run_trajectory(surf, optimizer, surf.escape_start, steps, **hyperparams_for(optimizer, surf, lr))
    return escape_step(traj, surf.escape_radius)


def largest_gap(a: Trajectory | np.ndarray, b: Trajectory | np.ndarray, upto: int | None = None) -> float:
    """max_k ‖θ_k(a) − θ_k(b)‖_∞ over the steps k ≤ ``upto`` both runs have (trajectories, or (steps, D) paths)."""
    pa = a.positions if isinstance(a, Trajectory) else a
    pb = b.positions if isinstance(b, Trajectory) else b
    n = min(len(pa), len(pb), len(pa) if upto is None else upto + 1)
    return float(np.max(np.abs(pa[:n] - pb[:n])))


def late_start(budget: Budget) -> int:
    """The step from which the network table measures the late fall of the loss: a third of the run."""
    return budget.network_steps // 3


def plateau_exit(losses: np.ndarray, share: float = PLATEAU_SHARE) -> int | None:
    """The first step whose loss is below ``share`` of the start's loss (None: never within the run)."""
    below = np.flatnonzero(losses < share * losses[0])
    return int(below[0]) if below.size else None


@dataclass
class Results:
    """Everything the page reports, as measured."""

    table: dict[str, dict[str, int | None]]
    table_text: str
    long: dict[str, tuple[int, int | None]]
    trajectories: dict[str, list[Trajectory]]
    network: NetworkPaths
    network_small_adagrad: NetworkPaths
    llb_vs_sgd: dict[str, float]  # up to SGD's escape step on the toys; the whole run on the network
    llb_without_loss: dict[str, float]  # whole runs
    llb_rate_left: dict[str, float]  # the smallest layer rate / lr at SGD's escape step (or the last step)
    cpu: dict[str, float]


def measure(budget: Budget) -> Results:
    """Run every experiment of the page with ``budget``; CPU seconds per part in ``cpu``."""
    cpu: dict[str, float] = {}
    surfaces = saddle_surfaces()

    clock = time.process_time()
    table = escape_table(OPTIMIZERS, surfaces, steps=budget.steps)
    small = escape_table(["adagrad"], surfaces, steps=budget.steps, lr=ADAGRAD_SMALL_LR)["adagrad"]
    label = f"adagrad (lr {ADAGRAD_SMALL_LR:g})"
    ordered: dict[str, dict[str, int | None]] = {}
    for name, row in table.items():  # the smaller-rate AdaGrad right below the stated one
        ordered[name] = row
        if name == "adagrad":
            ordered[label] = small
    table_text = format_escape_table(ordered, budget.steps)
    cpu["table"] = time.process_time() - clock

    clock = time.process_time()
    # AdaGrad's escape time grows like (r/lr)², not exponentially: a tenth of the horizon is plenty for it.
    long = {name: (budget.long_steps, long_escape(name, budget.long_steps)) for name in ("sgd", "nag", "llb_sgd")}
    long[label] = (budget.long_steps // 10, long_escape("adagrad", budget.long_steps // 10, lr=ADAGRAD_SMALL_LR))
    cpu["long"] = time.process_time() - clock

    clock = time.process_time()
    trajectories = {}
    for name in FIGURE_SURFACES:
        surf = get_surface(name)
        runs = [run_trajectory(surf, o, surf.escape_start, budget.steps, **hyperparams_for(o, surf))
                for o in OPTIMIZERS]
        runs.insert(3, run_trajectory(surf, "adagrad", surf.escape_start, budget.steps,
                                      **hyperparams_for("adagrad", surf, ADAGRAD_SMALL_LR)))
        trajectories[name] = runs
    llb_vs_sgd, llb_without_loss, llb_rate_left = {}, {}, {}
    for name in surfaces:
        surf = get_surface(name)
        hyper = hyperparams_for("llb_sgd", surf)
        llb = run_trajectory(surf, "llb_sgd", surf.escape_start, budget.steps, **hyper)
        sgd = run_trajectory(surf, "sgd", surf.escape_start, budget.steps, lr=hyper["lr"])
        no_loss = run_trajectory(surf, "llb_sgd", surf.escape_start, budget.steps, **{**hyper, "kappa": 1.0})
        # Near the saddle only: up to SGD's escape step (past it both runs race off, and LLb-SGD's rate decays
        # with the long steps it takes there), or the whole run if SGD stays.
        upto = escape_step(sgd, surf.escape_radius) or sgd.steps
        llb_vs_sgd[name] = largest_gap(llb, sgd, upto)
        llb_without_loss[name] = largest_gap(llb, no_loss)
        # The effective rate ‖Δθ_l‖/‖g_l‖ of a step is the α_l it used (an SGD step with α_l).
        llb_rate_left[name] = float(np.nanmin(llb.rates[min(upto, llb.steps) - 1]) / hyper["lr"])
    cpu["toys"] = time.process_time() - clock

    clock = time.process_time()
    network = train_network_paths(OPTIMIZERS, steps=budget.network_steps, seed=0)
    network_small = train_network_paths(["adagrad"], steps=budget.network_steps, seed=0,
                                        hyper={"adagrad": {"lr": ADAGRAD_SMALL_LR}})
    sgd_rate = TOY_HYPERPARAMS["llb_sgd"]["lr"]
    network_sgd = train_network_paths(["sgd"], steps=budget.network_steps, seed=0, hyper={"sgd": {"lr": sgd_rate}})
    network_no_loss = train_network_paths(["llb_sgd"], steps=budget.network_steps, seed=0,
                                          hyper={"llb_sgd": {"kappa": 1.0}})
    llb_vs_sgd["network"] = largest_gap(network.paths["llb_sgd"], network_sgd.paths["sgd"])
    llb_without_loss["network"] = largest_gap(network.paths["llb_sgd"], network_no_loss.paths["llb_sgd"])
    cpu["network"] = time.process_time() - clock
    return Results(ordered, table_text, long, trajectories, network, network_small, llb_vs_sgd, llb_without_loss,
                   llb_rate_left, cpu)


# ----- the page -----------------------------------------------------------------------------------------
def run(smoke: bool = False, out: Path = DOCS) -> Path:
    """Rerun the lab's experiments (``smoke``: a few dozen steps each), write the page and its claims."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    budget = SMOKE if smoke else FULL
    start = time.process_time()
    results = measure(budget)
    figures = {}
    for name, trajs in results.trajectories.items():
        surf = get_surface(name)
        figures[name] = plot_trajectories(trajs, surf, out / f"{PAPER}_{name}.png",
                                          title=f"{name}: f = {surf.formula} (Fig. 8's optimizers)")
    figures["network"] = plot_network_paths(results.network, out / f"{PAPER}_network.png", grid=budget.grid)
    total = time.process_time() - start
    claims = _claims(results, budget)
    sections = [
        f"# {TITLE}",
        _introduction(smoke),
        _table_section(results, budget),
        _figures_section(results, budget, figures),
        _network_section(results, budget, figures["network"]),
        _llb_section(results, budget),
        _claims_section(claims),
        "## Cost\n\n"
        f"{format_duration(total)} of CPU time for the whole page (`time.process_time()` of the process): escape "
        f"tables {format_duration(results.cpu['table'])}, the long runs on flat_saddle "
        f"{format_duration(results.cpu['long'])}, toy trajectories and LLb-SGD checks "
        f"{format_duration(results.cpu['toys'])}, networks {format_duration(results.cpu['network'])}.\n\n"
        + regenerate(COMMAND, smoke),
    ]
    return write_page(PAPER, sections, claims, out)


def _introduction(smoke: bool) -> str:
    warning = ("\n\n> **Smoke run**: every run is a few dozen steps. These numbers say nothing about the paper; "
               "the committed page comes from the full run.") if smoke else ""
    return (
        "Zheng et al., *Layer-wise learning based stochastic gradient descent method for the optimization of deep "
        "convolutional neural network* (2019), Fig. 8: \"the descent trajectory of the loss function of a small "
        "network\" in \"two ill conditions (i.e. both including saddle points)\", drawn along two principal "
        "directions of the weights. The paper's reading: \"the naive SGD, NAG, and Adagrad are easily trapped in "
        "the regions with saddle point and cannot escape from it. Adam and LLb-SGD can bypass the saddle point and "
        "direct us toward a local minimum. [...] LLb-SGD converges faster than Adam\". The network, its data, the "
        "starts and the rates of Fig. 8 are not given.\n\n"
        "minigrad's saddle lab (`experiments/saddle.py`, the surfaces in `datasets/surfaces.py`) runs the real "
        "optimizer classes on two-parameter toys "
        "with a known saddle, and a small tanh network started next to its all-zero saddle. Two caveats found "
        "there before this page, and rechecked below: **AdaGrad is trapped only at small rates**, and **LLb-SGD "
        "(minigrad's reconstruction) moves like SGD on the toys**. And the lab's own: "
        f"{CAVEAT}; each optimizer has one stated setting for every toy (`experiments.saddle.TOY_HYPERPARAMS`), "
        "not tuned per surface." + warning
    )


def _table_section(results: Results, budget: Budget) -> str:
    names = ",".join(OPTIMIZERS)
    long_rows = [(name, _step(steps), "still inside" if k is None else _step(k))
                 for name, (steps, k) in results.long.items()]
    long_table = markdown_table(("optimizer", "steps run", "escape step from flat_saddle"), long_rows)
    return f"""## The escape table

The escape step is the first step at which the iterate is farther than r from the saddle, after it has been within
r; "—" means not within {budget.steps} steps. The rows in the lab's stated settings, plus AdaGrad at lr
{ADAGRAD_SMALL_LR:g} (Adam's). The same table comes from `minigrad saddle --escape-table --optimizers {names}`, and
the extra row from `minigrad saddle --escape-table --optimizers adagrad --lr {ADAGRAD_SMALL_LR:g}`:

```
{results.table_text}
```

On the low-curvature saddle (`flat_saddle`, ε·(x² − y² + y⁴/8) with ε = 1e-3) a method whose step is proportional to
the gradient grows y by about (1 + 2ε·t) per step. Left to run longer, the ones still inside get out:

{long_table}"""


def _figures_section(results: Results, budget: Budget, figures: Mapping[str, Path]) -> str:
    parts = ["## Trajectories on two saddles"]
    for name in FIGURE_SURFACES:
        surf = get_surface(name)
        parts.append(f"`{name}`, f = {surf.formula}, from {surf.escape_start}, {budget.steps} steps:\n\n"
                     f"![{name}: trajectories and loss]({figures[name].name})")
    return "\n\n".join(parts)


def _network_section(results: Results, budget: Budget, figure: Path) -> str:
    rows = []
    runs = {**results.network.losses, f"adagrad (lr {ADAGRAD_SMALL_LR:g})": results.network_small_adagrad.losses[
        "adagrad"]}
    marks = [k for k in (10, 100) if k < budget.network_steps]
    late = late_start(budget)
    for name, losses in runs.items():
        exit_step = plateau_exit(losses)
        rows.append((name, f"{losses[0]:.4f}", *(f"{losses[k]:.4f}" for k in marks), f"{losses[-1]:.4f}",
                     "never" if exit_step is None else str(exit_step), f"{100 * (1 - losses[-1] / losses[late]):.0f}"))
    table = markdown_table(("optimizer", "loss at the start", *(f"at step {k}" for k in marks),
                            f"at step {budget.network_steps}",
                            f"first step below {PLATEAU_SHARE:g} × the start's loss",
                            f"fall of the loss from step {late} to step {budget.network_steps} (%)"), rows)
    return f"""## A small network next to a saddle

The lab's analogue of Fig. 8: a 4 → 8 → 1 tanh network without biases, trained full-batch on a fixed regression set
made by a teacher net (data seed 0), from weights drawn N(0, 10⁻⁴) (seed 1), i.e. next to the all-zero saddle that
every such network has. Each optimizer in its toy setting, {budget.network_steps} steps; the paths are drawn in the
plane of their two principal directions through the best final point (Li et al. 2018, "Visualizing the loss
landscape of neural nets"). The plane holds {100 * results.network.explained:.1f} % of the paths' variance: the
contour is the loss in that plane, which the paths only approximately travel in.

{table}

{_network_reading(runs, budget)}

![the network's paths in their PCA plane]({figure.name})"""


def late_fall(losses: np.ndarray, start: int) -> float:
    """The share by which the loss falls from step ``start`` to the last step."""
    return float(1 - losses[-1] / losses[start])


def _network_reading(runs: Mapping[str, np.ndarray], budget: Budget) -> str:
    left = [name for name, losses in runs.items() if plateau_exit(losses) is not None]
    stayed = [name for name in runs if name not in left]
    late = late_start(budget)
    falls = {name: late_fall(losses, late) for name, losses in runs.items()}
    order = sorted(falls, key=lambda k: falls[k])
    text = (f"{', '.join(left) or 'None'} leave the plateau around the start within {budget.network_steps} steps"
            + (f"; {', '.join(stayed)} do not" if stayed else "") + ". "
            f"From step {late} on the loss falls least for {order[0]} ({100 * falls[order[0]]:.0f} %) and most for "
            f"{order[-1]} ({100 * falls[order[-1]]:.0f} %): the last column separates the runs that slow to a crawl "
            "on a second, lower plateau from those that keep descending.")
    return text


def _llb_section(results: Results, budget: Budget) -> str:
    rows = [("tanh network (whole run)" if name == "network" else name, f"{results.llb_vs_sgd[name]:.2e}",
             f"{results.llb_without_loss[name]:.2e}",
             f"{results.llb_rate_left[name]:.4f}" if name in results.llb_rate_left else "—")
            for name in results.llb_vs_sgd]
    table = markdown_table(("run", "largest gap to SGD's path at the same rate, up to SGD's escape step",
                            "largest gap to LLb-SGD with κ = 1 (no loss direction), whole run",
                            "smallest layer rate / lr at SGD's escape step"), rows)
    all_zero = all(v == 0.0 for v in results.llb_without_loss.values())
    loss_text = (
        "Giving LLb-SGD the loss changes nothing here: every run is bit-identical to the same optimizer with κ = 1, "
        "for which a rising loss decays the rate no faster than a falling one. The loss average never rose in these "
        "runs, so δ = 1 at every step either way."
        if all_zero else
        "Giving LLb-SGD the loss changes some runs: the loss average rose at some steps, where δ = κ decayed the rate "
        "faster than with κ = 1 (the gaps above)."
    )
    table_rows = results.table
    surfaces = list(next(iter(table_rows.values())))
    same = [s for s in surfaces if table_rows["llb_sgd"][s] == table_rows["sgd"][s]]
    traps = [s for s in surfaces if table_rows["sgd"][s] is None]
    stuck = [s for s in traps if table_rows["llb_sgd"][s] is None]
    lowest = min(results.llb_rate_left.values())
    trap_text = (f"Where SGD stays within {budget.steps} steps ({', '.join(traps)}), LLb-SGD stays too "
                 f"({len(stuck)} of {len(traps)})." if traps else f"SGD escapes every toy within {budget.steps} steps.")
    return f"""## LLb-SGD on the toys: SGD with a slowly decaying rate

Since the one step protocol (commit 4c4bb83) the lab steps LLb-SGD through its closure, so it reads the loss and
decays a layer's rate κ = 2 times faster while the loss average rises. Before, the lab stepped it without the loss,
which is the same as κ = 1. Each toy run is {budget.steps} steps from the surface's escape start at the lab's rate
for LLb-SGD (β = 0.1), the network run {budget.network_steps} steps; a gap is the largest coordinate difference
between two paths. Past SGD's escape step the toy runs race off down the surface, where their paths part and
LLb-SGD's rate decays with the long steps it takes, so the comparison with SGD stops there.

{table}

{loss_text}

LLb-SGD decays each layer's rate by exp(−β·ξ_l) per step, where ξ_l is the layer's mean change, which is small near
a saddle: up to SGD's escape step no layer's rate has fallen below {lowest:.4f} of lr. So near the saddle LLb-SGD
follows SGD's path, and its escape step equals SGD's on {len(same)} of {len(surfaces)} toy saddles. {trap_text}
This is a property of minigrad's reconstruction ([LLb-SGD: a documented reconstruction](../optimizers/llb-sgd.md));
the paper's method may differ in what its lost equations say."""


def _claims(results: Results, budget: Budget) -> list[Claim]:
    """The claim lines, with verdicts computed from the runs."""
    table = results.table
    flat = "flat_saddle"
    surfaces = list(next(iter(table.values())))
    net = results.network.losses
    net_exit = {name: plateau_exit(losses) for name, losses in net.items()}
    cpu = format_duration(sum(results.cpu.values())) + " (process)"
    small = f"adagrad (lr {ADAGRAD_SMALL_LR:g})"
    late = late_start(budget)

    # 1. SGD, NAG and AdaGrad are trapped
    trapped = {name: [s for s in surfaces if table[name][s] is None] for name in (*TRAPPED, small)}
    net_trapped = [name for name in TRAPPED if net_exit[name] is None]
    pairs = sum(len(v) for k, v in trapped.items() if k in TRAPPED) + len(net_trapped)
    total = len(TRAPPED) * (len(surfaces) + 1)
    verdict = "reproduced" if pairs == total else "not reproduced" if pairs == 0 else "partly reproduced"
    ours = (
        f"within {budget.steps} steps: " + "; ".join(
            f"{name} trapped on {', '.join(v) if v else 'none'}" for name, v in trapped.items())
        + f" (of {len(surfaces)} toy saddles); run longer on {flat}, "
        + ", ".join(f"{n} escapes at {_step(k)} (of {steps:,} steps)" for n, (steps, k) in results.long.items())
        + f"; on the tanh network, first step below {PLATEAU_SHARE:g} × the start's loss: "
        + ", ".join(f"{n} {_step(net_exit[n])}" for n in TRAPPED)
        + f", then a fall of the loss from step {late} to {budget.network_steps} of "
        + ", ".join(f"{n} {100 * late_fall(net[n], late):.0f} %" for n in (*TRAPPED, "adam"))
    )
    claims = [Claim(TITLE, "Fig. 8: naive SGD, NAG and AdaGrad are trapped near a saddle point and cannot escape",
                    "\"easily trapped in the regions with saddle point and cannot escape from it\"", ours, verdict,
                    COMMAND, cpu, PAGE)]

    # 2. Adam gets past
    adam_toys = [s for s in surfaces if table["adam"][s] is not None]
    ok = len(adam_toys) == len(surfaces) and net_exit["adam"] is not None
    verdict = "reproduced" if ok else "partly reproduced" if adam_toys or net_exit["adam"] is not None else \
        "not reproduced"
    ours = (f"Adam (lr 0.01) escapes {len(adam_toys)} of {len(surfaces)} toy saddles within {budget.steps} steps "
            f"({flat}: {_step(table['adam'][flat])}); on the network, first step below {PLATEAU_SHARE:g} × the start's "
            f"loss: {_step(net_exit['adam'])}, then a fall of {100 * late_fall(net['adam'], late):.0f} % from step "
            f"{late} to {budget.network_steps}")
    claims.append(Claim(TITLE, "Fig. 8: Adam bypasses the saddle point", "\"Adam [...] can bypass the saddle point\"",
                        ours, verdict, COMMAND, cpu, PAGE))

    # 3. LLb-SGD gets past where the others are trapped, and faster than Adam
    traps = [s for s in surfaces if any(trapped_on == s for n in TRAPPED for trapped_on in trapped[n])]
    bypassed = [s for s in traps if table["llb_sgd"][s] is not None]
    llb_exit, adam_exit = net_exit["llb_sgd"], net_exit["adam"]
    faster = llb_exit is not None and (adam_exit is None or llb_exit < adam_exit)
    ok = len(bypassed) == len(traps) and faster
    verdict = "reproduced" if ok else "partly reproduced" if bypassed or faster else "not reproduced"
    same = [s for s in surfaces if table["llb_sgd"][s] == table["sgd"][s]]
    ours = (f"minigrad's reconstruction escapes {len(bypassed)} of the {len(traps)} toy saddle(s) where SGD, NAG or "
            f"AdaGrad stay within {budget.steps} steps ({', '.join(traps) or 'none'}); its escape step equals SGD's "
            f"on {len(same)} of {len(surfaces)} toys ({flat}: {_step(table['llb_sgd'][flat])}, Adam "
            f"{_step(table['adam'][flat])}); on the network, first step below {PLATEAU_SHARE:g} × the start's loss: "
            f"{_step(llb_exit)}, Adam {_step(adam_exit)}; fall of the loss from step {late} to "
            f"{budget.network_steps}: {100 * late_fall(net['llb_sgd'], late):.0f} %, Adam "
            f"{100 * late_fall(net['adam'], late):.0f} %")
    claims.append(Claim(TITLE, "Fig. 8: LLb-SGD bypasses the saddle point and converges faster than Adam",
                        "\"Adam and LLb-SGD can bypass the saddle point [...] LLb-SGD converges faster than Adam\"",
                        ours, verdict, COMMAND, cpu, PAGE))
    return claims


def _step(k: int | None) -> str:
    """A step number with thousands separators, or "—" for none."""
    return "—" if k is None else f"{k:,}"


def _claims_section(claims: Sequence[Claim]) -> str:
    return verdicts_section(claims, "Claims", "The verdicts compare with the lab's toys and small network, not with "
                            "the paper's network (not given), and LLb-SGD is minigrad's reconstruction.")


__all__ = ["FULL", "OPTIMIZERS", "SMOKE", "Budget", "Results", "long_escape", "measure", "plateau_exit", "run",
           "saddle_surfaces"]
