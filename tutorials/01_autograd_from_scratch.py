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
# # 1. Autograd from scratch
#
# Every optimizer in the later tutorials needs one thing from the framework: the gradient
# $\nabla_\theta L$ of a scalar loss with respect to every parameter. minigrad computes it by
# **reverse-mode automatic differentiation** (backpropagation). This tutorial takes the engine
# apart and shows, with numbers you can check:
#
# 1. what a `Tensor` holds, and how an expression records a **graph** of the ops that built it;
# 2. how `backward()` applies the chain rule to that graph, one op at a time;
# 3. why the engine must visit the graph in **reverse topological order**: on a "diamond", two
#    natural recursive schemes are either wrong or exponentially slow, and recursion breaks on
#    deep graphs;
# 4. how to write a new op, and how `minigrad.gradcheck` catches a wrong one by comparing with
#    **central finite differences in float64**;
# 5. a figure: a function, its autograd derivative and finite differences, and why float32
#    finite differences cannot check a gradient.
#
# Every claim is checked by an `assert` you can read.

# %%
import math

import _common  # puts the repository root on sys.path; FAST, OUT and savefig
import matplotlib.pyplot as plt
import numpy as np

import minigrad
from minigrad import Function, GradcheckError, Tensor, gradcheck
from minigrad import functional as F
from minigrad.autograd import topological_order

print("fast mode:", _common.FAST, "| figures go to", _common.OUT)

# %% [markdown]
# ## 1. A Tensor and its graph
#
# A `Tensor` wraps an array (`.data`). If it `requires_grad`, backward will fill its `.grad`.
# A tensor made by an op also remembers that op (`._ctx`), and the op remembers its inputs:
# that chain of links *is* the graph. Tensors you create yourself are **leaves** (no op).
#
# Take two scalars and the loss
#
# $$L = d^2, \qquad d = c + e, \qquad c = a\,b, \qquad e = \exp(b).$$
#
# By hand, $\partial L/\partial a = 2d\,b$ and $\partial L/\partial b = 2d\,(a + e^{b})$.
# We use float64 throughout this tutorial so that comparisons can be tight.

# %%
a = Tensor(2.0, requires_grad=True, dtype=np.float64)
b = Tensor(-1.0, requires_grad=True, dtype=np.float64)
c = a * b
e = b.exp()
d = c + e
L = d * d

names = {id(a): "a", id(b): "b", id(c): "c", id(e): "e", id(d): "d", id(L): "L"}
print("a is a leaf:", a.is_leaf, "| L is a leaf:", L.is_leaf, "| L was made by", type(L._ctx).__name__)
print(f"{'node':>4}  {'op':>5}  {'inputs':>8}  value")
for node in topological_order(L):
    op = "leaf" if node.is_leaf else type(node._ctx).__name__
    inputs = "" if node.is_leaf else ", ".join(names[id(t)] for t in node._ctx.inputs)
    print(f"{names[id(node)]:>4}  {op:>5}  {inputs:>8}  {node.item():+.6f}")

# %% [markdown]
# `topological_order(L)` lists every node that `L` depends on, each **after all of its inputs**.
# Backward walks that list from the end: when it reaches a node, every node that *consumes*
# it has already been processed, so the node's gradient is complete.
#
# Each op is a small class with two methods. `forward` computes on raw arrays and saves what
# it needs; `backward` receives $\bar y = \partial L/\partial y$ for its output and returns
# $\bar x_i = \bar y\,\partial y/\partial x_i$ for each input. For `Mul`, $y = a b$ gives
# $(\bar y\, b,\ \bar y\, a)$. The engine adds the contributions that reach a node from
# several consumers (here `b` feeds both `c` and `e`).

# %%
L.backward()
d_val, a_val, b_val = d.item(), a.item(), b.item()
print("autograd:", a.grad, b.grad)
print("by hand: ", 2 * d_val * b_val, 2 * d_val * (a_val + math.exp(b_val)))
assert np.isclose(a.grad, 2 * d_val * b_val, rtol=1e-14), "dL/da should be 2 d b"
assert np.isclose(b.grad, 2 * d_val * (a_val + math.exp(b_val)), rtol=1e-14), "dL/db should be 2 d (a + e^b)"

# %% [markdown]
# Gradients **accumulate** across backward calls, as in PyTorch: a second `backward()` on a
# freshly built graph adds to `.grad`. That is why a training loop clears them each step
# (`optimizer.zero_grad()`).

# %%
first = a.grad.copy()
((a * b + b.exp()) ** 2).backward()  # the same L, built again
assert np.isclose(a.grad, 2 * first), "a second backward adds its gradient to the first"
a.zero_grad()
b.zero_grad()
assert a.grad is None and b.grad is None

# %% [markdown]
# ## 2. Why a topological order? The diamond
#
# Take a node that is used twice. In
#
# $$y = x^2, \qquad u = 3y, \qquad v = \exp(y), \qquad w = u + v$$
#
# the gradient reaches $y$ along two paths, and
# $\dfrac{\partial w}{\partial x} = \dfrac{\partial w}{\partial y}\,2x = (3 + e^{y})\,2x$.
# Backward must run $y$'s own backward **once, after both shares have arrived**. Two natural
# recursive schemes get this wrong:
#
# * **recurse once per node** (a `visited` set, as in a graph search): $y$ is processed as
#   soon as the first share arrives, and the second share never reaches $x$: *wrong answer*;
# * **recurse once per path** (no `visited` set): every path is walked separately. The answer
#   is right (the chain rule sums over paths), but the number of paths grows exponentially
#   with depth.
#
# Here are both, written directly against minigrad's graph (each op's `backward`).

# %%
def diamond(x: Tensor) -> Tensor:
    """One diamond: x -> y = x^2 -> (3y, exp(y)) -> sum."""
    y = x * x
    return 3 * y + y.exp()


def op_grads(node: Tensor, g):
    """The gradients that node's op sends to each of its inputs (as the engine would)."""
    out = node._ctx.backward(g)
    return out if isinstance(out, tuple) else (out,)


def backward_visit_once(root: Tensor) -> dict:
    """Recursive backward with a visited set: each node's backward runs at its first share."""
    grads, visited = {}, set()

    def visit(node, g):
        grads[id(node)] = grads.get(id(node), 0.0) + g
        if id(node) in visited or node.is_leaf:
            return
        visited.add(id(node))
        for parent, pg in zip(node._ctx.inputs, op_grads(node, grads[id(node)])):
            if parent.requires_grad:
                visit(parent, pg)

    visit(root, np.ones_like(root.data))
    return grads


def backward_every_path(root: Tensor) -> tuple[dict, int]:
    """Recursive backward without a visited set: one recursion per path. Also counts the visits."""
    grads, visits = {}, [0]

    def visit(node, g):
        visits[0] += 1
        grads[id(node)] = grads.get(id(node), 0.0) + g
        if not node.is_leaf:
            for parent, pg in zip(node._ctx.inputs, op_grads(node, g)):
                if parent.requires_grad:
                    visit(parent, pg)

    visit(root, np.ones_like(root.data))
    return grads, visits[0]


x = Tensor(0.5, requires_grad=True, dtype=np.float64)
w = diamond(x)
exact = (3 + math.exp(0.25)) * 2 * 0.5
once = backward_visit_once(w)[id(x)]
paths, _ = backward_every_path(w)
w.backward()
print(f"exact {exact:.6f} | visit once {float(once):.6f} | every path {float(paths[id(x)]):.6f} | "
      f"minigrad {x.grad:.6f}")
assert not np.isclose(once, exact), "visiting y at its first share loses the other path's share"
assert np.isclose(paths[id(x)], exact, rtol=1e-14), "walking every path is correct..."
assert np.isclose(x.grad, exact, rtol=1e-14), "minigrad's topological backward is correct"

# %% [markdown]
# ...but walking every path is exponential. Stack $k$ diamonds,
# $x_{i+1} = \mathrm{diamond}(x_i)$. Inside one diamond there are four paths from $w$ to $x$
# (two through $y$, and $y = x \cdot x$ uses $x$ twice), so $4^k$ paths in all, while the
# graph has only $5k + 1$ nodes that need a gradient: $x_0$, then per diamond $y$, $3y$,
# $e^y$, their sum, and a scaling by 0.1 that keeps the values small.

# %%
def chain(x: Tensor, k: int) -> Tensor:
    for _ in range(k):
        x = diamond(x) * 0.1
    return x


rows = []
for k in (1, 2, 4, 6, 8):
    x = Tensor(0.01, requires_grad=True, dtype=np.float64)
    out = chain(x, k)
    grads, visits = backward_every_path(out)
    nodes = len(topological_order(out))
    out.backward()
    assert np.isclose(grads[id(x)], x.grad, rtol=1e-12), "both give the same gradient"
    rows.append((k, nodes, visits))
    print(f"k = {k:2d} diamonds: {nodes:3d} nodes in the topological order, {visits:6d} visits walking every path")
assert rows[-1][2] > 4 ** rows[-1][0], "walking every path visits more than 4^k nodes"
assert rows[-1][1] < 100, "the topological order holds each node once"

# %% [markdown]
# ### The topological order, computed without recursion
#
# minigrad finds the order with an **iterative depth-first search**: a stack of
# `(node, expanded)` pairs. A node is pushed once to be expanded (its inputs pushed after
# it) and once more, marked expanded, to be emitted after all of its inputs. The `visited` set
# is back, and harmless: it only finds the order, and no gradient flows until the order is
# complete. Here is the whole algorithm, checked against the library's `topological_order` on
# the diamond:

# %%
def topo(root: Tensor) -> list[Tensor]:
    order, visited, stack = [], set(), [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)  # all of node's inputs are already in `order`
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        if not node.is_leaf:
            stack.extend((p, False) for p in node._ctx.inputs if p.requires_grad and id(p) not in visited)
    return order


x = Tensor(0.5, requires_grad=True, dtype=np.float64)
y = x * x
u = 3 * y
v = y.exp()
w = u + v
label = {id(x): "x", id(y): "y", id(u): "u", id(v): "v", id(w): "w"}
order = topo(w)
print("topological order:", " -> ".join(label[id(n)] for n in order))
print("backward visits:  ", " -> ".join(label[id(n)] for n in reversed(order)))
assert [id(n) for n in order] == [id(n) for n in topological_order(w)], "same order as the library's"
position = {id(n): i for i, n in enumerate(order)}
assert position[id(y)] < min(position[id(u)], position[id(v)]), "y comes before both of its consumers"

# %% [markdown]
# No recursion means no recursion limit: a chain of 10,000 ops backpropagates fine, where
# the recursive version runs out of Python's stack (about 1,000 frames).

# %%
x = Tensor(1.0, requires_grad=True, dtype=np.float64)
y = x
for _ in range(10_000):
    y = y * 1.0001
y.backward()
assert np.isclose(x.grad, 1.0001**10_000), "d/dx of x * 1.0001^10000"
try:
    backward_every_path(y)
    recursed = True
except RecursionError:
    recursed = False
assert not recursed, "the recursive backward hits Python's recursion limit"
print(f"10,000-op chain: dy/dx = {x.grad:.6f} (= 1.0001^10000); the recursive version raised RecursionError")

# %% [markdown]
# ## 3. Writing an op, and checking it with `gradcheck`
#
# A new op is a subclass of `minigrad.Function`. Here is $y = x^2$, whose backward is
# $\bar x = 2x\,\bar y$. The engine, not the op, handles broadcasting and accumulation.

# %%
class Square(Function):
    def forward(self, x):
        self.x = x  # saved for backward
        return x * x

    def backward(self, g):
        return 2 * self.x * g


class BrokenSquare(Square):
    def backward(self, g):
        return 3 * self.x * g  # a typical slip: the wrong constant


t = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
Square.apply(t).sum().backward()
print("d/dx sum(x^2) at", t.data, "=", t.grad)
assert np.array_equal(t.grad, 2 * t.data)

# %% [markdown]
# How do we know a backward is right without deriving it by hand? Compare it with **central
# finite differences**. For the scalar $\ell(x) = \langle f(x), \bar g\rangle$ (a random
# upstream gradient $\bar g$) and a random direction $d$,
#
# $$\frac{\ell(x + \varepsilon d) - \ell(x - \varepsilon d)}{2\varepsilon}
#   = \nabla\ell(x)\cdot d + O(\varepsilon^2),$$
#
# while backprop gives $\nabla\ell(x)\cdot d$ exactly. `minigrad.gradcheck` does this one
# cheap directional check, and for small tensors compares the whole Jacobian entry by entry.
# It insists on **float64** inputs (section 4 shows why). It returns `True` or raises a
# `GradcheckError` showing both derivatives.

# %%
rng = np.random.default_rng(0)


def leaf(*shape):
    return Tensor(rng.standard_normal(shape), requires_grad=True)  # float64 arrays stay float64


checks = {
    "Square (ours)": (lambda x: Square.apply(x), [leaf(3, 4)]),
    "broadcast multiply + sum": (lambda A, v: (A * v).sum(axis=0), [leaf(3, 4), leaf(4)]),
    "matmul": (lambda A, B: A @ B, [leaf(3, 4), leaf(4, 2)]),
    "log_softmax": (lambda z: F.log_softmax(z, axis=1), [leaf(2, 5)]),
    "conv2d (3x3, padding 1)": (
        lambda x, k, b0: F.conv2d(x, k, b0, padding=1),
        [leaf(2, 3, 5, 5), leaf(4, 3, 3, 3), leaf(4)],
    ),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2), [leaf(2, 3, 4, 4)]),
}
for name, (f, inputs) in checks.items():
    assert gradcheck(f, inputs), name
    print(f"gradcheck passed: {name}")

try:
    gradcheck(lambda x: BrokenSquare.apply(x), [leaf(3)])
    caught = False
except GradcheckError as err:
    caught = True
    print("BrokenSquare rejected:", str(err).splitlines()[0])
assert caught, "gradcheck must reject a backward that is off by a factor 3/2"

# %% [markdown]
# ## 4. A picture: a derivative three ways, and why float64
#
# Take the "swish" $f(x) = x\,\sigma(x)$, with $f'(x) = \sigma(x)\,(1 + x\,(1 - \sigma(x)))$.
# Autograd evaluates $f'$ on a whole grid in one backward (the sum's gradient is 1 for every
# element, so `x.grad` holds $f'$ at each point).
#
# The right panel shows the error of the central difference at $x = 1$ as $\varepsilon$
# shrinks. Two errors compete: truncation, $\propto \varepsilon^2$, and rounding,
# $\approx u\,|f|/\varepsilon$ with $u$ the unit roundoff ($6\cdot 10^{-8}$ in float32,
# $1.1\cdot 10^{-16}$ in float64). The best achievable error is of order $u^{2/3}$: about
# $10^{-6}$ in float32, too coarse to tell a right gradient from one that is slightly wrong,
# against $10^{-11}$ or better in float64.

# %%
def swish(x: Tensor) -> Tensor:
    return x * x.sigmoid()


def swish_prime(x: np.ndarray) -> np.ndarray:
    s = 1 / (1 + np.exp(-x))
    return s * (1 + x * (1 - s))


grid = np.linspace(-6, 4, 101)
xs = Tensor(grid, requires_grad=True)
ys = swish(xs)
ys.sum().backward()
assert np.allclose(xs.grad, swish_prime(grid), rtol=1e-12, atol=1e-14), "autograd equals the analytic f'"

coarse = grid[::8]
h = 0.05
fd = (swish(Tensor(coarse + h)).data - swish(Tensor(coarse - h)).data) / (2 * h)


def central_error(eps: float, dtype) -> float:
    x0 = np.asarray(1.0, dtype=dtype)
    e = np.asarray(eps, dtype=dtype)
    with minigrad.no_grad():
        # dtype= keeps it: a NumPy scalar (not an array) would otherwise become float32.
        plus = swish(Tensor(x0 + e, dtype=dtype)).data
        minus = swish(Tensor(x0 - e, dtype=dtype)).data
    estimate = (np.float64(plus) - np.float64(minus)) / (2 * np.float64(eps))
    return abs(estimate - swish_prime(1.0))


epsilons = np.logspace(-12, -1, 45)
err64 = np.array([central_error(s, np.float64) for s in epsilons])
err32 = np.array([central_error(s, np.float32) for s in epsilons])
err32 = np.maximum(err32, 1e-17)  # exact hits would be log(0) on the plot

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4))
ax0.plot(grid, ys.data, label=r"$f(x) = x\,\sigma(x)$")
ax0.plot(grid, xs.grad, label=r"$f'(x)$ by autograd")
ax0.plot(coarse, fd, "o", mfc="none", label=rf"central difference, $\varepsilon = {h}$")
ax0.set(xlabel="x", title="a function and its derivative")
ax0.legend()
ax1.loglog(epsilons, err64, "o-", ms=3, label="float64")
ax1.loglog(epsilons, err32, "s-", ms=3, label="float32")
ax1.set(xlabel=r"step $\varepsilon$", ylabel="|central difference - f'(1)|",
        title="finite-difference error at x = 1")
ax1.legend()
fig.tight_layout()
_common.savefig(fig, "01_derivative_and_finite_differences")

print(f"best float64 error {err64.min():.1e} at eps = {epsilons[err64.argmin()]:.0e}")
print(f"best float32 error {err32.min():.1e} at eps = {epsilons[err32.argmin()]:.0e}")
assert err64.min() < 1e-9, "float64 central differences reach ~1e-10 or better"
assert err32.min() > 1e-7, "float32 central differences never get below ~1e-6"
assert np.abs(fd - swish_prime(coarse)).max() < 1e-3, "a coarse central difference is already close"

# %% [markdown]
# ## Summary
#
# * A `Tensor` records the op that made it; the ops record their inputs: that is the graph.
# * `backward()` visits the graph in reverse topological order, so each op's backward runs
#   once, with its complete incoming gradient. Recursion is either wrong (visit once) or
#   exponential (every path), and cannot go deep.
# * An op is `forward` + `backward` on arrays; `gradcheck` compares it with central
#   differences in float64, where they are accurate to ~10 digits.
#
# Next: [02_layers_and_lenet.py](02_layers_and_lenet.py) builds convolution, pooling and
# LeNet-5 out of such ops, and trains it on MNIST.
