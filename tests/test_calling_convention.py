"""SPEC.md's calling convention: shapes and strides, out=, the dtype policy, bad input,
threads and the compile cache."""

import concurrent.futures
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import numact
from numact.operators import param_cases
from support import (
    ROWWISE, TARGET, UNARY, assert_close, assert_gpu_matches_cpu, backward, device_view, forward,
    op_params, reference, to_host, to_target, transposed,
)

OPS = [pytest.param(op, id=op.name) for op in UNARY]


def call_params(op):
    return op_params(op, param_cases(op)[0])


def random(shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).normal(0, 3, shape).astype(dtype)


# --- shapes and strides ---------------------------------------------------------------------

VIEWS = {
    "transposed": transposed,  # Fortran order (a view on the device too: numba's .T copies)
    "negative-strides": lambda a: a[::-1, ::-2],
    "column": lambda a: a[:, 7],
}
VIEW_SHAPE = (41, 401) if TARGET == "cpu" else (9, 41)  # the simulator runs Python per element


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("op", OPS)
def test_any_strides_give_the_contiguous_result(op, view):
    params = call_params(op)
    x, g = random(VIEW_SHAPE), random(VIEW_SHAPE, seed=1)
    x_view, g_view = VIEWS[view](to_target(x)), VIEWS[view](to_target(g))
    x_copy, g_copy = (to_target(np.ascontiguousarray(VIEWS[view](a))) for a in (x, g))  # on the same target
    np.testing.assert_array_equal(to_host(forward(op, x_view, params)), to_host(forward(op, x_copy, params)))
    np.testing.assert_array_equal(
        to_host(backward(op, g_view, x_view, params)), to_host(backward(op, g_copy, x_copy, params))
    )


@pytest.mark.parametrize("view", VIEWS)
def test_out_may_be_any_view(view):
    x = random(VIEW_SHAPE)
    out = to_target(np.zeros(VIEW_SHAPE))
    numact.tanh(VIEWS[view](to_target(x)), out=VIEWS[view](out))
    np.testing.assert_array_equal(VIEWS[view](to_host(out)), numact.tanh(np.ascontiguousarray(VIEWS[view](x))))


@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 4)], ids=str)
def test_out_may_be_an_empty_view(shape):
    base = to_target(np.zeros((6, 8)))
    strides = (base.strides[0], -base.strides[1]) if len(shape) == 2 else (-base.strides[1],)
    out = device_view(base, shape, strides, 7 * base.itemsize) if TARGET == "cuda" else \
        np.lib.stride_tricks.as_strided(base[:, 7:], shape, strides)
    x = to_target(np.zeros(shape))
    assert numact.tanh(x, out=out) is out and numact.tanh_backward(x, x, out=out) is out
    assert to_host(out).shape == shape


def test_an_out_whose_elements_overlap_is_refused_before_anything_is_written():
    """A stride of 0 along an axis of more than one element: several results would land on
    one element (torch refuses such an out too)."""
    base = to_target(np.full((5,), 7.0))
    out = device_view(base, (4, 5), (0, base.itemsize)) if TARGET == "cuda" else \
        np.lib.stride_tricks.as_strided(base, (4, 5), (0, base.itemsize))
    with pytest.raises(ValueError, match=r"numact\.tanh: out has a stride of 0 along axis 0"):
        numact.tanh(to_target(np.zeros((4, 5))), out=out)
    assert (to_host(base) == 7.0).all()


@pytest.mark.parametrize("shape", [(), (0,), (1,), (3, 0), (1023,)], ids=str)
@pytest.mark.parametrize("op", OPS)
def test_scalar_empty_and_odd_shapes(op, shape):
    params = call_params(op)
    x = random(shape)
    y = to_host(forward(op, to_target(x), params))
    dx = to_host(backward(op, to_target(np.ones(shape)), to_target(x), params))
    assert y.shape == dx.shape == shape
    truth, grad_truth = reference(op, x, params), reference(op, x, params, np.ones(shape))
    assert_close(y, truth, truth, np.float64, op.name)
    assert_close(dx, grad_truth, grad_truth, np.float64, f"{op.name}_backward")


@pytest.mark.parametrize("axis", [0, 1, 2, -2])
@pytest.mark.parametrize("op", [pytest.param(op, id=op.name) for op in ROWWISE])
def test_every_axis_matches_torch(op, axis):
    x, g = random((3, 4, 5)), random((3, 4, 5), seed=1)
    y = to_host(forward(op, to_target(x), {"axis": axis}))
    dx = to_host(backward(op, to_target(g), to_target(x), {"axis": axis}))
    np.testing.assert_allclose(y, reference(op, x, {"axis": axis}), rtol=1e-12)
    np.testing.assert_allclose(dx, reference(op, x, {"axis": axis}, g), rtol=1e-10, atol=1e-14)


# --- out= -----------------------------------------------------------------------------------


@pytest.mark.parametrize("op", OPS)
def test_out_receives_the_result(op):
    params = call_params(op)
    x = random((6, 7))
    out = to_target(np.zeros((6, 7)))
    assert forward(op, to_target(x), {**params, "out": out}) is out
    np.testing.assert_array_equal(to_host(out), to_host(forward(op, to_target(x), params)))


@pytest.mark.parametrize("op", OPS)
def test_in_place_forward_and_backward(op):
    params = call_params(op)
    x, g = random((6, 7)), random((6, 7), seed=1)
    y, dx = to_host(forward(op, to_target(x), params)), to_host(backward(op, to_target(g), to_target(x), params))
    x_t = to_target(x.copy())
    forward(op, x_t, {**params, "out": x_t})
    np.testing.assert_array_equal(to_host(x_t), y)
    for into in ("g", "x"):
        g_t, x_t = to_target(g.copy()), to_target(x.copy())
        backward(op, g_t, x_t, {**params, "out": g_t if into == "g" else x_t})
        np.testing.assert_array_equal(to_host(g_t if into == "g" else x_t), dx)


@pytest.mark.parametrize("op", [pytest.param(op, id=op.name) for op in ROWWISE])
@pytest.mark.parametrize("n", [1000, 4097])
def test_a_row_backward_into_g_gives_the_bits_of_one_into_fresh_memory(op, n):
    # On the CPU a row backward keeps its exponentials in dx, except where dx is g itself,
    # where it computes them twice: both ways must give the same bits, on rows long enough
    # to be summed in SIMD partial sums.
    x, g = random((3, n)), random((3, n), seed=1)
    dx = to_host(backward(op, to_target(g), to_target(x), {}))
    g_t = to_target(g.copy())
    backward(op, g_t, to_target(x), {"out": g_t})
    np.testing.assert_array_equal(to_host(g_t), dx)


@pytest.mark.cpu_only
@pytest.mark.parametrize("op", OPS)
def test_an_out_that_partly_overlaps_the_input_gets_the_same_result(op):
    params = call_params(op)
    a = random(101)
    expected = forward(op, a[1:].copy(), params)
    forward(op, a[1:], {**params, "out": a[:-1]})
    np.testing.assert_array_equal(a[:-1], expected)


BAD_OUTS = {
    "shape": lambda x: np.full((7, 6), 5.0),
    "dtype": lambda x: np.full(x.shape, 5.0, np.float32),
    "kind": lambda x: [[5.0] * 7] * 6,
}


@pytest.mark.parametrize("bad", BAD_OUTS)
@pytest.mark.parametrize("op", OPS)
def test_a_wrong_out_is_refused_before_anything_is_written(op, bad):
    params = call_params(op)
    x = random((6, 7))
    out = BAD_OUTS[bad](x)
    out_t = to_target(out) if isinstance(out, np.ndarray) else out
    with pytest.raises(ValueError, match=rf"numact\.{op.name}: out "):
        forward(op, to_target(x), {**params, "out": out_t})
    with pytest.raises(ValueError, match=rf"numact\.{op.name}_backward: out "):
        backward(op, to_target(x), to_target(x), {**params, "out": out_t})
    if isinstance(out, np.ndarray):
        np.testing.assert_array_equal(to_host(out_t), 5.0)


@pytest.mark.cpu_only
def test_a_read_only_out_is_refused():
    out = np.zeros(4)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="numact.sigmoid: out is read-only"):
        numact.sigmoid(np.ones(4), out=out)


# --- dtypes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("op", OPS)
def test_float16_is_computed_in_float32_and_returned_as_float16(op):
    params = call_params(op)
    x = random(50, np.float16)
    y = to_host(forward(op, to_target(x), params))
    dx = to_host(backward(op, to_target(np.ones(50, np.float16)), to_target(x), params))
    assert y.dtype == dx.dtype == np.float16
    np.testing.assert_array_equal(y, forward(op, x.astype(np.float32), params).astype(np.float16))
    np.testing.assert_array_equal(
        dx, backward(op, np.ones(50, np.float32), x.astype(np.float32), params).astype(np.float16)
    )


@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.uint8, np.int16, np.int32, np.int64, np.uint64])
@pytest.mark.parametrize("op", OPS)
def test_integers_and_bool_are_promoted_as_np_exp_promotes_them(op, dtype):
    params = call_params(op)
    x = np.arange(-4, 5).astype(dtype)
    promoted = np.exp(np.zeros(1, dtype)).dtype
    y = to_host(forward(op, to_target(x), params))
    assert y.dtype == promoted
    np.testing.assert_array_equal(y, to_host(forward(op, to_target(x.astype(promoted)), params)))


OTHER_DTYPES = {"complex": np.ones(3, np.complex64), "object": np.array([1, None]), "str": np.array(["a"]),
                "datetime": np.array(["2020-01-01"], "M8[D]")}


@pytest.mark.parametrize("kind", ["complex"] if TARGET == "cuda" else OTHER_DTYPES)  # what a device array holds
@pytest.mark.parametrize("op", OPS)
def test_other_dtypes_are_a_type_error_naming_the_operator_and_dtype(op, kind):
    params = call_params(op)
    x = OTHER_DTYPES[kind]
    with pytest.raises(TypeError, match=rf"numact\.{op.name}: x has dtype {re.escape(str(x.dtype))}"):
        forward(op, to_target(x), params)
    with pytest.raises(TypeError, match=rf"numact\.{op.name}_backward: grad_output has dtype"):
        backward(op, to_target(x), to_target(np.ones(x.shape)), params)


# --- bad arguments --------------------------------------------------------------------------


@pytest.mark.parametrize("op", OPS)
def test_a_grad_output_that_does_not_broadcast_is_refused(op):
    params = call_params(op)
    x, out = to_target(random((4, 5))), to_target(np.full((4, 5), 5.0))
    with pytest.raises(ValueError, match=rf"numact\.{op.name}_backward: grad_output has shape \(3,\)"):
        backward(op, to_target(np.ones(3)), x, {**params, "out": out})
    np.testing.assert_array_equal(to_host(out), 5.0)


BAD_PARAMS = [
    ("celu", {"alpha": 0.0}, ValueError, "alpha must be nonzero"),
    ("gelu", {"approximate": "erf"}, ValueError, "approximate must be 'none' or 'tanh'"),
    ("softplus", {"beta": "2"}, TypeError, "beta must be a real number"),
    ("leaky_relu", {"negative_slope": None}, TypeError, "negative_slope must be a real number"),
    ("hardtanh", {"min_val": True}, TypeError, "min_val must be a real number"),
    ("hardtanh", {"min_val": 1.0, "max_val": -1.0}, ValueError,
     r"min_val cannot be greater than max_val, got 1\.0 > -1\.0"),
    ("hardtanh", {"min_val": np.inf, "max_val": 0.0}, ValueError, "min_val cannot be greater than max_val"),
]


@pytest.mark.parametrize("name, params, error, message", BAD_PARAMS, ids=[p[0] for p in BAD_PARAMS])
def test_a_bad_parameter_is_refused_before_anything_is_written(name, params, error, message):
    out = to_target(np.full(3, 5.0))
    with pytest.raises(error, match=rf"numact\.{name}: {message}"):
        getattr(numact, name)(to_target(np.ones(3)), **params, out=out)
    with pytest.raises(error, match=rf"numact\.{name}: {message}"):
        getattr(numact, f"{name}_backward")(to_target(np.ones(3)), to_target(np.ones(3)), **params, out=out)
    np.testing.assert_array_equal(to_host(out), 5.0)


def test_threshold_needs_its_threshold_and_value():
    with pytest.raises(TypeError, match="missing 2 required positional arguments"):
        numact.threshold(np.ones(3))
    np.testing.assert_array_equal(numact.threshold(np.array([0.0, 1.0]), 0.5, -1.0), [-1.0, 1.0])


def test_an_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError, match="unexpected keyword argument 'slope'"):
        numact.leaky_relu(np.ones(3), slope=0.1)


@pytest.mark.parametrize("op", [pytest.param(op, id=op.name) for op in ROWWISE])
def test_a_bad_axis_is_refused(op):
    x = to_target(np.ones((2, 3)))
    with pytest.raises(np.exceptions.AxisError, match=op.name):
        forward(op, x, {"axis": 2})
    with pytest.raises(np.exceptions.AxisError, match=op.name):
        backward(op, x, x, {"axis": -3})
    with pytest.raises(TypeError, match=rf"numact\.{op.name}: axis must be an integer"):
        forward(op, x, {"axis": 1.0})


# --- CUDA arrays ----------------------------------------------------------------------------


@pytest.mark.cuda_only
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: d.__name__)
@pytest.mark.parametrize("op", OPS)
def test_the_gpu_result_equals_the_cpu_result(op, dtype):
    """The same math core on both targets: the CPU's bits, also at the special points; a row
    function's float64 result within the sum-order bound (support.SUM_ORDER_ULPS)."""
    params = call_params(op)
    x = np.concatenate([random((5, 13)), [[0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, -88.0, 88.0, 20.0, -20.0,
                                          1e4, -1e4, 3.0]]]).astype(dtype)
    g = random(x.shape, dtype, seed=1)
    row = x.shape[-1] if op.kind == "rowwise" else None
    assert_gpu_matches_cpu(forward(op, to_target(x), params), forward(op, x, params), op.name, row)
    assert_gpu_matches_cpu(backward(op, to_target(g), to_target(x), params), backward(op, g, x, params),
                           f"{op.name}_backward", row)


def _tile():
    from numact import _cuda
    return _cuda.TILE * _cuda.THREADS


@pytest.mark.cuda_only
@pytest.mark.parametrize("name", ["relu", "gelu"])
def test_the_gpu_tiles_give_the_cpu_result_at_every_size(name):
    """An element-wise kernel works in tiles of TILE·THREADS elements: one element, a tile less
    one, a tile, a tile and one, several tiles and a partial one, and (where the grid is small
    enough to try: the simulator) more tiles than the grid, taken grid-stride."""
    from numact import _cuda

    tile = _tile()
    sizes = [1, tile - 1, tile, tile + 1, 3 * tile + 5]
    if _cuda.MAX_TILES * tile < 10_000:
        sizes.append(_cuda.MAX_TILES * tile + 3)
    op = getattr(numact, name)
    op_backward = getattr(numact, f"{name}_backward")
    for size in sizes:
        x, g = random(size, np.float32), random(size, np.float32, seed=1)
        assert_gpu_matches_cpu(op(to_target(x)), op(x), f"{name} at {size}")
        assert_gpu_matches_cpu(op_backward(to_target(g), to_target(x)), op_backward(g, x), f"{name}_backward at {size}")


@pytest.mark.cuda_only
@pytest.mark.parametrize("inner", [1, 3], ids=["channels last", "channels then 3"])
def test_prelus_gpu_tiles_give_the_cpu_result_at_every_size(inner):
    """PReLU's kernels run over flat views in tiles too, each element's channel from its flat
    position: the sizes of the element-wise test, (outer, 5 channels, inner) arrays, with the
    weight's gradient."""
    from numact import _cuda

    tile, channels = _tile(), 5
    outers = [1, tile // (channels * inner), tile // (channels * inner) + 1, 3 * tile // (channels * inner) + 2]
    if _cuda.MAX_TILES * tile < 10_000:
        outers.append(_cuda.MAX_TILES * tile // (channels * inner) + 1)
    w = np.linspace(-0.5, 0.75, channels).astype(np.float32)
    for outer in outers:
        shape = (outer, channels, inner) if inner > 1 else (outer, channels)
        x, g = random(shape, np.float32), random(shape, np.float32, seed=1)
        where = f"prelu at {shape}"
        assert_gpu_matches_cpu(numact.prelu(to_target(x), to_target(w)), numact.prelu(x, w), where)
        dx, dw = numact.prelu_backward(to_target(g), to_target(x), to_target(w))
        cpu_dx, cpu_dw = numact.prelu_backward(g, x, w)
        assert_gpu_matches_cpu(dx, cpu_dx, f"{where}: backward")
        np.testing.assert_allclose(to_host(dw), cpu_dw, rtol=1e-6, err_msg=f"{where}: the weight's gradient")


@pytest.mark.cuda_only
@pytest.mark.parametrize("channels", [1, 2], ids=["one weight", "two channels"])
def test_prelus_weight_gradient_on_the_gpu_splits_each_channel_between_blocks(channels):
    """The weight's gradient sums each channel in parts, a block a part (one weight for all
    channels: the whole tensor), then the parts per channel: the CPU's sum within float64's
    rounding, at sizes of one part, several and a part that ends short; and 0 for no elements."""
    from numact import _cuda

    w = np.array([0.25, -0.5][:channels], np.float32)
    per_part = _cuda.THREADS * _cuda.ROW_SHARE
    inner = _cuda.SHORT_INNER
    for outer in [0, 3, per_part // inner + 1, 3 * per_part // inner + 5]:
        shape = (outer, inner) if channels == 1 else (outer, channels, inner)
        n = outer * inner
        assert _cuda._channel_parts(n, channels) == max(1, min(-(-n // per_part), _cuda.SUM_BLOCKS // channels))
        x, g = random(shape, np.float32), random(shape, np.float32, seed=1)
        _, dw = numact.prelu_backward(to_target(g), to_target(x), to_target(w))
        _, cpu_dw = numact.prelu_backward(g, x, w)
        np.testing.assert_allclose(to_host(dw), cpu_dw, rtol=1e-6, err_msg=f"{shape}")
        if outer == 0:
            assert not to_host(dw).any()


@pytest.mark.cuda_only
@pytest.mark.parametrize("shape", [(70, 3), (70, 40), (9, 5, 7), (700, 4, 2), (0, 3), (3, 2, 0)],
                         ids=["lanes", "tiles", "inner 7", "parts", "no rows", "no inner"])
def test_prelus_weight_gradient_on_the_gpu_reads_channels_last_by_columns(shape):
    """Channels less than a warp apart (inner < SHORT_INNER: (N, C) inputs) are summed by
    columns (c, i): a block a tile of columns and a part of the rows, several rows at once where
    the columns are fewer than the block's threads. The CPU's sum within float64's rounding,
    with the tiles, lanes and parts this shape gets."""
    from numact import _cuda

    outer, channels = shape[:2]
    columns = channels * (shape[2] if len(shape) > 2 else 1)
    width, lanes, tiles = _cuda._column_tiles(columns)
    assert not columns or (width, lanes) == (min(columns, _cuda.THREADS), _cuda.THREADS // min(columns, _cuda.THREADS))
    parts = _cuda._column_parts(outer, columns)
    assert parts == max(1, min(-(-outer // (lanes * _cuda.ROW_SHARE)), _cuda.SUM_BLOCKS // tiles))
    w = np.linspace(-0.5, 0.75, channels).astype(np.float32)
    x, g = random(shape, np.float32), random(shape, np.float32, seed=1)
    _, dw = numact.prelu_backward(to_target(g), to_target(x), to_target(w))
    _, cpu_dw = numact.prelu_backward(g, x, w)
    np.testing.assert_allclose(to_host(dw), cpu_dw, rtol=1e-6, err_msg=f"{shape}: {tiles} tiles, {lanes} lanes, {parts} parts")
    if not x.size:
        assert not to_host(dw).any()


@pytest.mark.cuda_only
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_the_gpu_splits_rows_between_threads_and_gives_the_cpu_result(name):
    """A row along the last axis is split between a group of threads (numact._cuda.lanes_for):
    a long row between a whole block, short rows between a few threads each, several rows to a
    block and more rows than the grid holds; rows side by side in memory (another axis) take a
    thread each. Within the sum-order bound of the CPU's result (support.SUM_ORDER_ULPS)."""
    from numact import _cuda

    long_row = _cuda.ROW_SHARE * _cuda.THREADS + 1
    cases = [((2, long_row), -1, _cuda.THREADS), ((70, _cuda.ROW_SHARE + 1), -1, 2), ((5, 70), 0, 1)]
    op = getattr(numact, name)
    op_backward = getattr(numact, f"{name}_backward")
    for shape, axis, lanes in cases:
        outer, n, inner = numact._api._rows_shape(name, shape, axis)
        assert _cuda.lanes_for(n, inner) == lanes
        x, g = random(shape, np.float32) * 4, random(shape, np.float32, seed=1)
        x[0, :3] = [np.nan, 0.0, -0.0]
        x[1, :] = -np.inf
        what = f"{name} of {shape} along {axis}"
        assert_gpu_matches_cpu(op(to_target(x), axis=axis), op(x, axis=axis), what, n)
        assert_gpu_matches_cpu(op_backward(to_target(g), to_target(x), axis=axis), op_backward(g, x, axis=axis),
                               f"{what}: backward", n)


@pytest.mark.cuda_only
def test_gpu_and_host_arrays_are_not_mixed():
    """A ValueError naming the operator and the arrays (SPEC.md), before anything is written;
    Python and NumPy scalars go anywhere."""
    from numba import cuda

    x = cuda.to_device(np.ones(4))
    with pytest.raises(ValueError, match="numact.sigmoid_backward: x on the GPU but grad_output in host memory"):
        numact.sigmoid_backward(np.ones(4), x)
    with pytest.raises(ValueError, match="numact.sigmoid: out must be a CUDA array"):
        numact.sigmoid(x, out=np.ones(4))
    with pytest.raises(ValueError, match="numact.mse_loss: input on the GPU but target in host memory"):
        numact.mse_loss(x, np.ones(4))
    with pytest.raises(ValueError, match="numact.cross_entropy_forward_backward: target on the GPU but input in host memory"):
        numact.cross_entropy_forward_backward(np.ones((2, 3)), cuda.to_device(np.array([0, 1])))
    with pytest.raises(ValueError, match="numact.prelu: x on the GPU but weight in host memory"):
        numact.prelu(cuda.to_device(np.ones((2, 3))), np.ones(3))
    np.testing.assert_array_equal(numact.sigmoid_backward(np.float64(2.0), x).copy_to_host(),
                                  numact.sigmoid_backward(2.0, np.ones(4)))


# --- threads and the compile cache ------------------------------------------------------------


@pytest.mark.cpu_only
def test_calls_from_several_threads_give_the_serial_results():
    arrays = [random(200_003, np.float32, seed=i) for i in range(8)]
    calls = [
        lambda a: numact.sigmoid(a),
        lambda a: numact.softmax(a[:200_000].reshape(400, 500), axis=0),
        lambda a: numact.gelu_backward(a, a, approximate="tanh"),
        lambda a: numact.prelu_backward(a, a, 0.2)[0],
    ]
    expected = [call(a) for call in calls for a in arrays]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            results = list(pool.map(lambda job: job[0](job[1]), [(c, a) for c in calls for a in arrays]))
            for got, want in zip(results, expected):
                np.testing.assert_array_equal(got, want)


@pytest.mark.cpu_only
def test_a_new_process_loads_the_kernels_from_the_disk_cache(tmp_path):
    """The second process compiles nothing: every kernel and ufunc loop it runs comes from
    NUMBA_CACHE_DIR (11 elements: sigmoid and gelu_backward run their ufunc's one loop, softmax
    its one-thread kernel; 100,000 elements: sigmoid's parallel kernel)."""
    script = textwrap.dedent("""
        import numpy as np, numact
        from numact import _cpu, ufuncs
        from numact.operators import OPERATORS
        x = np.linspace(-3, 3, 11, dtype=np.float32)
        numact.sigmoid(x); numact.softmax(x); numact.gelu_backward(x, x)
        numact.sigmoid(np.linspace(-3, 3, 100_000, dtype=np.float32))
        kernels = [_cpu.map_rows(OPERATORS["softmax"].forward, 1).unit.single,
                   _cpu.map_unary(OPERATORS["sigmoid"].forward, 0).threaded]
        loops = [loop for name in ("sigmoid", "gelu_backward") for loop in ufuncs._SPECS[name]._loops.values()]
        hits = sum(sum(k.stats.cache_hits.values()) for k in kernels) + sum(loop.cache_hits for loop in loops)
        misses = sum(sum(k.stats.cache_misses.values()) for k in kernels) + sum(1 - loop.cache_hits for loop in loops)
        print(hits, misses)
    """)
    runs = [  # string hashing differs between the processes, as it does by default
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True,
            env={"NUMBA_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONHASHSEED": seed},
        )
        for seed in ("1", "2")
    ]
    assert runs[0].stdout.split() == ["0", "4"]  # compiled and saved
    assert runs[1].stdout.split() == ["4", "0"]  # loaded


@pytest.mark.cpu_only
def test_importing_numact_does_not_import_numba_cuda():
    code = "import sys, numact; print('numba.cuda' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


@pytest.mark.cpu_only
def test_a_cpu_torch_tensor_is_taken_as_an_array():
    np.testing.assert_array_equal(numact.tanh(torch.linspace(-2, 2, 5)), numact.tanh(np.linspace(-2, 2, 5, dtype=np.float32)))



def test_grad_output_broadcasts_to_x():
    x, g = random((4, 5)), random(5, seed=1)
    dx = to_host(numact.tanh_backward(to_target(g), to_target(x)))
    np.testing.assert_array_equal(dx, numact.tanh_backward(np.broadcast_to(g, (4, 5)).copy(), x))


@pytest.mark.cuda_only
def test_a_gpu_result_comes_back_as_the_callers_kind_of_array(monkeypatch):
    """A fresh result is an array of the library of the call's first array, over the same
    memory (CuPy in, CuPy out: here a stand-in for CuPy's module and array type, since CI has no
    GPU for the real one; torch in, torch out in the next test); an out= given comes back
    itself; each call runs on CuPy's current stream and allocates from CuPy."""
    import types as module_types

    from numact import _cuda

    stand_in = module_types.ModuleType("cupy")
    stand_in.asarray = lambda a: ("CuPy array over", a)
    asked = []  # the calls run on CuPy's current stream (here the default one, handle 0)
    stand_in.cuda = module_types.SimpleNamespace(get_current_stream=lambda: asked.append(1) or module_types.SimpleNamespace(ptr=0))
    monkeypatch.setitem(sys.modules, "cupy", stand_in)
    cupy_like = type("ndarray", (_cuda.DeviceArray,), {"__module__": "cupy._core.core",
                                                      "device": module_types.SimpleNamespace(id=0)})

    def as_cupy(a):
        device = cupy_like.__new__(cupy_like)
        device.__dict__.update(to_target(a).__dict__)
        return device

    allocated = []
    stand_in.empty = lambda shape, dtype: allocated.append(as_cupy(np.empty(shape, dtype))) or allocated[-1]

    def numba_array(result):
        kind, array = result
        assert kind == "CuPy array over" and _cuda.is_device_array(array)
        assert any(array is a for a in allocated)  # made by CuPy (here: the stand-in's empty)
        return to_host(array)

    x = np.array([[-1.0, 2.0, 0.5], [3.0, -4.0, 1.0]])
    np.testing.assert_array_equal(numba_array(numact.relu(as_cupy(x))), numact.relu(x))
    np.testing.assert_array_equal(numba_array(numact.softmax(as_cupy(x))), numact.softmax(x))
    dx, dw = numact.prelu_backward(as_cupy(np.ones((2, 3))), as_cupy(x), as_cupy(np.full(3, 0.25)))
    np.testing.assert_array_equal(numba_array(dw), numact.prelu_backward(np.ones((2, 3)), x, np.full(3, 0.25))[1])
    loss, grad = numact.cross_entropy_forward_backward(as_cupy(x), as_cupy(np.array([0, 2])))
    cpu_loss, cpu_grad = numact.cross_entropy_forward_backward(x, np.array([0, 2]))
    np.testing.assert_allclose(numba_array(loss), cpu_loss, rtol=1e-15)
    np.testing.assert_allclose(numba_array(grad), cpu_grad, rtol=1e-15)
    assert len(asked) == 4 and _cuda.stream() == 0  # relu, softmax, prelu_backward, cross_entropy
    out = as_cupy(np.zeros((2, 3)))
    assert numact.relu(as_cupy(x), out=out) is out
    assert numact.mse_loss(as_cupy(x), as_cupy(x), reduction="none", out=out) is out


@pytest.mark.cuda_only
def test_arrays_on_another_gpu_than_the_current_one_are_refused():
    """Arrays of a library that says its GPU (torch, CuPy; here stand-ins for CuPy arrays on
    cuda:0 and cuda:1) must all be on the current GPU, out= included; numba's own arrays are on
    it. Refused before any kernel runs, naming the GPUs and how to make one current."""
    import types as module_types

    from numact import _cuda

    def on(device):
        kind = type("ndarray", (_cuda.DeviceArray,), {"__module__": "cupy._core.core",
                                                      "device": module_types.SimpleNamespace(id=device)})

        def make(a):
            array = kind.__new__(kind)
            array.__dict__.update(to_target(a).__dict__)
            return array

        return make

    x = np.ones((2, 3))
    assert _cuda.current_device() == 0 and _cuda.device_of(to_target(x)) is None
    with pytest.raises(ValueError, match=r"numact\.relu: the arrays are on cuda:1, but numba runs kernels on "
                                         r"cuda:0 in this thread; make cuda:1 the current device before the "
                                         r"thread's first GPU call \(torch\.cuda\.set_device\(1\)"):
        numact.relu(on(1)(x))
    with pytest.raises(ValueError, match=r"numact\.tanh_backward: grad_output on cuda:0, x on cuda:1; pass them on one GPU"):
        numact.tanh_backward(on(0)(x), on(1)(x))
    with pytest.raises(ValueError, match=r"numact\.mse_loss: input on cuda:1, target on cuda:0; pass them on one GPU"):
        numact.mse_loss(on(1)(x), on(0)(x))
    out = on(1)(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"numact\.relu: the arrays are on cuda:1"):
        numact.relu(to_target(x), out=out)
    assert not to_host(out).any()


@pytest.mark.gpu_only
def test_a_torch_cuda_tensor_in_gives_a_torch_tensor_out():
    """On a real GPU (make test-gpu; CI has none, and the simulator takes no torch tensors)."""
    x = torch.tensor([[-1.0, 2.0], [3.0, -4.0]], device="cuda")
    before = torch.cuda.memory_allocated(x.device)
    y = numact.relu(x)
    assert isinstance(y, torch.Tensor) and y.device == x.device
    assert torch.cuda.memory_allocated(x.device) > before  # from torch's caching allocator
    torch.testing.assert_close(y, torch.relu(x), rtol=0, atol=0)
    loss, grad = numact.cross_entropy_forward_backward(x, torch.tensor([0, 1], device="cuda"))
    assert isinstance(loss, torch.Tensor) and isinstance(grad, torch.Tensor)


@pytest.mark.cuda_only
def test_constant_arrays_go_to_each_gpu_context_once(monkeypatch):
    """The losses' constant arrays (ones, unit weights, divisors) are copied to the device once
    per context and host array (numact._cuda.constant), numba's context objects being
    unhashable (equal by handle); run here with stand-ins for the context and the copy."""
    from numact import _cuda

    class Context:
        def __eq__(self, other):
            return self is other

    current, copies = [Context()], []
    monkeypatch.setattr(_cuda, "SIMULATOR", False)
    monkeypatch.setattr(_cuda.cuda, "current_context", lambda: current[0], raising=False)
    monkeypatch.setattr(_cuda, "from_host", lambda a: copies.append(a) or object())
    monkeypatch.setattr(_cuda, "_CONSTANTS", {})
    a, b = np.ones(3), np.zeros(())
    first = _cuda.constant(a)
    assert _cuda.constant(a) is first and _cuda.constant(b) is not first and len(copies) == 2
    current[0] = Context()
    assert _cuda.constant(a) is not first and len(copies) == 3


@pytest.mark.gpu_only
def test_a_call_between_torch_calls_on_a_side_stream_keeps_their_order():
    """numact runs on torch's current stream: ordered between two torch calls on a side stream,
    it sees the first's result, though the stream is held up before it (torch.cuda._sleep),
    and the second sees numact's; a loss's check of class indices runs there too."""
    side = torch.cuda.Stream()
    x = torch.randn(1 << 20, device="cuda")
    logits, classes = torch.randn(4096, 100, device="cuda"), torch.randint(0, 100, (4096,), device="cuda")
    torch.cuda.synchronize()
    with torch.cuda.stream(side):
        torch.cuda._sleep(100_000_000)
        y = x * 2
        z = numact.relu(y)
        w = z + 1
        torch.cuda._sleep(100_000_000)
        loss, grad = numact.cross_entropy_forward_backward(logits * 1, classes)
        after = grad * 1
    torch.cuda.synchronize()
    torch.testing.assert_close(w, torch.relu(x * 2) + 1, rtol=0, atol=0)
    expected = torch.nn.functional.cross_entropy(logits, classes)
    torch.testing.assert_close(loss, expected, rtol=1e-6, atol=0)
    assert after.shape == logits.shape and torch.isfinite(after).all()
