"""What a study is: the :class:`Study` dataclass, its TOML form, validation, and its cells.

A study compares methods (an optimizer with its hyperparameters) over seeds on one model, one
dataset and one training budget. Its TOML file reads::

    name = "layer-nag-vs-nag"
    task = "classification"          # or "reconstruction" (MSE of the input)
    iterations = 200                 # optimizer steps per cell
    eval_at = [50, 100, 150, 200]    # evaluate after these many steps (0: the initial weights)
    seeds = "0-9"                    # or [0, 1, 2]
    curve_stride = 10                # the training-loss curve keeps one point per 10 steps
    device = "cpu"                   # or "gpu"

    [model]
    name = "lenet5"                  # a key of layers.MODELS
    activation = "relu"
    init = { weight = "caffe_xavier", bias = "zeros" }   # optional: layers.init.initialize's keywords

    [data]
    dataset = "mnist"
    preprocess = "scale"             # "none" (pixels/255), "scale" (raw byte × scale), "standardize",
                                     # "standardize_channels" (per channel, for colour images)
    scale = 0.00390625
    order = "shuffle"                # a per-seed shuffle each epoch, or "files" (the files' order)
    batch_size = 64
    eval_split = "test"              # or "validation" (the last validation_size training images), or both

    [report]
    baseline = "NAG"
    metric = "error"                 # and split = "test": which evaluated split (default: the first)

    [[methods]]
    label = "NAG"
    optimizer = "nesterov"
    lr = 0.01                        # every other key is a hyperparameter of the optimizer
    momentum = 0.9
    schedule = "inv"
    schedule_gamma = 1e-4
    schedule_power = 0.75
    grid = { lr = [0.005, 0.01] }    # optional: one cell per grid point and seed

    [[methods.groups]]               # optional: overrides for the layer groups whose name matches
    match = "classifier.*"
    lr = 0.02

    [[methods.params]]               # optional: per-parameter multipliers, by parameter name
    match = "*.bias"
    lr_mult = 2.0

A cell is one (method, grid point, seed): :meth:`Study.cells` expands them, each a self-contained
:class:`Cell` from which :func:`experiments.studies.cell.run_cell` computes its numbers and
nothing else. :func:`validate_study` checks a study against the registries before anything runs,
and every error names the file, the key and the valid choices (:class:`StudySpecError`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import itertools
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

TASKS = ("classification", "reconstruction")
#: The metrics each task measures on the evaluation split (lower is better for all but accuracy).
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("error", "accuracy", "loss"),
    "reconstruction": ("loss",),
}
HIGHER_IS_BETTER = frozenset({"accuracy"})
PREPROCESS = ("none", "scale", "standardize", "standardize_channels")
ORDERS = ("shuffle", "files")
EVAL_SPLITS = ("test", "validation")
DEVICES = ("cpu", "gpu")
#: Per-parameter settings a ``[[methods.params]]`` table may give.
PARAM_SETTINGS = ("lr_mult",)
SCHEDULE_PREFIX = "schedule_"
#: What ``--smoke`` keeps of a study unless its ``[smoke]`` table says otherwise.
SMOKE_DEFAULTS: dict[str, Any] = {"seeds": 2, "iterations": 20, "train_limit": 512, "eval_limit": 256}


class StudySpecError(ValueError):
    """A study spec that cannot run: names the file, the key, the problem and the valid choices."""

    def __init__(self, source: str, key: str, problem: str, choices: Sequence[Any] | None = None) -> None:
        self.source, self.key, self.problem = source, key, problem
        self.choices = None if choices is None else list(choices)
        text = f"{source}: {key}: {problem}"
        if choices is not None:
            text += f"; valid: {', '.join(map(str, choices)) if choices else '(none)'}"
        super().__init__(text)


# ----- the parts of a study ----------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSpec:
    """The model: a key of ``layers.MODELS``, its activation, constructor keywords, and an init scheme."""

    name: str = "lenet5"
    #: The model's ``activation_name``; None keeps the model's own default.
    activation: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: Keywords of ``layers.init.initialize`` (``{"weight": "caffe_xavier", "bias": "zeros"}``, a scheme's
    #: arguments); None keeps the layers' own initialisation.
    init: dict[str, Any] | None = None


@dataclass(frozen=True)
class DataSpec:
    """The data: dataset, preprocessing, batch order and size, and the evaluation split.

    ``preprocess``: ``"none"`` keeps the dataset's pixels/255; ``"scale"`` multiplies the raw
    bytes (0..255) by ``scale`` (Caffe's LeNet: 1/256); ``"standardize"`` subtracts the training
    images' mean and divides by their std, ``"standardize_channels"`` does it per colour channel
    (statistics of the training part, all of it, whatever the limits).
    ``eval_split`` names the splits evaluated at each evaluation iteration, the first being the
    one the report compares: ``("test",)``, ``("validation",)`` (the last ``validation_size``
    training images, held out of training), or both, e.g. ``("validation", "test")`` to pick the
    best iteration on validation and read the test metric there. ``train_limit`` keeps the first
    N training images, ``eval_limit`` the first N of each evaluated split.
    """

    dataset: str = "mnist"
    data_root: str | None = None
    preprocess: str = "standardize"
    scale: float | None = None
    order: str = "shuffle"
    batch_size: int = 64
    eval_split: tuple[str, ...] = ("test",)
    validation_size: int | None = None
    train_limit: int | None = None
    eval_limit: int | None = None
    eval_batch_size: int = 1000


@dataclass(frozen=True)
class GroupOverride:
    """Hyperparameters for the layer groups (``Module.layer_groups()`` names) matching ``match``."""

    match: str
    settings: dict[str, Any]


@dataclass(frozen=True)
class ParamOverride:
    """Per-parameter settings (``lr_mult``) for the parameters whose dotted name matches ``match``."""

    match: str
    settings: dict[str, Any]


@dataclass(frozen=True)
class Method:
    """One compared method: a label, a registry optimizer, its hyperparameters and optional grid."""

    label: str
    optimizer: str
    hyper: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    groups: tuple[GroupOverride, ...] = ()
    params: tuple[ParamOverride, ...] = ()

    def grid_points(self) -> list[dict[str, Any]]:
        """Every combination of the grid's values (``[{}]`` without a grid), in the file's order."""
        keys = list(self.grid)
        return [dict(zip(keys, values)) for values in itertools.product(*(self.grid[k] for k in keys))]


def variant_name(label: str, point: Mapping[str, Any]) -> str:
    """A method's name at one grid point: ``"NAG"``, or ``"NAG[lr=0.02]"`` on a grid."""
    if not point:
        return label
    return f"{label}[{','.join(f'{k}={json.dumps(v)}' for k, v in point.items())}]"


@dataclass(frozen=True)
class Cell:
    """Everything one training run needs, and nothing else: its numbers are a function of this alone."""

    study: str
    method: str
    grid: dict[str, Any]
    seed: int
    optimizer: str
    hyper: dict[str, Any]
    groups: tuple[GroupOverride, ...]
    params: tuple[ParamOverride, ...]
    model: ModelSpec
    data: DataSpec
    task: str
    iterations: int
    eval_at: tuple[int, ...]
    curve_stride: int
    device: str

    @property
    def variant(self) -> str:
        """The method's name at this cell's grid point."""
        return variant_name(self.method, self.grid)

    @property
    def key(self) -> str:
        """A unique name within the study: ``"NAG[lr=0.02]/seed=3"``."""
        return f"{self.variant}/seed={self.seed}"


@dataclass(frozen=True)
class Study:
    """A comparison of methods over seeds (see the module docstring for its TOML form)."""

    name: str
    methods: tuple[Method, ...]
    seeds: tuple[int, ...]
    iterations: int
    eval_at: tuple[int, ...]
    model: ModelSpec = ModelSpec()
    data: DataSpec = DataSpec()
    task: str = "classification"
    curve_stride: int = 10
    device: str = "cpu"
    description: str = ""
    baseline: str | None = None
    metric: str | None = None
    split: str | None = None
    smoke: dict[str, Any] = field(default_factory=dict)
    #: Where the spec came from (a path, or "<dict>"), for error messages; not part of the spec.
    source: str = field(default="<dict>", compare=False)

    # ----- cells ---------------------------------------------------------------------------------
    def variants(self) -> list[str]:
        """Every method at every grid point, in the file's order."""
        return [variant_name(m.label, p) for m in self.methods for p in m.grid_points()]

    def cells(self) -> list[Cell]:
        """Every (method, grid point, seed), seeds innermost."""
        out = []
        for method in self.methods:
            for point in method.grid_points():
                for seed in self.seeds:
                    out.append(
                        Cell(
                            study=self.name,
                            method=method.label,
                            grid=point,
                            seed=seed,
                            optimizer=method.optimizer,
                            hyper={**method.hyper, **point},
                            groups=method.groups,
                            params=method.params,
                            model=self.model,
                            data=self.data,
                            task=self.task,
                            iterations=self.iterations,
                            eval_at=self.eval_at,
                            curve_stride=self.curve_stride,
                            device=self.device,
                        )
                    )
        return out

    @property
    def report_metric(self) -> str:
        """The metric the report compares (the spec's, else the task's first)."""
        return self.metric or TASK_METRICS[self.task][0]

    @property
    def report_split(self) -> str:
        """The evaluation split the report compares (the spec's, else the first evaluated)."""
        return self.split or self.data.eval_split[0]

    @property
    def report_baseline(self) -> str:
        """The variant the report compares against (the spec's, else the first)."""
        return self.baseline or self.variants()[0]

    # ----- variants of the study -----------------------------------------------------------------
    def with_seeds(self, seeds: Sequence[int]) -> Study:
        """The same study over other seeds."""
        return dataclasses.replace(self, seeds=tuple(seeds))

    def with_device(self, device: str) -> Study:
        """The same study on another device."""
        return dataclasses.replace(self, device=device)

    def smoke_version(self) -> Study:
        """A small copy for CI, named ``NAME-smoke``: few seeds, iterations and images.

        ``[smoke]`` may set ``seeds`` (a count or a list), ``iterations``, ``eval_at``,
        ``train_limit``, ``eval_limit``, ``batch_size``; the rest come from :data:`SMOKE_DEFAULTS`.
        Evaluation points beyond the shortened run are dropped and its last iteration is added.
        """
        opts = {**SMOKE_DEFAULTS, **self.smoke}
        seeds = opts["seeds"]
        seeds = tuple(self.seeds[:seeds]) if isinstance(seeds, int) else tuple(seeds)
        iterations = min(int(opts["iterations"]), self.iterations)
        if "eval_at" in self.smoke:
            eval_at = tuple(self.smoke["eval_at"])
        else:
            eval_at = tuple(sorted({i for i in self.eval_at if i <= iterations} | {iterations}))
        data = dataclasses.replace(
            self.data,
            train_limit=_smaller(self.data.train_limit, opts["train_limit"]),
            eval_limit=_smaller(self.data.eval_limit, opts["eval_limit"]),
            batch_size=int(opts.get("batch_size", self.data.batch_size)),
        )
        return dataclasses.replace(
            self, name=f"{self.name}-smoke", seeds=seeds, iterations=iterations, eval_at=eval_at, data=data
        )

    # ----- identity ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data (JSON-able), as the store keeps it; :func:`study_from_stored` reads it back."""
        out = dataclasses.asdict(self)
        del out["source"]
        return out

    def spec_hash(self) -> str:
        """SHA-256 of what defines the cells' numbers: everything but the seeds, the report and the wording.

        Adding seeds to a study keeps its hash (the new seeds are new cells); changing a
        hyperparameter, the data or the evaluation points changes it.
        """
        spec = self.to_dict()
        for key in ("seeds", "description", "baseline", "metric", "split", "smoke"):
            del spec[key]
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def _smaller(current: int | None, limit: int | None) -> int | None:
    if limit is None:
        return current
    return limit if current is None else min(current, limit)


# ----- reading a spec ----------------------------------------------------------------------------
class _Table:
    """A TOML table being read: typed ``take`` of keys, and an error for the keys nobody took."""

    def __init__(self, data: Any, source: str, where: str, valid: Sequence[str] | None = None) -> None:
        if not isinstance(data, Mapping):
            raise StudySpecError(source, where or "(top level)", f"expected a table, got {type(data).__name__}")
        self.data, self.source, self.where = dict(data), source, where
        self.taken: list[str] = []
        # Unknown keys first: a misspelt key is the likely cause of a "missing" one.
        unknown = sorted(set(self.data) - set(valid)) if valid is not None else []
        if unknown:
            raise self.error(unknown[0], "unknown key", sorted(valid))

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def error(self, name: str, problem: str, choices: Sequence[Any] | None = None) -> StudySpecError:
        return StudySpecError(self.source, self.key(name), problem, choices)

    def take(self, name: str, kind: type | tuple[type, ...], default: Any = ..., choices: Sequence[Any] | None = None):
        self.taken.append(name)
        if name not in self.data:
            if default is ...:
                raise self.error(name, "missing (required)")
            return default
        value = self.data[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # TOML integers are fine where a float is wanted; a bool is never a number here.
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise self.error(name, f"expected {names}, got {value!r}")
        if choices is not None and value not in choices:
            raise self.error(name, f"unknown value {value!r}", choices)
        return value

    def rest(self) -> dict[str, Any]:
        return {k: v for k, v in self.data.items() if k not in self.taken}


def parse_seeds(text: str | Sequence[int], source: str = "<seeds>", key: str = "seeds") -> tuple[int, ...]:
    """``"0-9"``, ``"0-4,7,9"`` or a list of ints → a tuple of distinct non-negative seeds, in order.

    >>> parse_seeds("0-3,7")
    (0, 1, 2, 3, 7)
    """
    if isinstance(text, str):
        seeds: list[int] = []
        for part in filter(None, (p.strip() for p in text.split(","))):
            low, dash, high = part.partition("-")
            try:
                first, last = int(low), int(high) if dash else int(low)
            except ValueError:
                raise StudySpecError(source, key, f"cannot read {part!r}: expected N, N-M or a list of them") from None
            if last < first:
                raise StudySpecError(source, key, f"empty range {part!r}")
            seeds.extend(range(first, last + 1))
    elif isinstance(text, Sequence):
        seeds = list(text)
    else:
        raise StudySpecError(source, key, f"expected a list of ints or a string like '0-9', got {text!r}")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise StudySpecError(source, key, f"a seed must be an int >= 0, got {s!r}")
    if len(set(seeds)) != len(seeds):
        raise StudySpecError(source, key, f"repeated seeds in {list(seeds)}")
    if not seeds:
        raise StudySpecError(source, key, "the seed list is empty: a study needs at least one seed")
    return tuple(seeds)


def _int_list(table: _Table, name: str) -> tuple[int, ...]:
    values = table.take(name, list)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int):
            raise table.error(name, f"expected a list of ints, got {values!r}")
    return tuple(values)


def _optional_int(table: _Table, name: str) -> int | None:
    return table.take(name, int, None)


def _read_model(data: Any, source: str) -> ModelSpec:
    t = _Table(data, source, "model")
    name = t.take("name", str, "lenet5")
    activation = t.take("activation", str, None)
    init = t.take("init", dict, None)
    return ModelSpec(name=name, activation=activation, kwargs=t.rest(), init=init)


def _read_data(data: Any, source: str) -> DataSpec:
    t = _Table(data, source, "data", [f.name for f in dataclasses.fields(DataSpec)])
    spec = DataSpec(
        dataset=t.take("dataset", str, "mnist"),
        data_root=t.take("data_root", str, None),
        preprocess=t.take("preprocess", str, "standardize", PREPROCESS),
        scale=t.take("scale", float, None),
        order=t.take("order", str, "shuffle", ORDERS),
        batch_size=t.take("batch_size", int, 64),
        eval_split=_read_splits(t),
        validation_size=_optional_int(t, "validation_size"),
        train_limit=_optional_int(t, "train_limit"),
        eval_limit=_optional_int(t, "eval_limit"),
        eval_batch_size=t.take("eval_batch_size", int, 1000),
    )
    return spec


def _read_splits(t: _Table) -> tuple[str, ...]:
    value = t.take("eval_split", (str, list), "test")
    splits = [value] if isinstance(value, str) else value
    if not splits or len(set(splits)) != len(splits):
        raise t.error("eval_split", f"expected one split or a list of distinct splits, got {value!r}", EVAL_SPLITS)
    for split in splits:
        if split not in EVAL_SPLITS:
            raise t.error("eval_split", f"unknown split {split!r}", EVAL_SPLITS)
    return tuple(splits)


def _read_overrides(items: Any, source: str, where: str, kind: type) -> tuple[Any, ...]:
    if not isinstance(items, list):
        raise StudySpecError(source, where, f"expected an array of tables ([[{where}]]), got {items!r}")
    out = []
    for i, item in enumerate(items):
        t = _Table(item, source, f"{where}[{i}]")
        match = t.take("match", str)
        out.append(kind(match=match, settings=t.rest()))
    return tuple(out)


def _read_method(data: Any, source: str, index: int) -> Method:
    t = _Table(data, source, f"methods[{index}]")
    label = t.take("label", str)
    optimizer = t.take("optimizer", str)
    grid = t.take("grid", dict, {})
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise StudySpecError(source, f"{t.where}.grid.{key}", f"a grid axis is a non-empty list, got {values!r}")
    groups = _read_overrides(t.take("groups", list, []), source, f"{t.where}.groups", GroupOverride)
    params = _read_overrides(t.take("params", list, []), source, f"{t.where}.params", ParamOverride)
    return Method(label=label, optimizer=optimizer, hyper=t.rest(), grid=dict(grid), groups=groups, params=params)


SMOKE_KEYS = ("seeds", "iterations", "eval_at", "train_limit", "eval_limit", "batch_size")


def _read_smoke(data: Any, source: str) -> dict[str, Any]:
    t = _Table(data, source, "smoke", SMOKE_KEYS)
    out: dict[str, Any] = {}
    if "seeds" in t.data:
        seeds = t.take("seeds", (int, list))
        out["seeds"] = seeds if isinstance(seeds, int) else list(parse_seeds(seeds, source, "smoke.seeds"))
    if "eval_at" in t.data:
        out["eval_at"] = list(_int_list(t, "eval_at"))
    for key in ("iterations", "train_limit", "eval_limit", "batch_size"):
        if key in t.data:
            out[key] = t.take(key, int)
            if out[key] < 1:
                raise t.error(key, f"must be >= 1, got {out[key]}")
    return out


TOP_KEYS = (
    "name",
    "description",
    "task",
    "iterations",
    "eval_at",
    "seeds",
    "curve_stride",
    "device",
    "model",
    "data",
    "report",
    "smoke",
    "methods",
)


def study_from_dict(data: Mapping[str, Any], source: str = "<dict>") -> Study:
    """Read a study from its TOML table (or from :meth:`Study.to_dict`'s output); see :func:`load_study`.

    Checks the shape of the spec (keys, types, choices); :func:`validate_study` checks it against
    the registries. Both raise :class:`StudySpecError`.
    """
    t = _Table(data, source, "", TOP_KEYS)
    name = t.take("name", str)
    if not name or any(c in name for c in "/\\\n"):
        raise t.error("name", f"expected a non-empty name without slashes or newlines, got {name!r}")
    seeds_value = t.take("seeds", (str, list, tuple))
    model = t.take("model", dict, {})
    data_table = t.take("data", dict, {})
    report = _Table(t.take("report", dict, {}), source, "report", ["baseline", "metric", "split"])
    baseline = report.take("baseline", str, None)
    metric = report.take("metric", str, None)
    split = report.take("split", str, None)
    methods_value = t.take("methods", (list, tuple))
    if not methods_value:
        raise t.error("methods", "no methods: a study compares at least one [[methods]] table")
    eval_at = t.take("eval_at", (list, tuple))
    study = Study(
        name=name,
        description=t.take("description", str, ""),
        task=t.take("task", str, "classification", TASKS),
        iterations=t.take("iterations", int),
        eval_at=_int_list(_Table({"eval_at": list(eval_at)}, source, ""), "eval_at"),
        seeds=parse_seeds(seeds_value if isinstance(seeds_value, str) else list(seeds_value), source, "seeds"),
        curve_stride=t.take("curve_stride", int, 10),
        device=t.take("device", str, "cpu", DEVICES),
        model=_read_model(model, source),
        data=_read_data(data_table, source),
        methods=tuple(_read_method(m, source, i) for i, m in enumerate(methods_value)),
        baseline=baseline,
        metric=metric,
        split=split,
        smoke=_read_smoke(t.take("smoke", dict, {}), source),
        source=source,
    )
    return study


def study_from_stored(data: Mapping[str, Any]) -> Study:
    """A study from :meth:`Study.to_dict` output (as the store keeps it)."""
    d = dict(data)
    data = d.pop("data")
    methods = []
    for m in d.pop("methods"):
        m = dict(m)
        m["groups"] = tuple(GroupOverride(**g) for g in m.get("groups", ()))
        m["params"] = tuple(ParamOverride(**p) for p in m.get("params", ()))
        methods.append(Method(**m))
    return Study(
        methods=tuple(methods),
        seeds=tuple(d.pop("seeds")),
        eval_at=tuple(d.pop("eval_at")),
        model=ModelSpec(**d.pop("model")),
        data=DataSpec(**{**data, "eval_split": tuple(data["eval_split"])}),
        source="<store>",
        **d,
    )


def load_study(path: str | Path) -> Study:
    """Read and validate the study in the TOML file ``path``.

    Raises :class:`StudySpecError` (naming the file and the key) for anything that could not run,
    FileNotFoundError for a missing file.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise StudySpecError(str(path), "(syntax)", f"not valid TOML: {err}") from None
    study = study_from_dict(data, source=str(path))
    validate_study(study)
    return study


# ----- validation against the registries ---------------------------------------------------------
def validate_study(study: Study) -> None:
    """Raise :class:`StudySpecError` unless every cell of ``study`` can be built.

    Checks the model, its constructor keywords and init scheme, the dataset and preprocessing,
    every evaluation iteration against the run's length, the seeds, every optimizer and
    hyperparameter (by building each method at each grid point on the real model, as a cell
    does), the group and parameter patterns, and the report's baseline and metric.
    """
    import layers
    from experiments.studies import cell as cell_module
    from experiments.studies.cell import DATASETS

    src = study.source
    if not study.seeds:
        raise StudySpecError(src, "seeds", "the seed list is empty: a study needs at least one seed")
    if study.iterations < 1:
        raise StudySpecError(src, "iterations", f"must be >= 1, got {study.iterations}")
    if not study.eval_at:
        raise StudySpecError(src, "eval_at", "empty: give the iterations at which to evaluate")
    for it in study.eval_at:
        if not 0 <= it <= study.iterations:
            raise StudySpecError(
                src, "eval_at", f"iteration {it} is outside the run (0..iterations = 0..{study.iterations})"
            )
    if list(study.eval_at) != sorted(set(study.eval_at)):
        raise StudySpecError(src, "eval_at", f"must be increasing without repeats, got {list(study.eval_at)}")
    if study.curve_stride < 1:
        raise StudySpecError(src, "curve_stride", f"must be >= 1, got {study.curve_stride}")
    if study.task not in TASKS:
        raise StudySpecError(src, "task", f"unknown task {study.task!r}", TASKS)
    if study.device not in DEVICES:
        raise StudySpecError(src, "device", f"unknown device {study.device!r}", DEVICES)

    # The model.
    model = study.model
    if model.name not in layers.MODELS:
        raise StudySpecError(src, "model.name", f"unknown model {model.name!r}", sorted(layers.MODELS))
    parameters = list(inspect.signature(layers.MODELS[model.name]).parameters)
    accepted = [p for p in parameters if p != "activation_name"]
    valid_keys = ["name", *(["activation"] if "activation_name" in parameters else []), "init", *accepted]
    for key in model.kwargs:
        if key not in accepted:
            raise StudySpecError(src, f"model.{key}", f"unknown key for model {model.name!r}", valid_keys)
    if model.activation is not None and "activation_name" not in parameters:
        raise StudySpecError(src, "model.activation", f"model {model.name!r} takes no activation", valid_keys)
    if model.activation is not None and model.activation not in layers.models.ACTIVATIONS:
        raise StudySpecError(
            src, "model.activation", f"unknown activation {model.activation!r}", layers.models.ACTIVATIONS
        )

    # The data.
    data = study.data
    if data.dataset not in DATASETS:
        raise StudySpecError(src, "data.dataset", f"unknown dataset {data.dataset!r}", sorted(DATASETS))
    if data.preprocess == "scale" and not (data.scale is not None and math.isfinite(data.scale) and data.scale > 0):
        raise StudySpecError(src, "data.scale", f"preprocess = 'scale' needs scale > 0, got {data.scale!r}")
    if data.preprocess != "scale" and data.scale is not None:
        raise StudySpecError(src, "data.scale", f"only used with preprocess = 'scale', not {data.preprocess!r}")
    for key in ("batch_size", "eval_batch_size"):
        if getattr(data, key) < 1:
            raise StudySpecError(src, f"data.{key}", f"must be >= 1, got {getattr(data, key)}")
    for key in ("train_limit", "eval_limit"):
        if getattr(data, key) is not None and getattr(data, key) < 1:
            raise StudySpecError(src, f"data.{key}", f"must be >= 1 (or left out), got {getattr(data, key)}")
    if "validation" in data.eval_split:
        if data.validation_size is None or data.validation_size < 1:
            raise StudySpecError(
                src, "data.validation_size", f"a 'validation' eval_split needs a size >= 1, got {data.validation_size}"
            )
    elif data.validation_size is not None:
        raise StudySpecError(src, "data.validation_size", "only used with a 'validation' eval_split")
    if data.train_limit is not None and data.batch_size > data.train_limit:
        raise StudySpecError(
            src, "data.batch_size", f"{data.batch_size} is larger than train_limit = {data.train_limit}"
        )

    # The methods.
    labels = [m.label for m in study.methods]
    for label in labels:
        if labels.count(label) > 1:
            raise StudySpecError(src, "methods", f"two methods are labelled {label!r}: labels must be unique")
        if not label or any(c in label for c in "[]/\n"):
            raise StudySpecError(src, "methods", f"label {label!r} must be non-empty, without [ ] / or newlines")
    if model.init is not None:
        _validate_init(src, model.init)
    try:
        probe = cell_module.build_model(model, seed=0)
    except (ValueError, TypeError) as err:
        key = "model.init" if model.init is not None else "model"
        raise StudySpecError(src, key, f"model {model.name!r} cannot be built: {err}") from None
    group_names = [g["name"] for g in probe.layer_groups()]
    param_names = [name for name, _ in probe.named_parameters()]
    for i, method in enumerate(study.methods):
        _validate_method(study, i, method, group_names, param_names)

    # The report.
    metrics = TASK_METRICS[study.task]
    if study.metric is not None and study.metric not in metrics:
        raise StudySpecError(src, "report.metric", f"unknown metric {study.metric!r} for task {study.task!r}", metrics)
    if study.split is not None and study.split not in study.data.eval_split:
        raise StudySpecError(src, "report.split", f"{study.split!r} is not evaluated", study.data.eval_split)
    if study.baseline is not None and study.baseline not in study.variants():
        raise StudySpecError(src, "report.baseline", f"no method is called {study.baseline!r}", study.variants())


def _validate_init(src: str, init: Mapping[str, Any]) -> None:
    try:
        from layers import init as layer_init
    except ImportError:
        raise StudySpecError(
            src, "model.init", "weight-init schemes need layers.init, which this version of minigrad does not have"
        ) from None
    for role in ("weight", "bias"):
        scheme = init.get(role)
        if isinstance(scheme, str) and scheme not in layer_init.SCHEMES:
            raise StudySpecError(
                src, f"model.init.{role}", f"unknown scheme {scheme!r} (or give a number)", sorted(layer_init.SCHEMES)
            )


def _validate_method(study: Study, index: int, method: Method, group_names: list[str], param_names: list[str]) -> None:
    import optimizers
    from experiments.studies import cell as cell_module

    src, where = study.source, f"methods[{index}]"
    try:
        cls = optimizers.OPTIMIZERS[optimizers.registry_key(method.optimizer)]
    except ValueError:
        raise StudySpecError(
            src, f"{where}.optimizer", f"unknown optimizer {method.optimizer!r}", sorted(optimizers.OPTIMIZERS)
        ) from None
    accepted = optimizers.hyperparameters(cls)
    for key in [*method.hyper, *method.grid]:
        if key.startswith(SCHEDULE_PREFIX) and "schedule" in accepted:
            continue
        if key not in accepted:
            table = f"{where}.grid" if key in method.grid else where
            raise StudySpecError(
                src,
                f"{table}.{key}",
                f"unknown hyperparameter for optimizer {method.optimizer!r} (method {method.label!r})",
                [*accepted, "schedule_<arg>"] if "schedule" in accepted else accepted,
            )
        if key in method.hyper and key in method.grid:
            raise StudySpecError(src, f"{where}.grid.{key}", "given both as a value and as a grid axis: keep one")
    for j, override in enumerate(method.groups):
        if not any(fnmatchcase(name, override.match) for name in group_names):
            raise StudySpecError(
                src, f"{where}.groups[{j}].match", f"{override.match!r} matches no layer group", group_names
            )
    for j, override in enumerate(method.params):
        if not any(fnmatchcase(name, override.match) for name in param_names):
            raise StudySpecError(
                src, f"{where}.params[{j}].match", f"{override.match!r} matches no parameter", param_names
            )
        for key in override.settings:
            if key not in PARAM_SETTINGS:
                raise StudySpecError(src, f"{where}.params[{j}].{key}", "unknown per-parameter setting", PARAM_SETTINGS)
    # Build what each cell will build: bad values, group keys and schedules fail here, not in a worker.
    one_method = dataclasses.replace(study, methods=(method,), seeds=study.seeds[:1])
    for cell in one_method.cells():
        try:
            model = cell_module.build_model(study.model, seed=0)
            optimizer = cell_module.build_optimizer(cell, model, steps_per_epoch=1)
        except (ValueError, TypeError, KeyError) as err:
            raise StudySpecError(src, where, f"method {cell.variant!r} cannot be built: {err}") from None
        if getattr(optimizer, "needs_validation_closure", False):
            raise StudySpecError(
                src,
                f"{where}.validation",
                "optimizers stepped on a validation batch are not supported in studies yet: leave validation out",
            )
