"""Every CUDA kernel compiles for a real GPU (sm_90, PTX through NVVM), no GPU needed.

The simulator runs kernels as Python and accepts code that CUDA rejects; this compiles what
the simulator runs. float32 element-wise kernels must not widen a float32 value to float64
(``cvt.f64.f32``); libdevice's own float64 steps, such as sinf's reduction of huge arguments,
convert from integers and are not counted.
"""

import re

import pytest
from numba import cuda, types

from numact.operators import ACTIVATIONS, LOSSES

pytestmark = pytest.mark.cpu_only

FLOATS = {"float32": types.float32, "float64": types.float64}


@pytest.fixture(autouse=True)
def no_driver_needed(monkeypatch):
    """Compiling a call to a @jit device function asks the current device for its compute
    capability; with no GPU here, answer for an H100/H200."""
    import numba.cuda.dispatcher

    class Hopper:
        compute_capability = (9, 0)

    monkeypatch.setattr(numba.cuda.dispatcher, "get_current_device", lambda: Hopper())


def kernels(op, ft):
    """(kernel, argument types) for every CUDA kernel of the operator."""
    from numact import _cuda

    n_args = len(op.params) + len(op.fixed)
    args = types.UniTuple(ft, n_args) if n_args else types.Tuple(())
    flat, cube = ft[::1], ft[:, :, ::1]
    if op.kind == "elementwise":
        return [(_cuda.map_unary(op.forward, n_args), (flat, flat, args)),
                (_cuda.map_binary(op.backward, n_args), (flat, flat, flat, args))]
    if op.kind == "rowwise":
        return [(_cuda.map_rows(op.forward, n_args), (cube, cube, args)),
                (_cuda.map_rows_binary(op.backward, n_args), (cube, cube, cube, args))]
    return [(_cuda.map_channels(op.forward), (cube, cube, flat)),
            (_cuda.map_channels_binary(op.backward), (cube, cube, cube, flat)),
            (_cuda.sum_channels(op.weight_backward), (types.float64[::1], cube, cube))]


@pytest.mark.parametrize("float_name", FLOATS)
@pytest.mark.parametrize("op", ACTIVATIONS + LOSSES, ids=lambda op: op.name)
def test_every_kernel_compiles_to_ptx(op, float_name):
    make = loss_kernels if op in LOSSES else kernels
    for launcher, signature in make(op, FLOATS[float_name]):
        ptx, _ = cuda.compile_ptx(launcher.kernel.py_func, signature, cc=(9, 0))
        assert ".entry" in ptx
        if float_name == "float32" and op in ACTIVATIONS and op.kind == "elementwise":
            widened = re.findall(r"cvt\.\w*\.?f64\.f32.*", ptx)
            assert not widened, f"{op.name}: float32 widened to float64: {widened[:3]}"


@pytest.mark.parametrize("ndim", [1, 2, 3, 5])
@pytest.mark.parametrize("src, dst", [("float16", "float32"), ("bool", "float16"), ("float64", "float64")])
def test_the_strided_copy_kernels_compile_to_ptx(ndim, src, dst):
    from numact import _cuda

    kernel = _cuda._copy_kernel(ndim)
    signature = (types.Array(getattr(types, dst), ndim, "A"), types.Array(getattr(types, src), ndim, "A"))
    ptx, _ = cuda.compile_ptx(kernel.py_func, signature, cc=(9, 0))
    assert ".entry" in ptx


def loss_kernels(op, ft):
    """(kernel, argument types) for the loss's CUDA kernel, as numact._loss_api launches it."""
    from numact import _cuda

    flat, cube, f64 = ft[::1], ft[:, :, ::1], types.float64[::1]
    one, one64 = types.Array(ft, 0, "C"), types.Array(types.float64, 0, "C")  # 0-d: one value for all
    n = types.int64
    if op.kind == "elementwise":
        args = types.UniTuple(ft, len(op.params)) if op.params else types.Tuple(())
        return [
            (_cuda.map_loss(op.math, writes), (f64, flat, flat, flat, flat, flat, one, one, one, one64, n, args))
            for writes in [(True, False, 0), (False, True, 0), (False, False, 2), (True, False, 1)]
        ]
    writes = [(True, False), (False, True)]
    if op.kind == "class":
        args = types.Tuple((types.int64,) + (types.float64,) * (len(op.params) - 1))
        maths = [(op.math, types.int64[:, :, ::1])] + ([(op.probs_math, cube)] if op.probs_math else [])
        return [
            (_cuda.map_row_loss(math, w), (f64, flat, cube, cube, cube, cube, cube, cube, t, cube, flat, one64, n, args))
            for math, t in maths for w in writes
        ]
    args = types.UniTuple(types.float64, len(op.params))
    return [
        (_cuda.map_row_loss(op.math, w), (f64, flat, cube, cube, cube, cube, cube, cube, cube, cube, one, one64, n, args))
        for w in writes
    ]


@pytest.mark.parametrize("kernel", ["_sum_partials", "_check_classes", "_first_outside"])
def test_the_loss_helper_kernels_compile_to_ptx(kernel):
    from numact import _cuda

    f64, f32 = types.float64[::1], types.float32[::1]
    signature = {
        "_sum_partials": (f32, f64, types.Array(types.float64, 0, "C")),
        "_check_classes": (f64, types.int64[::1], f32, types.int64, types.int64),
        "_first_outside": (f64, f32, types.float64, types.float64),
    }[kernel]
    ptx, _ = cuda.compile_ptx(getattr(_cuda, kernel).py_func, signature, cc=(9, 0))
    assert ".entry" in ptx


@pytest.mark.parametrize("name", __import__("numact.ufuncs").ufuncs.__all__)
def test_every_ufuncs_scalar_function_compiles_for_cuda(name):
    """numact.ufuncs.cuda(name) is numba-cuda's vectorize of this function: it compiles (float32)."""
    from numact import _cuda, ufuncs  # noqa: F401 - _cuda registers the primitives' CUDA versions

    spec = ufuncs._SPECS[name]
    ptx, _ = cuda.compile_ptx(spec.function(), (types.float32,) * len(spec.inputs), device=True, cc=(9, 0))
    assert ".func" in ptx
