"""The short paths: small plain NumPy arrays skip the general call's checks and launch directly
(numact._api, numact._loss_api). They must give the general path's bits, and leave to it
every call they do not cover, so that it raises what is to be raised."""

import numpy as np
import pytest

import numact
from numact.operators import ACTIVATIONS, param_cases
from loss_cases import cases, numact_call
from support import op_params

pytestmark = pytest.mark.cpu_only  # the short paths are the CPU's


class Other(np.ndarray):
    """An ndarray subclass: never plain, so it takes the general path with the same data."""


def general(a):
    return a.view(Other) if isinstance(a, np.ndarray) else a


def host(result):
    if isinstance(result, tuple):
        return tuple(host(r) for r in result)
    return np.asarray(result)


def assert_same_bits(short, reference):
    short, reference = host(short), host(reference)
    if isinstance(short, tuple):
        assert len(short) == len(reference)
        for s, r in zip(short, reference):
            assert_same_bits(s, r)
        return
    assert type(short) is np.ndarray and short.dtype == reference.dtype and short.shape == reference.shape
    bits = [np.ascontiguousarray(a).reshape(-1).view(np.uint8) for a in (short, reference)]
    np.testing.assert_array_equal(*bits)


SHAPES = [(1000,), (10, 100), (2, 3, 4)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("op", [pytest.param(op, id=op.name) for op in ACTIVATIONS])
def test_an_activation_gives_the_general_paths_bits(op, shape, dtype):
    rng = np.random.default_rng(0)
    x = (rng.normal(0, 3, shape)).astype(dtype)
    g = rng.normal(0, 1, shape).astype(dtype)
    x.flat[:4] = [np.nan, np.inf, -0.0, 0.0]
    forward, backward = getattr(numact, op.name), getattr(numact, op.name + "_backward")
    for params in [op_params(op, p) for p in param_cases(op)]:
        if op.kind == "channelwise":
            params = {"weight": rng.uniform(0, 0.5, shape[1] if len(shape) > 1 else 1).astype(dtype)}
        other = {k: general(v) for k, v in params.items()}
        reference = forward(general(x), **other), backward(general(g), general(x), **other)
        # the first call remembers the values, the second takes the small arrays' ufunc
        for _ in range(2):
            assert_same_bits((forward(x, **params), backward(g, x, **params)), reference)


def _layouts(x):
    """x in the layouts a small call meets: the ufunc takes the 1-D and C-contiguous ones."""
    wide = np.repeat(x, 2)
    return {"1-D": x, "step 2": wide[::2], "reversed": x[::-1].copy()[::-1], "2-D": x.reshape(10, -1),
            "Fortran": np.asfortranarray(x.reshape(10, -1)), "0-d": x[:1].reshape(()), "empty": x[:0]}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", [pytest.param(op, id=op.name) for op in ACTIVATIONS if op.kind == "elementwise"])
def test_a_small_call_through_the_ufunc_is_the_general_paths_in_every_layout(op, dtype):
    rng = np.random.default_rng(1)
    base = rng.normal(0, 3, 1000).astype(dtype)
    forward, backward = getattr(numact, op.name), getattr(numact, op.name + "_backward")
    params = op_params(op, param_cases(op)[-1])
    forward(base, **params), backward(base, base, **params)  # remembered
    assert forward.__globals__["_small_forward"] and backward.__globals__["_small_backward"]
    for name, x in _layouts(base).items():
        g = np.ones_like(x)
        before = x.copy()
        y, dx = forward(x, **params), backward(g, x, **params)
        assert_same_bits(y, forward(general(x), **params))
        assert_same_bits(dx, backward(general(g), general(x), **params))
        assert y.flags.c_contiguous and dx.flags.c_contiguous, name
        assert not np.shares_memory(y, x) and not np.shares_memory(dx, g), name
        assert_same_bits(x, before)
    # grad_output broadcast to x's shape, as the general path does; x never to grad_output's
    assert_same_bits(backward(np.ones(1, dtype), base, **params), backward(np.ones_like(base), base, **params))
    with pytest.raises(ValueError, match="does not broadcast"):
        backward(np.ones_like(base), base[:1], **params)


def _unreachable(*args, **kwargs):
    raise AssertionError("a remembered small call reached the general functions")


@pytest.mark.parametrize("op", [pytest.param(op, id=op.name) for op in ACTIVATIONS if op.kind == "elementwise"])
def test_a_remembered_small_activation_call_goes_straight_to_its_ufunc(op, monkeypatch):
    x = np.linspace(-3, 3, 1000, dtype=np.float32)
    forward, backward = getattr(numact, op.name), getattr(numact, op.name + "_backward")
    params = op_params(op, param_cases(op)[0])
    forward(x, **params), backward(x, x, **params)
    monkeypatch.setitem(forward.__globals__, "_forward", _unreachable)
    monkeypatch.setitem(backward.__globals__, "_backward", _unreachable)
    forward(x, **params), backward(x, x, **params)


def _outs(x):
    """out= arrays for x: the ones a short path writes itself, and the ones it leaves to the
    general path (which scratches or refuses them)."""
    wide = np.empty(2 * x.size, x.dtype)
    return {"fresh": (np.empty_like(x), True), "x itself": (x, True),
            "Fortran": (np.asfortranarray(np.empty_like(x)), x.ndim < 2),
            "step 2": (wide[::2].reshape(x.shape), False),
            "half over x": (None, False)}


@pytest.mark.parametrize("size", [1000, 40_000])  # one thread and threaded
@pytest.mark.parametrize("op", [pytest.param(op, id=op.name) for op in ACTIVATIONS if op.kind != "channelwise"])
def test_an_out_the_kernel_may_write_itself_skips_the_general_call(op, size, monkeypatch):
    from numact import _api

    rng = np.random.default_rng(2)
    forward, backward = getattr(numact, op.name), getattr(numact, op.name + "_backward")
    params = op_params(op, param_cases(op)[-1])
    for shape in [(size,), (10, size // 10)]:
        base = rng.normal(0, 3, shape).astype(np.float32)
        g = rng.normal(0, 1, shape).astype(np.float32)
        y_ref, dx_ref = forward(general(base), **params), backward(general(g), general(base), **params)
        for name, (out, short) in _outs(base).items():
            for backward_pass in (False, True):
                x = base.copy()
                if out is None:  # a buffer that starts inside x's: only the general path may write it
                    room = np.concatenate([x.reshape(-1), np.empty(x.size // 2, x.dtype)])
                    x, out = room[:x.size].reshape(shape), room[x.size // 2:][:x.size].reshape(shape)
                elif out is base:
                    out = x
                # a forward that rereads x (log_softmax) writes into x's memory through scratch
                rereads = name == "x itself" and not backward_pass and not getattr(op.forward, "in_place", True)
                call = _unreachable if short and not rereads else _api._Call
                with monkeypatch.context() as patch:
                    patch.setattr(_api, "_Call", call)
                    result = backward(g, x, **params, out=out) if backward_pass else forward(x, **params, out=out)
                assert result is out, name
                assert_same_bits(out, dx_ref if backward_pass else y_ref)
        # into grad_output: a row backward goes through scratch (the general path), for its bits
        g_out = g.copy()
        with monkeypatch.context() as patch:
            patch.setattr(_api, "_Call", _unreachable if op.kind == "elementwise" else _api._Call)
            backward(g_out, base, **params, out=g_out)
        assert_same_bits(g_out, dx_ref)


@pytest.mark.parametrize("name", ["mse_loss", "kl_div", "margin_ranking_loss", "nll_loss"])
def test_a_remembered_small_loss_backward_goes_straight_to_its_entry(name, monkeypatch):
    case = next(c for c in cases() if c.op.name == name and not c.weights and not c.probs)
    arrays = case.arrays(np.float32)
    if case.op.kind == "elementwise":  # the direct path takes 1-D arrays
        arrays = {k: v.ravel() for k, v in arrays.items()}
    for _ in range(2):
        numact_call(case, "_backward", arrays, "mean", 1.0)
        monkeypatch.setitem(getattr(numact, name + "_backward").__globals__, "_backward", _unreachable)


@pytest.mark.parametrize("size", [1000])
def test_a_value_equal_to_one_remembered_is_checked_for_its_type(size):
    """True == 1 == 1.0: a short path that remembered 1.0 must still refuse True (and one that
    remembered an integer, the float equal to it)."""
    x = np.ones(size, np.float32)
    for _ in range(2):
        numact.linear(x, 1.0), numact.linear_backward(x, x, 1.0)
    with pytest.raises(TypeError, match="c must be a real number"):
        numact.linear(x, True)
    with pytest.raises(TypeError, match="c must be a real number"):
        numact.linear_backward(x, x, True)
    logits, target = np.zeros((4, 3), np.float32), np.zeros(4, np.int64)
    for _ in range(2):
        numact.nll_loss(logits, target, ignore_index=-100)
    with pytest.raises(TypeError, match="ignore_index must be an integer"):
        numact.nll_loss(logits, target, ignore_index=-100.0)
    p, q = np.full(size, -1.0, np.float32), np.full(size, 0.5, np.float32)
    for _ in range(2):
        numact.kl_div(p, q, log_target=False)
    with pytest.raises(TypeError, match="log_target must be True or False"):
        numact.kl_div(p, q, log_target=0)


@pytest.mark.parametrize("size", [1000, 40_000])  # through the ufunc, through the kernel
@pytest.mark.parametrize("zero", [0.0, np.float32(0.0), np.float64(0.0)], ids=["float", "float32", "float64"])
def test_a_parameter_of_minus_zero_is_not_the_remembered_plus_zero(size, zero):
    """−0.0 == +0.0, but c·x and a hardtanh bound give zeros of another sign: a call with one
    after a call with the other gives the zeros a first call would (and PyTorch's, IEEE's)."""
    x = np.linspace(-2, 2, size, dtype=np.float32)
    g = np.ones(size, np.float32)
    for c in (zero, -zero, zero, -zero):
        for _ in range(2):
            np.testing.assert_array_equal(np.signbit(numact.linear(x, c)), np.signbit(np.float32(c) * x))
            np.testing.assert_array_equal(np.signbit(numact.linear_backward(g, x, c)), np.signbit(np.float32(c) * g))
            # x < −1 clips to min_val, its zero's sign
            np.testing.assert_array_equal(np.signbit(numact.hardtanh(x, min_val=c, max_val=1.0)[x < 0]),
                                          np.signbit(np.float32(c)))
    with pytest.raises(TypeError, match="c must be a real number"):  # an array among the values
        numact.linear(x, np.zeros(2))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in cases() if not c.weights and not c.probs])
def test_a_loss_gives_the_general_paths_bits(case, dtype):
    arrays = case.arrays(dtype)
    others = {k: general(v) for k, v in arrays.items()}
    for reduction in case.op.reductions:
        assert_same_bits(numact_call(case, "", arrays, reduction), numact_call(case, "", others, reduction))
        assert_same_bits(numact_call(case, "_forward_backward", arrays, reduction),
                         numact_call(case, "_forward_backward", others, reduction))
        if reduction != "none":
            for g in (1.0, 0.25, np.float32(3.0), 2):
                assert_same_bits(numact_call(case, "_backward", arrays, reduction, g),
                                 numact_call(case, "_backward", others, reduction, g))


@pytest.mark.parametrize("shape", [(100, 1000), (8, 50257)], ids=["100 rows", "a vocabulary"])
def test_nll_losss_forward_on_many_classes_is_short_by_its_rows(shape, monkeypatch):
    """nll_loss's forward reads one element a row: its short path takes fewer rows than
    SERIAL_BELOW whatever the classes, with the general path's bits and its refusals."""
    from numact import _loss_api

    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(np.float32)
    t = rng.integers(0, shape[1], shape[0])
    t[1] = -100
    for reduction in ("mean", "sum", "none"):
        assert_same_bits(numact.nll_loss(x, t, reduction=reduction), numact.nll_loss(general(x), t, reduction=reduction))
    monkeypatch.setattr(_loss_api, "_LossCall", None)  # the general path would fail
    numact.nll_loss(x, t)
    monkeypatch.undo()
    t[2] = shape[1]
    with pytest.raises(ValueError, match=rf"class index {shape[1]} at \(2,\)"):
        numact.nll_loss(x, t)


def test_a_bad_class_index_is_refused_by_the_general_path():
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"class index 7 at \(2,\)"):
        numact.cross_entropy(x, np.array([0, 1, 7, 2]))


@pytest.mark.parametrize("weighted", [False, True], ids=["no weight", "weights"])
def test_the_general_paths_class_check_finds_the_first_bad_index_and_sums_the_kept_weights(weighted):
    """Beyond the short path, one SIMD pass finds whether a class index is out of range (any
    int64, the ignore_index skipped) and counts the kept rows; the position is the first bad
    one; 'mean' divides by Σ w[target] over the kept rows (their count without weights)."""
    import torch

    rows = 2 * 20_000  # beyond SERIAL_BELOW rows
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 3))
    t = rng.integers(0, 3, rows)
    t[::7] = -100
    w = rng.uniform(0.5, 2.0, 3) if weighted else None
    for reduction in ("mean", "sum"):
        expected = torch.nn.functional.nll_loss(torch.from_numpy(x), torch.from_numpy(t), reduction=reduction,
                                                weight=None if w is None else torch.from_numpy(w))
        np.testing.assert_allclose(numact.nll_loss(x, t, weight=w, reduction=reduction), expected.numpy(), rtol=1e-12)
    for bad in (3, -1, -101, np.iinfo(np.int64).min, np.iinfo(np.int64).max):
        t_bad = t.copy()
        t_bad[[30_001, 30_005, rows - 1]] = bad, 7, -2
        with pytest.raises(ValueError, match=rf"class index {bad} at \(30001,\), outside \[0, 3\)"):
            numact.nll_loss(x, t_bad, weight=w)


def test_a_probability_outside_0_1_is_refused_by_the_general_path():
    with pytest.raises(ValueError, match="probabilities must be in"):
        numact.binary_cross_entropy(np.array([0.5, 1.5]), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="probabilities must be in"):
        numact.binary_cross_entropy_backward(1.0, np.array([0.5, 0.5]), np.array([0.0, np.nan]))


def test_a_bad_parameter_is_refused_by_the_general_path():
    x = np.ones(10, np.float32)
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        numact.cross_entropy(x.reshape(2, 5), np.array([0, 1]), label_smoothing=2.0)
    with pytest.raises(TypeError, match="must be a real number"):
        numact.leaky_relu(x, negative_slope="0.1")
    with pytest.raises(TypeError, match="must be a real number"):
        numact.leaky_relu(x, negative_slope=[0.1])  # unhashable: the short path cannot cache it


@pytest.mark.parametrize("dtype", [np.float16, np.int32])
def test_other_dtypes_take_the_general_path(dtype):
    x = np.linspace(-3, 3, 12).astype(dtype)
    y = numact.sigmoid(x)
    assert y.dtype == (np.float16 if dtype == np.float16 else np.float64)
    np.testing.assert_allclose(y, numact.sigmoid(x.astype(np.float64)), rtol=1e-3)


@pytest.mark.parametrize("dtype", [">f4", ">f8"])
def test_a_byte_swapped_array_is_refused_as_before(dtype):
    x = np.linspace(-3, 3, 12).astype(dtype)
    for call in (lambda: numact.sigmoid(x), lambda: numact.softmax(x.reshape(3, 4)),
                 lambda: numact.mse_loss(x, x)):
        with pytest.raises(TypeError, match="does not compute with"):
            call()
