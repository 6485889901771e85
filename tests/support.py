"""What the tests share: the target under test, inputs, PyTorch references, comparisons."""

import os

import numpy as np
import torch
import torch.nn.functional as F

import numact
from numact.operators import ACCURACY, ACTIVATIONS

SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"  # make test: CUDA under Numba's simulator
GPU = os.environ.get("NUMACT_TEST_GPU") == "1"  # make test-gpu: CUDA on a real GPU
if SIMULATOR and GPU:
    raise RuntimeError("NUMBA_ENABLE_CUDASIM=1 and NUMACT_TEST_GPU=1: choose the simulator or the GPU")
TARGET = "cuda" if SIMULATOR or GPU else "cpu"

TOLERANCE = ACCURACY  # the operator table's bound, (relative, absolute), per dtype

# Where PyTorch's float64 kernel itself rounds like float32, its float64 result is only that good:
# hardsigmoid_backward multiplies by 1.0f/6.0f, a float32 constant (numact divides by 6).
TORCH_FLOAT64_ROUNDING = {"hardsigmoid_backward": 1e-7}

SPECIAL_POINTS = [
    0.0, -0.0, 1e-8, -1e-8, 3.0, -3.0, 6.0, -6.0, 20.0, -20.0, 88.0, -88.0, 1e4, -1e4,
    np.inf, -np.inf, np.nan,
]

ELEMENTWISE = [op for op in ACTIVATIONS if op.kind == "elementwise"]
ROWWISE = [op for op in ACTIVATIONS if op.kind == "rowwise"]
UNARY = ELEMENTWISE + ROWWISE  # the operators whose only array input is x


def to_target(a):
    """A NumPy array on the target under test."""
    if TARGET == "cpu":
        return a
    from numba import cuda

    return cuda.to_device(np.asarray(a, order="C"))


def to_host(a):
    return a if isinstance(a, np.ndarray) else a.copy_to_host()


def device_view(base, shape: tuple, strides: tuple, offset: int = 0):
    """A view of the device array ``base``: ``shape`` and ``strides`` (bytes, any sign) from the
    element ``offset`` bytes into it, sharing its memory, under the simulator and on a GPU.
    numba's own slicing and ``.T`` cannot stand in: ``DeviceNDArray.T`` is a copy (a transpose
    kernel), and any slice of an empty device array asks for a non-empty view of its NULL
    buffer ("non-empty slice into empty slice")."""
    from numba import cuda

    if not int(np.prod(shape)):
        return cuda.device_array(shape, base.dtype)
    if SIMULATOR:
        flat = base._ary.reshape(-1)[offset // base.dtype.itemsize:]
        return cuda.cudadrv.devicearray.FakeCUDAArray(np.lib.stride_tricks.as_strided(flat, shape, strides))
    from numba.cuda.cudadrv.devicearray import DeviceNDArray

    return DeviceNDArray(shape, strides, base.dtype, gpu_data=base.gpu_data.view(offset))


def transposed(a):
    """``a.T`` as a view on the target (see device_view)."""
    if isinstance(a, np.ndarray):
        return a.T
    return device_view(a, tuple(a.shape)[::-1], tuple(a.strides)[::-1])


def forward(op, x, params):
    return getattr(numact, op.name)(x, **params)


def backward(op, g, x, params):
    return getattr(numact, f"{op.name}_backward")(g, x, **params)


def op_params(op, params):
    """The keyword arguments of a call: the parameters, and axis for the softmax family."""
    return dict(params, axis=-1) if op.kind == "rowwise" else dict(params)


def elementwise_inputs(op, params, dtype, seed=0):
    """Random values over ±8, the special points, and the kinks with their neighbours."""
    rng = np.random.default_rng(seed)
    kinks = op.kinks(**{k: v for k, v in params.items() if k in {p.name for p in op.params}})
    near = [k + d for k in kinks for d in (0.0, -1e-3, 1e-3)]
    x = np.concatenate([rng.normal(0, 4, 64), SPECIAL_POINTS, near])
    return x.astype(dtype)


def row_inputs(dtype, seed=0):
    """Rows of 25: random, wide, extreme, with ±inf, with NaN, and all −inf."""
    rng = np.random.default_rng(seed)
    rows = [rng.normal(0, 3, 25), rng.normal(0, 30, 25), rng.uniform(-1e4, 1e4, 25)]
    with_inf = rng.normal(0, 1, 25)
    with_inf[3] = np.inf
    with_neg_inf = rng.normal(0, 1, 25)
    with_neg_inf[[1, 7]] = -np.inf
    with_nan = rng.normal(0, 1, 25)
    with_nan[5] = np.nan
    rows += [with_inf, with_neg_inf, with_nan, np.full(25, -np.inf), np.full(25, 88.0)]
    return np.stack(rows).astype(dtype)


def inputs(op, params, dtype, seed=0):
    return row_inputs(dtype, seed) if op.kind == "rowwise" else elementwise_inputs(op, params, dtype, seed)


def reference(op, x, params, g=None):
    """PyTorch's forward on x (and, given g, its vector-Jacobian product) in x's dtype."""
    t = torch.tensor(x, requires_grad=g is not None)
    scope = {"torch": torch, "F": F, "x": t, **params}
    if op.kind == "rowwise":
        scope["axis"] = params.get("axis", -1)
    y = eval(op.reference, scope)  # noqa: S307 - the table's reference expression
    if g is None:
        return y.detach().numpy()
    (grad,) = torch.autograd.grad(y, t, torch.as_tensor(g, dtype=t.dtype).expand_as(y))
    return grad.numpy()


# Where torch's backward at a NaN x depends on the NaN's position (measured, torch 2.13): its
# vectorised loop gives NaN (the ELU family) or 0 (hardtanh, relu6), its scalar tail the
# gradient as if x were positive (inside the bounds). numact gives the scalar code's, at every
# position (docs/operators/contract.md).
TORCH_NAN_POSITIONAL = {"elu", "celu", "selu", "hardtanh", "relu6"}


def scalar_code_at_nan(op, x, g, params, dx):
    """``dx``, torch's backward on (g, x), with each element where x is NaN replaced by torch's
    result for that element alone (its scalar code), for the operators of TORCH_NAN_POSITIONAL;
    x and g may broadcast to dx's shape."""
    x, g = np.broadcast_to(x, np.shape(dx)), np.broadcast_to(g, np.shape(dx))
    nan_x = np.isnan(x)
    if op.name not in TORCH_NAN_POSITIONAL or not nan_x.any():
        return dx
    dx = np.array(dx, copy=True)
    for k in filter(nan_x.__getitem__, np.ndindex(nan_x.shape)):
        dx[k] = reference(op, x[k].reshape(1), params, g[k].reshape(1))[0]
    return dx


def assert_close(ours, truth, torch_low, dtype, what, x=None, slack=0.0):
    """ours matches the float64 truth within the dtype's tolerance, wherever PyTorch's own
    result in the same dtype (torch_low) does; elsewhere it is at worst 4× further off than
    PyTorch's. NaN must stand where the truth has NaN; infinities must be equal; a truth beyond
    the dtype's range must be its infinity (the truth rounded to the dtype). ``slack`` (per
    element) widens the tolerance where the float64 truth is itself no more exact than that."""
    rtol, atol = TOLERANCE[dtype]
    if dtype == np.float64:  # `what` starts with the function's name
        rtol = max(rtol, TORCH_FLOAT64_ROUNDING.get(what.split("{")[0], 0.0))
    ours = np.asarray(ours, np.float64).ravel()
    truth = np.asarray(truth, np.float64).ravel()
    torch_low = np.asarray(torch_low, np.float64).ravel()
    with np.errstate(invalid="ignore", over="ignore"):
        rounded = truth.astype(dtype).astype(np.float64)
        same = (ours == truth) | (np.isnan(ours) & np.isnan(truth)) | (np.isinf(rounded) & (ours == rounded))
        error = np.abs(ours - truth)
        tol = atol + rtol * np.abs(truth) + np.nan_to_num(np.asarray(slack, np.float64).ravel(), posinf=0.0)
        torch_error = np.abs(torch_low - truth)
        torch_off = ~((torch_low == truth) | (np.isnan(torch_low) & np.isnan(truth)) | (torch_error <= tol))
        like_torch = (ours == torch_low) | (np.isnan(ours) & np.isnan(torch_low))
        ok = same | (error <= tol) | (torch_off & ((error <= 4 * torch_error) | like_torch))
    if not ok.all():
        bad = np.flatnonzero(~ok)
        worst = bad[np.argsort(-np.nan_to_num(error[bad], nan=np.inf))][:10]
        lines = [f"{what}: {bad.size} of {ok.size} elements off (rtol {rtol}, atol {atol})"]
        xs = None if x is None else np.asarray(x, np.float64).ravel()
        lines += [
            f"  [{i}]{'' if xs is None else f' x {xs[i]!r}'} ours {ours[i]!r}  truth {truth[i]!r}  torch {torch_low[i]!r}  error {error[i]:.3g}"
            for i in worst
        ]
        raise AssertionError("\n".join(lines))


# The GPU sums a row in float64 in another order than the CPU (a group of threads a row, against
# the CPU's SIMD partial sums, whose count differs between AVX2 and AVX-512 hosts): what goes
# through a row sum (the softmax family, the class and vector losses, reductions) is within this
# many units of 2^-53 per element of the row, of the row's largest magnitude, of the CPU's
# result; float32 results within that and one float32 rounding (mostly the CPU's bits: they
# round the float64 sum once, but log_softmax's values near 0 carry the sum's difference
# itself). Everything else is the CPU's bits (docs/gpu.md).
SUM_ORDER_ULPS = 4


def assert_gpu_matches_cpu(gpu, cpu, what, row_length=None):
    """The GPU's result is the CPU's bits; or, for a result through float64 sums over rows of
    ``row_length``, within the sum-order bound above (NaN and infinities still equal)."""
    gpu, cpu = np.asarray(to_host(gpu)), np.asarray(cpu)
    assert gpu.dtype == cpu.dtype and gpu.shape == cpu.shape, what
    if row_length is None:
        np.testing.assert_array_equal(gpu, cpu, err_msg=what)
        return
    finite = np.isfinite(cpu)
    np.testing.assert_array_equal(gpu[~finite], cpu[~finite], err_msg=what)
    cpu64, gpu64 = cpu[finite].astype(np.float64), gpu[finite].astype(np.float64)
    scale = np.abs(cpu64).max(initial=0.0)
    bound = SUM_ORDER_ULPS * row_length * 2.0**-53 * (np.abs(cpu64) + scale)
    if cpu.dtype != np.float64:
        bound += np.spacing(np.abs(cpu[finite])).astype(np.float64)
    assert (np.abs(gpu64 - cpu64) <= bound).all(), f"{what}: beyond the sum-order bound"
