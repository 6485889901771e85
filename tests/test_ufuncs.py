"""numact.ufuncs: real NumPy ufuncs made from the scalar math, the same bits as numact's
functions, with out=, where=, dtype=, casting=, broadcast parameters and __array_ufunc__."""

import numpy as np
import pytest
from loss_cases import cases as loss_cases
from support import elementwise_inputs

import numact
import numact.ufuncs as nu
from numact.operators import ACTIVATIONS, LOSSES, param_cases

pytestmark = pytest.mark.cpu_only  # the CPU target's ufuncs (numba's CUDA ufuncs: docs/integrations/ufuncs.md)

UFUNC_ACTIVATIONS = [op for op in ACTIVATIONS if op.kind in ("elementwise", "channelwise")]
ELEMENTWISE_LOSSES = [op for op in LOSSES if op.kind == "elementwise"]


def test_every_elementwise_operator_has_its_ufuncs():
    names = set(nu.__all__)
    for op in UFUNC_ACTIVATIONS:
        assert {op.name, f"{op.name}_backward"} <= names
    for op in ELEMENTWISE_LOSSES:
        grads = [f"{op.name}_backward"] if len(op.inputs) == 1 else [f"{op.name}_backward_{a}" for a in op.inputs]
        assert {op.name, *grads} <= names
    assert "prelu_backward_weight" in names
    assert isinstance(nu.elu, np.ufunc) and nu.elu.types == ["ff->f", "dd->d"]


def _ufunc_params(op, params, dtype):
    """The parameters as the ufunc takes them: the kernel's values (gelu's approximate as 0/1)."""
    return [dtype.type(p.kernel_value(op.name, params[p.name])) for p in op.params]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", UFUNC_ACTIVATIONS, ids=lambda op: op.name)
def test_an_activations_ufuncs_give_the_functions_bits(op, dtype):
    dtype = np.dtype(dtype)
    for params in param_cases(op):
        x = elementwise_inputs(op, params, dtype)
        g = np.linspace(-2, 2, x.size).astype(dtype)
        if op.kind == "channelwise":
            weight = np.array([0.25], dtype)
            assert np.array_equal(getattr(nu, op.name)(x, weight), numact.prelu(x, weight), equal_nan=True)
            gx, gw = numact.prelu_backward(g, x, weight)
            assert np.array_equal(nu.prelu_backward(g, x, weight), gx, equal_nan=True)
            assert nu.prelu_backward_weight(g, x).sum(dtype=np.float64) == pytest.approx(float(gw[0]), rel=1e-6, nan_ok=True)
            continue
        values = _ufunc_params(op, params, dtype)
        ours = getattr(nu, op.name)(x, *values)
        assert ours.dtype == dtype
        assert np.array_equal(ours, getattr(numact, op.name)(x, **params), equal_nan=True), params
        grad = getattr(nu, f"{op.name}_backward")(g, x, *values)
        assert np.array_equal(grad, getattr(numact, f"{op.name}_backward")(g, x, **params), equal_nan=True), params


LOSS_CASES = [pytest.param(c, id=c.id) for c in loss_cases() if c.op.kind == "elementwise"]


@pytest.mark.parametrize("case", LOSS_CASES)
def test_a_losss_ufuncs_give_the_functions_bits(case):
    op = case.op
    for dtype in (np.dtype(np.float32), np.dtype(np.float64)):
        arrays = case.arrays(dtype)
        values = [dtype.type(p.kernel_value(op.name, case.params[p.name])) for p in op.params]
        inputs = [arrays[a] for a in op.arrays] + [arrays.get(w, dtype.type(1)) for w in op.weights] + values
        keywords = {w: arrays[w] for w in op.weights if w in arrays}
        call = {"reduction": "none", **case.params, **keywords}
        expected = getattr(numact, op.name)(*(arrays[a] for a in op.arrays), **call)
        assert np.array_equal(getattr(nu, op.name)(*inputs), expected, equal_nan=True)
        shape = np.broadcast_shapes(*(np.shape(a) for a in inputs))
        grads = getattr(numact, f"{op.name}_backward")(np.ones(shape, dtype), *(arrays[a] for a in op.arrays), **call)
        grads = grads if isinstance(grads, tuple) else (grads,)
        for arg, expected_grad in zip(op.inputs, grads):
            name = f"{op.name}_backward" + (f"_{arg}" if len(op.inputs) > 1 else "")
            ours = getattr(nu, name)(*inputs)
            assert np.array_equal(np.broadcast_to(ours, expected_grad.shape) if ours.shape != expected_grad.shape else ours,
                                  expected_grad, equal_nan=True), name


def test_parameters_broadcast_per_channel_and_per_element():
    x = np.linspace(-3, 3, 12).reshape(3, 4)
    alpha = np.array([0.5, 1.0, 2.0])[:, None]  # one per row
    expected = np.stack([numact.elu(x[i], alpha=float(alpha[i, 0])) for i in range(3)])
    assert np.array_equal(nu.elu(x, alpha), expected)
    per_element = np.linspace(0.1, 1.2, 12).reshape(3, 4)
    expected = np.array([numact.elu(np.array([v]), alpha=float(a))[0] for v, a in zip(x.ravel(), per_element.ravel())])
    assert np.array_equal(nu.elu(x, per_element).ravel(), expected)


def test_out_where_dtype_and_casting():
    x = np.linspace(-3, 3, 7)
    out = np.full(7, 9.0)
    assert nu.softplus(x, 1.0, 20.0, out=out) is out
    assert np.array_equal(out, numact.softplus(x))
    masked = nu.gelu(x, 0, where=x > 0, out=np.full(7, 9.0))
    assert np.array_equal(masked, np.where(x > 0, numact.gelu(x), 9.0))
    assert np.array_equal(nu.gelu(x, 0, where=x > 0, out=np.full(7, 9.0))[x > 0], numact.gelu(x)[x > 0])
    assert nu.tanh(x, dtype=np.float32).dtype == np.float32
    assert np.array_equal(nu.tanh(x, dtype=np.float32), numact.tanh(x.astype(np.float32)))
    assert nu.tanh(np.arange(3, dtype=np.int32)).dtype == np.float64  # NumPy's casting: the float64 loop
    with pytest.raises(TypeError):  # casting="no": no float64 result into a float32 output
        nu.tanh(x, out=np.empty(7, np.float32), casting="no")
    inplace = x.copy()
    nu.sigmoid(inplace, out=inplace)
    assert np.array_equal(inplace, numact.sigmoid(x))


def test_dispatch_to_array_ufunc_containers():
    class Tagged(np.lib.mixins.NDArrayOperatorsMixin):
        def __init__(self, values):
            self.values = values

        def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
            inputs = [i.values if isinstance(i, Tagged) else i for i in inputs]
            return Tagged(getattr(ufunc, method)(*inputs, **kwargs))

    result = nu.elu(Tagged(np.array([-1.0, 2.0])), 0.5)
    assert isinstance(result, Tagged) and np.array_equal(result.values, numact.elu(np.array([-1.0, 2.0]), 0.5))


def test_an_xarray_dataarray_comes_back_a_dataarray_with_its_coordinates():
    xr = pytest.importorskip("xarray")
    da = xr.DataArray(np.linspace(-2, 2, 6).reshape(2, 3), dims=("batch", "feature"),
                      coords={"batch": [10, 20], "feature": ["a", "b", "c"]}, attrs={"units": "logit"})
    result = nu.gelu(da, 0)
    assert isinstance(result, xr.DataArray) and result.dims == da.dims
    assert list(result.coords["feature"].values) == ["a", "b", "c"]
    assert np.array_equal(result.values, numact.gelu(da.values))
    alpha = xr.DataArray([0.5, 1.0, 2.0], dims="feature", coords={"feature": ["a", "b", "c"]})
    assert np.array_equal(nu.elu(da, alpha).values, nu.elu(da.values, alpha.values))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_ufunc_raises_a_floating_point_warning(dtype):
    """numact's functions raise none, so neither do its ufuncs: the branch-free math computes
    both sides of a select (an exponential overflowing where the other side is taken, a
    comparison with NaN), and those flags say nothing of the result. In every layout's loop."""
    x = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 0.0, -0.0, 1e-40, 3.0, -3.0] * 4, dtype)
    for name, ufunc in nu.all_ufuncs().items():
        with np.errstate(all="raise"):
            for operands in ([x] * ufunc.nin, [x[::2]] * ufunc.nin):  # contiguous, strided
                ufunc(*operands)
