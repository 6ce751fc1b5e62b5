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
# # 2. Layers and LeNet-5
#
# The papers of the later tutorials train convolutional networks, mostly LeNet on MNIST. This
# tutorial builds one from the ops of tutorial 1 and trains it on the CPU. It shows:
#
# 1. **convolution by im2col**: unfold every input patch into a column, and the convolution
#    becomes one matrix product; we write it in a few lines, check it against a naive loop and
#    against `minigrad.functional.conv2d`, and look at the shape of the unfolded matrix;
# 2. **max and average pooling**, and where max pooling sends its gradient;
# 3. **LeNet-5** (`layers.LeNet5`): its layers, the shape of a batch as it flows through them,
#    and its 61,706 parameters;
# 4. **training** it on MNIST with a training loop you can read in full (five lines per step),
#    then a learning curve and a few test digits with the network's predictions.
#
# In full mode it trains for one epoch (60,000 images) and checks test accuracy > 97 %. In
# fast mode (`MINIGRAD_FAST=1`, what the tests run) it trains on a few hundred images for a few
# dozen steps and checks only that the loss fell.

# %%
import time

import _common  # puts the repository root on sys.path; FAST, OUT and savefig
import matplotlib.pyplot as plt
import numpy as np

import datasets
import layers
import minigrad
from minigrad import Tensor
from minigrad import functional as F
from optimizers import SGD
from optimizers.schedules import Cosine

print("fast mode:", _common.FAST, "| figures go to", _common.OUT)

# %% [markdown]
# ## 1. Convolution by im2col
#
# A convolution layer (strictly, a cross-correlation, as in every deep-learning library) with
# weights $w$ of shape $(F, C, k_h, k_w)$, bias $b$, stride $s$ and zero padding computes
#
# $$y_{n,f,i,j} = b_f + \sum_{c=1}^{C}\sum_{p=1}^{k_h}\sum_{q=1}^{k_w}
#   w_{f,c,p,q}\; x_{n,\,c,\,s i + p,\,s j + q},$$
#
# with output size $\lfloor (H + 2\,\mathrm{pad} - k_h)/s \rfloor + 1$. Written as loops this
# is six nested loops: correct, and hopeless in Python.
#
# **im2col** copies the $C k_h k_w$ input values that each output position sees into one column
# of a matrix $X_{\mathrm{col}}$, with one column per output position and image. Then the whole
# convolution is one matrix product, which BLAS does fast:
#
# $$Y = W_{\mathrm{row}}\,X_{\mathrm{col}}, \qquad
#   W_{\mathrm{row}} \in \mathbb{R}^{F \times C k_h k_w}, \quad
#   X_{\mathrm{col}} \in \mathbb{R}^{C k_h k_w \times N \cdot OH \cdot OW}.$$
#
# The price is memory: every input value is copied up to $k_h k_w$ times. The unfolding needs
# only $k_h k_w$ strided slices, one per kernel offset $(p, q)$, not a loop over positions:

# %%
def im2col(x: np.ndarray, kh: int, kw: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """(N, C, H, W) -> (C*kh*kw, N*OH*OW): one column per output position and image."""
    n, c, h, w = x.shape
    oh, ow = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    col = np.empty((c, kh, kw, n, oh, ow), dtype=x.dtype)
    for p in range(kh):
        for q in range(kw):  # offset (p, q) of every window at once: one strided slice
            col[:, p, q] = xp[:, :, p : p + stride * oh : stride, q : q + stride * ow : stride].transpose(1, 0, 2, 3)
    return col.reshape(c * kh * kw, n * oh * ow)


def conv_im2col(x, w, b, stride=1, pad=0):
    f, c, kh, kw = w.shape
    n, _, h, wd = x.shape
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    y = w.reshape(f, -1) @ im2col(x, kh, kw, stride, pad) + b[:, None]  # (F, N*OH*OW)
    return y.reshape(f, n, oh, ow).transpose(1, 0, 2, 3)


def conv_naive(x, w, b, stride=1, pad=0):
    f, c, kh, kw = w.shape
    n, _, h, wd = x.shape
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    y = np.zeros((n, f, oh, ow))
    for ni in range(n):
        for fi in range(f):
            for i in range(oh):
                for j in range(ow):
                    patch = xp[ni, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
                    y[ni, fi, i, j] = b[fi] + (w[fi] * patch).sum()
    return y


rng = np.random.default_rng(0)
x = rng.standard_normal((2, 3, 6, 6))
w = rng.standard_normal((4, 3, 3, 3))
b = rng.standard_normal(4)
col = im2col(x, 3, 3)
print("input x:", x.shape, "| weights w:", w.shape)
print("unfolded X_col:", col.shape, "= (C*kh*kw, N*OH*OW) = (3*3*3, 2*4*4)")
print("W_row:", w.reshape(4, -1).shape, "| output:", conv_im2col(x, w, b).shape)
assert col.shape == (27, 32)
# The first column is the first 3x3 patch of image 0, all channels, flattened.
assert np.array_equal(col[:, 0], x[0, :, :3, :3].ravel())

for stride, pad in [(1, 0), (2, 1)]:
    ref = conv_naive(x, w, b, stride, pad)
    ours = conv_im2col(x, w, b, stride, pad)
    lib = F.conv2d(Tensor(x), Tensor(w), Tensor(b), stride=stride, padding=pad).data
    print(f"stride {stride}, padding {pad}: output {ref.shape}, max |im2col - loops| = "
          f"{np.abs(ours - ref).max():.1e}, max |minigrad - loops| = {np.abs(lib - ref).max():.1e}")
    assert np.allclose(ours, ref, rtol=1e-12, atol=1e-12), "im2col convolution equals the six loops"
    assert np.allclose(lib, ref, rtol=1e-12, atol=1e-12), "minigrad's conv2d equals the six loops"

# %% [markdown]
# minigrad's `Conv2d` op does exactly this, with one refinement: it keeps the batch index
# innermost in memory so that each strided slice copies long contiguous rows. Its backward
# is two more matrix products, $\bar W = \bar Y X_{\mathrm{col}}^\top$ and
# $\bar X_{\mathrm{col}} = W_{\mathrm{row}}^\top \bar Y$, followed by **col2im**, which adds
# each column's gradient back onto the input positions it was copied from (the same strided
# slices, with `+=`).
#
# ## 2. Pooling
#
# Pooling summarises each $k \times k$ window: **max pooling** keeps the largest value,
# **average pooling** the mean. With stride $k$ the windows tile the input and halve its
# height and width (for $k = 2$). Max pooling's gradient goes only to the position of each
# window's maximum (the first one, on ties); average pooling spreads it evenly, $1/k^2$ each.

# %%
img = Tensor(np.array([[1, 5, 2, 0], [3, 2, 8, 1], [0, 1, 4, 4], [7, 2, 3, 9]], dtype=np.float64)[None, None],
             requires_grad=True)
mx = F.max_pool2d(img, 2)
av = F.avg_pool2d(img, 2)
print("input:\n", img.data[0, 0])
print("max pool 2x2:\n", mx.data[0, 0])
print("avg pool 2x2:\n", av.data[0, 0])
mx.sum().backward()
print("gradient of sum(max pool) w.r.t. the input:\n", img.grad[0, 0])
assert np.array_equal(mx.data[0, 0], [[5, 8], [7, 9]])
assert np.array_equal(av.data[0, 0], [[2.75, 2.75], [2.5, 5.0]])
assert np.array_equal(img.grad[0, 0] != 0, img.data[0, 0] == np.kron(mx.data[0, 0], np.ones((2, 2)))), (
    "max pooling routes the gradient to each window's maximum only"
)
img.zero_grad()
av.sum().backward()
assert np.allclose(img.grad, 0.25), "average pooling gives every input 1/4"

# %% [markdown]
# ## 3. LeNet-5
#
# LeCun et al. (1998): two convolution + pooling stages extract features, three fully
# connected layers classify them. minigrad's `layers.LeNet5` uses ReLU and max pooling, and
# pads the 28×28 MNIST digits by 2 so the first convolution sees 32×32, as in the original.
# A `Module` finds its parameters by looking at its attributes: no registration needed.

# %%
minigrad.seed(0)
model = layers.LeNet5()
print(model)
for name, p in model.named_parameters():
    print(f"  {name:22s} {str(p.shape):18s} {p.size:6d}")
print("total parameters:", model.num_parameters())
assert model.num_parameters() == 61_706, "LeNet-5 for 10 classes has 61,706 parameters"

h = Tensor(np.zeros((8, 1, 28, 28), dtype=np.float32))
print(f"\n{'input':10s} {h.shape}")
for layer in [*model.features, *model.classifier]:
    h = layer(h)
    print(f"{type(layer).__name__:10s} {h.shape}")
assert h.shape == (8, 10), "ten logits per image"

# %% [markdown]
# ## 4. Training on MNIST
#
# MNIST ships with the project (`datasets.mnist`, no download). Pixels are standardised with
# the training split's mean and standard deviation. The loss is the mean cross-entropy of the
# softmax of the logits $z$, $\ell = -\log\big(e^{z_y} / \sum_k e^{z_k}\big)$, and the
# optimizer is SGD with classical momentum, $v \leftarrow \mu v - \eta_k g$,
# $\theta \leftarrow \theta + v$ (tutorial 3 has the whole family), with $\mu = 0.9$ and the
# rate $\eta_k$ annealed from 0.03 to 0 by a cosine schedule: the project's default recipe.
#
# A training step is five lines: forward, loss, clear the old gradients, backward, update.
# (`experiments.training.train`, behind the `minigrad train` command, is this loop plus
# logging, evaluation and checkpoints.)

# %%
train_x, train_y = datasets.mnist("train")
test_x, test_y = datasets.mnist("test")
mean, std = float(train_x.mean(dtype=np.float64)), float(train_x.std(dtype=np.float64))
print(f"train {train_x.shape}, test {test_x.shape}; pixel mean {mean:.4f}, std {std:.4f}")

if _common.FAST:
    n_train, n_test, epochs, batch_size = 600, 500, 3, 50  # 36 steps
else:
    n_train, n_test, epochs, batch_size = len(train_y), len(test_y), 1, 64  # 938 steps
train_x, train_y = datasets.take((train_x - mean) / std, train_y, n_train)
test_x, test_y = datasets.take((test_x - mean) / std, test_y, n_test)

loader = datasets.DataLoader(train_x, train_y, batch_size=batch_size, shuffle=True, seed=0)
minigrad.seed(0)
model = layers.LeNet5()
optimizer = SGD(model.parameters(), lr=0.03, momentum=0.9, schedule=Cosine(total_steps=epochs * len(loader)))

losses = []
tic = time.perf_counter()
for _ in range(epochs):
    for xb, yb in loader:
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
train_seconds = time.perf_counter() - tic
print(f"{len(losses)} steps on {n_train} images in {train_seconds:.1f} s; "
      f"first loss {losses[0]:.3f}, last loss {losses[-1]:.3f}")

# %% [markdown]
# Evaluation runs without recording a graph (`minigrad.no_grad()`), in batches, and in eval
# mode (which would switch off dropout, had LeNet-5 any).

# %%
def predict(model, images, batch_size=1000):
    model.eval()
    with minigrad.no_grad():
        out = np.concatenate([model(Tensor(images[i : i + batch_size])).data.argmax(axis=1)
                              for i in range(0, len(images), batch_size)])
    model.train()
    return out


pred = predict(model, test_x)
accuracy = float((pred == test_y).mean())
print(f"test accuracy: {100 * accuracy:.2f} % on {n_test} test images")

window = max(len(losses) // 10, 5)
early, late = np.mean(losses[:window]), np.mean(losses[-window:])
assert late < 0.7 * early, f"the training loss fell: mean of the first {window} steps {early:.3f}, last {late:.3f}"
if _common.FAST:
    print("fast mode: the > 97 % accuracy check needs the full epoch and is skipped")
else:
    assert accuracy > 0.97, f"one epoch of LeNet-5 reaches > 97 % test accuracy (got {100 * accuracy:.2f} %)"

# %% [markdown]
# The learning curve (each step's minibatch loss, and a running mean over 20 steps) and a few
# test digits with the network's prediction (red where it is wrong). The bottom row shows the
# six learned 5×5 filters of the first convolution.

# %%
fig = plt.figure(figsize=(12, 5.5))
grid = fig.add_gridspec(3, 12)
ax = fig.add_subplot(grid[:, :5])
ax.plot(losses, lw=0.6, alpha=0.5, label="minibatch loss")
k = min(20, len(losses))
ax.plot(np.arange(k - 1, len(losses)), np.convolve(losses, np.ones(k) / k, mode="valid"), lw=2,
        label=f"running mean ({k} steps)")
ax.set(xlabel="step", ylabel="cross-entropy", yscale="log",
       title=f"LeNet-5 on MNIST: test accuracy {100 * accuracy:.1f} %")
ax.legend()
for i in range(12):
    a = fig.add_subplot(grid[i // 6, 6 + i % 6])
    a.imshow(test_x[i, 0], cmap="gray_r")
    a.set_title(f"pred {pred[i]}", color="black" if pred[i] == test_y[i] else "red", fontsize=10)
    a.axis("off")
filters = model.features[0].weight.data
for i in range(6):
    a = fig.add_subplot(grid[2, 6 + i])
    a.imshow(filters[i, 0], cmap="RdBu_r", vmin=-np.abs(filters).max(), vmax=np.abs(filters).max())
    a.set_title(f"conv1 filter {i}", fontsize=8)
    a.axis("off")
fig.tight_layout()
_common.savefig(fig, "02_lenet_training")

# %% [markdown]
# ## Summary
#
# * im2col turns a convolution into one matrix product at the cost of $k_h k_w$ copies of the
#   input; it equals the six-loop definition to rounding.
# * Max pooling passes gradient only to each window's maximum; average pooling spreads it.
# * LeNet-5 has 61,706 parameters; one epoch of SGD with momentum on the CPU takes it past
#   97 % test accuracy.
#
# Next: [03_classic_optimizers.py](03_classic_optimizers.py) looks at the update rule, the
# one line of this loop we have not opened: `optimizer.step()`.
