"""Every activation against PyTorch, forward and backward, on the target under test.

Run once on the CPU and once under the CUDA simulator (NUMBA_ENABLE_CUDASIM=1): the target
follows the environment (see support.TARGET).
"""

import numpy as np
import pytest

from numact.operators import param_cases
from support import (
    TORCH_NAN_POSITIONAL, UNARY, assert_close, backward, forward, inputs, op_params, reference,
    scalar_code_at_nan, to_host, to_target,
)

DTYPES = [np.float32, np.float64]
CASES = [
    pytest.param(op, params, id=f"{op.name}-{i}")
    for op in UNARY
    for i, params in enumerate(param_cases(op))
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("op, params", CASES)
def test_forward_matches_torch(op, params, dtype):
    x = inputs(op, params, dtype)
    params = op_params(op, params)
    y = to_host(forward(op, to_target(x), params))
    assert y.dtype == dtype and y.shape == x.shape
    assert_close(y, reference(op, x.astype(np.float64), params), reference(op, x, params),
                 dtype, f"{op.name}{params}", x)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("op, params", CASES)
def test_backward_matches_torch(op, params, dtype):
    x = inputs(op, params, dtype)
    g = np.random.default_rng(1).normal(0, 2, x.shape).astype(dtype)
    params = op_params(op, params)
    dx = to_host(backward(op, to_target(g), to_target(x), params))
    assert dx.dtype == dtype and dx.shape == x.shape
    truth = reference(op, x.astype(np.float64), params, g.astype(np.float64))
    assert_close(dx, truth, reference(op, x, params, g), dtype, f"{op.name}_backward{params}", x)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("op, params", [case for case in CASES if case.values[0].name in TORCH_NAN_POSITIONAL])
def test_backward_at_a_nan_input_is_torchs_scalar_code_at_every_position(op, params, dtype):
    # torch's vectorised loop gives another value there (NaN or 0), its scalar tail this one
    x = np.full(300, np.nan, dtype)
    g = np.random.default_rng(1).normal(0, 2, x.shape).astype(dtype)
    params = op_params(op, params)
    dx = to_host(backward(op, to_target(g), to_target(x), params))
    truth = scalar_code_at_nan(op, x.astype(np.float64), g.astype(np.float64), params, np.zeros(x.shape))
    low = scalar_code_at_nan(op, x, g, params, np.zeros(x.shape, dtype))
    assert np.isfinite(truth).all()
    assert_close(dx, truth, low, dtype, f"{op.name}_backward{params} at NaN")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("op, params", CASES)
def test_backward_with_a_scalar_grad_output(op, params, dtype):
    x = inputs(op, params, dtype)
    params = op_params(op, params)
    dx = to_host(backward(op, dtype(-0.37), to_target(x), params))
    truth = reference(op, x.astype(np.float64), params, -0.37)
    assert_close(dx, truth, reference(op, x, params, dtype(-0.37)), dtype,
                 f"{op.name}_backward{params}", x)


@pytest.mark.parametrize("op, params", CASES)
def test_gradient_matches_finite_differences(op, params):
    """<g, J v> by central differences in float64 equals <backward(g), v>, away from kinks."""
    rng = np.random.default_rng(2)
    shape = (6, 9) if op.kind == "rowwise" else (60,)
    x = rng.uniform(-6, 6, shape)
    kinks = op.kinks(**params)
    for kink in kinks:  # keep every point at least 0.05 from a kink
        close = np.abs(x - kink) < 0.05
        x[close] = kink + np.where(x[close] >= kink, 0.05, -0.05) * 2
    v, g = rng.normal(size=shape), rng.normal(size=shape)
    params = op_params(op, params)
    h = 1e-6
    f_plus = to_host(forward(op, to_target(x + h * v), params))
    f_minus = to_host(forward(op, to_target(x - h * v), params))
    numeric = np.sum(g * (f_plus - f_minus)) / (2 * h)
    analytic = np.sum(to_host(backward(op, to_target(g), to_target(x), params)) * v)
    assert numeric == pytest.approx(analytic, rel=1e-6, abs=1e-7)
