"""The math of every loss, written once as scalar (or row) functions.

Element-wise losses are ``f(a, b, c, d, *params) -> (loss, ∂loss/∂a, ∂loss/∂b)`` with the
loss's arrays in signature order (input, target, weight, pos_weight; or input1, input2, target),
1 in the places a loss has no array for. ∂loss/∂b is 0 unless b is differentiable (margin
ranking's input2).

Row losses are ``f(x, y, z, t, w, gx, gy, gz, s, grad, *params) -> loss`` over one row of up to
three differentiable inputs (x, y, z), the row's target t (a class index as a row of one,
class probabilities, or a label), the class weights w; where ``grad`` is set they also write
s·∂loss/∂x (and ∂y, ∂z) into gx (gy, gz), in the same pass.

Comparisons follow PyTorch's kernels, so NaN and the kinks get PyTorch's values. Where the two
differ, PyTorch's backward formula wins over the derivative of its forward (BCE's gradient
divides by max(x(1 − x), 1e-12) although its loss clamps the logs at −100).
"""

from ._jit import REASSOCIATE, jit
from ._primitives import exp, inf, like, log, log1p, maximum, row_max, sqrt
from .activations import kept_sum_exp, logsigmoid, share_max, sigmoid, split_into, sum_exp

BCE_LOG_FLOOR = -100.0  # PyTorch clamps both logs of binary_cross_entropy at −100
BCE_GRAD_EPS = 9.999999960041972e-13  # and its gradient's denominator x(1 − x) at float32(1e-12)
# (PyTorch declares both 1e-12 constants as float, so float64 sees float32(1e-12))
COSINE_EPS = 9.999999960041972e-13  # cosine_embedding_loss adds float32(1e-12) to both squared norms


# --- element-wise losses --------------------------------------------------------------------


@jit
def _sign(d):
    """PyTorch's sgn for reals: −1, 0 or 1, and 0 for NaN."""
    return like(d, (d > 0) - (d < 0))


@jit
def mse_loss(x, y, _c, _d):
    """ℓ = (x − y)², ∂ℓ/∂x = 2(x − y)"""
    d = x - y
    return d * d, like(x, 2) * d, like(x, 0)


@jit
def l1_loss(x, y, _c, _d):
    """ℓ = |x − y|, ∂ℓ/∂x = sign(x − y), 0 at 0"""
    d = x - y
    return abs(d), _sign(d), like(x, 0)


@jit
def smooth_l1_loss(x, y, _c, _d, beta):
    """ℓ = 0.5d²/β if |d| < β else |d| − 0.5β, d = x − y; β = 0 is the L1 loss."""
    d = x - y
    z = abs(d)
    loss = like(x, 0.5) * z * z / beta if z < beta else z - like(x, 0.5) * beta
    if beta == 0:
        return loss, _sign(d), like(x, 0)
    # PyTorch's backward: ±1 at and beyond ±β, d/β inside.
    grad = like(x, -1) if d <= -beta else (like(x, 1) if d >= beta else d / beta)
    return loss, grad, like(x, 0)


@jit
def huber_loss(x, y, _c, _d, delta):
    """ℓ = 0.5d² if |d| < δ else δ(|d| − 0.5δ), d = x − y"""
    d = x - y
    z = abs(d)
    loss = like(x, 0.5) * z * z if z < delta else delta * (z - like(x, 0.5) * delta)
    grad = -delta if d <= -delta else (delta if d >= delta else d)
    return loss, grad, like(x, 0)


@jit
def binary_cross_entropy(x, y, w, _d):
    """ℓ = −w[y·log x + (1 − y)·log(1 − x)], each log clamped at ≥ −100.

    ∂ℓ/∂x = w(x − y)/max(x(1 − x), 1e-12), PyTorch's form: finite at x = 0 and x = 1.
    """
    log_x = maximum(log(x), like(x, BCE_LOG_FLOOR))
    log_1mx = maximum(log1p(-x), like(x, BCE_LOG_FLOOR))
    loss = w * ((y - like(x, 1)) * log_1mx - y * log_x)
    grad = w * (x - y) / maximum((like(x, 1) - x) * x, like(x, BCE_GRAD_EPS))
    return loss, grad, like(x, 0)


@jit
def binary_cross_entropy_with_logits(x, y, w, pos_weight):
    """ℓ = w[(1 − y)·x − (1 + (p − 1)y)·log σ(x)], p the pos_weight.

    This is BCE on σ(x) with the logs taken through log σ(x) = −log(1 + e^−x), which neither
    overflows nor rounds to log 0. ∂ℓ/∂x = w[(1 + (p − 1)y)σ(x) − p·y].
    """
    log_weight = like(x, 1) + (pos_weight - like(x, 1)) * y
    loss = w * ((like(x, 1) - y) * x - log_weight * logsigmoid(x))
    grad = w * (log_weight * sigmoid(x) - pos_weight * y)
    return loss, grad, like(x, 0)


@jit
def kl_div(x, y, _c, _d, log_target):
    """ℓ = y(log y − x), 0 where y = 0; with log_target, ℓ = e^y(y − x). x holds log-probabilities.

    ∂ℓ/∂x = −y (−e^y with log_target).
    """
    if log_target:
        p = exp(y)
        return p * (y - x), -p, like(x, 0)
    # PyTorch's xlogy(y, y): 0 at y = 0, NaN for NaN y.
    y_log_y = like(x, 0) if y == 0 else y * log(y)
    return y_log_y - y * x, -y, like(x, 0)


@jit
def margin_ranking_loss(x1, x2, y, _d, margin):
    """ℓ = max(0, −y(x1 − x2) + margin): ∂ℓ/∂x1 = −y, ∂ℓ/∂x2 = y where the hinge is ≥ 0."""
    u = -y * (x1 - x2) + margin
    if u >= 0:  # PyTorch's clamp_min passes the gradient at the hinge itself
        return u, -y, y
    zero = like(x1, 0)
    return (u if u != u else zero), zero, zero  # NaN stays NaN


# --- class losses: one row over the classes (axis 1) ----------------------------------------


@jit
def _zero(g):
    for c in range(g.shape[0]):
        g[c] = 0


# A class loss is split for the GPU as the softmax family is (activations.split_into): the
# target class's x and w (``pick``, read before any gradient is written: gx may be x), the row
# maximum (``peak``), three float64 sums (``terms``), the loss and three scalars of x's type
# (``finish``), and each gradient element (``element``); numact._cuda.map_row_loss.


@jit
def _pick(x, t, w, ignore_index):
    """(x[k], w[k]) in float64 for the class index k = t[0]; 0 where k is ignore_index."""
    k = t[0]
    if k == ignore_index:
        return 0.0, 0.0
    return 1.0 * x[k], 1.0 * w[k]


@jit
def _nll_peak(_x, _ignore_index):
    return -inf


@jit
def _nll_terms(_x, _t, _w, _m, _n, _ignore_index):
    return 0.0, 0.0, 0.0


@jit
def _nll_finish(xk, wk, t, _n, _m, _s1, _s2, _s3, s, ignore_index):
    """(ℓ, ∂ℓ/∂x[k], 0, 0): ℓ = −w[k]·x[k]."""
    if t[0] == ignore_index:
        return 0.0, 0.0, 0.0, 0.0
    return -wk * xk, -wk * s, 0.0, 0.0


@jit
def _nll_element(c, _x, t, _w, _m, gk, _c2, _c3, _ignore_index):
    return gk if c == t[0] else like(gk, 0)


@split_into(_pick, _nll_peak, _nll_terms, _nll_finish, _nll_element)
@jit
def nll_loss_row(x, _y, _z, t, w, gx, _gy, _gz, s, grad, ignore_index):
    """ℓ = −w[k]·x[k] for the class index k = t[0], 0 where k is ignore_index.

    ∂ℓ/∂x = −w[k] at k, 0 elsewhere.
    """
    k = t[0]
    if k == ignore_index:
        if grad:
            _zero(gx)
        return 0.0
    xk, wk = _pick(x, t, w, ignore_index)  # read before gx is written: gx may be x itself
    loss, gk, _, _ = _nll_finish(xk, wk, t, 0, 0.0, 0.0, 0.0, 0.0, s, ignore_index)
    if grad:
        _zero(gx)
        gx[k] = gk
    return loss


@jit(cpu=kept_sum_exp)  # the CPU kernels always hand a row (the gradient's or scratch)
def _exponentials(x, e, shift, sign):
    """Σ_c e^(sign·x_c − shift): kept in e where e is a row of x's length (``kept_sum_exp``),
    else summed as computed (CUDA's forward, one thread a row: the same order either way)."""
    if e.shape[0] == x.shape[0]:
        return kept_sum_exp(x, e, shift, sign)
    return sum_exp(x, shift, sign)


@jit
def _shift(m):
    """The row maximum m as the exponents' shift, 0 where it is −inf: a class of −inf adds
    nothing, a row of −inf gives −inf (and the loss NaN, as PyTorch's log_softmax gives). A
    +inf class makes the row NaN, as in PyTorch's cross_entropy."""
    return m if m != -inf else like(m, 0)


@jit(into_caller=True)  # its body holds exp: optimised in the row function only
def _sum_exponentials(x, e):
    """(m, Σ e^(x − shift)), m the row maximum and shift = _shift(m). Where ``e`` holds a row
    (the gradient's, or the CPU kernels' scratch), e^(x − shift) is stored there, for the
    gradient to use, and summed from there, so that the loss is the same bits whether or not a
    gradient is made; else it is summed as it is computed (the same order either way). Every
    pass runs over a row in cache and vectorises (see activations.row_max and sum_exp)."""
    one = like(x[0], 1)
    m = row_max(x, one)
    return m, _exponentials(x, e, _shift(m), one)


@jit
def _cross_entropy_peak(x, _ignore_index, _smoothing):
    """max of a share of a row, in float64 (exact; activations.share_max)."""
    return share_max(x, 1.0)


@jit(fastmath=REASSOCIATE)
def _weighted_sums(x, w, t, smoothing, n, shift):
    """(Σ a, Σ a·(x − shift)) in float64, a_c = w_c·t_c (class weights times target
    probabilities, smoothed over n classes), or a_c = w_c where t is empty. Shifted as the
    exponents are, so that the loss Σ a_c(log Σe − (x_c − shift)) holds its precision where
    |x| ≫ the loss (Σ a·x there rounds away the loss itself)."""
    a_sum = 0.0
    ax_sum = 0.0
    for c in range(x.shape[0]):
        a = w[c] * (t[c] * (1.0 - smoothing) + smoothing / n) if t.shape[0] else w[c] * 1.0
        a_sum += a
        ax_sum += a * (x[c] - shift * 1.0)
    return a_sum, ax_sum


@jit(into_caller=True)  # its body holds exp: optimised in the row function only
def _weighted_exponentials(x, w, t, smoothing, n, e):
    """(m, Σ e^(x − shift), Σ a, Σ a·(x − shift)): _sum_exponentials and _weighted_sums, the
    weighted sums read before e (which may be x itself) is written."""
    one = like(x[0], 1)
    m = row_max(x, one)
    a_sum, ax_sum = _weighted_sums(x, w, t, smoothing, n, _shift(m))
    return m, _exponentials(x, e, _shift(m), one), a_sum, ax_sum


@jit
def _index_pick(x, t, w, ignore_index, _smoothing):
    return _pick(x, t, w, ignore_index)


@jit
def _index_terms(x, t, w, m, n, _ignore_index, smoothing):
    """(Σ e^(x − shift), Σ w, Σ w·(x − shift)); the last two 0 without smoothing."""
    w_sum = 0.0
    wx_sum = 0.0
    if smoothing > 0:
        w_sum, wx_sum = _weighted_sums(x, w, t[:0], 0.0, n, _shift(m))
    return sum_exp(x, _shift(m), like(m, 1)), w_sum, wx_sum


@jit
def _index_finish(xk, wk, t, n, m, total, w_sum, wx_sum, s, ignore_index, smoothing):
    """(ℓ, scale_p, scale_w, s·w_k'), w_k' = (1 − ε)·w_k: ∂ℓ/∂x_c = scale_p·e_c − scale_w·w_c,
    less s·w_k' at k, in x's type (the gradient's pass then runs at x's SIMD width, as
    PyTorch's does)."""
    if t[0] == ignore_index:
        return 0.0, like(m, 0), like(m, 0), like(m, 0)
    log_total = log(total)  # lse − shift: the loss from x − shift, as PyTorch's log_softmax
    wk = (1.0 - smoothing) * wk
    loss = wk * (log_total - (xk - _shift(m)))
    if smoothing > 0:
        loss += smoothing / n * (w_sum * log_total - wx_sum)
    return (loss, like(m, s * (wk + smoothing / n * w_sum) / total), like(m, s * smoothing / n),
            like(m, s * wk))


@jit
def _ignored(m):
    """Each gradient element of an ignored row, from its maximum m: PyTorch's backward
    multiplies the row's 0 by its softmax, so 0, or NaN where the softmax is NaN (a NaN, a
    +inf, or every class −inf: m not finite). m − m is just that."""
    return m - m


@jit
def _index_element(c, x, t, w, m, scale_p, scale_w, swk, ignore_index, _smoothing):
    k = t[0]
    if k == ignore_index:
        return _ignored(m)
    g = scale_p * exp(x[c] - _shift(m)) - scale_w * w[c]
    return g - swk if c == k else g


@split_into(_index_pick, _cross_entropy_peak, _index_terms, _index_finish, _index_element)
@jit
def cross_entropy_index_row(x, _y, _z, t, w, gx, _gy, _gz, s, grad, ignore_index, smoothing):
    """Cross-entropy against a class index k = t[0], with label smoothing ε over C classes:

    ℓ = (1 − ε)·w_k·(lse − x_k) + (ε/C)·Σ_c w_c(lse − x_c),  lse = log Σ_c e^(x_c)
    ∂ℓ/∂x_c = (1 − ε)·w_k·(p_c − [c = k]) + (ε/C)·(W·p_c − w_c),  p = softmax(x), W = Σ w

    ℓ = 0 where k is ignore_index, and ∂ℓ/∂x = 0 there, or NaN where softmax(x) is (as
    PyTorch's). The row is read from memory once, and each e^(x_c − m) is computed once (into
    gx): max, exponentials, sum and the gradient are passes over it in cache. gx may be x
    itself: x_k and the sums over x are read before gx is written.
    """
    k = t[0]
    n = x.shape[0]
    if k == ignore_index:
        if grad and n:
            value = _ignored(row_max(x, like(x[0], 1)))
            for c in range(n):
                gx[c] = value
        return 0.0
    xk, wk = _pick(x, t, w, ignore_index)
    w_sum = 0.0
    wx_sum = 0.0
    if smoothing > 0:
        m, total, w_sum, wx_sum = _weighted_exponentials(x, w, t[:0], 0.0, n, gx)
    else:
        m, total = _sum_exponentials(x, gx)
    loss, scale_p, scale_w, swk = _index_finish(xk, wk, t, n, m, total, w_sum, wx_sum, s, ignore_index, smoothing)
    if grad:
        for c in range(n):  # gx holds e_c: _index_element's value
            gx[c] = scale_p * gx[c] - scale_w * w[c]
        gx[k] -= swk
    return loss


@jit
def _no_pick(_x, _t, _w, _ignore_index, _smoothing):
    return 0.0, 0.0


@jit
def _probs_terms(x, t, w, m, n, _ignore_index, smoothing):
    """(Σ e^(x − shift), Σ a, Σ a·(x − shift))."""
    a_sum, ax_sum = _weighted_sums(x, w, t, smoothing, n, _shift(m))
    return sum_exp(x, _shift(m), like(m, 1)), a_sum, ax_sum


@jit
def _probs_finish(_xk, _wk, _t, n, m, total, a_sum, ax_sum, s, _ignore_index, smoothing):
    """(ℓ, scale_p, keep, spread): ∂ℓ/∂x_c = scale_p·e_c − w_c·(t_c·keep + spread), in x's type."""
    loss = a_sum * log(total) - ax_sum
    return loss, like(m, s * a_sum / total), like(m, s * (1.0 - smoothing)), like(m, s * smoothing / n)


@jit
def _probs_element(c, x, t, w, m, scale_p, keep, spread, _ignore_index, _smoothing):
    return scale_p * exp(x[c] - _shift(m)) - w[c] * (t[c] * keep + spread)


@split_into(_no_pick, _cross_entropy_peak, _probs_terms, _probs_finish, _probs_element)
@jit
def cross_entropy_probs_row(x, _y, _z, t, w, gx, _gy, _gz, s, grad, ignore_index, smoothing):
    """Cross-entropy against class probabilities t, smoothed to t' = (1 − ε)t + ε/C:

    ℓ = Σ_c a_c(lse − x_c) = A·log Σ_c e^(x_c − m) − Σ_c a_c·(x_c − m),  a_c = w_c·t'_c,  A = Σ a
    ∂ℓ/∂x_c = A·p_c − a_c

    The row is read from memory once and each exponential computed once, as in
    cross_entropy_index_row.
    """
    n = x.shape[0]
    m, total, a_sum, ax_sum = _weighted_exponentials(x, w, t, smoothing, n, gx)
    loss, scale_p, keep, spread = _probs_finish(0.0, 0.0, t, n, m, total, a_sum, ax_sum, s, ignore_index, smoothing)
    if grad:
        for c in range(n):  # gx holds e_c: _probs_element's value
            gx[c] = scale_p * gx[c] - w[c] * (t[c] * keep + spread)
    return loss


# --- losses over vectors (the last axis) ----------------------------------------------------
# A vector loss is split for the GPU as the class losses are (``split_vector_into``): three
# float64 sums over the row (``terms``, over any share of it), the loss and the gradient's
# constants from them (``finish``), and each element of the gradients (``element``, from the
# inputs' elements at one position). The CPU's row function is the same pieces over the whole
# row; numact._cuda.map_row_loss splits the row between a group of threads.


def split_vector_into(terms, finish, element):
    """Marks a vector loss's row function with its pieces (``row_function.vector_split``):
    ``terms(x, y, z, *args) -> (s1, s2, s3)``, ``finish(t, s1, s2, s3, s, *args) -> (loss,
    constants)``, ``element(x_k, y_k, z_k, constants, *args) -> (∂x_k, ∂y_k, ∂z_k)``."""

    def mark(row_function):
        row_function.vector_split = terms, finish, element
        return row_function

    return mark


@jit
def _power(u, v, eps, p):
    """|e|^p in float64, e = u − v + eps (u − v in the inputs' dtype, as PyTorch): exp(p·log|e|)
    from numact's own exp and log, which LLVM vectorises (and the GPU runs alike), where libm's
    pow is a scalar call per element. Relative error within (|p·log|e|| + 2)·2^-53, far below a
    float32 result's rounding; 0 at e = 0, inf at |e| = inf, NaN for NaN."""
    d = abs(u - v + eps)
    return d * d if p == 2 else exp(p * log(d))


@jit(fastmath=REASSOCIATE)
def _distance_sums(a, pos, neg, eps, p, swap):
    """_triplet_terms for one p, in one loop that LLVM vectorises with its sums reassociated:
    the sums keep one order between them, so that d(a, neg) and d(pos, neg) tie where
    PyTorch's do (a = pos)."""
    to_pos = 0.0
    to_neg = 0.0
    pos_neg = 0.0
    if swap:
        for k in range(a.shape[0]):
            to_pos += _power(a[k], pos[k], eps, p)
            to_neg += _power(a[k], neg[k], eps, p)
            pos_neg += _power(pos[k], neg[k], eps, p)
    else:
        for k in range(a.shape[0]):
            to_pos += _power(a[k], pos[k], eps, p)
            to_neg += _power(a[k], neg[k], eps, p)
    return to_pos, to_neg, pos_neg


@jit
def _triplet_terms(a, pos, neg, _margin, p, eps, swap):
    """(Σ|a − pos + eps|^p, Σ|a − neg + eps|^p, Σ|pos − neg + eps|^p), the last 0 without swap."""
    if p == 2:  # a loop of its own, with the square for the power
        return _distance_sums(a, pos, neg, eps, 2.0, swap)
    return _distance_sums(a, pos, neg, eps, p, swap)


@jit
def _norm(total, p):
    """The p-norm from Σ|e|^p."""
    return sqrt(total) if p == 2 else total ** (1.0 / p)


@jit
def _distance_scale(dist, s, p):
    """s/d^(p−1) for d = ‖e‖_p: s·∂d/∂e_k = e_k·|e_k|^(p−2)·that (PyTorch's norm backward); 0
    where d = 0. Also where s = 0 (no gradient through d) it is computed, as PyTorch's: a NaN
    distance then gives NaN, not a silent 0."""
    if dist == 0:
        return 0.0
    return s / dist if p == 2 else s / dist ** (p - 1)


@jit
def _triplet_finish(_t, to_pos, to_neg, pos_neg, s, margin, p, _eps, swap):
    """(ℓ, the scales of the three distances' gradients (``_distance_scale``)): 0 where the
    hinge is < 0; a tie of d_neg and d_swap splits it, as PyTorch's minimum does."""
    d_pos = _norm(to_pos, p)
    d_neg = _norm(to_neg, p)
    d_swap = _norm(pos_neg, p) if swap else inf
    nearest = d_neg if not d_swap < d_neg else d_swap
    if d_neg != d_neg or d_swap != d_swap:
        nearest = d_neg + d_swap  # NaN, as PyTorch's minimum
    u = margin + d_pos - nearest
    s_pos = s if u >= 0 else 0.0
    share_neg = 1.0 if d_neg < d_swap else (0.5 if d_neg == d_swap else 0.0)
    s_swap = -s_pos * (1.0 - share_neg) if swap else 0.0
    # quiet: no gradient, and every e finite (the distances are), so that every element's is
    # exactly 0; the element loop then writes zeros without reading the row
    quiet = s_pos == 0 and d_pos < inf and d_neg < inf and (d_swap < inf or not swap)
    scales = (_distance_scale(d_pos, s_pos, p), _distance_scale(d_neg, -s_pos * share_neg, p),
              _distance_scale(d_swap, s_swap, p), quiet)
    return u if not u < 0 else 0.0, scales


@jit
def _distance_grad(e, scale, p):
    """e·|e|^(p−2)·scale, the first factor 0 at e = 0. As in PyTorch's norm backward, the product
    is taken also where scale = 0: an infinite e, or a NaN scale (a NaN distance), gives NaN
    there, not a silent 0."""
    if p == 2:
        return e * scale
    return (e * exp((p - 2) * log(abs(e))) if e != 0 else 0.0) * scale


@jit
def _triplet_element(a, pos, neg, scales, _margin, p, eps, swap):
    to_pos, to_neg, pos_neg, _quiet = scales
    g_pos = _distance_grad(a - pos + eps, to_pos, p)
    g_neg = _distance_grad(a - neg + eps, to_neg, p)
    g_swap = _distance_grad(pos - neg + eps, pos_neg, p) if swap else 0.0
    # in float64, rounded once when stored; + 0.0 makes a zero +0, as a quiet row's
    return g_pos + g_neg + 0.0, g_swap - g_pos + 0.0, -g_neg - g_swap + 0.0


@split_vector_into(_triplet_terms, _triplet_finish, _triplet_element)
@jit
def triplet_margin_loss_row(a, pos, neg, t, _w, ga, gp, gn, s, grad, margin, p, eps, swap):
    """ℓ = max(0, margin + d(a, pos) − d(a, neg)), d(u, v) = ‖u − v + eps‖_p.

    With swap, d(a, neg) is min(d(a, neg), d(pos, neg)). The gradient passes where the hinge
    is ≥ 0: ∂d(u, v)/∂u_k = e_k·|e_k|^(p−2)/d^(p−1), e = u − v + eps, and −that for v.
    """
    to_pos, to_neg, pos_neg = _triplet_terms(a, pos, neg, margin, p, eps, swap)
    loss, scales = _triplet_finish(t, to_pos, to_neg, pos_neg, s, margin, p, eps, swap)
    if grad and scales[3]:  # quiet (_triplet_finish): every element's gradient is +0
        for k in range(a.shape[0]):
            ga[k] = gp[k] = gn[k] = 0.0
    elif grad and p == 2:  # (a loop of its own: the general one's exp and log stop LLVM unswitching it)
        for k in range(a.shape[0]):
            ga[k], gp[k], gn[k] = _triplet_element(a[k], pos[k], neg[k], scales, margin, 2.0, eps, swap)
    elif grad:
        for k in range(a.shape[0]):
            ga[k], gp[k], gn[k] = _triplet_element(a[k], pos[k], neg[k], scales, margin, p, eps, swap)
    return loss


@jit
def _cosine_terms(x1, x2, _z, _margin):
    """(Σ x1·x2, Σ x1², Σ x2²) in float64, each product exact for float32 inputs: the
    gradient x2/√(m1·m2) − cos·x1/m1 is a difference of terms that cancel for parallel
    vectors, and float32 products would leave their rounding (~1e-7 of the terms) there."""
    dot = 0.0
    m1 = 0.0
    m2 = 0.0
    for k in range(x1.shape[0]):
        a = like(1.0, x1[k])  # in float64
        b = like(1.0, x2[k])
        dot += a * b
        m1 += a * a
        m2 += b * b
    return dot, m1, m2


@jit
def _cosine_finish(t, dot, m1, m2, s, margin):
    """(ℓ, (s·∂ℓ/∂cos, √(m1·m2), cos, m1, m2)), m the squared norms plus ε."""
    y = t[0]
    m1 += COSINE_EPS
    m2 += COSINE_EPS
    denom = sqrt(m1 * m2)
    cos = dot / denom
    slope = 0.0  # ∂ℓ/∂cos
    loss = 0.0
    if y == 1:
        loss, slope = 1.0 - cos, -1.0
    elif y == -1:
        u = cos - margin
        loss = u if not u < 0 else 0.0
        slope = 1.0 if u >= 0 else 0.0
    return loss, (s * slope, denom, cos, m1, m2)


@jit
def _cosine_element(x1, x2, _z, constants, _margin):
    c, denom, cos, m1, m2 = constants
    return c * (x2 / denom - cos * x1 / m1), c * (x1 / denom - cos * x2 / m2), 0.0


@split_vector_into(_cosine_terms, _cosine_finish, _cosine_element)
@jit
def cosine_embedding_loss_row(x1, x2, z, t, _w, g1, g2, _gz, s, grad, margin):
    """With cos = Σx1·x2/√((Σx1² + ε)(Σx2² + ε)), ε = COSINE_EPS:
    ℓ = 1 − cos if y = 1, max(0, cos − margin) if y = −1, 0 for any other label.

    ∂cos/∂x1 = x2/√(m1·m2) − cos·x1/m1 (m the squared norms plus ε), likewise for x2.
    """
    dot, m1, m2 = _cosine_terms(x1, x2, z, margin)
    loss, constants = _cosine_finish(t, dot, m1, m2, s, margin)
    if grad:
        for k in range(x1.shape[0]):
            g1[k], g2[k], _ = _cosine_element(x1[k], x2[k], 0.0, constants, margin)
    return loss
