"""Property-based tests (Hypothesis) against PyTorch.

For every operator of the table, Hypothesis draws a shape (0-d, empty, size-1 axes), a dtype
(float16/32/64, integers, bool), parameters across their valid ranges, values among ±0,
subnormals, ±inf, NaN, huge and tiny numbers, and a layout for every array argument (inputs,
grad_output, weights, targets, out). Every forward, backward and fused result must match
PyTorch in float64 within the tolerances of the other tests (or PyTorch's own result in the
same dtype), other dtypes must give the result of their promoted dtype, ``out=`` must receive
the result, and no input may change unless ``out=`` names it.

Profiles (tests/conftest.py): ``ci`` for ``make test``, ``fuzz`` for ``make fuzz``.
"""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st

import numact
from layouts import LAYOUTS, lay_out, source_shape
from loss_cases import Case, numact_call, torch_loss
from numact.operators import ACTIVATIONS, LOSSES, REQUIRED
from support import TARGET, assert_close, op_params, reference, scalar_code_at_nan, to_host

FLOATS = (np.float32, np.float64)
OTHER_DTYPES = (np.float16, np.bool_, np.int8, np.uint8, np.int16, np.int32, np.int64)
SHAPES = st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple) if TARGET == "cpu" else \
    st.lists(st.integers(0, 3), min_size=0, max_size=2).map(tuple)
LARGE = [1e5, -6e4, 2e6, -3e7]  # large but common magnitudes (sine's w0·x beyond 1.5·2^20)
SPECIALS = {
    np.float32: [0.0, -0.0, 1e-45, -1e-45, 1.2e-38, 3e38, -3e38, 1e-30, 1e30, np.inf, -np.inf, np.nan] + LARGE,
    np.float64: [0.0, -0.0, 5e-324, -5e-324, 2.3e-308, 1.7e308, -1.7e308, 1e-300, 1e300, np.inf, -np.inf, np.nan]
    + LARGE,
}


def per_operator(test):
    """The test once per operator, each with a share of the profile's examples (at least 4)."""
    return settings(max_examples=max(4, settings.default.max_examples // 8))(test)


def values(dtype, shape, data, low=-30.0, high=30.0, specials=True):
    """An array of ``shape`` of moderate numbers and, where ``specials``, the special ones."""
    number = st.floats(low, high, width=64)
    if specials and dtype in SPECIALS:
        number = st.one_of(number, st.sampled_from(SPECIALS[dtype]), st.floats(allow_nan=True, width=32))
    elif specials:
        number = st.one_of(number, st.sampled_from([0.0, -0.0]))
    flat = data.draw(st.lists(number, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    with np.errstate(over="ignore", invalid="ignore"):
        return np.array(flat, np.float64).astype(dtype).reshape(shape)


def laid_out(data, dtype, shape, what, make=None):
    """An array of ``shape`` in a drawn layout (its values drawn, or made by ``make(shape)``)."""
    layout = data.draw(st.sampled_from(LAYOUTS), label=f"{what} layout")
    src = source_shape(layout, shape, data.draw(st.integers(0, 3)))
    a = make(src) if make is not None else values(dtype, src, data)
    return lay_out(a, layout, shape)


def leading(a):
    """A maker of ``a``'s leading entries in a given shape (a source for ``laid_out`` whose
    broadcast layout repeats the first entry along one axis: still valid values)."""
    return lambda shape: a[tuple(slice(0, n) for n in shape)]


def host_copy(a):
    return np.array(to_host(a), copy=True)


def bits(a) -> np.ndarray:
    """The bytes of an array's elements in C order, whatever its layout (NaN payloads too)."""
    return np.ascontiguousarray(np.asarray(to_host(a))).reshape(-1).view(np.uint8)


def assert_unchanged(before: dict, after: dict):
    for name, old in before.items():
        np.testing.assert_array_equal(bits(after[name]), bits(old), err_msg=f"{name} changed")


def same_bits(a, b, what):
    a, b = np.asarray(to_host(a)), np.asarray(to_host(b))
    assert a.dtype == b.dtype and a.shape == b.shape, what
    np.testing.assert_array_equal(bits(a), bits(b), err_msg=what)


# --- activations ----------------------------------------------------------------------------


def draw_param(data, op, p, low=-256, high=256):
    """One parameter: its default, its example, or k/64 for k in [low, high] (dyadic values,
    exact in float32: torch's float64 celu backward rounds alpha to float32, its autograd
    formula taking 1/alpha.toFloat(), where numact does not). A value the operator refuses
    makes Hypothesis draw another example."""
    known = [v for v in (p.default, p.example) if v is not REQUIRED]
    if isinstance(known[0], str):
        return data.draw(st.sampled_from(known), label=p.name)
    value = data.draw(st.one_of(st.sampled_from(known), st.integers(low, high).map(lambda k: k / 64)),
                      label=p.name)
    try:
        p.kernel_value(op.name, value)
    except ValueError:
        assume(False)
    return value


def draw_params(data, op):
    """The activation's parameters (hardtanh's range not empty)."""
    params = {p.name: draw_param(data, op, p) for p in op.params}
    if op.name == "hardtanh":
        assume(params["min_val"] < params["max_val"])
    return params


def torch_activation(op, x, g, params, weight=None):
    """(forward, backward): PyTorch's results in x's dtype."""
    if op.kind == "channelwise":
        xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(weight, requires_grad=True)
        y = F.prelu(xt, wt)
        gx, gw = torch.autograd.grad(y, (xt, wt), torch.tensor(g), allow_unused=True)
        return y.detach().numpy(), (gx.numpy(), (torch.zeros_like(wt) if gw is None else gw).numpy())
    y, dx = reference(op, x, params), reference(op, x, params, g)
    if op.name == "gelu" and params.get("approximate") == "tanh" and x.dtype == np.float64:
        y, dx = exact_gelu_tanh_tail(x, g, y, dx)
    return y, dx


def exact_gelu_tanh_tail(x, g, y, dx):
    """torch's tanh-form gelu in float64 takes 1 + tanh u, which cancels for x ≪ 0 (0.4% off at
    x = −6.75, where numact's σ(2u) is exact to 1e-15): from x = −3 down to where x³ overflows,
    the truth is mpmath's."""
    import mpmath

    y, dx = np.array(y, copy=True), np.array(dx, copy=True)
    xb, gb = np.broadcast_arrays(x, g)
    k, c = mpmath.sqrt(2 / mpmath.pi), mpmath.mpf(0.044715)

    def f(v):
        return v * (1 + mpmath.tanh(k * (v + c * v**3))) / 2

    with mpmath.workdps(40):
        for i in np.ndindex(xb.shape):
            if not -1e100 < xb[i] < -3:  # (beyond, x³ overflows: torch's NaN, and numact's)
                continue
            v = mpmath.mpf(float(xb[i]))
            if y.shape == xb.shape:
                y[i] = float(f(v))
            dx[i] = float(mpmath.diff(f, v) * mpmath.mpf(float(gb[i])))
    return y, dx


@pytest.mark.parametrize("op", ACTIVATIONS, ids=lambda op: op.name)
@per_operator
@given(data=st.data())
def test_an_activation_matches_torch_in_any_layout(op, data):
    dtype = data.draw(st.sampled_from(FLOATS), label="dtype")
    shape = data.draw(SHAPES, label="shape")
    if op.kind == "rowwise" or op.kind == "channelwise":
        assume(len(shape) >= 1)
    params = op_params(op, draw_params(data, op))
    if op.kind == "rowwise":
        params["axis"] = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    x = laid_out(data, dtype, shape, "x")
    g = laid_out(data, dtype, shape, "grad_output", lambda s: values(dtype, s, data, specials=False))
    weight = None
    if op.kind == "channelwise":
        channels = shape[1] if len(shape) >= 2 else 1
        weight = laid_out(data, dtype, (data.draw(st.sampled_from([1, channels])),), "weight",
                          lambda s: values(dtype, s, data, -1, 1, specials=False))
        params = {"weight": weight}
    inputs = {"x": x, "grad_output": g, **({"weight": weight} if weight is not None else {})}
    before = {k: host_copy(v) for k, v in inputs.items()}
    forward, backward = getattr(numact, op.name), getattr(numact, op.name + "_backward")

    y, dx = forward(x, **params), backward(g, x, **params)
    assert_unchanged(before, inputs)

    hx, hg = before["x"], before["grad_output"]
    hw = None if weight is None else before["weight"]
    reference_params = {} if weight is not None else params  # (with the drawn axis)
    truth = torch_activation(op, hx.astype(np.float64), hg.astype(np.float64), reference_params,
                             None if hw is None else hw.astype(np.float64))
    low = torch_activation(op, hx, hg, reference_params, hw)
    ours = [(f"{op.name}", y, truth[0], low[0])]
    if op.kind == "channelwise":
        ours += [(f"{op.name}_backward x", dx[0], truth[1][0], low[1][0]),
                 (f"{op.name}_backward weight", dx[1], truth[1][1], low[1][1])]
    else:
        ours += [(f"{op.name}_backward", dx, truth[1], low[1])]
    if op.kind == "elementwise":  # at a NaN x, torch's scalar code (support.TORCH_NAN_POSITIONAL)
        truth64 = scalar_code_at_nan(op, hx.astype(np.float64), hg.astype(np.float64), reference_params, truth[1])
        ours[-1] = (ours[-1][0], dx, truth64, scalar_code_at_nan(op, hx, hg, reference_params, low[1]))
    for what, got, t, lo in ours:
        got = to_host(got)
        assert got.dtype == dtype and got.shape == t.shape, what
        assert_close(got, t, lo, dtype, what, hx if got.shape == hx.shape else None)

    # out= in a drawn layout, or an input itself (in place): the same bits as a fresh result
    into = data.draw(st.sampled_from(["fresh", "x", "grad_output"] if op.kind != "channelwise" else ["fresh"]), label="out")
    if into == "fresh":
        out = laid_out(data, dtype, shape, "out", lambda s: np.zeros(s, dtype))
        if TARGET == "cpu" and not out.flags.writeable:
            return  # a broadcast out is refused (tested elsewhere)
    else:
        plain = {k: lay_out(v, "C", v.shape) for k, v in before.items()}
        x, g = plain["x"], plain["grad_output"]
        out = x if into == "x" else g
    if op.kind == "channelwise":
        assert forward(x, out=out, **params) is out
        same_bits(out, y, f"{op.name} out=")
        return
    result = backward(g, x, **params, out=out)
    assert result is out
    same_bits(out, dx, f"{op.name}_backward out={into}")


@given(data=st.data())
def test_another_dtype_gives_the_result_of_its_promoted_dtype(data):
    op = data.draw(st.sampled_from([op for op in ACTIVATIONS if op.kind != "channelwise"]), label="op")
    dtype = data.draw(st.sampled_from(OTHER_DTYPES), label="dtype")
    shape = data.draw(SHAPES, label="shape")
    if op.kind == "rowwise":
        assume(len(shape) >= 1)
    params = op_params(op, draw_params(data, op))
    if dtype == np.bool_:
        x = laid_out(data, dtype, shape, "x", lambda s: values(np.float64, s, data, -1, 1, specials=False) > 0)
    elif np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        x = laid_out(data, dtype, shape, "x", lambda s: np.array(
            data.draw(st.lists(st.integers(max(info.min, -1000), min(info.max, 1000)),
                               min_size=int(np.prod(s)), max_size=int(np.prod(s)))), dtype).reshape(s))
    else:
        x = laid_out(data, dtype, shape, "x")
    host = np.asarray(to_host(x))
    promoted = np.exp(np.zeros(1, dtype)).dtype
    forward = getattr(numact, op.name)
    y = to_host(forward(x, **params))
    if dtype == np.float16:  # (on the target under test: the same sums in the same order)
        expected = to_host(forward(lay_out(host.astype(np.float32), "C", shape), **params)).astype(np.float16)
    else:
        expected = forward(lay_out(host.astype(promoted), "C", shape), **params)
    same_bits(y, expected, f"{op.name} of {np.dtype(dtype).name}")


# --- losses ---------------------------------------------------------------------------------

def draw_loss_params(data, op):
    params = {}
    for p in op.params:
        if p.name == "ignore_index":
            params[p.name] = data.draw(st.sampled_from([-100, 1]), label=p.name)
        elif isinstance(p.default, bool):
            params[p.name] = data.draw(st.booleans(), label=p.name)
        else:
            params[p.name] = draw_param(data, op, p, 1, 192)
    return params


def loss_arrays(data, case, dtype):
    """The loss's arrays: an element-wise loss's of a drawn shape with special values (BCE's in
    [0, 1]); a class or vector loss's from loss_cases (random seed), its input with specials."""
    op = case.op
    if op.kind == "elementwise":
        shape = data.draw(SHAPES, label="shape")
        probability = op.name == "binary_cross_entropy"
        arrays = {}
        for name in op.arrays:
            if probability:
                arrays[name] = values(dtype, shape, data, 0.0, 1.0, specials=False)
            elif name == "target" and op.name == "margin_ranking_loss":
                arrays[name] = np.array(data.draw(st.lists(st.sampled_from([-1.0, 1.0, 0.5]), min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))), dtype).reshape(shape)
            elif name == "target" and op.name in ("binary_cross_entropy_with_logits", "kl_div"):
                arrays[name] = values(dtype, shape, data, 0.0, 1.0, specials=False)
            else:
                arrays[name] = values(dtype, shape, data, -20, 20)
                # Within half the float maximum: numact's gradients, such as mse's 2(x − y)·g/n,
                # overflow to ±inf where 2(x − y) does; torch scales first (docs/operators/contract.md says so).
                limit = np.finfo(dtype).max / 4
                a = arrays[name]
                with np.errstate(invalid="ignore"):
                    arrays[name] = np.where(np.isfinite(a) & (np.abs(a) > limit), np.sign(a) * 1e30, a)
        return arrays
    arrays = case.arrays(dtype, seed=data.draw(st.integers(0, 2**16), label="seed"))
    if data.draw(st.booleans(), label="specials"):  # one special value in one input
        x = arrays[data.draw(st.sampled_from(op.inputs), label="special input")]
        if x.size:
            k = data.draw(st.integers(0, x.size - 1))
            x.flat[k] = data.draw(st.sampled_from([np.inf, -np.inf, np.nan, 1e30, -1e30, 0.0]), label="special")
    return arrays


@pytest.mark.parametrize("op", LOSSES, ids=lambda op: op.name)
@per_operator
@given(data=st.data())
def test_a_loss_matches_torch_in_any_layout(op, data):
    dtype = data.draw(st.sampled_from(FLOATS), label="dtype")
    params = draw_loss_params(data, op)
    weights = data.draw(st.sampled_from([(), op.weights]), label="weights") if op.weights else ()
    probs = op.probs_math is not None and params.get("ignore_index", -100) < 0 and data.draw(st.booleans(), label="probs")
    # (the element-wise losses' weights are tested in tests/test_losses.py)
    case = Case(op, params, () if op.kind == "elementwise" else weights, probs)
    host = loss_arrays(data, case, dtype)
    reduction = data.draw(st.sampled_from(op.reductions), label="reduction")
    arrays = {k: laid_out(data, v.dtype, v.shape, k, leading(v)) for k, v in host.items()}
    # PyTorch's results from C-contiguous copies: on a strided row it sums in another order, and
    # so breaks a tie (triplet's d(a, n) = d(p, n) where a = p, with swap) that numact keeps;
    # and its nll_loss2d backward refuses an input in Fortran order.
    host = {k: np.array(to_host(v), order="C") for k, v in arrays.items()}
    note(f"arrays: {host}")
    as64 = {k: v.astype(np.float64) if v.dtype.kind == "f" else v for k, v in host.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        truth = torch_loss(case, as64, reduction)
        low = torch_loss(case, host, reduction)
    loss_shape = truth.shape
    g = np.asarray(dtype(1.7)) if reduction != "none" else values(dtype, loss_shape, data, -2, 2, specials=False)
    grad_output = g if reduction != "none" else laid_out(data, dtype, loss_shape, "grad_output", leading(g))
    g_host = np.array(to_host(grad_output), copy=True) if reduction == "none" else g

    loss = numact_call(case, "", arrays, reduction)
    grads = numact_call(case, "_backward", arrays, reduction, grad_output if reduction == "none" else float(g))
    fused_loss, fused_grads = numact_call(case, "_forward_backward", arrays, reduction)
    assert_unchanged(host, arrays)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        truth_grads = torch_loss(case, as64, reduction, np.asarray(g_host, np.float64))[1]
        low_grads = torch_loss(case, host, reduction, np.asarray(g_host, dtype))[1]
        ones_grads = torch_loss(case, as64, reduction, np.ones(loss_shape))[1]
        ones_low = torch_loss(case, host, reduction, np.ones(loss_shape, dtype))[1]
    for result in (loss, fused_loss):
        assert_close(to_host(result), truth, low, dtype, f"{op.name}[{reduction}]")
    grads = grads if isinstance(grads, tuple) else (grads,)
    fused_grads = fused_grads if isinstance(fused_grads, tuple) else (fused_grads,)
    slack, slack1 = (cancellation(op, params, dtype, g) for g in (truth_grads, ones_grads))
    for k, (name, ours, fused) in enumerate(zip(op.inputs, grads, fused_grads)):
        assert to_host(ours).shape == host[name].shape
        assert_close(to_host(ours), truth_grads[k], low_grads[k], dtype, f"{op.name}_backward[{name}, {reduction}]",
                     slack=slack[k])
        assert_close(to_host(fused), ones_grads[k], ones_low[k], dtype,
                     f"{op.name}_forward_backward[{name}, {reduction}]", slack=slack1[k])


def cancellation(op, params, dtype, grads):
    """How far the float64 truth of each gradient may be from the exact one, or from the one
    of the dtype's differences, where it is a difference of larger terms. Triplet's distances
    are each of a difference of two inputs, so the three gradients sum to 0, and each is made
    of terms as large as the other two together: at p near 0, d^(1−p) makes those terms ~1e49
    where their difference is exactly 0, and float64 keeps only its last bits (~1e33). And
    PyTorch takes u − v in the inputs' dtype (so does numact), where the truth has it in
    float64: a float32 difference's rounding moves each term by up to about |p − 1| + 1 of
    float32's units. Elsewhere no slack."""
    if op.name != "triplet_margin_loss":
        return [0.0] * len(grads)
    size = [np.abs(np.asarray(g, np.float64)) for g in grads]
    p = params.get("p", 2.0)
    unit = 2.0**-53 if dtype == np.float64 else 2.0**-24 * (abs(p - 1) + 1)
    return [8 * unit * sum(s for j, s in enumerate(size) if j != k) for k in range(len(grads))]
