"""Study specs: TOML reading, validation errors (file, key, valid choices), grids, seeds, hashes, data, groups.

Running studies (executors, the store, the report, the command line) is tested in
``tests/test_studies_run.py``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import datasets
import layers
from experiments.stepping import cross_entropy_per_sample, train_step
from experiments.studies import cell as cell_module
from experiments.studies.spec import (
    DataSpec,
    Study,
    StudySpecError,
    load_study,
    parse_seeds,
    study_from_dict,
    study_from_stored,
    tomllib,
    validate_study,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "experiments" / "studies" / "specs" / "layer_nag_vs_nag.toml"

BASE_TOML = """
name = "tiny"
iterations = 12
eval_at = [0, 6, 12]
seeds = [0, 1]

[model]
name = "lenet5"

[data]
dataset = "mnist"
batch_size = 32
train_limit = 256
eval_limit = 128

[report]
baseline = "NAG"

[[methods]]
label = "NAG"
optimizer = "nesterov"
lr = 0.05
momentum = 0.9

[[methods]]
label = "SGD"
optimizer = "sgd"
lr = 0.05
"""


def from_toml(text: str) -> Study:
    return study_from_dict(tomllib.loads(text))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def test_the_example_spec_loads_and_its_smoke_copy_is_small() -> None:
    study = load_study(EXAMPLE)
    assert study.name == "layer-nag-vs-nag" and study.variants() == ["NAG", "layer-NAG"]
    assert study.seeds == tuple(range(10)) and study.iterations == 200 and study.eval_at[-1] == 200
    assert len(study.cells()) == 20
    smoke = study.smoke_version()
    validate_study(smoke)
    assert smoke.name == "layer-nag-vs-nag-smoke" and smoke.seeds == (0, 1) and smoke.iterations == 20
    assert smoke.eval_at == (20,) and smoke.data.train_limit == 512 and smoke.data.eval_limit == 256
    assert len(smoke.cells()) == 4


# (how to break the base spec, the key the error must name, a word of the problem, a valid choice it must list)
BAD_SPECS = [
    (('name = "lenet5"', 'name = "lenet9"'), "model.name", "unknown model", "lenet5"),
    (('dataset = "mnist"', 'dataset = "cifar"'), "data.dataset", "unknown dataset", "mnist"),
    (('optimizer = "nesterov"', 'optimizer = "nagg"'), "methods[0].optimizer", "unknown optimizer", "nesterov"),
    (("momentum = 0.9", "momentun = 0.9"), "methods[0].momentun", "unknown hyperparameter", "momentum"),
    (("eval_at = [0, 6, 12]", "eval_at = [0, 6, 13]"), "eval_at", "iteration 13 is outside the run", None),
    (("seeds = [0, 1]", "seeds = []"), "seeds", "empty", None),
    (("seeds = [0, 1]", 'seeds = ""'), "seeds", "empty", None),
    (("iterations = 12", "iteration = 12"), "iteration", "unknown key", "iterations"),
    (('preprocess = "x"', None), "data.preprocess", "unknown value", "standardize"),
    (('baseline = "NAG"', 'baseline = "Adam"'), "report.baseline", "no method", "SGD"),
    (("momentum = 0.9", "momentum = 1.5"), "methods[0]", "cannot be built", None),
    (
        ("lr = 0.05\nmomentum", "grid = { lrr = [0.1] }\nlr = 0.05\nmomentum"),
        "methods[0].grid.lrr",
        "unknown hyperparameter",
        "lr",
    ),
    (('metric = "x"', None), "report.metric", "unknown metric", "error"),
    (('split = "validation"', None), "report.split", "is not evaluated", "test"),
    (('eval_split = ["test", "train"]', None), "data.eval_split", "unknown split", "validation"),
    (('eval_split = "validation"', None), "data.validation_size", "needs a size", None),
    (("validation_size = 100", None), "data.validation_size", "only used with", None),
]


@pytest.mark.parametrize(("change", "key", "problem", "choice"), BAD_SPECS, ids=[b[1] + "-" + b[2] for b in BAD_SPECS])
def test_a_bad_spec_names_the_file_the_key_and_the_valid_choices(
    tmp_path: Path, change: tuple[str, str | None], key: str, problem: str, choice: str | None
) -> None:
    old, new = change
    if new is None:  # add a key instead of replacing one
        section = "[report]" if old.startswith(("metric", "split")) else "[data]"
        text = BASE_TOML.replace(section, f"{section}\n{old}")
    else:
        assert old in BASE_TOML
        text = BASE_TOML.replace(old, new, 1)
    path = write(tmp_path, text)
    with pytest.raises(StudySpecError) as info:
        load_study(path)
    err = info.value
    assert str(err).startswith(f"{path}: {key}: "), str(err)
    assert err.key == key and problem in err.problem, str(err)
    if choice is not None:
        assert err.choices is not None and choice in err.choices, str(err)


def test_the_base_spec_is_valid(tmp_path: Path) -> None:
    study = load_study(write(tmp_path, BASE_TOML))
    assert study.source == str(tmp_path / "spec.toml") and study.variants() == ["NAG", "SGD"]


def test_a_group_pattern_that_matches_nothing_lists_the_layer_groups(tmp_path: Path) -> None:
    text = BASE_TOML + '\n[[methods.groups]]\nmatch = "decoder.*"\nlr = 0.1\n'
    with pytest.raises(StudySpecError) as info:
        load_study(write(tmp_path, text))
    assert info.value.key == "methods[1].groups[0].match" and "features.0" in info.value.choices


def test_toml_syntax_errors_name_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "name = \n")
    with pytest.raises(StudySpecError, match=f"^{path}: \\(syntax\\): not valid TOML"):
        load_study(path)


def test_grids_expand_into_one_cell_per_point_and_seed(tmp_path: Path) -> None:
    text = BASE_TOML.replace("lr = 0.05\nmomentum = 0.9", "momentum = 0.9\ngrid = { lr = [0.01], momentum_x = [1] }")
    with pytest.raises(StudySpecError, match="methods\\[0\\].grid.momentum_x"):
        load_study(write(tmp_path, text))
    text = BASE_TOML.replace("lr = 0.05\nmomentum = 0.9", "grid = { lr = [0.01, 0.02], momentum = [0.5, 0.9, 0.99] }")
    with pytest.raises(StudySpecError, match="report.baseline: no method is called 'NAG'; valid: NAG\\[lr=0.01,"):
        load_study(write(tmp_path, text))  # on a grid, the baseline names one point
    study = load_study(write(tmp_path, text.replace('baseline = "NAG"', 'baseline = "NAG[lr=0.02,momentum=0.9]"')))
    cells = study.cells()
    assert len(cells) == (2 * 3 + 1) * 2
    assert study.variants()[:2] == ["NAG[lr=0.01,momentum=0.5]", "NAG[lr=0.01,momentum=0.9]"]
    assert len({c.key for c in cells}) == len(cells)
    point = [c for c in cells if c.variant == "NAG[lr=0.02,momentum=0.99]" and c.seed == 1][0]
    assert point.hyper == {"lr": 0.02, "momentum": 0.99} and point.grid == {"lr": 0.02, "momentum": 0.99}


def test_a_value_and_a_grid_axis_for_the_same_key_is_an_error(tmp_path: Path) -> None:
    text = BASE_TOML.replace("momentum = 0.9", "momentum = 0.9\ngrid = { lr = [0.1] }")
    with pytest.raises(StudySpecError, match="methods\\[0\\].grid.lr: given both"):
        load_study(write(tmp_path, text))


def test_seed_lists() -> None:
    assert parse_seeds("0-3,7") == (0, 1, 2, 3, 7)
    assert parse_seeds([4, 2]) == (4, 2)
    for bad, fragment in (
        ("3-1", "empty range"),
        ("0,0", "repeated"),
        ([-1], ">= 0"),
        ("a", "cannot read"),
        ([], "empty"),
        ([True], ">= 0"),
    ):
        with pytest.raises(StudySpecError, match=fragment):
            parse_seeds(bad)


def test_the_spec_hash_ignores_seeds_and_wording_but_not_what_defines_the_numbers(tmp_path: Path) -> None:
    study = load_study(write(tmp_path, BASE_TOML))
    same = load_study(write(tmp_path, BASE_TOML.replace("seeds = [0, 1]", 'seeds = "0-5"\ndescription = "more"')))
    assert same.spec_hash() == study.spec_hash()
    for old, new in (
        ("lr = 0.05", "lr = 0.06"),
        ("eval_at = [0, 6, 12]", "eval_at = [0, 12]"),
        ("batch_size = 32", "batch_size = 16"),
    ):
        changed = load_study(write(tmp_path, BASE_TOML.replace(old, new, 1)))
        assert changed.spec_hash() != study.spec_hash(), (old, new)


def test_a_study_survives_the_round_trip_through_the_store_format(tmp_path: Path) -> None:
    text = BASE_TOML + '\n[[methods.groups]]\nmatch = "classifier.*"\nlr = 0.1\n'
    text += '\n[[methods.params]]\nmatch = "*.bias"\nlr_mult = 2.0\n'
    study = from_toml(text)
    back = study_from_stored(study.to_dict())
    assert back == study and back.spec_hash() == study.spec_hash() and back.cells() == study.cells()


def test_smoke_keeps_evaluation_points_inside_the_shortened_run(tmp_path: Path) -> None:
    study = load_study(write(tmp_path, BASE_TOML.replace("[report]", "[smoke]\niterations = 8\nseeds = [1]\n[report]")))
    smoke = study.smoke_version()
    assert smoke.iterations == 8 and smoke.eval_at == (0, 6, 8) and smoke.seeds == (1,)
    assert smoke.data.train_limit == 256  # already below the smoke default of 512
    validate_study(smoke)


# ----- what a cell builds ---------------------------------------------------------------------------
def test_group_and_parameter_overrides_reach_the_parameter_groups(tmp_path: Path) -> None:
    text = BASE_TOML + '\n[[methods.groups]]\nmatch = "classifier.*"\nlr = 0.1\n'
    text += '\n[[methods.params]]\nmatch = "*.bias"\nlr_mult = 2.0\n'
    study = from_toml(text)
    cell = [c for c in study.cells() if c.method == "SGD"][0]
    model = cell_module.build_model(study.model, seed=0)
    groups = cell_module.param_groups(cell, model)
    by_name = {g["name"]: g for g in groups}
    assert by_name["classifier.1"]["lr"] == 0.1 and "lr" not in by_name["features.0"]
    names = {id(p): n for n, p in model.named_parameters()}
    for g in groups:
        assert g["lr_mults"] == [2.0 if names[id(p)].endswith(".bias") else 1.0 for p in g["params"]]


def test_the_same_seed_gives_the_same_weights_and_another_seed_other_weights() -> None:
    spec = from_toml(BASE_TOML).model
    a, b, c = (cell_module.weights_hash(cell_module.build_model(spec, s)) for s in (3, 3, 4))
    assert a == b != c


def _data(**kwargs) -> DataSpec:
    return DataSpec(**{"train_limit": 300, "eval_limit": 100, **kwargs})


def test_scale_preprocessing_multiplies_the_raw_bytes() -> None:
    (x, _), evals = cell_module.prepare_data(_data(preprocess="scale", scale=1 / 256))
    ex = evals["test"][0]
    raw = np.rint(datasets.mnist("train")[0][:300].astype(np.float64) * 255)
    assert raw.max() == 255 and np.array_equal(x, (raw / 256).astype(np.float32))
    assert x.dtype == np.float32 and not x.flags.writeable and ex.shape == (100, 1, 28, 28)


def test_standardize_uses_the_whole_training_part_and_validation_holds_out_its_tail() -> None:
    images, labels = datasets.mnist("train")
    (x, y), evals = cell_module.prepare_data(
        _data(preprocess="standardize", eval_split=("validation", "test"), validation_size=5000)
    )
    part = images[:-5000]
    mean, std = float(part.mean(dtype=np.float64)), float(part.std(dtype=np.float64))
    (vx, vy), (tx, ty) = evals["validation"], evals["test"]
    test_images, test_labels = datasets.mnist("test")
    assert np.array_equal(ty, test_labels[:100])
    assert np.array_equal(tx, ((test_images[:100] - mean) / std).astype(np.float32))
    assert np.array_equal(x, ((images[:300] - mean) / std).astype(np.float32))
    assert np.array_equal(vx, ((images[-5000:-4900] - mean) / std).astype(np.float32))
    assert np.array_equal(vy, labels[-5000:-4900]) and np.array_equal(y, labels[:300])


def test_the_init_scheme_of_the_spec_is_applied(tmp_path: Path) -> None:
    if not hasattr(layers, "init"):
        pytest.skip("layers.init is not in this tree yet")
    text = BASE_TOML.replace('name = "lenet5"', 'name = "lenet5"\ninit = { weight = "caffe_xavier", bias = "zeros" }')
    study = load_study(write(tmp_path, text))
    model = cell_module.build_model(study.model, seed=0)
    assert all(float(abs(m.bias.data).max()) == 0.0 for m in model.modules() if getattr(m, "bias", None) is not None)
    bad = text.replace('"caffe_xavier"', '"caffe_xavierr"')
    with pytest.raises(StudySpecError) as info:
        load_study(write(tmp_path, bad))
    assert info.value.key == "model.init.weight" and "caffe_xavier" in info.value.choices


def test_per_channel_standardization_uses_the_training_part() -> None:
    (x, _), evals = cell_module.prepare_data(_data(preprocess="standardize_channels"))
    images = datasets.mnist("train")[0]
    mean, std = datasets.channel_mean_std(images)
    assert np.array_equal(x, datasets.standardize_channels(images[:300], mean, std))
    assert evals["test"][0].dtype == np.float32


def test_a_model_keeps_its_own_activation_unless_the_spec_names_one(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = """
name = "ae"
task = "reconstruction"
iterations = 4
eval_at = [4]
seeds = [0]
[model]
name = "dozat_autoencoder"
[report]
metric = "loss"
[[methods]]
label = "Adam"
optimizer = "adam"
lr = 1e-3
"""
    study = from_toml(spec)
    validate_study(study)
    model = cell_module.build_model(study.model, seed=0)
    assert any(isinstance(m, layers.LeakyReLU) for m in model.modules())  # the model's default
    relu = from_toml(spec.replace('name = "dozat_autoencoder"', 'name = "dozat_autoencoder"\nactivation = "relu"'))
    assert not any(isinstance(m, layers.LeakyReLU) for m in cell_module.build_model(relu.model, seed=0).modules())

    class NoActivation(layers.Module):
        def __init__(self) -> None:
            self.net = layers.Linear(784, 10)

    monkeypatch.setitem(layers.MODELS, "no_activation", NoActivation)
    with pytest.raises(StudySpecError) as info:
        validate_study(from_toml(BASE_TOML.replace('name = "lenet5"', 'name = "no_activation"\nactivation = "relu"')))
    assert info.value.key == "model.activation" and "activation" not in info.value.choices


def test_a_bias_lr_mult_doubles_the_bias_step_and_leaves_the_weights_alone() -> None:
    study = from_toml(BASE_TOML + '\n[[methods.params]]\nmatch = "*.bias"\nlr_mult = 2.0\n')
    validate_study(study)
    doubled = [c for c in study.cells() if c.method == "SGD"][0]
    plain = dataclasses.replace(doubled, params=())
    images, labels = datasets.mnist("train")
    batch = (np.ascontiguousarray(images[:32]), labels[:32])
    steps = {}
    for name, cell in (("doubled", doubled), ("plain", plain)):
        model = cell_module.build_model(study.model, seed=0)
        before = {k: np.array(v) for k, v in model.state_dict().items()}
        train_step(model, cell_module.build_optimizer(cell, model, steps_per_epoch=8), cross_entropy_per_sample, batch)
        steps[name] = {k: v.astype(np.float64) - before[k] for k, v in model.state_dict().items()}
    for key, step in steps["plain"].items():
        if key.endswith(".bias"):
            # float32 weights: each step is exact up to the rounding of θ − Δ (|θ| < 1, so ~1e-7)
            np.testing.assert_allclose(steps["doubled"][key], 2 * step, rtol=1e-4, atol=1e-7)
        else:
            assert np.array_equal(steps["doubled"][key], step), key


def test_schedules_that_need_the_run_length_get_the_cells() -> None:
    study = from_toml(BASE_TOML.replace('lr = 0.05\n', 'lr = 0.05\nschedule = "cosine"\n', 1))
    validate_study(study)
    cell = study.cells()[0]
    optimizer = cell_module.build_optimizer(cell, cell_module.build_model(study.model, 0), steps_per_epoch=8)
    assert optimizer.schedule.total_steps == study.iterations == 12
