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
# # 9. LeNet on the GPU
#
# minigrad computes with whatever array module its arrays come from: NumPy on the CPU, CuPy on an
# NVIDIA GPU. Nothing in the ops, layers or optimizers names either; they ask their arrays
# (`minigrad.get_array_module`). So the LeNet-5 of tutorial 2 runs on the GPU after one switch.
# This tutorial shows:
#
# 1. **the switch**: `model.to("gpu")` and batches on the device (`DataLoader(..., device="gpu")`),
#    or `--device gpu` on the command line, and the clear error you get without CuPy;
# 2. **the same numbers**: a few training steps give the same losses on both devices, to float32
#    rounding;
# 3. **timing a GPU**: kernel launches are asynchronous, so a timer must wait for the device
#    (`synchronize`), and the first steps pay one-off costs, so a timer must skip them (warm-up);
# 4. **the crossover**: the batch size from which the GPU beats the CPU, with a log-log figure of
#    time per step against batch size;
# 5. **a whole training run** through `experiments.training.train` with `device=...`.
#
# It runs anywhere. Without a GPU (no CuPy, or no CUDA device) it says so, runs every part on the
# CPU, and skips only the comparisons that need two devices. In fast mode (`MINIGRAD_FAST=1`, what
# the tests run) the sweep stops at batch 64 and the training run uses 1,024 images; in full mode
# the sweep goes to batch 1,024 and the run is one epoch of MNIST (test accuracy > 97 % checked).

# %%
import statistics
import time

import _common  # puts the repository root on sys.path; FAST, OUT and savefig
import matplotlib.pyplot as plt
import numpy as np

import datasets
import layers
import minigrad
import optimizers
from benchmarks.gpu_lenet import crossover_batch_size
from experiments.training import TrainConfig, load_data, train
from minigrad import backend
from minigrad import functional as F

HAS_GPU = minigrad.cupy_available()  # CuPy imports *and* sees a CUDA device
DEVICE = "gpu" if HAS_GPU else "cpu"
print("fast mode:", _common.FAST, "| figures go to", _common.OUT)
if HAS_GPU:
    cp = backend.require_cupy()
    name = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)["name"]
    print(f"GPU found: {name.decode() if isinstance(name, bytes) else name} (CuPy {cp.__version__})")
else:
    print(
        "No GPU here (CuPy is not installed, or sees no CUDA device): every part runs on the CPU, "
        "and the CPU/GPU comparisons are skipped. On a machine with an NVIDIA GPU: pip install '.[gpu]'"
    )

# %% [markdown]
# ## 1. The switch
#
# A model moves its parameters with `model.to(device)`, in place: the `Parameter` objects stay
# the same, so an optimizer built over them keeps working (its state follows the parameters at the
# next step). The `DataLoader` moves each batch with `device=`. Then the training step is the
# five lines of tutorial 2, unchanged: every op sees CuPy arrays and computes with CuPy.
#
# On the command line it is one option:
#
# ```bash
# pip install ".[gpu]"                       # CuPy for CUDA 12
# python -m experiments train --device gpu   # or: minigrad train --device gpu
# ```

# %%
images, labels = load_data(TrainConfig())[0]  # MNIST, standardised as the training loop does

minigrad.seed(0)
model = layers.LeNet5().to(DEVICE)
opt = optimizers.SGD(model.layer_groups(), lr=0.03, momentum=0.9)
for x, y in datasets.DataLoader(*datasets.take(images, labels, 128), batch_size=64, device=DEVICE):
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()

print("parameters on:", {p.device for p in model.parameters()}, "| loss on:", loss.device, "| loss", loss.item())
assert all(p.device == DEVICE for p in model.parameters()), "model.to() left a parameter behind"
assert loss.device == DEVICE, "the loss was computed on another device than the model's"

# %% [markdown]
# Asking for the GPU where there is none fails at once, with the reason and the fix, rather than
# deep inside the first convolution. We can show it on any machine by making the backend believe
# that `import cupy` failed (it tries once and remembers):

# %%
saved = backend._cupy, backend._cupy_tried, backend._cupy_error
backend._cupy, backend._cupy_tried, backend._cupy_error = None, True, ModuleNotFoundError("No module named 'cupy'")
try:
    layers.LeNet5().to("gpu")
    raise AssertionError("model.to('gpu') without CuPy should have raised")
except RuntimeError as err:
    message = str(err)
finally:
    backend._cupy, backend._cupy_tried, backend._cupy_error = saved
print(message)
assert "CuPy" in message and 'pip install ".[gpu]"' in message, "the error should say what to install"

# %% [markdown]
# ## 2. The same numbers on both devices
#
# The GPU runs the same algorithm in the same precision (float32), but its sums run in another
# order (cuBLAS splits a matrix product differently from the CPU's BLAS), so results agree to
# float32 rounding, not bit for bit. Four steps from the same seed, on the CPU and on the device:
# the losses must agree to a relative 1e-4.


# %%
def losses_of_steps(device: str, steps: int = 4, batch: int = 32) -> list[float]:
    """Losses of ``steps`` SGD-momentum steps of LeNet-5 from seed 0 on ``device``."""
    minigrad.seed(0)
    net = layers.LeNet5().to(device)
    sgd = optimizers.SGD(net.layer_groups(), lr=0.03, momentum=0.9)
    out = []
    for xb, yb in datasets.DataLoader(*datasets.take(images, labels, steps * batch), batch, device=device):
        step_loss = F.cross_entropy(net(xb), yb)
        sgd.zero_grad()
        step_loss.backward()
        sgd.step()
        out.append(step_loss.data)  # left on the device: reading it now would stall the GPU (part 3)
    return [float(v) for v in out]


cpu_losses = losses_of_steps("cpu")
print("CPU losses:", np.round(cpu_losses, 6))
assert cpu_losses[-1] < cpu_losses[0], "four steps should lower the loss"
if HAS_GPU:
    gpu_losses = losses_of_steps("gpu")
    print("GPU losses:", np.round(gpu_losses, 6))
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-4, err_msg="the devices disagree beyond float32")
    print("max relative difference:", max(abs(g - c) / c for g, c in zip(gpu_losses, cpu_losses)))
else:
    print("no GPU: the CPU/GPU loss comparison is skipped")

# %% [markdown]
# ## 3. Timing a GPU: asynchronous launches and warm-up
#
# When Python calls a CuPy function, CuPy *queues* a kernel on the GPU's stream and returns at
# once: the CPU goes on to queue the next kernel while the GPU is still computing. That is what
# makes a GPU fast from Python (the CPU's per-op overhead hides behind the GPU's work), but it
# means `time.perf_counter()` around GPU code measures how long it took to *queue* the work, not to
# do it. The work is done only when something waits for it: reading a value back (`float(loss)`,
# `.get()`), or an explicit `minigrad.backend.synchronize()`, which waits for the stream to drain.
# So a timer must synchronize before reading the clock at both ends. (CUDA events,
# `cupy.cuda.Event`, time the stream itself; `benchmarks/gpu_lenet.py` uses them.)
#
# On the CPU, NumPy computes before it returns, and `synchronize()` does nothing.
#
# The first steps also pay one-off costs: CuPy compiles each kernel the first time it meets it
# (and caches it on disk, in `~/.cupy/kernel_cache`), cuBLAS creates its handle, and CuPy's memory
# pool grows to the step's working set. So a timer first runs a few untimed **warm-up** steps.


# %%
def make_step(device: str, batch: int) -> tuple:
    """A training step of a fresh LeNet-5 on one fixed batch already on ``device``."""
    minigrad.seed(0)
    net = layers.LeNet5().to(device)
    sgd = optimizers.SGD(net.layer_groups(), lr=0.03, momentum=0.9)
    idx = np.arange(batch) % len(labels)
    xb, yb = minigrad.to_device(images[idx], device), minigrad.to_device(labels[idx], device)

    def step() -> None:
        step_loss = F.cross_entropy(net(xb), yb)
        sgd.zero_grad()
        step_loss.backward()
        sgd.step()

    return step, net


def seconds(fn, sync: bool = True) -> float:
    """Wall-clock seconds of ``fn()``; with ``sync``, waiting for the GPU before each clock reading."""
    if sync:
        backend.synchronize()
    tic = time.perf_counter()
    fn()
    if sync:
        backend.synchronize()
    return time.perf_counter() - tic


WARM_BATCH = 64 if _common.FAST else 256
step, net = make_step(DEVICE, WARM_BATCH)
first = seconds(step)  # cold: compilation, allocation
later = [seconds(step) for _ in range(3 if _common.FAST else 10)]
print(
    f"{DEVICE}, batch {WARM_BATCH}: first step {1e3 * first:.1f} ms, "
    f"then a median {1e3 * statistics.median(later):.1f} ms"
)

if HAS_GPU:
    # Ten products of two 4096 x 4096 matrices (1.4 TFLOP): their launches take microseconds,
    # their work milliseconds. One clock, read after queueing and again after waiting.
    big = minigrad.Tensor(np.random.default_rng(0).standard_normal((4096, 4096), dtype=np.float32)).to("gpu")
    with minigrad.no_grad():
        big @ big  # warm-up: cuBLAS's handle and workspace
        backend.synchronize()
        tic = time.perf_counter()
        for _ in range(10):
            product = big @ big
        queued = time.perf_counter() - tic  # the Python calls have returned ...
        backend.synchronize()
        done = time.perf_counter() - tic  # ... but the GPU finishes only now
    print(f"10 matrix products: {1e3 * queued:.2f} ms until the calls returned, {1e3 * done:.2f} ms until done")
    assert queued < 0.5 * done, "the calls should return long before the GPU has done the work"
else:
    assert seconds(backend.synchronize, sync=False) < 1e-3, "on the CPU synchronize() has nothing to wait for"
    print("no GPU: nothing runs asynchronously here, and synchronize() returns at once")

# %% [markdown]
# ## 4. The crossover: from which batch size does the GPU win?
#
# A GPU step has a fixed cost that does not shrink with the batch: every op is at least one
# kernel launch, a few microseconds each, and a LeNet-5 training step is a few hundred ops. The
# CPU's step time grows with the batch almost from the start. So at batch 1 the CPU usually wins;
# as the batch grows the GPU's time stays nearly flat until its cores are busy, and it overtakes.
# We time a step (synchronized, after warm-up, median of a few blocks) over batch sizes on every
# device we have. The crossover is the smallest batch size from which the GPU is faster at every
# larger size too (`benchmarks.gpu_lenet.crossover_batch_size`; one noisy win does not count).

# %%
BATCHES = [1, 4, 16, 64] if _common.FAST else [1, 4, 16, 64, 256, 1024]
BLOCKS, STEPS = (3, 2) if _common.FAST else (5, 5)


def time_per_step(device: str, batch: int) -> float:
    """Median seconds per training step at ``batch``, synchronized, after two warm-up steps."""
    step, _ = make_step(device, batch)
    for _ in range(2):
        step()
    return statistics.median(seconds(lambda: [step() for _ in range(STEPS)]) for _ in range(BLOCKS)) / STEPS


devices = ["cpu", "gpu"] if HAS_GPU else ["cpu"]
timings = {device: [time_per_step(device, b) for b in BATCHES] for device in devices}
print("batch  " + "  ".join(f"{d} ms/step" for d in devices))
for i, b in enumerate(BATCHES):
    print(f"{b:5d}  " + "  ".join(f"{1e3 * timings[d][i]:11.3f}" for d in devices))

cpu_times = timings["cpu"]
assert cpu_times[-1] > cpu_times[0], f"a CPU step at batch {BATCHES[-1]} should cost more than at batch 1"
if HAS_GPU:
    crossover = crossover_batch_size({b: (c, g) for b, c, g in zip(BATCHES, cpu_times, timings["gpu"])})
    print("the GPU wins from batch size", crossover if crossover else f"(never, up to {BATCHES[-1]})")
    gpu_growth = timings["gpu"][-1] / timings["gpu"][0]
    cpu_growth = cpu_times[-1] / cpu_times[0]
    print(f"from batch {BATCHES[0]} to {BATCHES[-1]}: CPU time x{cpu_growth:.1f}, GPU time x{gpu_growth:.1f}")
    assert gpu_growth < cpu_growth, "the GPU's step time should grow more slowly with the batch than the CPU's"
else:
    print("no GPU: only the CPU sweep is shown; run this tutorial on a GPU machine to see the crossover")

# %% [markdown]
# On a log-log plot a cost proportional to the batch is a line of slope 1, and a fixed cost a
# flat line. The CPU's curve bends up towards slope 1 early; the GPU's stays flat for longer.

# %%
fig, ax = plt.subplots(figsize=(6, 4))
for device in devices:
    ax.loglog(BATCHES, [1e3 * t for t in timings[device]], "o-", label=f"minigrad on {device}")
ax.loglog(BATCHES, [1e3 * cpu_times[-1] * b / BATCHES[-1] for b in BATCHES], ":", color="grey", label="∝ batch")
ax.set(xlabel="batch size", ylabel="time per training step (ms)", title="LeNet-5 training step")
ax.legend()
path = _common.savefig(fig, "09_time_per_step_vs_batch")
assert path.exists() and path.stat().st_size > 0, "the figure was not written"

# %% [markdown]
# ## 5. A whole training run on the device
#
# `experiments.training.train` takes the device in its configuration (the command line's
# `--device`). On the GPU it also reads the loss back only every `log_every` steps, since every
# read is a synchronization that stalls the queue of part 3.

# %%
config = TrainConfig(
    device=DEVICE,
    train_limit=1024 if _common.FAST else None,
    test_limit=500 if _common.FAST else None,
    batch_size=16 if _common.FAST else 64,
    out_dir=str(_common.OUT / "09_run"),
    progress=False,
    telemetry_every=0,
)
tic = time.perf_counter()
result = train(config, overwrite=True)  # a re-run of the tutorial replaces its own run
print(
    f"{DEVICE}: test accuracy {100 * result['test_accuracy']:.2f} % after one epoch of {config.train_limit or 60000} "
    f"images ({result['epoch_time_s']:.1f} s training, {time.perf_counter() - tic:.1f} s with evaluation)"
)
if _common.FAST:
    assert result["test_accuracy"] > 0.5, "64 steps should take LeNet-5 well above chance (10 %)"
else:
    assert result["test_accuracy"] > 0.97, "one epoch of MNIST should give LeNet-5 > 97 % test accuracy"

# %% [markdown]
# ## Summary
#
# - One switch: `model.to("gpu")` plus batches on the device, or `--device gpu`. The code is the
#   same; only the array module differs.
# - The same numbers to float32 rounding, not bit for bit: GPU sums run in another order.
# - Time a GPU with a synchronization (or CUDA events) at both ends and after a warm-up; a bare
#   timer measures the queueing, and the first steps measure compilation.
# - A small net at a small batch is faster on the CPU: each op's launch costs a few microseconds
#   whatever the batch. The GPU wins from the crossover on, and by more the larger the batch.
#
# For a full comparison against PyTorch on the same GPU: `python -m benchmarks.gpu_lenet`.
