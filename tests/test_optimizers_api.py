"""The shape every optimizer shares, and its errors for bad input.

- each class declares a check per hyperparameter (its table), the base class applies weight
  decay once and makes every state array before the first update (``init_state``);
- ``registry_key``, ``build_optimizer``'s run-length arguments and its errors, spelled as the
  user must type them; the import order of the package (no base ↔ schedules circle);
- Caffe's per-parameter ``lr_mults`` under SGD, momentum and the layer-specific rates;
- bad input: a parameter twice in a group, an ε a rule would divide by zero with, a ``.grad`` of
  the wrong shape, device or dtype, and a state dict of another optimizer class.
"""

from __future__ import annotations

import ast
import inspect
import math
from pathlib import Path

import numpy as np
import pytest

import minigrad
import optimizers
from minigrad import Parameter
from optimizers.base import Optimizer
from optimizers.closure import loss_closure
from optimizers.layerwise import singh_factor
from optimizers.validation import nonnegative
from tests import fake_cupy

#: Constructor keywords that configure the optimizer itself, not a parameter group.
OPTIMIZER_LEVEL = {"schedule", "grouping", "min_norm", "per_group"}
GRADIENT_STEPPED = sorted({n for n, c in optimizers.OPTIMIZERS.items() if not c.needs_closure} - {"nag", "layer_nag"})
# Variants whose state differs from the defaults' (flags that need more arrays).
STATE_VARIANTS = [(name, {}) for name in GRADIENT_STEPPED] + [
    ("rmsprop", {"centered": True, "momentum": 0.9}),
    ("sgd", {"momentum": 0.9}),
    ("dozat", {"momentum": "none"}),
    ("dozat", {"accumulator": "none", "momentum": "classical"}),
]


# ----- one table, one weight decay, state made up front -----------------------------------------
@pytest.mark.parametrize("name", sorted(optimizers.OPTIMIZERS))
def test_every_group_hyperparameter_has_a_check_in_the_class_table(name: str) -> None:
    cls = optimizers.OPTIMIZERS[name]
    assert set(cls.hyperparameters) == set(optimizers.hyperparameters(cls)) - OPTIMIZER_LEVEL


def test_a_table_that_disagrees_with_the_defaults_is_a_programming_error() -> None:
    class Forgetful(Optimizer):
        hyperparameters = {"lr": nonnegative}

        def __init__(self, params: list[Parameter], lr: float = 0.1, beta: float = 0.5) -> None:
            super().__init__(params, {"lr": lr, "beta": beta})

    with pytest.raises(TypeError, match=r"Forgetful.hyperparameters and its defaults disagree on \['beta'\]"):
        Forgetful([Parameter(np.zeros(2))])


@pytest.mark.parametrize("name", GRADIENT_STEPPED)
def test_weight_decay_is_added_once_before_the_rule(name: str) -> None:
    """A step with decay λ on gradient g equals a step without decay on g + λθ, for every rule."""
    theta0, lam = np.array([0.5, -1.0, 2.0]), 0.1
    grads = [np.array([0.1, -0.2, 0.3]), np.array([-0.3, 0.4, 0.5]), np.array([0.2, 0.1, -0.1])]
    a, b = Parameter(theta0.copy()), Parameter(theta0.copy())
    decayed = optimizers.build_optimizer(name, [a], weight_decay=lam)
    plain = optimizers.build_optimizer(name, [b])
    for g in grads:
        a.grad = g.copy()
        b.grad = g + lam * b.data
        decayed.step()
        plain.step()
        np.testing.assert_allclose(a.data, b.data, rtol=1e-13, atol=1e-15)


def test_the_rule_receives_the_decayed_gradient() -> None:
    seen = []

    class Recorder(optimizers.SGD):
        def update(self, p: Parameter, g: np.ndarray, state: dict, group: dict) -> None:
            seen.append(g.copy())

    p = Parameter(np.array([1.0, -2.0]))
    p.grad = np.array([0.5, 0.5])
    Recorder([p], weight_decay=0.1).step()
    np.testing.assert_array_equal(seen[0], [0.6, 0.3])
    np.testing.assert_array_equal(p.grad, [0.5, 0.5])  # .grad itself is left alone


@pytest.mark.parametrize(("name", "hyper"), STATE_VARIANTS, ids=[f"{n}{h or ''}" for n, h in STATE_VARIANTS])
def test_all_state_is_made_before_the_first_update(name: str, hyper: dict) -> None:
    """No rule creates state lazily inside ``update``: the keys after steps are init_state's."""
    p = Parameter(np.array([0.5, -1.0, 2.0]))
    opt = optimizers.build_optimizer(name, [{"params": [p], "name": "layer"}], **hyper)
    made = set(opt.init_state(p, opt.param_groups[0])) | {"step"}
    for g in ([0.1, -0.2, 0.0], [-0.3, 0.4, 0.5], [0.0, 0.1, -0.1]):
        p.grad = np.array(g)
        opt.step()
    assert set(opt.state[p]) == made


def test_the_layer_specific_classes_are_plain_classes_with_their_own_signature() -> None:
    for cls, base in ((optimizers.LayerSGD, optimizers.SGD), (optimizers.LayerMomentum, optimizers.Momentum),
                      (optimizers.LayerNesterov, optimizers.Nesterov), (optimizers.LayerAdaGrad, optimizers.AdaGrad)):
        assert cls.__bases__ == (optimizers.layerwise.LayerSpecific, base)
        assert cls.__init__.__qualname__ == f"{cls.__name__}.__init__"  # written out, not generated
        signature = inspect.signature(cls)
        assert list(signature.parameters)[-3:] == ["grouping", "min_norm", "schedule"]
        base_defaults = {k: v.default for k, v in inspect.signature(base).parameters.items()}
        for key, parameter in signature.parameters.items():
            if key in base_defaults:
                assert parameter.default == base_defaults[key], (cls.__name__, key)


def test_validators_and_schedules_do_not_import_the_base_class() -> None:
    """optimizers.validation imports nothing of the package, optimizers.schedules only validation."""
    root = Path(optimizers.__file__).parent

    def package_imports(module: str) -> set[str]:
        tree = ast.parse((root / f"{module}.py").read_text())
        found = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        found |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        return {m for m in found if m.split(".")[0] == "optimizers"}

    assert package_imports("validation") == set()
    assert package_imports("schedules") == {"optimizers.validation"}


# ----- the registry by name ---------------------------------------------------------------------
def test_registry_key() -> None:
    assert optimizers.registry_key("Layer-SGD") == "layer_sgd"
    assert optimizers.registry_key("  NAG ") == "nag"
    assert optimizers.registry_key("sgd_hd") == "sgd_hd"
    with pytest.raises(ValueError, match=r"unknown optimizer 'lbfgs': expected one of \[.*'adam'.*'wame'\]"):
        optimizers.registry_key("lbfgs")


def test_build_optimizer_fills_the_run_length_of_the_schedules_that_need_it() -> None:
    p = Parameter(np.zeros(2))
    opt = optimizers.build_optimizer("sgd", [p], schedule="cosine", total_steps=400, steps_per_epoch=100)
    assert opt.schedule.total_steps == 400
    opt = optimizers.build_optimizer("sgd", [p], schedule="epoch", total_steps=400, steps_per_epoch=100)
    assert opt.schedule.steps_per_epoch == 100
    # an explicit schedule argument wins over the run's length
    opt = optimizers.build_optimizer("adam", [p], schedule="cosine", schedule_total_steps=50, total_steps=400)
    assert opt.schedule.total_steps == 50
    # schedules and optimizers that need no length ignore it
    assert optimizers.build_optimizer("sgd", [p], schedule="inv", total_steps=400).schedule.gamma == 1e-4
    assert optimizers.build_optimizer("esgd", [p], total_steps=400, steps_per_epoch=100).schedule is None
    with pytest.raises(ValueError, match=r"schedule 'cosine': missing argument\(s\) \['schedule_total_steps'\].*"
                                         r"total_steps= to build_optimizer"):
        optimizers.build_optimizer("sgd", [p], schedule="cosine")
    with pytest.raises(ValueError, match=r"missing argument\(s\) \['schedule_steps_per_epoch'\]"):
        optimizers.build_optimizer("sgd", [p], schedule="epoch", total_steps=400)


def test_build_schedule_is_the_schedule_build_optimizer_would_make() -> None:
    """What a resumed run compares: the schedule of the same options at another run length."""
    hyper = {"lr": 0.03, "momentum": 0.9, "schedule": "cosine"}
    one, two = (optimizers.build_schedule(hyper, total_steps=n) for n in (938, 1876))
    assert repr(one) == "Cosine(total_steps=938)" and repr(one) != repr(two)
    built = optimizers.build_optimizer("sgd", [Parameter(np.zeros(2))], total_steps=938, **hyper).schedule
    assert repr(built) == repr(one)
    assert optimizers.build_schedule({"lr": 0.1}) is None
    assert repr(optimizers.build_schedule({"schedule": "cosine", "schedule_total_steps": 5}, total_steps=9)) == (
        "Cosine(total_steps=5)"
    )


def test_every_build_error_names_the_keys_as_they_must_be_typed() -> None:
    p = Parameter(np.zeros(2))
    with pytest.raises(ValueError, match=r"unknown hyperparameter\(s\) \['step_size'\].*'schedule_step_size'"):
        optimizers.build_optimizer("sgd", [p], step_size=10)
    with pytest.raises(ValueError, match=r"\['step_sise'\].*step: \['schedule_step_size', 'schedule_gamma'\]\)$"):
        optimizers.build_optimizer("sgd", [p], schedule="step", step_sise=10)  # only the named schedule's
    with pytest.raises(ValueError, match=r"schedule 'step': unknown argument\(s\) \['schedule_size'\]; "
                                         r"it takes \['schedule_step_size', 'schedule_gamma'\]"):
        optimizers.build_optimizer("sgd", [p], schedule="step", schedule_size=10)
    with pytest.raises(ValueError, match=r"schedule 'step': schedule_step_size must be an int >= 1, got 0"):
        optimizers.build_optimizer("sgd", [p], schedule="step", schedule_step_size=0)
    with pytest.raises(ValueError, match=r"\['schedule_gamma'\] for optimizer 'esgd': .*\(no schedule\)"):
        optimizers.build_optimizer("esgd", [p], schedule_gamma=0.1)
    with pytest.raises(ValueError, match=r"unknown hyperparameters \['betas'\] for Adam: a group takes .*'lr_mults'"):
        optimizers.Adam([{"params": [p], "betas": (0.9, 0.99)}])


# ----- Caffe's lr_mult --------------------------------------------------------------------------
def layer_with_bias(grad_scale: float = 1.0) -> tuple[Parameter, Parameter]:
    w, b = Parameter(np.array([[1.0, -1.0], [0.5, 2.0]])), Parameter(np.array([0.2, -0.3]))
    w.grad, b.grad = grad_scale * np.array([[0.1, 0.2], [-0.3, 0.4]]), grad_scale * np.array([0.5, -0.6])
    return w, b


def test_lr_mults_give_the_bias_twice_the_rate_under_sgd() -> None:
    w, b = layer_with_bias()
    w0, b0 = w.data.copy(), b.data.copy()
    optimizers.SGD([{"params": [w, b], "lr_mults": [1.0, 2.0]}], lr=0.1).step()
    np.testing.assert_allclose(w.data, w0 - 0.1 * w.grad, rtol=1e-15)
    np.testing.assert_allclose(b.data, b0 - 0.2 * b.grad, rtol=1e-15)


def test_lr_mults_sit_inside_caffes_velocity() -> None:
    w, b = layer_with_bias()
    b0 = b.data.copy()
    opt = optimizers.Momentum([{"params": [w, b], "lr_mults": [1, 2]}], lr=0.1, momentum=0.9)
    opt.step()
    opt.step()  # v1 = −2t·g; v2 = μ·v1 − 2t·g
    np.testing.assert_allclose(b.data, b0 - 0.2 * b.grad - (0.9 * 0.2 * b.grad + 0.2 * b.grad), rtol=1e-14)


def test_under_layer_sgd_the_factor_comes_from_the_whole_layer_and_the_mult_after_it() -> None:
    w, b = layer_with_bias(grad_scale=1e-3)  # small gradients: a factor well above 1
    w0, b0 = w.data.copy(), b.data.copy()
    opt = optimizers.LayerSGD([{"name": "fc", "params": [w, b], "lr_mults": [1.0, 2.0]}], lr=0.1)
    opt.step()
    norm = math.sqrt(float(np.sum(w.grad**2) + np.sum(b.grad**2)))  # weights and bias together
    factor = 1 + math.log1p(1 / norm)
    assert float(opt.layer_factors["fc"]) == pytest.approx(factor, rel=1e-12)
    np.testing.assert_allclose(w.data, w0 - 0.1 * factor * w.grad, rtol=1e-12)
    np.testing.assert_allclose(b.data, b0 - 0.2 * factor * b.grad, rtol=1e-12)
    # blob grouping splits the multipliers with the parameters
    w, b = layer_with_bias()
    blobs = optimizers.LayerSGD([{"name": "fc", "params": [w, b], "lr_mults": [1.0, 2.0]}], grouping="blob")
    assert [g["lr_mults"] for g in blobs.param_groups] == [[1.0], [2.0]]
    assert float(singh_factor(np.float64(norm))) == pytest.approx(factor)


def test_bad_lr_mults_are_refused_with_the_reason() -> None:
    w, b = layer_with_bias()
    with pytest.raises(ValueError, match=r"lr_mults of parameter group 'fc' has 1 entries for 2 parameters"):
        optimizers.SGD([{"name": "fc", "params": [w, b], "lr_mults": [2.0]}])
    with pytest.raises(ValueError, match=r"lr_mults\[1\] of parameter group 0 must be a finite number >= 0, got -1"):
        optimizers.SGD([{"params": [w, b], "lr_mults": [1, -1]}])
    with pytest.raises(ValueError, match=r"lr_mults of parameter group 0 must be a list"):
        optimizers.SGD([{"params": [w, b], "lr_mults": 2.0}])
    for name in ("rprop", "sgd_hd", "ravaut1", "esgd", "llb_sgd"):
        with pytest.raises(ValueError, match="does not take lr_mults"):
            optimizers.build_optimizer(name, [{"params": [w, b], "lr_mults": [1, 2]}])


# ----- bad input --------------------------------------------------------------------------------
def test_a_parameter_listed_twice_in_one_group_is_refused() -> None:
    w, b = layer_with_bias()
    with pytest.raises(ValueError, match=r"parameter group 'fc' lists a parameter twice \(positions 0 and 2\)"):
        optimizers.SGD([{"name": "fc", "params": [w, b, w]}])
    with pytest.raises(ValueError, match=r"parameter group 0 lists a parameter twice"):
        optimizers.Adam([w, w])


@pytest.mark.parametrize(
    ("name", "hyper"),
    [("adagrad", {}), ("adagrad", {"eps_inside": True}), ("rmsprop", {}), ("adam", {}), ("nadam", {}),
     ("wame", {}), ("adam_hd", {}), ("adadelta", {}), ("layer_adagrad", {}), ("dozat", {}),
     ("dozat", {"norm": 1}), ("dozat", {"norm": "inf", "curvature": "equilibrated"})],
)
def test_an_eps_the_rule_would_divide_by_zero_with_is_refused(name: str, hyper: dict) -> None:
    with pytest.raises(ValueError, match=r"^eps must be > 0, got 0"):
        optimizers.build_optimizer(name, [Parameter(np.zeros(2))], eps=0.0, **hyper)


@pytest.mark.parametrize(("name", "hyper"), [("adamax", {"beta2": 0.0}), ("dozat", {"momentum": "classical",
                         "mu_schedule": "bias_correction", "norm": "inf", "nu": 0.0, "nu_schedule": "constant"})])
def test_adamax_keeps_the_papers_eps_of_zero_and_does_not_move_where_u_is_zero(name: str, hyper: dict) -> None:
    """With β2 = 0, u = |g|: a zero gradient after a nonzero one leaves u = 0 with m ≠ 0."""
    p = Parameter(np.array([1.0, 1.0]))
    opt = optimizers.build_optimizer(name, [p], lr=0.002, eps=0.0, **hyper)
    p.grad = np.array([1.0, 1.0])
    opt.step()
    after_first = p.data.copy()
    p.grad = np.array([0.0, 2.0])
    opt.step()
    assert np.isfinite(p.data).all()
    assert p.data[0] == after_first[0]  # u = 0 there: no step (m/u is 0/0, not m/tiny)
    assert p.data[1] < after_first[1]


def test_a_gradient_of_the_wrong_shape_names_both_shapes_and_the_parameter() -> None:
    w, b = layer_with_bias()
    opt = optimizers.SGD([{"params": [Parameter(np.zeros(3))], "name": "conv1"}, {"params": [w, b], "name": "fc"}])
    b.grad = np.ones((2, 2))  # would broadcast silently into a (2,) parameter's update
    with pytest.raises(ValueError, match=r"the .grad of parameter 1 of parameter group 1 \('fc'\) has shape "
                                         r"\(2, 2\) but the parameter has shape \(2,\)"):
        opt.step()
    before = w.data.copy()
    b.grad = np.ones(2)
    w.grad = np.ones(2)  # broadcasts against (2, 2)
    with pytest.raises(ValueError, match=r"parameter 0 of parameter group 1 \('fc'\) has shape \(2,\)"):
        opt.step()
    np.testing.assert_array_equal(w.data, before)


def test_a_gradient_of_an_integer_dtype_is_refused() -> None:
    p = Parameter(np.zeros(3))
    p.grad = np.array([1, 2, 3])
    with pytest.raises(TypeError, match=r"parameter 0 of parameter group 0 has dtype int64, not a floating-point"):
        optimizers.Adam([p]).step()
    p.grad = [0.1, 0.2, 0.3]
    with pytest.raises(TypeError, match=r"parameter 0 of parameter group 0 is a list, not an array"):
        optimizers.Adam([p]).step()


def test_a_gradient_on_another_device_names_both_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fake_cupy.install(monkeypatch)
    p = Parameter(np.zeros(3))
    p.grad = fake.asarray(np.ones(3))
    with pytest.raises(ValueError, match=r"parameter 0 of parameter group 0 is on gpu but the parameter is on cpu"):
        optimizers.SGD([p]).step()
    q = Parameter(np.zeros(3)).to("gpu")
    q.grad = np.ones(3)
    with pytest.raises(ValueError, match=r"is on cpu but the parameter is on gpu"):
        optimizers.WAME([q]).step()


def test_closure_methods_check_the_gradient_too() -> None:
    x = Parameter(np.ones(3))

    def bad_closure(need_grad: bool = True) -> float:
        x.grad = np.ones(2)
        return 1.0

    for opt in (optimizers.ESGD([x]), optimizers.RavautFirstOrder([x]), optimizers.LLbSGD([x])):
        with pytest.raises(ValueError, match=r"has shape \(2,\) but the parameter has shape \(3,\)"):
            opt.step(bad_closure)
    good = loss_closure(lambda: (x * x).sum(), [x])
    optimizers.ESGD([x]).step(good)  # the check does not get in the way of a right gradient


def test_state_dict_records_the_class_and_loading_another_class_is_refused(tmp_path) -> None:
    p = Parameter(np.zeros(2))
    p.grad = np.ones(2)
    sgd = optimizers.SGD([p], momentum=0.9)
    sgd.step()
    minigrad.save({"opt": sgd.state_dict()}, tmp_path / "sgd.npz")
    saved = minigrad.load(tmp_path / "sgd.npz")["opt"]
    assert saved["optimizer"] == "SGD"
    with pytest.raises(ValueError, match=r"cannot load a state dict saved by SGD into Adam"):
        optimizers.Adam([p]).load_state_dict(saved)
    with pytest.raises(ValueError, match=r"saved by SGD into LayerSGD"):
        optimizers.LayerSGD([p]).load_state_dict(saved)
    twin = optimizers.SGD([p], momentum=0.9)
    twin.load_state_dict(saved)
    np.testing.assert_array_equal(twin.state[p]["velocity"], sgd.state[p]["velocity"])


def test_a_state_dict_written_before_the_class_was_recorded_still_loads() -> None:
    """Training checkpoints in users' run folders predate the ``"optimizer"`` key: they load as they are."""
    p = Parameter(np.zeros(2))
    p.grad = np.ones(2)
    adam = optimizers.Adam([p])
    adam.step()
    old = {k: v for k, v in adam.state_dict().items() if k != "optimizer"}
    twin = optimizers.Adam([p])
    twin.load_state_dict(old)
    assert twin.iteration == 1 and twin.state[p]["step"] == 1


def test_optimizer_state_follows_a_model_cast_to_float64() -> None:
    """Module.to(np.float64) after a step: the momentum buffer is cast too, not kept in float32."""
    import layers

    model = layers.Linear(3, 2)
    opt = optimizers.SGD(model.layer_groups(), lr=0.1, momentum=0.9)
    x = np.ones((4, 3), np.float32)
    for dtype in (np.float32, np.float64):
        model.to(dtype)
        opt.zero_grad()
        (model(x.astype(dtype)) ** 2).sum().backward()
        opt.step()
        assert {str(s["velocity"].dtype) for s in opt.state.values()} == {np.dtype(dtype).name}
    assert all(p.dtype == np.float64 for p in model.parameters())
