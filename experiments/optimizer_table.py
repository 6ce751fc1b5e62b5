"""Every paper method beside its base method: LeNet-5 on MNIST, test accuracy and epoch time.

Each row trains a fresh LeNet-5 (same seed, same data order) with the training loop of
``minigrad train`` and reports test accuracy, the training time of the epochs, and that time
relative to the SGD row of the same invocation. Wall times share one machine and one process, so
the ratios are comparable within a table, not across machines.

    python -m experiments.optimizer_table                      # all rows, one epoch each
    python -m experiments.optimizer_table --rows wame,rmsprop  # some rows
    python -m experiments.optimizer_table --limit-train 2000   # a quick look
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Sequence
from typing import Any

from experiments.training import TrainConfig, TrainingDiverged, train

CAFFE_LENET = {"lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "inv"}  # Singh et al.'s solver

#: (row label, optimizer, hyperparameters, the label of the row it is compared with)
ROWS: list[tuple[str, str, dict[str, Any], str]] = [
    ("sgd (constant 0.01)", "sgd", {"lr": 0.01}, "sgd (constant 0.01)"),
    ("sgd, Caffe LeNet solver", "sgd", CAFFE_LENET, "sgd, Caffe LeNet solver"),
    ("layer_sgd, Caffe LeNet solver", "layer_sgd", CAFFE_LENET, "sgd, Caffe LeNet solver"),
    ("nesterov, Caffe LeNet solver", "nesterov", CAFFE_LENET, "nesterov, Caffe LeNet solver"),
    ("layer_nesterov, Caffe LeNet solver", "layer_nesterov", CAFFE_LENET, "nesterov, Caffe LeNet solver"),
    ("adagrad 0.01, wd 5e-4", "adagrad", {"lr": 0.01, "weight_decay": 5e-4}, "adagrad 0.01, wd 5e-4"),
    ("layer_adagrad 0.01, wd 5e-4", "layer_adagrad", {"lr": 0.01, "weight_decay": 5e-4}, "adagrad 0.01, wd 5e-4"),
    ("rmsprop 1e-3", "rmsprop", {"lr": 1e-3}, "rmsprop 1e-3"),
    ("adam 1e-3", "adam", {"lr": 1e-3}, "adam 1e-3"),
    ("wame 1e-3 (sqrt)", "wame", {"lr": 1e-3}, "rmsprop 1e-3"),
    ("wame theta (as printed) 1e-6", "wame", {"lr": 1e-6, "denominator": "theta"}, "rmsprop 1e-3"),
    ("sgd (constant 0.05)", "sgd", {"lr": 0.05}, "sgd (constant 0.05)"),
    ("llb_sgd 0.05, beta 0.1", "llb_sgd", {"lr": 0.05, "beta": 0.1}, "sgd (constant 0.05)"),
    ("ravaut1 (first order)", "ravaut1", {}, "sgd (constant 0.01)"),
    ("ravaut2 (second order)", "ravaut2", {}, "sgd (constant 0.01)"),
    ("ravaut2, eta_max 0.3", "ravaut2", {"eta_max": 0.3}, "sgd (constant 0.01)"),
    ("sgd_hd", "sgd_hd", {}, "sgd (constant 0.01)"),
    ("adam_hd", "adam_hd", {}, "adam 1e-3"),
    ("esgd", "esgd", {}, "sgd (constant 0.01)"),
    ("dozat (Nadam setting)", "dozat", {}, "dozat (Nadam setting)"),
    # ε acts as ESGD's damping λ here (see Dozat's docstring): ESGD's λ = 0.03 and ε = 0.02.
    ("dozat equilibrated", "dozat", {"curvature": "equilibrated", "eps": 0.03, "lr": 0.02}, "dozat (Nadam setting)"),
]


def run_row(optimizer: str, hyper: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Train one row; returns accuracy, time and a note (diverged or not)."""
    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig(optimizer=optimizer, hyperparams=dict(hyper), epochs=args.epochs, seed=args.seed,
                             out_dir=out, train_limit=args.limit_train, progress=False, telemetry_every=0)
        try:
            last = train(config)
        except TrainingDiverged as exc:
            return {"accuracy": float("nan"), "time_s": float("nan"), "note": f"diverged: {exc}".split(";")[0]}
        records = [json.loads(line) for line in open(f"{out}/metrics.jsonl") if '"epoch"' in line]
        time_s = sum(r["epoch_time_s"] for r in records if r["kind"] == "epoch")
    return {"accuracy": last["test_accuracy"], "time_s": time_s, "note": ""}


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Run the table and print it as Markdown; returns its rows."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default=None, help="comma-separated substrings of row labels (default: all)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit-train", type=int, default=None)
    args = parser.parse_args(argv)
    wanted = [w.strip() for w in args.rows.split(",")] if args.rows else None
    rows = [r for r in ROWS if wanted is None or any(w in r[0] for w in wanted)]
    # Every compared-with row runs too, and SGD's for the time ratio.
    needed = {r[3] for r in rows} | {"sgd (constant 0.01)"}
    rows = [r for r in ROWS if r in rows or r[0] in needed]
    results: dict[str, dict[str, Any]] = {}
    print(f"| method | optimizer settings | test acc. ({args.epochs} ep.) | vs base | time (s) | × SGD time |")
    print("|---|---|---|---|---|---|")
    for label, name, hyper, base in rows:
        results[label] = run_row(name, hyper, args)
        r, b = results[label], results.get(base, results[label])
        sgd_time = results["sgd (constant 0.01)"]["time_s"]
        vs = f"{100 * (r['accuracy'] - b['accuracy']):+.2f} pt vs {base}" if base != label else "(base)"
        print(f"| {label} | {name} {hyper} | {100 * r['accuracy']:.2f} % | {vs} | {r['time_s']:.1f} | "
              f"{r['time_s'] / sgd_time:.2f} | {r['note']}", flush=True)
    return [{"label": k, **v} for k, v in results.items()]


if __name__ == "__main__":
    main()
