"""The math of every activation, written once as scalar (or row) functions.

Each forward ``f(x, *params)`` has a backward ``f_backward(g, x, *params)`` that returns the
vector-Jacobian product g·f'(x) (computed from the input, as the public API receives it). The
CPU and CUDA launchers call these functions unchanged. Comparisons are written the way PyTorch's
kernels write them, so NaN inputs and the kinks get the same values as in PyTorch.
"""

import math

from ._jit import REASSOCIATE, jit
from ._primitives import (cos, exp, expm1, gate, like, log, log1p, maximum, normal_cdf, normal_pdf, row_max,
                          sigmoid_slope, sin, spare, tanh)

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
SQRT_2_OVER_PI = 0.79788456080286535587989211986876  # √(2/π)
GELU_TANH_COEFF = 0.044715


# --- building blocks ------------------------------------------------------------------------


@jit(into_caller=True)  # exp and log1p: optimised in its callers only
def log1p_exp(z):
    """log(1 + e^z) without overflow: max(z, 0) + log1p(e^−|z|)."""
    return maximum(z, like(z, 0)) + log1p(exp(-abs(z)))


# --- element-wise activations ---------------------------------------------------------------


@jit
def linear(x, c):
    """y = c·x"""
    return c * x


@jit
def linear_backward(g, x, c):
    return c * g


@jit
def sigmoid(x):
    """y = 1/(1 + e^−x), from e^−|x| so that neither branch overflows."""
    e = exp(-abs(x))
    return like(x, 1) / (like(x, 1) + e) if x >= 0 else e / (like(x, 1) + e)


@jit
def sigmoid_backward(g, x):
    # y(1 − y) loses all precision once y rounds to 1; σ(x)σ(−x) (_primitives.sigmoid_slope)
    # keeps it.
    return g * sigmoid_slope(x)


@jit
def tanh_(x):
    """y = tanh(x)"""
    return tanh(x)


@jit
def tanh_backward(g, x):
    # 1 − tanh² = sech² x = 4σ'(2x): exact near saturation, where 1 − y² is 0.
    return g * (like(x, 4) * sigmoid_slope(x + x))


@jit
def threshold(x, threshold, value):
    """y = x if x > threshold else value (NaN passes through as x)."""
    return value if x <= threshold else x


@jit
def threshold_backward(g, x, threshold, value):
    # PyTorch's threshold_backward: 0 where x ≤ threshold, g elsewhere (NaN x passes g).
    return gate(not x <= threshold, g)


@jit
def leaky_relu(x, negative_slope):
    """y = x if x > 0 else negative_slope·x"""
    return x if x > 0 else x * negative_slope


@jit
def leaky_relu_backward(g, x, negative_slope):
    return g if x > 0 else g * negative_slope


@jit
def prelu_weight_backward(g, x):
    """The contribution of one element to PReLU's weight gradient: x·g where x ≤ 0."""
    return like(g, 0) if x > 0 else x * g


@jit
def softplus(x, beta, threshold):
    """y = log(1 + e^(βx))/β, and x where βx > threshold."""
    z = x * beta
    return x if z > threshold else log1p_exp(z) / beta


@jit
def softplus_backward(g, x, beta, threshold):
    z = x * beta
    return g if z > threshold else g * sigmoid(z)


@jit
def elu_family(x, alpha, scale, input_scale):
    """PyTorch's ELU family: y = scale·x if x ≥ 0 else scale·α·(e^(input_scale·x) − 1).

    expm1 keeps relative precision near 0. At ±0 the result is scale·x, as PyTorch's: the
    other side's α·(±0) would flip the zero's sign for α < 0 and give NaN for α = ±inf or NaN.
    """
    return scale * x if x >= 0 else scale * alpha * expm1(x * input_scale)


@jit
def elu_family_backward(g, x, alpha, scale, input_scale):
    return g * (scale * alpha * input_scale) * exp(x * input_scale) if x <= 0 else g * scale


@jit
def elu(x, alpha):
    """y = x if x > 0 else α(e^x − 1)"""
    return elu_family(x, alpha, like(x, 1), like(x, 1))


@jit
def elu_backward(g, x, alpha):
    return elu_family_backward(g, x, alpha, like(x, 1), like(x, 1))


@jit
def celu(x, alpha):
    """y = max(0, x) + min(0, α(e^(x/α) − 1))"""
    return elu_family(x, alpha, like(x, 1), like(x, 1) / alpha)


@jit
def celu_backward(g, x, alpha):
    return elu_family_backward(g, x, alpha, like(x, 1), like(x, 1) / alpha)


@jit
def selu(x):
    """y = scale·(max(0, x) + min(0, α(e^x − 1))) with SELU_ALPHA and SELU_SCALE"""
    return elu_family(x, like(x, SELU_ALPHA), like(x, SELU_SCALE), like(x, 1))


@jit
def selu_backward(g, x):
    return elu_family_backward(g, x, like(x, SELU_ALPHA), like(x, SELU_SCALE), like(x, 1))


@jit
def gelu_erf(x):
    """y = x·Φ(x), Φ the standard normal CDF, with its relative precision for x ≪ 0 (where
    1 + erf(x/√2) cancels). NaN gives x's own NaN (the product's sign bit would depend on which
    operand an instruction chose to pass on)."""
    return x * normal_cdf(x) if x == x else x


@jit
def gelu_erf_backward(g, x):
    # Φ(x) + x·φ(x): on the CPU both come from one exponential (see _vmath.normal_tail)
    return g * (normal_cdf(x) + x * normal_pdf(x))


@jit
def gelu_tanh(x):
    """y = x(1 + tanh u)/2 with u = √(2/π)(x + 0.044715x³), written as x·σ(2u).

    (1 + tanh u)/2 = σ(2u), and σ keeps relative precision where 1 + tanh u cancels.
    """
    u = like(x, SQRT_2_OVER_PI) * (x + like(x, GELU_TANH_COEFF) * x * x * x)
    return x * sigmoid(u + u) if x == x else x  # x's own NaN, as gelu_erf


@jit
def gelu_tanh_backward(g, x):
    # d/dx x·σ(2u) = σ(2u) + x·σ'(2u)·2u',  u' = √(2/π)(1 + 3·0.044715x²)
    k = like(x, SQRT_2_OVER_PI)
    u = k * (x + like(x, GELU_TANH_COEFF) * x * x * x)
    du = k * (like(x, 1) + like(x, 3 * GELU_TANH_COEFF) * x * x)
    d = sigmoid(u + u) + x * sigmoid_slope(u + u) * (du + du)
    return g * (d if x == x else x)  # x's NaN: the terms' NaNs differ in sign, and code paths in order


@jit
def gelu(x, tanh_form):
    """y = x·Φ(x), or its tanh approximation where tanh_form is nonzero."""
    return gelu_tanh(x) if tanh_form else gelu_erf(x)


@jit
def gelu_backward(g, x, tanh_form):
    return gelu_tanh_backward(g, x) if tanh_form else gelu_erf_backward(g, x)


@jit
def hardtanh(x, min_val, max_val):
    """y = min(max(x, min_val), max_val), NaN where x or a bound is NaN (PyTorch's clamp).

    Two selects, each a SIMD max or min on the CPU (the bounds' NaN tests are loop-invariant);
    one select nested in the other vectorises to two compares and two blends, ~20% slower."""
    low = min_val if (x < min_val or min_val != min_val) else x
    return max_val if (low > max_val or max_val != max_val) else low


@jit
def hardtanh_backward(g, x, min_val, max_val):
    # PyTorch: 0 at and beyond the edges, g strictly inside (and for NaN x).
    return gate(not (x <= min_val or x >= max_val), g)


@jit
def hardsigmoid(x):
    """y = relu6(x + 3)/6"""
    return hardtanh(x + like(x, 3), like(x, 0), like(x, 6)) / like(x, 6)


@jit
def hardsigmoid_backward(g, x):
    # PyTorch: g/6 strictly inside (−3, 3), 0 elsewhere and for NaN x.
    return g / like(g, 6) if (x > like(x, -3) and x < like(x, 3)) else like(g, 0)


@jit
def logsigmoid(x):
    """y = log σ(x) = −log(1 + e^−x), computed without overflow; logsigmoid(−100) = −100."""
    return -log1p_exp(-x)


@jit
def logsigmoid_backward(g, x):
    return g * sigmoid(-x)


@jit
def sine(x, w0):
    """y = sin(w0·x) (SIREN)"""
    return sin(w0 * x)


@jit
def sine_backward(g, x, w0):
    return g * (w0 * cos(w0 * x))


# --- along an axis: one row at a time -------------------------------------------------------
# A row function reads a 1-D row and writes one; the output row may be the input row itself
# (in place), so each output element is written only after the reads it depends on.
#
# Every row function here is the same shape: m = the row's maximum of sign·x; two float64 sums
# over the row (``terms``); two scalars from them (``finish``); then each output element from
# its inputs and those (``element``). The CPU runs a row function on one row at a time. The GPU
# splits a row between the threads of a group, each of which takes the maximum (``peak``) and
# the sums over its share, adds the group's shares and writes its share's elements
# (numact._cuda.map_rows): the pieces a row function is split into are ``row_function.split``,
# and the row functions themselves call ``finish`` and ``element``, so both targets compute
# each element by the same formula.


def split_into(*pieces):
    """Marks a row function with the pieces the GPU runs it as (``row_function.split``): for
    the softmax family ``peak(share, *args)``, ``terms(g_share, x_share, m, *args)``,
    ``finish(s1, s2, m, *args)``, ``element(g_i, x_i, m, c1, c2, *args)`` (a forward's g is
    x); for the class losses see numact.losses."""

    def mark(row_function):
        row_function.split = pieces
        return row_function

    return mark


@jit
def share_max(x, sign):
    """max of sign·x over a share of a row: −inf for an empty share, NaN if it holds a NaN."""
    m = like(sign, -math.inf)
    for i in range(x.shape[0]):
        m = maximum(m, sign * x[i])
    return m


@jit(fastmath=REASSOCIATE)
def sum_exp(x, m, sign):
    """Σ_i e^(sign·x_i − m) in float64 (partial sums side by side: vectorised)."""
    total = 0.0
    for i in range(x.shape[0]):
        total += exp(sign * x[i] - m)
    return total


@jit(fastmath=REASSOCIATE)
def _sum_exp_and_dot(g, x, m, sign):
    """(Σ_i e_i, Σ_i g_i·e_i) with e_i = e^(sign·x_i − m), in float64."""
    total = 0.0
    dot = 0.0
    for i in range(x.shape[0]):
        e = exp(sign * x[i] - m)
        total += e
        dot += g[i] * e
    return total, dot


@jit(fastmath=REASSOCIATE)
def row_sum(x):
    total = 0.0
    for i in range(x.shape[0]):
        total += x[i]
    return total


@jit(fastmath=REASSOCIATE)
def _row_dot(a, b):
    total = 0.0
    for i in range(a.shape[0]):
        total += a[i] * b[i]
    return total


@jit
def kept_sum_exp(x, e, shift, sign):
    """Σ_i e^(sign·x_i − shift) in float64, each term kept in e (a row of x's length, which may
    be x itself) and summed from there: the float32 exponentials then run at the float32 SIMD
    width, where a loop adding them to a float64 sum as computed (``sum_exp``) runs at the
    float64 one, half as wide (log_softmax's forward, 10,000 rows of 1000 on a 2-core Xeon:
    7.8 ms summed as computed, 6.0 ms kept)."""
    for i in range(x.shape[0]):
        e[i] = exp(sign * x[i] - shift)
    return row_sum(e)


@jit
def _softmax_terms(_g, x, m, sign):
    return sum_exp(x, m, sign), 0.0


@jit
def _softmax_finish(total, _s2, m, sign):
    """1/Σ e, rounded to x's type."""
    return like(m, 1.0 / total), like(m, 0.0)


@jit
def _softmax_element(_g, x, m, inverse, _c2, sign):
    return exp(sign * x - m) * inverse


@split_into(share_max, _softmax_terms, _softmax_finish, _softmax_element)
@jit
def softmax_row(x, y, sign):
    """y = softmax(sign·x) = e^(sign·x_i − m)/Σ_j e^(sign·x_j − m), m the row maximum.

    Subtracting m keeps every exponent ≤ 0 (no overflow); the sum is taken in float64 and
    its reciprocal rounded to x's type, as PyTorch does (a multiply a element, not a
    division). sign = −1 gives softmin. A row of −inf gives NaN, as in PyTorch.
    """
    n = x.shape[0]
    if n == 0:
        return
    # The exponentials are computed once, into y; the sum is its own read-only pass over y: in
    # a loop that also wrote y, LLVM would vectorise (and so reassociate) the sum only when y
    # does not alias x, and in place would round otherwise.
    m = row_max(x, sign)
    inverse, _ = _softmax_finish(kept_sum_exp(x, y, m, sign), 0.0, m, sign)
    for i in range(n):
        y[i] = y[i] * inverse


@jit
def _softmax_backward_terms(g, x, m, sign):
    return _sum_exp_and_dot(g, x, m, sign)


@jit
def _softmax_backward_finish(total, dot, m, sign):
    """(sign/Σ e, Σ g·e/Σ e), rounded to x's type."""
    return like(m, sign / total), like(m, dot / total)


@jit
def _softmax_backward_element(g, x, m, scale, mean_g, sign):
    return scale * exp(sign * x - m) * (g - mean_g)


@split_into(share_max, _softmax_backward_terms, _softmax_backward_finish, _softmax_backward_element)
@jit
def softmax_backward_row(g, x, dx, sign):
    # dx = sign·y·(g − Σ g·y), y = softmax(sign·x) recomputed. Where dx is not g's memory the
    # exponentials are kept in it (computed once); else computed twice. The CPU launch never
    # passes g's memory as dx (numact._api.rowwise): it computes one way only.
    n = x.shape[0]
    if n == 0:
        return
    m = row_max(x, sign)
    stash = spare(dx, g)
    if stash:
        total = kept_sum_exp(x, dx, m, sign)
        dot = _row_dot(g, dx)
    else:
        total, dot = _softmax_backward_terms(g, x, m, sign)
    scale, mean_g = _softmax_backward_finish(total, dot, m, sign)
    if stash:
        for i in range(n):
            dx[i] = scale * dx[i] * (g[i] - mean_g)
    else:
        for i in range(n):
            dx[i] = _softmax_backward_element(g[i], x[i], m, scale, mean_g, sign)


@jit
def _log_softmax_finish(total, _s2, m, sign):
    """log Σ e, in float64."""
    return log(total), 0.0


@jit
def _log_softmax_element(_g, x, m, log_total, _c2, sign):
    return (x - m) - log_total


def rereads_x(row_function):
    """Marks a forward row function that keeps values in y before its last pass reads x again:
    a call in place (y in x's memory) runs through scratch on every target (numact._api.rowwise),
    so that it computes as it does into fresh memory, and gives the same bits by construction."""
    row_function.in_place = False
    return row_function


@rereads_x
@split_into(share_max, _softmax_terms, _log_softmax_finish, _log_softmax_element)
@jit
def log_softmax_row(x, y, sign):
    """y = x_i − m − log Σ_j e^(x_j − m), m the row maximum (sign is +1).

    The exponentials are kept in y and summed from there (``kept_sum_exp``), as softmax_row
    does; CUDA, a thread a row, sums them as computed (``spare``).
    """
    n = x.shape[0]
    if n == 0:
        return
    m = row_max(x, sign)
    if spare(y, x):
        total = kept_sum_exp(x, y, m, sign)
    else:
        total = sum_exp(x, m, sign)
    log_total, _ = _log_softmax_finish(total, 0.0, m, sign)
    for i in range(n):
        y[i] = _log_softmax_element(x[i], x[i], m, log_total, 0.0, sign)


@jit
def _log_softmax_backward_terms(g, x, m, sign):
    return row_sum(g), sum_exp(x, m, sign)


@jit
def _log_softmax_backward_finish(g_total, total, m, sign):
    """Σ g/Σ e, rounded to x's type."""
    return like(m, g_total / total), like(m, 0.0)


@jit
def _log_softmax_backward_element(g, x, m, scale, _c2, sign):
    return g - exp(x - m) * scale


@split_into(share_max, _log_softmax_backward_terms, _log_softmax_backward_finish,
            _log_softmax_backward_element)
@jit
def log_softmax_backward_row(g, x, dx, sign):
    # dx = g − softmax(x)·Σ g; the exponentials kept in dx where it is not g's memory (on the
    # CPU always, as in softmax_backward_row).
    n = x.shape[0]
    if n == 0:
        return
    m = row_max(x, sign)
    stash = spare(dx, g)
    if stash:
        total = kept_sum_exp(x, dx, m, sign)
    else:
        total = sum_exp(x, m, sign)
    scale, _ = _log_softmax_backward_finish(row_sum(g), total, m, sign)
    if stash:
        for i in range(n):
            dx[i] = g[i] - dx[i] * scale
    else:
        for i in range(n):
            dx[i] = _log_softmax_backward_element(g[i], x[i], m, scale, 0.0, sign)
