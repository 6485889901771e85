"""SPEC.md's numerics, in float32 over the whole real line, on the target under test."""

import warnings

import mpmath
import numpy as np
import pytest

import numact
from numact.operators import param_cases
from support import to_host, to_target

F32 = np.float32


def run(fn, values, *args, **kwargs):
    return to_host(fn(to_target(np.asarray(values, F32)), *args, **kwargs))


def test_sigmoid_never_overflows():
    y = run(numact.sigmoid, [-1e4, -100.0, -88.0, 88.0, 100.0, 1e4])
    assert np.all(np.isfinite(y)) and y[0] == 0 and y[-1] == 1
    assert y[1] == F32(np.exp(-100.0))  # e^−100 is a normal float32: kept, not flushed to 0


def test_logsigmoid_of_minus_100_is_minus_100_not_minus_inf():
    y = run(numact.logsigmoid, [-1e4, -100.0, 0.0, 20.0])
    np.testing.assert_array_equal(y[:2], [-1e4, -100.0])
    assert y[2] == F32(-np.log(2)) and y[3] == F32(-np.exp(-20.0))


def test_a_result_beyond_its_dtype_is_inf_without_a_warning():
    """numact's arithmetic overflows to ±inf silently, as torch's does; so do the casts of its
    float64 sums to the result's type and of float16 results computed in float32, on the short
    path of a small contiguous call and on the general path (strided), where NumPy's own casts
    would warn."""
    for dtype, big in ((np.float16, 6e4), (F32, 3e38)):
        x, zero = np.full(20, big, dtype), np.zeros(20, dtype)
        xt, zt = to_target(x), to_target(zero)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            # (the simulator runs a kernel's stores as NumPy casts, which warn; a GPU does not)
            warnings.filterwarnings("ignore", category=RuntimeWarning, module=r".*\.cuda\.simulator\.")
            for a, b in ((xt[:10], zt[:10]), (xt[::2], zt[::2])):  # contiguous; strided
                assert to_host(numact.l1_loss(a, b, reduction="sum")) == np.inf
                loss, grad = numact.l1_loss_forward_backward(a, b, reduction="sum")
                assert to_host(loss) == np.inf and np.all(to_host(grad) == 1)
                w = to_target(np.ones(2, dtype))
                _, grad_w = numact.prelu_backward(to_target(np.ones((5, 2), dtype)), to_target(-x[:10].reshape(5, 2)), w)
                np.testing.assert_array_equal(to_host(grad_w), [-np.inf, -np.inf])
            np.testing.assert_array_equal(to_host(numact.linear(to_target(x), c=4.0)), np.full(20, np.inf, dtype))
            # a broadcast input's gradient, summed back to its shape in float64
            a, b = to_target(np.ones(10, dtype)), to_target(np.full(1, 2.0, dtype))
            _, grad_b = numact.margin_ranking_loss_backward(dtype(big / 4), a, b, a, reduction="sum")
            np.testing.assert_array_equal(to_host(grad_b), [np.inf])


def test_softplus_is_linear_past_the_threshold():
    np.testing.assert_array_equal(run(numact.softplus, [20.5, 1e4, 3e38]), np.array([20.5, 1e4, 3e38], F32))
    np.testing.assert_array_equal(run(numact.softplus, [5.5], beta=2.0, threshold=10.0), [5.5])


def test_softmax_family_rows_of_minus_inf_are_nan_and_large_rows_do_not_overflow():
    rows = np.array([[-np.inf] * 4, [1e4, 1e4 - 1, 0.0, -1e4]], F32)
    for fn in (numact.softmax, numact.softmin, numact.log_softmax):
        assert np.all(np.isnan(run(fn, rows)[0]))
    p = run(numact.softmax, rows)[1]
    assert np.all(np.isfinite(p)) and abs(p.sum() - 1) < 1e-6
    assert np.all(np.isfinite(run(numact.log_softmax, rows)[1][:3]))


def test_tanh_and_gelu_saturate_exactly():
    np.testing.assert_array_equal(run(numact.tanh, [-20.0, -1e4, 20.0, 1e4]), [-1, -1, 1, 1])
    big = [10.0, 20.0, 1e4]
    np.testing.assert_array_equal(run(numact.gelu, big), big)
    np.testing.assert_array_equal(run(numact.gelu, big, approximate="tanh"), big)
    np.testing.assert_array_equal(run(numact.gelu, [-1e4]), [0.0])


def test_saturated_gradients_keep_their_relative_precision():
    """y(1 − y) and 1 − y² round to 0 long before the true gradient underflows."""
    x = np.array([20.0, 40.0], F32)
    one = np.ones(2, F32)
    sig = to_host(numact.sigmoid_backward(to_target(one), to_target(x)))
    np.testing.assert_allclose(sig, np.exp(-x.astype(np.float64)), rtol=1e-6)
    tanh = to_host(numact.tanh_backward(to_target(one[:1]), to_target(x[:1] / 2)))
    np.testing.assert_allclose(tanh, 4 * np.exp(-20.0), rtol=1e-6)


def test_nan_in_gives_nan_out():
    for op in numact.ACTIVATIONS:
        if op.kind == "channelwise":
            y = to_host(numact.prelu(to_target(np.array([np.nan], F32)), 0.25))
        else:
            y = run(getattr(numact, op.name), [np.nan], **param_cases(op)[0])
        assert np.isnan(y).all(), op.name


def test_hardtanh_clamps_as_torch_with_a_nan_bound_or_equal_bounds():
    """torch.clamp: NaN where x or a bound is NaN; equal bounds give the bound, and a gradient
    of 0 everywhere but at a NaN x (x ≤ min_val or x ≥ max_val holds for every other x)."""
    x = [-np.inf, -2.0, -0.0, 0.0, 0.5, 2.0, np.inf, np.nan]
    for bounds in [(np.nan, 1.0), (-1.0, np.nan), (np.nan, np.nan), (-np.inf, np.nan)]:
        assert np.all(np.isnan(run(numact.hardtanh, x, *bounds)))
    np.testing.assert_array_equal(run(numact.hardtanh, x, 0.5, 0.5), [0.5] * 7 + [np.nan])
    g = run(numact.hardtanh_backward, np.ones(8), to_target(np.asarray(x, F32)), 0.5, 0.5)
    np.testing.assert_array_equal(g, [0.0] * 7 + [1.0])
    # ±0 inside the range are x itself, sign included; the bounds' own zeros where x is beyond
    y = run(numact.hardtanh, [-0.0, 0.0, -1.0, 1.0], -0.0, 0.0)
    np.testing.assert_array_equal(np.signbit(y), [True, False, True, False])


@pytest.mark.parametrize("name", ["elu", "celu"])
def test_elu_and_celu_at_zero_are_x_itself_for_every_alpha(name):
    """PyTorch returns x at ±0 (its sign too), where α·(e^(±0) − 1) would flip the sign for
    α < 0 and give NaN for α = ±inf or NaN; the gradient at 0 is α's side's, as PyTorch's."""
    for alpha in [1.0, -1.0, 2.5, np.inf, -np.inf, np.nan]:
        y = run(getattr(numact, name), [-0.0, 0.0], alpha=alpha)
        np.testing.assert_array_equal(y, [0.0, 0.0])
        np.testing.assert_array_equal(np.signbit(y), [True, False])
    g = run(numact.elu_backward, [1.0, 1.0], to_target(np.array([-0.0, 0.0], F32)), alpha=-1.0)
    np.testing.assert_array_equal(g, [-1.0, -1.0])


def test_sine_is_the_sine_for_every_finite_x():
    # w0·x beyond 1.5·2^20·π/2 once came out NaN (a reduction by π/2 that stops being exact
    # there); torch and NumPy give the sine. Every finite x, and the backward's cosine too.
    x = np.array([1e5, -6e4, 1.7e5, 1e10, -1e30, 1e38, 3.4e38, 0.25], F32)
    for dtype in (np.float32, np.float64):
        xs = x.astype(dtype)
        with np.errstate(over="ignore"):
            wide = (dtype(30) * xs).astype(np.float64)  # w0·x in x's dtype, as torch.sin(w0 * x)
        y = to_host(numact.sine(to_target(xs)))
        dx = to_host(numact.sine_backward(to_target(np.ones_like(xs)), to_target(xs)))
        finite = np.isfinite(wide)
        np.testing.assert_allclose(y[finite], np.sin(wide[finite]), rtol=1e-6 if dtype == F32 else 1e-15, atol=1e-7)
        np.testing.assert_allclose(dx[finite], 30 * np.cos(wide[finite]), rtol=1e-6 if dtype == F32 else 1e-14, atol=1e-5)


@pytest.mark.cpu_only
@pytest.mark.parametrize("dtype, low, rtol", [(np.float32, -13.0, 6e-7), (np.float64, -37.0, 2e-15)],
                         ids=["float32", "float64"])
def test_gelu_keeps_its_relative_precision_far_in_the_tail(dtype, low, rtol):
    """x·Φ(x) and Φ(x) + x·φ(x) within a few ulps down to where they become subnormal: −x²/2 goes
    into the exponential exactly (rounding −x/√2 first would cost x²·ε, 180 ulps at x = −13)."""
    mpmath.mp.dps = 40
    x = np.linspace(low, -4.0, 301).astype(dtype)
    exact = [(v * mpmath.ncdf(v), mpmath.ncdf(v) + v * mpmath.npdf(v)) for v in map(mpmath.mpf, x.tolist())]
    np.testing.assert_allclose(numact.gelu(x), np.array([float(y) for y, _ in exact]), rtol=rtol, atol=0)
    np.testing.assert_allclose(numact.gelu_backward(np.ones_like(x), x), np.array([float(d) for _, d in exact]),
                               rtol=rtol, atol=0)
