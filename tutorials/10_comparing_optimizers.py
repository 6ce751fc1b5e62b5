# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 10. Comparing optimizers: a study over seeds
#
# A paper's claim about an optimizer is a comparison: method A against method B, at given
# iterations, on a given net. One training run of each proves little, since the seed alone
# (initial weights, batch order) moves the test error. This tutorial walks through minigrad's
# *study* layer (`experiments.studies`), which turns "does layer-specific NAG beat NAG at 200
# iterations?" into one command:
#
# 1. a study is a TOML file: model, data, budget, evaluation points, seeds and methods; it is
#    validated before anything runs;
# 2. it expands into *cells* (method × grid point × seed); within a seed every method starts from
#    the same weights and sees the same batches (a paired design), which we check;
# 3. cells run on a process pool (or in-process, or on Dask) and land in SQLite; a cell's numbers
#    do not depend on where it ran, which we check too; running again resumes;
# 4. the report: mean ± std per method, paired differences with the t-test and Wilcoxon
#    p-values, the seeds where a method won, and figures.
#
# In fast mode (`MINIGRAD_FAST=1`, what the tests run) the study is its `--smoke` copy: two
# seeds, 20 iterations, 512 training images. Otherwise it runs five seeds of the full 200
# iterations on all of MNIST, on two worker processes (a minute or two on two cores).

# %%
import sqlite3
import time

import _common  # puts the repository root on sys.path; FAST, OUT and savefig
import matplotlib.pyplot as plt
import numpy as np

import datasets
from experiments.studies import StudySpecError, StudyStore, load_study, run_study, runner, write_report
from experiments.studies import cell as cells

FAST = _common.FAST
START = time.perf_counter()
SPEC = _common.ROOT / "experiments" / "studies" / "specs" / "layer_nag_vs_nag.toml"
print("fast mode:", FAST, "| figures go to", _common.OUT)

# %% [markdown]
# ## 1. The study file
#
# The project ships the study of the question above. Its methods are the two of Singh et al.
# (2015) at Caffe's LeNet solver settings; they differ only in the layer-specific factor on each
# layer's rate. Every key of a method other than `label` and `optimizer` is a hyperparameter of
# the registry's optimizer; `grid = { lr = [...] }` would expand a method into one variant per
# value.

# %%
print(SPEC.read_text())
study = load_study(SPEC)
print(study.variants(), "seeds", study.seeds, "→", len(study.cells()), "cells")

# %% [markdown]
# Validation comes first, and an error names the file, the key and what would have been valid.
# A misspelt hyperparameter, for instance:

# %%
bad = _common.OUT / "misspelt.toml"
bad.write_text(SPEC.read_text().replace("momentum = 0.9", "momentun = 0.9", 1))
try:
    load_study(bad)
    raise AssertionError("a misspelt hyperparameter must not pass")
except StudySpecError as err:
    print(err)
    assert err.key == "methods[0].momentun" and "momentum" in err.choices

# %% [markdown]
# For this tutorial we shrink the study: in fast mode to its smoke copy (the spec's `[smoke]`
# table), otherwise to five seeds.

# %%
study = study.smoke_version() if FAST else study.with_seeds(range(5))
print(study.name, "|", study.iterations, "iterations, eval at", study.eval_at, "| seeds", study.seeds)

# %% [markdown]
# ## 2. Cells and the paired design
#
# A cell is one (method, grid point, seed), a frozen dataclass that holds everything its run
# needs. Its weights come from `minigrad.seed(seed)` right before the model is built, its batch
# order from `DataLoader(shuffle=True, seed=seed)`: both depend on the seed alone, never on the
# method. So the difference between two methods *within* a seed is the methods' difference, and
# the paired tests of part 4 can use it. Let us check it on the first two cells of seed 0:

# %%
seed0 = [c for c in study.cells() if c.seed == study.seeds[0]]
print([c.key for c in seed0])
weights = [cells.weights_hash(cells.build_model(c.model, c.seed)) for c in seed0]
other_seed = cells.weights_hash(cells.build_model(study.model, study.seeds[1]))
print("initial weights, seed 0:", [w[:12] for w in weights], "| seed 1:", other_seed[:12])
assert weights[0] == weights[1] != other_seed

(train_x, train_y), _ = cells.prepare_data(study.data)
orders = [
    datasets.DataLoader(train_x, train_y, study.data.batch_size, shuffle=True, seed=s).order(0)
    for s in (study.seeds[0], study.seeds[0], study.seeds[1])
]
assert np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[0], orders[2])

# %% [markdown]
# ## 3. Running it
#
# `run_study` takes any `concurrent.futures.Executor`; by default a process pool with one worker
# per core. Cells, not threads, are the parallelism: every cell pins BLAS to one thread, which also
# makes its arithmetic independent of the machine it lands on. Results go to a SQLite file, one
# transaction per finished cell.

# %%
store = _common.OUT / "studies.sqlite"
if store.exists():
    store.unlink()  # a fresh store every time the tutorial runs
pool = runner.process_pool(2)
try:
    tic = time.perf_counter()
    summary = run_study(study, pool, store, progress=False)
    print(summary, f"| {time.perf_counter() - tic:.1f} s")
finally:
    pool.close()
assert summary.done == len(study.cells())

# %% [markdown]
# Running it again does nothing: finished cells are skipped. That is also how a study resumes
# after the driver was killed (only the cells running at that moment are lost).

# %%
again = run_study(study, runner.InlineExecutor(), store, progress=False)
print(again)
assert again.done == 0 and again.skipped == len(study.cells())

# %% [markdown]
# And a cell is a pure function of the spec: the first seed's cells, run again in this very
# process instead of in a worker, give the same numbers to the last bit.

# %%
inline_store = _common.OUT / "studies-inline.sqlite"
if inline_store.exists():
    inline_store.unlink()
first_seed = study.with_seeds(study.seeds[:1])
run_study(first_seed, runner.InlineExecutor(), inline_store, progress=False)
with StudyStore.open(store) as a, StudyStore.open(inline_store) as b:
    pooled, inline = a.result_numbers(study.name), b.result_numbers(study.name)
for key, numbers in inline.items():
    assert numbers == pooled[key], key
print("in-process == process pool for", sorted(inline))

# %% [markdown]
# The same study runs on a Dask cluster unchanged: `minigrad study run SPEC --scheduler local`
# starts a `LocalCluster` of worker processes, `--scheduler tcp://HOST:8786` uses a running
# scheduler whose workers may sit on other machines (`pip install ".[cluster]"`). (From a script of
# your own, put Dask code under `if __name__ == "__main__":`, as Dask's worker processes import the
# main module.)
#
# ## 4. The report
#
# `write_report` (or `minigrad study report NAME --out DIR`) reads the store alone. For each
# evaluation iteration: every method's mean ± sample std over seeds; then, against the baseline,
# the per-seed differences, their mean ± std, the paired t-test and Wilcoxon signed-rank
# p-values, and on how many seeds the method was better. It works on a study that is still
# running, and then says it is partial.

# %%
with StudyStore.open(store) as st:
    report = write_report(st, study.name, _common.OUT / "report")
text = (_common.OUT / "report" / "report.md").read_text()
print(text)
assert not report.partial and "Paired design: within every seed" in text

# %% [markdown]
# Each seed is one point below: its NAG error against its layer-specific NAG error at the last
# evaluation. Points under the diagonal are seeds where layer-specific NAG did better. With two
# seeds (fast mode) no conclusion is possible; the report's p-values say how much five or ten
# seeds support one.

# %%
last = study.eval_at[-1]
nag, layer = (report.values[v][last] for v in ("NAG", "layer-NAG"))
seeds = sorted(set(nag) & set(layer))
fig, ax = plt.subplots(figsize=(4.5, 4.5))
xs, ys = [100 * nag[s] for s in seeds], [100 * layer[s] for s in seeds]
ax.scatter(xs, ys, color="C1", zorder=3)
for s, x, y in zip(seeds, xs, ys):
    ax.annotate(f"seed {s}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
low, high = min(xs + ys) - 1, max(xs + ys) + 1
ax.plot([low, high], [low, high], "k--", lw=0.8)
ax.set(xlabel="NAG test error (%)", ylabel="layer-NAG test error (%)", title=f"paired by seed, iteration {last}")
_common.savefig(fig, "10_paired_by_seed")

# %% [markdown]
# The store is plain SQLite, so any question the report does not answer is one query away:

# %%
with sqlite3.connect(store) as db:
    rows = db.execute(
        "SELECT c.method, m.iteration, AVG(m.eval_error), COUNT(*) FROM measurements m "
        "JOIN cells c ON c.id = m.cell_id WHERE c.study = ? AND c.status = 'done' AND m.split = 'test' "
        "GROUP BY c.method, m.iteration ORDER BY c.method, m.iteration",
        (study.name,),
    ).fetchall()
for method, iteration, error, n in rows:
    print(f"{method:>10}  iteration {iteration:>4}: mean test error {100 * error:.2f} % over {n} seeds")
assert {r[0] for r in rows} == {"NAG", "layer-NAG"}

# %% [markdown]
# ## Summary
#
# - A study file states the whole comparison; it is validated against the registries first.
# - Within a seed, all methods share initial weights and batches: differences are paired.
# - Cells run anywhere (in-process, process pool, Dask) with bit-identical numbers, and a study
#   resumes where it stopped.
# - The report gives means, paired differences with both tests, and wins per seed.
#
# From the command line the same walk is:
#
# ```bash
# minigrad study run experiments/studies/specs/layer_nag_vs_nag.toml        # or --smoke, --seeds 0-4
# minigrad study status layer-nag-vs-nag                                    # from another shell
# minigrad study report layer-nag-vs-nag --out runs/studies/layer-nag-vs-nag
# ```

# %%
print(f"tutorial finished in {time.perf_counter() - START:.1f} s")
