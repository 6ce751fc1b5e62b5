"""The ``minigrad`` command line: ``minigrad train|saddle|study ...`` (see ``minigrad COMMAND --help``)."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import layers
import optimizers
from experiments import saddle
from experiments.arguments import HelpFormatter, finite_float, nonnegative_int, positive_int, registry_name
from experiments.run_folder import RunFolderError
from experiments.studies import cli as study_cli
from experiments.training import DATASETS, TrainConfig, TrainingDiverged, TrainingInterrupted, train

# A working recipe per optimizer for LeNet-5 on MNIST; --lr and --opt override any entry. Why each
# differs from the class defaults, with the measurements behind it: docs/optimizers/*.md.
DEFAULT_HYPERPARAMS: dict[str, dict[str, Any]] = {
    "sgd": {"lr": 0.03, "momentum": 0.9, "schedule": "cosine"},
    "momentum": {"lr": 0.03, "momentum": 0.9, "schedule": "cosine"},
    "nesterov": {"lr": 0.03, "momentum": 0.9, "schedule": "cosine"},
    "adam": {"lr": 1e-3},
    # The papers' settings. Singh et al. ran Caffe's LeNet solver (lr 0.01, momentum 0.9, weight
    # decay 5e-4, ``inv`` with γ = 1e-4, p = 0.75) under their layer-specific rates.
    "layer_sgd": {"lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "inv"},
    "layer_momentum": {"lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "inv"},
    "layer_nesterov": {"lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "inv"},
    "layer_nag": {"lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "inv"},
    "layer_adagrad": {"lr": 0.01, "weight_decay": 5e-4},
    "wame": {"lr": 1e-3},  # the authors' code; α, η±, ζ bounds are the paper's defaults
    "llb_sgd": {"lr": 0.05, "beta": 0.1},  # the reconstruction's measured setting (docs/optimizers/llb-sgd.md)
    # Ravaut & Gorti's η(0), ε, δ plus a cap: uncapped, η jumps to the minibatch's line-search step
    # and LeNet-5 stays at chance (docs/optimizers/learned-rate.md). --opt eta_max=none: the paper's rule.
    "ravaut2": {"eta_max": 0.3},
    # Baydin et al.'s α0 and μ with β = 1e-5: their β = 1e-3 diverges on LeNet-5 (docs/optimizers/learned-rate.md).
    "sgdn_hd": {"hypergrad_lr": 1e-5},
}


def parse_value(text: str) -> Any:
    """``"3"`` → 3, ``"0.5"`` → 0.5, ``"true"`` → True, ``"none"`` → None, anything else stays a string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def key_value(text: str) -> str:
    """argparse type of ``--opt``: ``KEY=VALUE`` with a non-empty key (kept as text; see :func:`parse_hyperparams`)."""
    key, sep, _ = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, e.g. momentum=0.9, got {text!r}")
    return text


def parse_hyperparams(items: Sequence[str]) -> dict[str, Any]:
    """``["momentum=0.9", "nesterov=true"]`` → ``{"momentum": 0.9, "nesterov": True}`` (ValueError for a bad item)."""
    out = {}
    for item in items:
        try:
            key_value(item)
        except argparse.ArgumentTypeError as exc:
            raise ValueError(str(exc)) from None
        key, _, value = item.partition("=")
        out[key.strip()] = parse_value(value)
    return out


TRAIN_EXAMPLES = """examples:
  minigrad train --epochs 1                          # LeNet-5 on MNIST, SGD momentum + cosine (the recipe)
  minigrad train --optimizer adam --lr 0.001 --epochs 3
  minigrad train --optimizer layer-sgd               # Singh et al. over Caffe's LeNet solver settings
  minigrad train --optimizer sgd --opt momentum=0.9 schedule=inv schedule_gamma=1e-4 schedule_power=0.75
  minigrad train --out runs/a --epochs 2             # later: same command with --resume to continue
  minigrad train --out runs/a --overwrite            # start over in a folder that holds a run

run folders: one run at a time per --out folder (run.lock); a new run refuses a folder that holds
a checkpoint or metrics unless --resume (continue) or --overwrite (delete that run's outputs).
Ctrl-C stops cleanly (exit status 130) and keeps the checkpoint of the last completed epoch."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``minigrad`` command."""
    parser = argparse.ArgumentParser(prog="minigrad", description="minigrad: train and study optimizers on NumPy/CuPy.")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser(
        "train",
        help="train a model on a dataset",
        description="Train a model on a dataset with any optimizer; writes metrics, figures and a checkpoint "
        "after every epoch to --out.",
        epilog=TRAIN_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    t.add_argument("--model", default="lenet5", choices=sorted(layers.models.CLASSIFIERS), help="the network")
    t.add_argument("--activation", default="relu", choices=layers.models.ACTIVATIONS, help="its activation")
    t.add_argument("--dataset", default="mnist", choices=sorted(DATASETS), help="the data")
    t.add_argument("--data-root", default=None, help="folder with the dataset's files (default: MNIST's bundled "
                   "copy; Fashion-MNIST from Debian's dataset-fashion-mnist; CIFAR from $MINIGRAD_CIFAR_ROOT)")
    t.add_argument("--optimizer", default="sgd", type=registry_name,
                   metavar="NAME", help="an optimizer of the registry (layer-sgd and layer_sgd are the same name): "
                   + ", ".join(sorted(optimizers.OPTIMIZERS)))
    t.add_argument("--lr", type=finite_float, default=None, help="learning rate (default: the optimizer's recipe)")
    t.add_argument("--opt", action="extend", nargs="+", default=[], metavar="KEY=VALUE", type=key_value,
                   help="optimizer hyperparameters, e.g. --opt momentum=0.9 schedule=inv (repeatable; default: "
                   "the optimizer's recipe)")
    t.add_argument("--batch-size", type=positive_int, default=64, help="images per step")
    t.add_argument("--epochs", type=positive_int, default=1, help="passes over the training images")
    t.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the weights, the batch order and dropout")
    t.add_argument("--device", default="cpu", choices=["cpu", "gpu"], help="gpu needs CuPy and a CUDA device")
    t.add_argument("--out", default=None, help="output folder (default: runs/MODEL-DATASET-OPTIMIZER)")
    group = t.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    group.add_argument("--overwrite", action="store_true",
                       help="delete the run already in --out (checkpoint, metrics, figures) and start over")
    t.add_argument("--limit-train", type=positive_int, default=None,
                   help="use only the first N training images (default: all)")
    t.add_argument("--limit-test", type=positive_int, default=None,
                   help="use only the first N test images (default: all)")
    t.add_argument("--log-every", type=positive_int, default=50,
                   help="steps per logged window: the logged loss is the window's mean")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--telemetry-every", type=nonnegative_int, default=20,
                   help="steps between per-layer gradient-norm and effective-rate records (0: off)")
    t.add_argument("--stop-threshold", type=finite_float, default=None,
                   help="stop when the mean loss falls by less than this over --stop-window steps (Zheng et al. "
                   "2019; default: never)")
    t.add_argument("--stop-window", type=positive_int, default=1000, help="steps per window of the stopping rule")
    saddle.add_parser(sub)
    study_cli.add_parser(sub)
    return parser


def _warning_line(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> str:
    """A warning as one line for the command line's users (no source line of minigrad's code)."""
    return f"minigrad: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``minigrad`` command; returns the exit status."""
    warnings.formatwarning = _warning_line
    args = build_parser().parse_args(argv)
    if args.command == "saddle":
        return saddle.run(args)
    if args.command == "study":
        return study_cli.run(args)
    hyper = dict(DEFAULT_HYPERPARAMS.get(args.optimizer, {}))
    if args.lr is not None:
        hyper["lr"] = args.lr
    hyper.update(parse_hyperparams(args.opt))
    config = TrainConfig(
        model=args.model,
        activation=args.activation,
        dataset=args.dataset,
        data_root=args.data_root,
        optimizer=args.optimizer,
        hyperparams=hyper,
        batch_size=args.batch_size,
        epochs=args.epochs,
        seed=args.seed,
        device=args.device,
        out_dir=args.out or f"runs/{args.model}-{args.dataset}-{args.optimizer}",
        train_limit=args.limit_train,
        test_limit=args.limit_test,
        log_every=args.log_every,
        progress=not args.no_progress,
        telemetry_every=args.telemetry_every,
        stop_threshold=args.stop_threshold,
        stop_window=args.stop_window,
    )
    try:
        result = train(config, resume=args.resume, overwrite=args.overwrite)
    except TrainingInterrupted as exc:
        print(f"minigrad train: {exc}", file=sys.stderr)
        return 130
    except (TrainingDiverged, RunFolderError, ValueError, RuntimeError, OSError) as exc:
        print(f"minigrad train: error: {exc}", file=sys.stderr)
        return 1
    if result:
        print(
            f"test accuracy: {100 * result['test_accuracy']:.2f}% (test loss {result['test_loss']:.4f}) "
            f"after epoch {result['epoch']}; outputs in {config.out_dir}"
        )
    else:
        print(f"nothing to do: the run in {config.out_dir} already has {config.epochs} epoch(s) or was stopped early")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
