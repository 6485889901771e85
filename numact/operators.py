"""The table of operators: one entry per operator drives the public API, the tests and the
benchmarks.

An entry names the scalar (or row) math of ``numact.activations``, the parameters with their
PyTorch names and defaults, how the operator is launched (``kind``) and the PyTorch expression
it must agree with (``reference``, evaluated by the tests with ``torch``, ``F`` and the
parameters in scope).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import activations as a
from . import losses as l

REQUIRED = object()

# The bound every operator's forward and gradients are held to, as (relative, absolute) error
# from PyTorch's float64 result: float32 within 1e-5 relative or 1e-6 absolute, float64 within
# 1e-10 relative or 1e-14 absolute. Where torch's own result in that dtype misses the bound,
# numact's may be up to 4× torch's error (tests/support.py, assert_close).
ACCURACY = {np.float32: (1e-5, 1e-6), np.float64: (1e-10, 1e-14)}


@dataclass(frozen=True)
class Param:
    """A keyword parameter: its PyTorch name, default, and the kernel value it turns into.

    ``to_kernel(op_name, name, value)`` checks the user's value and returns the number the kernel
    receives; it raises ``TypeError``/``ValueError`` naming the operator and the parameter.
    """

    name: str
    default: Any = REQUIRED
    to_kernel: Callable[[str, str, Any], float] | None = None
    example: Any = None  # another valid value: the tests and benchmarks use it beside the default

    def kernel_value(self, op_name: str, value: Any) -> float:
        if self.to_kernel is not None:
            return self.to_kernel(op_name, self.name, value)
        return real_number(op_name, self.name, value)


def real_number(op_name: str, name: str, value: Any) -> float:
    """A Python or NumPy real number (bool is not one), as a float."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"numact.{op_name}: {name} must be a real number, got {value!r}")
    return float(value)


def nonzero(op_name: str, name: str, value: Any) -> float:
    number = real_number(op_name, name, value)
    if number == 0:
        raise ValueError(f"numact.{op_name}: {name} must be nonzero, got {value!r}")
    return number


def integer(op_name: str, name: str, value: Any) -> int:
    """A Python or NumPy integer (bool is not one)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"numact.{op_name}: {name} must be an integer, got {value!r}")
    return int(value)


def boolean(op_name: str, name: str, value: Any) -> float:
    """True or False, as 1.0 or 0.0."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"numact.{op_name}: {name} must be True or False, got {value!r}")
    return float(value)


def within(low: float, high: float, low_open: bool = False, high_open: bool = False) -> Callable[[str, str, Any], float]:
    """A real number between low and high, each end included unless it is open."""

    def to_kernel(op_name: str, name: str, value: Any) -> float:
        number = real_number(op_name, name, value)
        above = low < number if low_open else low <= number
        below = number < high if high_open else number <= high
        if not (above and below):
            bounds = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
            raise ValueError(f"numact.{op_name}: {name} must be in {bounds}, got {value!r}")
        return number

    return to_kernel


def above(low: float) -> Callable[[str, str, Any], float]:
    """A real number greater than ``low``, refused as PyTorch refuses it (``value <= low``: a NaN
    passes, and gives what the formula gives)."""

    def to_kernel(op_name: str, name: str, value: Any) -> float:
        number = real_number(op_name, name, value)
        if number <= low:
            raise ValueError(f"numact.{op_name}: {name} must be greater than {low}, got {value!r}")
        return number

    return to_kernel


def choice(**values: float) -> Callable[[str, str, Any], float]:
    """A parameter that takes one of a few strings, each meaning one kernel value."""

    def to_kernel(op_name: str, name: str, value: Any) -> float:
        if not isinstance(value, str) or value not in values:
            allowed = " or ".join(repr(v) for v in values)
            raise ValueError(f"numact.{op_name}: {name} must be {allowed}, got {value!r}")
        return values[value]

    to_kernel.values = tuple(values.values())  # the kernel values it can give (numact.ufuncs)
    return to_kernel


@dataclass(frozen=True)
class Activation:
    """One activation of the catalogue.

    kind: ``"elementwise"`` (forward ``f(x, *params)``, backward ``f(g, x, *params)``),
    ``"rowwise"`` (row functions along ``axis``), or ``"channelwise"`` (PReLU: a weight per
    channel on axis 1, with a reduction for the weight's gradient).
    fixed: kernel arguments that follow the user's parameters (relu is threshold at 0 → 0).
    kinks: the points where the derivative jumps, given the parameters (finite differences
    stay away from them).
    conflict: what is wrong with the parameters together, given their checked values (None
    where nothing is), for the relations PyTorch refuses (hardtanh's min_val > max_val).
    """

    name: str
    summary: str
    forward: Any
    backward: Any
    reference: str
    formula: str
    derivative: str
    params: tuple[Param, ...] = ()
    fixed: tuple[float, ...] = ()
    kind: str = "elementwise"
    kinks: Callable[..., list[float]] = field(default=lambda **params: [])
    weight_backward: Any = None
    conflict: Callable[..., str | None] = field(default=lambda *values: None)


ACTIVATIONS: tuple[Activation, ...] = (
    Activation(
        "linear", "Scales by a constant.", a.linear, a.linear_backward, "c * x",
        "c·x", "c", params=(Param("c", 1.0, example=-2.5),),
    ),
    Activation(
        "sigmoid", "The logistic function.", a.sigmoid, a.sigmoid_backward, "torch.sigmoid(x)",
        "1/(1 + e^−x)", "y(1 − y), computed as σ(x)σ(−x) to keep relative precision",
    ),
    Activation(
        "tanh", "The hyperbolic tangent.", a.tanh_, a.tanh_backward, "torch.tanh(x)",
        "(e^x − e^−x)/(e^x + e^−x)", "1 − y², computed as sech²x = 4e^−2|x|/(1 + e^−2|x|)²",
    ),
    Activation(
        "relu", "The rectifier.", a.threshold, a.threshold_backward, "F.relu(x)",
        "max(0, x)", "1 if x > 0 else 0 (0 at x = 0)", fixed=(0.0, 0.0),
        kinks=lambda: [0.0],
    ),
    Activation(
        "leaky_relu", "The rectifier with a small slope for negative inputs.",
        a.leaky_relu, a.leaky_relu_backward, "F.leaky_relu(x, negative_slope)",
        "x if x ≥ 0 else negative_slope·x", "1 if x > 0 else negative_slope",
        params=(Param("negative_slope", 0.01, example=0.2),), kinks=lambda negative_slope: [0.0],
    ),
    Activation(
        "prelu", "The rectifier with a learned slope, one value or one per channel (axis 1).",
        a.leaky_relu, a.leaky_relu_backward, "F.prelu(x, weight)",
        "x if x ≥ 0 else weight·x",
        "x: 1 if x > 0 else weight; weight: Σ x·g over x ≤ 0, reduced to weight's shape",
        kind="channelwise", kinks=lambda: [0.0], weight_backward=a.prelu_weight_backward,
    ),
    Activation(
        "softplus", "A smooth rectifier.", a.softplus, a.softplus_backward,
        "F.softplus(x, beta, threshold)",
        "log(1 + e^(βx))/β, and x where βx > threshold", "σ(βx), and 1 where βx > threshold",
        params=(Param("beta", 1.0, example=2.0), Param("threshold", 20.0, example=5.0)),
        kinks=lambda beta, threshold: [threshold / beta],
    ),
    Activation(
        "elu", "The exponential linear unit.", a.elu, a.elu_backward, "F.elu(x, alpha)",
        "x if x > 0 else α(e^x − 1)", "1 if x > 0 else α·e^x",
        params=(Param("alpha", 1.0, example=0.5),), kinks=lambda alpha: [0.0],
    ),
    Activation(
        "celu", "The continuously differentiable ELU.", a.celu, a.celu_backward,
        "F.celu(x, alpha)",
        "max(0, x) + min(0, α(e^(x/α) − 1))", "1 if x > 0 else e^(x/α)",
        params=(Param("alpha", 1.0, nonzero, example=2.0),), kinks=lambda alpha: [0.0],
    ),
    Activation(
        "selu", "The self-normalising ELU.", a.selu, a.selu_backward, "F.selu(x)",
        "scale·(max(0, x) + min(0, α(e^x − 1))), α = 1.67326…, scale = 1.05070…",
        "scale if x > 0 else scale·α·e^x",
        kinks=lambda: [0.0],
    ),
    Activation(
        "gelu", "The Gaussian error linear unit.", a.gelu, a.gelu_backward,
        "F.gelu(x, approximate=approximate)",
        "x·Φ(x); with approximate='tanh', x(1 + tanh(√(2/π)(x + 0.044715x³)))/2",
        "Φ(x) + x·φ(x), or the tanh form's derivative",
        params=(Param("approximate", "none", choice(none=0.0, tanh=1.0), example="tanh"),),
    ),
    Activation(
        "relu6", "The rectifier capped at 6.", a.hardtanh, a.hardtanh_backward, "F.relu6(x)",
        "min(max(0, x), 6)", "1 if 0 < x < 6 else 0", fixed=(0.0, 6.0),
        kinks=lambda: [0.0, 6.0],
    ),
    Activation(
        "hardtanh", "Clips to [min_val, max_val].", a.hardtanh, a.hardtanh_backward,
        "F.hardtanh(x, min_val, max_val)",
        "min(max(x, min_val), max_val)", "1 if min_val < x < max_val else 0",
        params=(Param("min_val", -1.0, example=-2.0), Param("max_val", 1.0, example=0.5)),
        kinks=lambda min_val, max_val: [min_val, max_val],
        conflict=lambda min_val, max_val: (f"min_val cannot be greater than max_val, got {min_val} > {max_val}"
                                           if min_val > max_val else None),
    ),
    Activation(
        "hardsigmoid", "A piecewise-linear sigmoid.", a.hardsigmoid, a.hardsigmoid_backward,
        "F.hardsigmoid(x)", "relu6(x + 3)/6", "1/6 if −3 < x < 3 else 0",
        kinks=lambda: [-3.0, 3.0],
    ),
    Activation(
        "threshold", "Replaces values at or below a threshold.", a.threshold,
        a.threshold_backward, "F.threshold(x, threshold, value)",
        "x if x > threshold else value", "1 if x > threshold else 0",
        params=(Param("threshold", example=0.5), Param("value", example=-2.0)),
        kinks=lambda threshold, value: [threshold],
    ),
    Activation(
        "logsigmoid", "The logarithm of the sigmoid.", a.logsigmoid, a.logsigmoid_backward,
        "F.logsigmoid(x)", "log(1/(1 + e^−x)) = −softplus(−x)", "1 − σ(x) = σ(−x)",
    ),
    Activation(
        "softmin", "Softmax of the negated input along an axis.", a.softmax_row,
        a.softmax_backward_row, "F.softmin(x, dim=axis)",
        "e^(−x_i)/Σ_j e^(−x_j) along axis", "−(softmax's VJP at −x)",
        kind="rowwise", fixed=(-1.0,),
    ),
    Activation(
        "softmax", "Normalised exponentials along an axis.", a.softmax_row,
        a.softmax_backward_row, "F.softmax(x, dim=axis)",
        "e^(x_i)/Σ_j e^(x_j) along axis", "y·(g − Σ g·y)", kind="rowwise", fixed=(1.0,),
    ),
    Activation(
        "log_softmax", "The logarithm of softmax along an axis.", a.log_softmax_row,
        a.log_softmax_backward_row, "F.log_softmax(x, dim=axis)",
        "x_i − log Σ_j e^(x_j) along axis", "g − e^y·Σ g", kind="rowwise", fixed=(1.0,),
    ),
    Activation(
        "sine", "The SIREN activation.", a.sine, a.sine_backward, "torch.sin(w0 * x)",
        "sin(w0·x)", "w0·cos(w0·x)", params=(Param("w0", 30.0, example=1.0),),
    ),
)



@dataclass(frozen=True)
class Loss:
    """One loss of the catalogue.

    kind: ``"elementwise"`` (``math(a, b, c, d, *params) -> (loss, ∂a, ∂b)`` over the arrays
    broadcast together), ``"class"`` (a row function over the classes on axis 1; ``probs_math``
    takes class-probability targets), or ``"vector"`` (a row function over the last axis).
    inputs are the differentiable arrays, target the array with no gradient (labels, class
    indices), weights the optional arrays (None by default), in signature order;
    probabilities the arrays that must lie in [0, 1]. The first reduction is the default.
    picks: its forward reads one element of each row, the target's (nll_loss), so that a
    forward call's work is its rows, not its elements.
    """

    name: str
    summary: str
    formula: str
    derivative: str
    math: Any
    params: tuple[Param, ...] = ()
    kind: str = "elementwise"
    inputs: tuple[str, ...] = ("input",)
    target: str | None = "target"
    weights: tuple[str, ...] = ()
    reductions: tuple[str, ...] = ("mean", "sum", "none")
    probs_math: Any = None
    probabilities: tuple[str, ...] = ()
    kinks: Callable[..., list[float]] = field(default=lambda **params: [])
    picks: bool = False

    @property
    def reference(self) -> str:
        return f"F.{self.name}"

    @property
    def arrays(self) -> tuple[str, ...]:
        """The positional arrays, in signature order."""
        return self.inputs + ((self.target,) if self.target else ())


_MARGIN = Param("margin", 0.0, example=0.5)

LOSSES: tuple[Loss, ...] = (
    Loss(
        "mse_loss", "The mean squared error.", "(x − y)²", "2(x − y)", l.mse_loss,
    ),
    Loss(
        "l1_loss", "The mean absolute error.", "|x − y|", "sign(x − y), 0 at 0", l.l1_loss,
        kinks=lambda: [0.0],
    ),
    Loss(
        "smooth_l1_loss", "The L1 loss, quadratic below beta.",
        "0.5d²/β if |d| < β else |d| − 0.5β, d = x − y", "d/β inside (−β, β), ±1 outside",
        l.smooth_l1_loss, params=(Param("beta", 1.0, within(0.0, float("inf")), example=0.5),),
        kinks=lambda beta: [-beta, beta],
    ),
    Loss(
        "huber_loss", "The Huber loss.", "0.5d² if |d| < δ else δ(|d| − 0.5δ), d = x − y",
        "d inside (−δ, δ), ±δ outside", l.huber_loss,
        params=(Param("delta", 1.0, within(0.0, float("inf"), low_open=True), example=2.0),),
        kinks=lambda delta: [-delta, delta],
    ),
    Loss(
        "nll_loss", "The negative log-likelihood of class indices; input holds log-probabilities.",
        "−w[y]·x[y]", "−w[y] at the target class, 0 elsewhere", l.nll_loss_row,
        params=(Param("ignore_index", -100, integer, example=1),), kind="class",
        weights=("weight",), picks=True,
    ),
    Loss(
        "cross_entropy", "Cross-entropy of logits against class indices or class probabilities.",
        "−Σ_c w_c·t_c·log_softmax(x)_c, t one-hot (or given) and smoothed by label_smoothing",
        "(Σ_c w_c t_c)·softmax(x) − w·t", l.cross_entropy_index_row,
        params=(
            Param("ignore_index", -100, integer, example=1),
            Param("label_smoothing", 0.0, within(0.0, 1.0), example=0.1),
        ),
        kind="class", weights=("weight",), probs_math=l.cross_entropy_probs_row,
    ),
    Loss(
        "binary_cross_entropy", "Binary cross-entropy of probabilities.",
        "−w[y·log x + (1 − y)·log(1 − x)], logs clamped at ≥ −100",
        "w(x − y)/max(x(1 − x), 1e-12)", l.binary_cross_entropy, weights=("weight",),
        probabilities=("input", "target"),
    ),
    Loss(
        "binary_cross_entropy_with_logits", "Binary cross-entropy of logits, computed stably.",
        "w[(1 − y)x − (1 + (p − 1)y)·log σ(x)], p the pos_weight",
        "w[(1 + (p − 1)y)σ(x) − p·y]", l.binary_cross_entropy_with_logits,
        weights=("weight", "pos_weight"),
    ),
    Loss(
        "kl_div", "The Kullback–Leibler divergence; input holds log-probabilities.",
        "y(log y − x), 0 where y = 0; e^y(y − x) with log_target", "−y (−e^y with log_target)",
        l.kl_div, params=(Param("log_target", False, boolean, example=True),),
        reductions=("mean", "batchmean", "sum", "none"),
    ),
    Loss(
        "margin_ranking_loss", "A hinge on the ranking of two inputs.",
        "max(0, −y(x1 − x2) + margin)", "∓y where the hinge is ≥ 0, else 0",
        l.margin_ranking_loss, params=(_MARGIN,), inputs=("input1", "input2"),
        kinks=lambda margin: [0.0],
    ),
    Loss(
        "triplet_margin_loss", "A hinge on the distances anchor–positive and anchor–negative.",
        "max(0, margin + d(a, p) − d(a, n)), d(u, v) = ‖u − v + eps‖_p over the last axis",
        "the distances' gradients where the hinge is ≥ 0", l.triplet_margin_loss_row,
        params=(
            Param("margin", 1.0, above(0.0), example=0.5),
            Param("p", 2.0, within(0.0, float("inf"), low_open=True, high_open=True), example=1.5),
            Param("eps", 1e-6, example=1e-3),
            Param("swap", False, boolean, example=True),
        ),
        kind="vector", inputs=("anchor", "positive", "negative"), target=None,
    ),
    Loss(
        "cosine_embedding_loss", "A loss on the cosine of two inputs over the last axis.",
        "1 − cos(x1, x2) if y = 1; max(0, cos(x1, x2) − margin) if y = −1",
        "−∇cos if y = 1; ∇cos where cos ≥ margin if y = −1", l.cosine_embedding_loss_row,
        params=(_MARGIN,), kind="vector", inputs=("input1", "input2"),
    ),
)

OPERATORS = {op.name: op for op in ACTIVATIONS + LOSSES}


def markdown_table() -> str:
    """The operator table in markdown (README, the site's home and design pages)."""
    rows = ["| operator | forward | parameters (defaults) | torch reference |", "|---|---|---|---|"]
    for op in ACTIVATIONS:
        params = ", ".join(
            p.name if p.default is REQUIRED else f"{p.name}={p.default!r}" for p in op.params
        )
        if op.kind == "rowwise":
            params = "axis=-1"
        elif op.kind == "channelwise":
            params = "weight (1 value or one per channel)"
        rows.append(f"| `{op.name}` | {op.formula} | {params} | `{op.reference}` |")
    return "\n".join(rows)


def loss_markdown_table() -> str:
    """The table of losses in markdown (README, the site's home and design pages)."""
    rows = ["| loss | per-element loss | arrays | keyword parameters (defaults) | torch reference |",
            "|---|---|---|---|---|"]
    for op in LOSSES:
        keywords = [f"{w}=None" for w in op.weights] + [f"{p.name}={p.default!r}" for p in op.params]
        keywords.append("reduction=" + " \\| ".join(repr(r) for r in op.reductions))
        formula = op.formula.replace("|", "\\|")
        rows.append(f"| `{op.name}` | {formula} | {', '.join(op.arrays)} | {', '.join(keywords)} | `{op.reference}` |")
    return "\n".join(rows)


def param_cases(op: Activation) -> list[dict[str, Any]]:
    """Parameter sets to exercise: the defaults (examples stand in for required ones), then
    every parameter at its example value."""
    defaults = {p.name: p.example if p.default is REQUIRED else p.default for p in op.params}
    examples = {p.name: p.example for p in op.params}
    return [defaults] if defaults == examples else [defaults, examples]
