"""The gallery: a figure per operator of the table, its curves computed by numact when the site
is built, PyTorch's overlaid and the largest difference from it measured.

- an activation: f(x) and f'(x) (its backward with grad_output 1) over a range that shows its
  shape, once per parameter set of the table (the defaults, then the examples);
- a row function: a row before and after, and the gradient of the result's first element;
- a loss: the unreduced loss and its gradient against the prediction, for a few targets, with
  the defaults (solid) and the examples (dashed).

Every curve is numact's float64 result; torch's float64 result on the same arrays is drawn as a
thin black dotted line, and the largest |numact − torch| over the figure is in its title.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import numact  # noqa: E402
from numact.bench import torch_baselines  # noqa: E402
from numact.operators import ACTIVATIONS, LOSSES, param_cases  # noqa: E402

POINTS = 801
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


@dataclass
class Figure:
    """One operator's picture (PNG bytes) and the largest difference from torch it shows."""

    name: str
    png: bytes
    max_difference: float
    caption: str


def _x_range(name: str, params: dict) -> tuple[float, float]:
    """A range that shows the operator's shape: its kinks, its saturation, its negative side."""
    if name == "sine":
        period = 2 * math.pi / params["w0"]
        return -1.25 * period, 1.25 * period
    return {"relu6": (-3.0, 8.0), "hardsigmoid": (-5.0, 5.0), "softplus": (-6.0, 6.0),
            "threshold": (-3.0, 3.0), "hardtanh": (-3.0, 3.0)}.get(name, (-4.0, 4.0))


def _label(params: dict) -> str:
    return ", ".join(f"{k}={v.tolist()[0] if isinstance(v, np.ndarray) else v!r}" for k, v in params.items()) \
        or "no parameters"


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def _torch_activation(op, x: np.ndarray, params: dict):
    """torch's forward and derivative (autograd, grad_output 1) of the table's reference: the
    benchmarks' PyTorch baseline."""
    forward, backward = torch_baselines.activation(op, x, np.ones_like(x), params)
    return forward().numpy(), backward()[0].numpy()


def _difference(ours: np.ndarray, theirs: np.ndarray) -> float:
    both = np.isfinite(ours) & np.isfinite(theirs)
    return float(np.max(np.abs(ours[both] - theirs[both]), initial=0.0))


def _activation_cases(op) -> list[dict]:
    """The table's parameter sets; PReLU's weight, an array, at two values."""
    if op.kind == "channelwise":
        return [{"weight": np.array([0.25])}, {"weight": np.array([-0.5])}]
    return param_cases(op)


def activation_figure(op) -> Figure:
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained")
    worst = 0.0
    for colour, params in zip(COLOURS, _activation_cases(op)):
        x = np.linspace(*_x_range(op.name, params), POINTS)
        # PReLU: x as one channel of a batch of one (the weight's axis 1)
        xs = x[None, :] if op.kind == "channelwise" else x
        y = getattr(numact, op.name)(xs, **params).ravel()
        dy = getattr(numact, f"{op.name}_backward")(np.ones_like(xs), xs, **params)
        dy = (dy[0] if op.kind == "channelwise" else dy).ravel()
        ty, tdy = (a.ravel() for a in _torch_activation(op, xs, params))
        label = _label(params)
        worst = max(worst, _difference(y, ty), _difference(dy, tdy))
        left.plot(x, y, color=colour, lw=2, label=label)
        right.plot(x, dy, color=colour, lw=2, label=label)
        left.plot(x, ty, "k:", lw=1)
        right.plot(x, tdy, "k:", lw=1)
    left.set_title(f"numact.{op.name}(x)")
    right.set_title(f"numact.{op.name}_backward(1, x)")
    for ax in (left, right):
        ax.axhline(0, color="0.8", lw=0.8, zorder=0)
        ax.axvline(0, color="0.8", lw=0.8, zorder=0)
        ax.set_xlabel("x")
        ax.grid(alpha=0.3)
    left.legend(fontsize=8)
    fig.suptitle(f"{op.name}: {op.formula}   (torch dotted; max |numact − torch| = {worst:.1e})", fontsize=9)
    return Figure(op.name, _png(fig), worst, f"f(x) and f′(x) = {op.derivative}")


ROW = np.array([2.0, 1.0, 0.1, -1.0, 3.0, 0.5, -2.0, 1.5])


def row_figure(op) -> Figure:
    """A row before and after, and the gradient of the result's first element (grad_output e₀)."""
    y = getattr(numact, op.name)(ROW)
    g = np.zeros_like(ROW)
    g[0] = 1.0
    dx = getattr(numact, f"{op.name}_backward")(g, ROW)
    forward, backward = torch_baselines.activation(op, ROW, g, {})
    ty, tdx = forward().numpy(), backward()[0].numpy()
    worst = max(_difference(y, ty), _difference(dx, tdx))
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.0), layout="constrained")
    i = np.arange(ROW.size)
    for ax, values, theirs, title in zip(
        axes, (ROW, y, dx), (ROW, ty, tdx),
        ("a row x", f"numact.{op.name}(x)", f"numact.{op.name}_backward(e₀, x)"),
    ):
        ax.bar(i, values, color=COLOURS[0])
        ax.plot(i, theirs, "k.", ms=6)
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("index along axis")
    fig.suptitle(f"{op.name}: {op.formula}   (torch dots; max |numact − torch| = {worst:.1e})", fontsize=9)
    return Figure(op.name, _png(fig), worst, f"a row, the result, and the gradient of its first element: {op.derivative}")


# --- losses: the arrays for a prediction x and a target t ------------------------------------
# Each returns (arrays in the loss's positional order, the index of the array that is the
# prediction, how its gradient projects onto x) for the 1-D grid x.

def _pair(x, t):
    return (x, np.full_like(x, t)), 0, lambda grads: grads[0]


def _classes(x, t):
    """Three classes: logits (log-probabilities for nll_loss) [x, 0, -1], target class t."""
    logits = np.stack([x, np.zeros_like(x), np.full_like(x, -1.0)], axis=1)
    return (logits, np.full(x.size, int(t))), 0, lambda grads: grads[0][:, 0]


def _kl(x, t):
    return (x, np.full_like(x, t)), 0, lambda grads: grads[0]


def _ranking(x, t):
    return (x, np.zeros_like(x), np.full_like(x, t)), 0, lambda grads: grads[0]


def _triplet(x, t):
    """anchor at the origin, positive at (x, 0), negative at (t, 0.5): vary the positive."""
    anchor = np.zeros((x.size, 2))
    positive = np.stack([x, np.zeros_like(x)], axis=1)
    negative = np.tile([t, 0.5], (x.size, 1))
    return (anchor, positive, negative), 1, lambda grads: grads[1][:, 0]


def _cosine(x, t):
    """input1 at angle x, input2 along the first axis: d/dx through (−sin x, cos x)."""
    input1 = np.stack([np.cos(x), np.sin(x)], axis=1)
    input2 = np.tile([1.0, 0.0], (x.size, 1))
    return (input1, input2, np.full(x.size, t)), 0, lambda grads: grads[0][:, 0] * -np.sin(x) + grads[0][:, 1] * np.cos(x)


# name: (x range, x label, targets, arrays)
LOSS_PLOTS = {
    "mse_loss": ((-3, 3), "input x", (0.0, 1.0), _pair),
    "l1_loss": ((-3, 3), "input x", (0.0, 1.0), _pair),
    "smooth_l1_loss": ((-3, 3), "input x", (0.0, 1.0), _pair),
    "huber_loss": ((-4, 4), "input x", (0.0, 1.0), _pair),
    "nll_loss": ((-4, 0), "log-probability x of class 0", (0, 1), _classes),
    "cross_entropy": ((-4, 4), "logit x of class 0 (others 0, −1)", (0, 1), _classes),
    "binary_cross_entropy": ((0.02, 0.98), "probability x", (0.0, 0.3, 1.0), _pair),
    "binary_cross_entropy_with_logits": ((-6, 6), "logit x", (0.0, 0.5, 1.0), _pair),
    "kl_div": ((-4, 0), "log-probability x", (0.1, 0.5, 0.9), _kl),
    "margin_ranking_loss": ((-3, 3), "input1 x (input2 = 0)", (1.0, -1.0), _ranking),
    "triplet_margin_loss": ((-3, 3), "positive at (x, 0); anchor 0, negative (t, 0.5)", (1.0, 2.0), _triplet),
    "cosine_embedding_loss": ((-math.pi, math.pi), "angle x between input1 and input2", (1.0, -1.0), _cosine),
}


def _loss_cases(op) -> list[dict]:
    """The table's parameter sets, without ignore_index (which would only blank a target)."""
    return [{k: v for k, v in params.items() if k != "ignore_index"} for params in param_cases(op)]


def _torch_loss(op, arrays, params):
    """torch's unreduced loss, and the gradients of its sum (each element's, grad_output 1):
    the benchmarks' PyTorch baseline."""
    loss = torch_baselines.loss(op, arrays, params | {"reduction": "none"})[0]()
    grads = torch_baselines.loss(op, arrays, params | {"reduction": "sum"})[1]()
    return loss.numpy(), [g.numpy() for g in grads]


def loss_figure(op) -> Figure:
    (low, high), xlabel, targets, make = LOSS_PLOTS[op.name]
    x = np.linspace(low, high, POINTS)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained")
    worst = 0.0
    for style, params in zip(("-", "--"), _loss_cases(op)):
        for colour, t in zip(COLOURS, targets):
            arrays, _, project = make(x, t)
            loss = numact.__dict__[op.name](*arrays, **params, reduction="none")
            grads = numact.__dict__[f"{op.name}_backward"](np.ones_like(loss), *arrays, **params, reduction="none")
            grads = grads if isinstance(grads, tuple) else (grads,)
            tloss, tgrads = _torch_loss(op, arrays, params)
            worst = max(worst, _difference(loss, tloss), *(_difference(a, b) for a, b in zip(grads, tgrads)))
            label = f"target {t:g}" + (f"; {_label(params)}" if params and style == "--" else "")
            left.plot(x, loss, style, color=colour, lw=2, label=label)
            right.plot(x, project(grads), style, color=colour, lw=2, label=label)
            left.plot(x, tloss, "k:", lw=1)
            right.plot(x, project(tgrads), "k:", lw=1)
    left.set_title(f"numact.{op.name}(…, reduction='none')", fontsize=9)
    right.set_title(f"its gradient along x (numact.{op.name}_backward)", fontsize=9)
    for ax in (left, right):
        ax.axhline(0, color="0.8", lw=0.8, zorder=0)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.grid(alpha=0.3)
    left.legend(fontsize=7)
    fig.suptitle(f"{op.name}: {op.formula}   (torch dotted; max |numact − torch| = {worst:.1e})", fontsize=8)
    return Figure(op.name, _png(fig), worst, f"the loss and its gradient against the prediction: {op.derivative}")


def figures() -> dict[str, Figure]:
    """Every operator's figure, by name, in the table's order."""
    result = {}
    for op in ACTIVATIONS:
        result[op.name] = row_figure(op) if op.kind == "rowwise" else activation_figure(op)
    for op in LOSSES:
        result[op.name] = loss_figure(op)
    return result
