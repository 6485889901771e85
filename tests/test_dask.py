"""numact on dask arrays (numact.dask): every operator of the table, forward, backward and fused,
lazily, on dask's threaded scheduler and on a dask.distributed LocalCluster of 2 worker
processes, against numact's in-memory call on the same values.

Element-wise results (activations, unreduced element-wise losses, their gradients, and the
gradients of reduced element-wise losses) have the in-memory call's bits; reductions are within
one rounding of the dtype; the paths that re-derive a row across chunks (the softmax family and
cross_entropy along a split axis) are held to PyTorch's float64 result, as numact itself is.
"""

import logging
import subprocess
import sys
import warnings

import dask
import dask.array as da
import numpy as np
import pytest
from loss_cases import cases, torch_loss
from support import (
    ELEMENTWISE,
    ROWWISE,
    assert_close,
    inputs,
    op_params,
    reference,
)

import numact
from numact.operators import param_cases

pytestmark = pytest.mark.cpu_only  # dask's chunks are NumPy arrays here; the CUDA kernels have their own tests
warnings.filterwarnings("ignore", category=RuntimeWarning)

DTYPES = [np.float32, np.float64]
LOSS_CASES = cases()


def chunked(a, parts=3):
    """A dask array of a's values, each axis split in about ``parts`` chunks."""
    a = np.asarray(a)
    return da.from_array(a, chunks=tuple(max(1, -(-n // parts)) for n in a.shape) if a.ndim else ())


def same_bits(ours, theirs, what):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, what
    assert ours.tobytes() == theirs.tobytes(), f"{what}: {ours} != {theirs}"


def within_rounding(ours, theirs, what, ulps=None):
    """Within one rounding of theirs (a reduction summed in float64 in another order); in
    float64 itself, the other order's own few roundings (8 ulps: sums of mixed signs)."""
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    ulps = ulps or (8 if theirs.dtype == np.float64 else 1)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, what
    with np.errstate(invalid="ignore"):
        same = (ours == theirs) | (np.isnan(ours) & np.isnan(theirs))
        off = np.abs(ours.astype(np.float64) - theirs) <= ulps * np.spacing(np.abs(theirs)).astype(np.float64)
    assert (same | off).all(), f"{what}: {ours} against {theirs}"


def near(ours, theirs, what):
    """Within the rounding of the dtype, relative to the array's largest value (a gradient
    whose scale was applied in another order: cancellations make small values differ)."""
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, what
    eps = np.finfo(theirs.dtype).eps
    finite = np.isfinite(theirs)
    scale = np.abs(theirs[finite]).max() if finite.any() else 0.0
    with np.errstate(invalid="ignore"):
        same = (ours == theirs) | (np.isnan(ours) & np.isnan(theirs))
        off = np.abs(ours.astype(np.float64) - theirs) <= 32 * eps * (np.abs(theirs) + scale)
    assert (same | off).all(), f"{what}: {ours} against {theirs}"


# --- activations --------------------------------------------------------------------------


def activation_cases():
    return [pytest.param(op, params, id=f"{op.name}-{k}") for op in ELEMENTWISE + ROWWISE
            for k, params in enumerate(param_cases(op))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("op", "params"), activation_cases())
def test_an_activation_on_chunks_gives_the_in_memory_bits(op, params, dtype):
    x = inputs(op, params, dtype)
    g = np.random.default_rng(1).normal(size=x.shape).astype(dtype)
    kw = op_params(op, params)
    rows = [(x.shape[0] // 3 + 1, x.shape[1])] if op.kind == "rowwise" else [-(-x.size // 4)]
    xd = da.from_array(x, chunks=rows[0])
    y = getattr(numact, op.name)(xd, **kw)
    assert isinstance(y, da.Array) and y.chunks == xd.chunks and y.dtype == dtype
    same_bits(y.compute(), getattr(numact, op.name)(x, **kw), op.name)
    dx = getattr(numact, f"{op.name}_backward")(chunked(g), xd, **kw)
    same_bits(dx.compute(), getattr(numact, f"{op.name}_backward")(g, x, **kw), f"{op.name}_backward")
    dx = getattr(numact, f"{op.name}_backward")(np.float32(0.5), xd, **kw)  # grad_output broadcast
    same_bits(dx.compute(), getattr(numact, f"{op.name}_backward")(np.float32(0.5), x, **kw), f"{op.name}_backward")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ROWWISE, ids=lambda op: op.name)
def test_the_softmax_family_along_a_split_axis_is_torchs(op, dtype):
    """Rows of 25 in chunks of 7 (never one chunk), among them rows with ±inf, NaN, all −inf."""
    x = inputs(op, {}, dtype)
    g = np.random.default_rng(1).normal(size=x.shape).astype(dtype)
    for axis, xs, gs in ((-1, x, g), (0, x.T.copy(), g.T.copy())):
        xd = da.from_array(xs, chunks=(3, 7) if axis == -1 else (7, 3))
        y = getattr(numact, op.name)(xd, axis=axis)
        assert y.chunks == xd.chunks and y.dtype == dtype
        dx = getattr(numact, f"{op.name}_backward")(da.from_array(gs, chunks=xd.chunks), xd, axis=axis)
        params = {"axis": axis}
        truth = reference(op, xs.astype(np.float64), params)
        assert_close(y.compute(), truth, reference(op, xs, params), dtype, f"{op.name}{{axis {axis}}}", xs)
        truth = reference(op, xs.astype(np.float64), params, gs.astype(np.float64))
        assert_close(dx.compute(), truth, reference(op, xs, params, gs), dtype, f"{op.name}_backward{{axis {axis}}}", xs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("per_channel", [True, False])
def test_prelu_follows_the_channel_chunks(dtype, per_channel):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 6, 7)).astype(dtype)
    g = rng.normal(size=x.shape).astype(dtype)
    w = np.linspace(0.1, 0.6, 6 if per_channel else 1).astype(dtype)
    xd, wd = da.from_array(x, chunks=(2, 4, 3)), da.from_array(w, chunks=4)
    same_bits(numact.prelu(xd, wd).compute(), numact.prelu(x, w), "prelu")
    grad_x, grad_w = numact.prelu_backward(chunked(g), xd, wd)
    grad_x, grad_w = dask.compute(grad_x, grad_w)
    expected_x, expected_w = numact.prelu_backward(g, x, w)
    same_bits(grad_x, expected_x, "prelu_backward x")
    within_rounding(grad_w, expected_w, "prelu_backward weight")


# --- losses -------------------------------------------------------------------------------


def call(case, suffix, arrays, reduction, *lead):
    fn = getattr(numact, case.op.name + suffix)
    keywords = {w: arrays[w] for w in case.op.weights if w in arrays}
    return fn(*lead, *[arrays[a] for a in case.op.arrays], **keywords, **case.params, reduction=reduction)


def loss_results(case, arrays, reduction, dtype, compute=dask.compute):
    """(loss, fused loss, fused gradients, backward gradients) of one call each."""
    g = np.float32(0.7) if reduction != "none" else np.random.default_rng(2).normal(
        size=np.shape(call(case, "", {k: np.asarray(v) for k, v in arrays.items()}, "none"))).astype(dtype)
    results = (call(case, "", arrays, reduction),) + tuple(call(case, "_forward_backward", arrays, reduction)) \
        + (call(case, "_backward", arrays, reduction, g),)
    return compute(*results)


def grads_of(result):
    return result if isinstance(result, tuple) else (result,)


def compare_losses(case, ours, theirs, reduction):
    loss, fused_loss, fused_grads, grads = ours
    e_loss, e_fused_loss, e_fused_grads, e_grads = theirs
    element_wise = case.op.kind == "elementwise"
    if reduction == "none" and element_wise:
        same_bits(loss, e_loss, f"{case.id} {reduction} loss")
        same_bits(fused_loss, e_fused_loss, f"{case.id} {reduction} fused loss")
    elif reduction == "none":  # a row's loss from float64 sums whose order follows the row's layout,
        # which a chunk's differs from: log Σe's last bits, absolute, against a loss that may be small
        near(loss, e_loss, f"{case.id} {reduction} loss")
        near(fused_loss, e_fused_loss, f"{case.id} {reduction} fused loss")
    else:
        within_rounding(loss, e_loss, f"{case.id} {reduction} loss")
        within_rounding(fused_loss, e_fused_loss, f"{case.id} {reduction} fused loss")
    for k, (a, b, c, d) in enumerate(zip(grads_of(fused_grads), grads_of(e_fused_grads), grads_of(grads), grads_of(e_grads))):
        if element_wise:
            same_bits(a, b, f"{case.id} {reduction} fused gradient {k}")
            same_bits(c, d, f"{case.id} {reduction} gradient {k}")
        else:
            near(a, b, f"{case.id} {reduction} fused gradient {k}")
            near(c, d, f"{case.id} {reduction} gradient {k}")


def loss_params():
    return [pytest.param(case, reduction, id=f"{case.id}-{reduction}")
            for case in LOSS_CASES for reduction in case.op.reductions]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("case", "reduction"), loss_params())
def test_a_loss_on_chunks_gives_the_in_memory_result(case, reduction, dtype):
    """Every array split in 3 along every axis but a class or vector axis (kept whole:
    numact's row kernels per chunk)."""
    arrays = case.arrays(dtype)
    lazy = {}
    for name, a in arrays.items():
        d = chunked(a)
        if case.op.kind == "class" and name in ("input", "weight") or (case.probs and name == "target"):
            d = d.rechunk({1: -1} if a.ndim > 1 else {0: -1})
        lazy[name] = d
    ours = loss_results(case, lazy, reduction, dtype)
    theirs = loss_results(case, arrays, reduction, dtype, compute=lambda *r: r)
    compare_losses(case, ours, theirs, reduction)


CLASS_CASES = [c for c in LOSS_CASES if c.op.kind == "class"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", CLASS_CASES, ids=lambda c: c.id)
def test_a_class_loss_along_a_split_class_axis_is_torchs(case, reduction, dtype):
    """The class axis in chunks of 2: the online log-sum-exp, never one chunk of classes."""
    arrays = case.arrays(dtype)
    lazy = {k: da.from_array(v, chunks=2) for k, v in arrays.items()}
    assert len(lazy["input"].chunks[1]) > 1
    loss, grad = dask.compute(*call(case, "_forward_backward", lazy, reduction))
    truth, (truth_grad,) = torch_loss(case, {k: v.astype(np.float64) if v.dtype.kind == "f" else v for k, v in arrays.items()}, reduction, 1.0)
    low, (low_grad,) = torch_loss(case, arrays, reduction, 1.0)
    assert loss.dtype == dtype and grad.dtype == dtype
    assert_close(loss, truth, low, dtype, f"{case.id} loss")
    assert_close(grad, truth_grad, low_grad, dtype, f"{case.id} gradient")
    g = dtype(0.5) if reduction != "none" else np.full(np.shape(truth), 0.5, dtype)
    backward = call(case, "_backward", lazy, reduction, g).compute()
    assert_close(backward, 0.5 * truth_grad, 0.5 * low_grad, dtype, f"{case.id} backward")


def test_a_fused_loss_reads_each_chunk_of_its_input_once():
    reads = []

    def source(block, block_id=None):
        reads.append(block_id)
        return block

    x = chunked(np.random.default_rng(0).normal(size=(12, 5)).astype(np.float32)).rechunk((4, 5))
    x = da.map_blocks(source, x, dtype=np.float32, meta=np.empty((0, 0), np.float32))
    t = da.from_array(np.arange(12) % 5, chunks=4)
    loss, grad = numact.cross_entropy_forward_backward(x, t, label_smoothing=0.1)
    dask.compute(loss, grad, scheduler="sync")
    assert sorted(reads) == [(0, 0), (1, 0), (2, 0)]


# --- laziness, errors ---------------------------------------------------------------------


def test_nothing_is_computed_until_asked():
    def refuse(*args, **kwargs):
        raise AssertionError("computed while the graph was built")

    x = chunked(np.linspace(-3, 3, 40, dtype=np.float32).reshape(8, 5))
    t = da.from_array(np.arange(8) % 5, chunks=3)
    with dask.config.set(scheduler=refuse):
        y = numact.gelu(x)
        loss, grad = numact.cross_entropy_forward_backward(x, t, weight=np.ones(5, np.float32), ignore_index=2)
        sm = numact.softmax(x, axis=0)
    assert (y.shape, y.dtype, y.chunks) == (x.shape, np.float32, x.chunks)
    assert (loss.shape, loss.dtype, grad.chunks) == ((), np.float32, x.chunks)
    assert sm.chunks == x.chunks
    same_bits(loss.compute(), numact.cross_entropy(x.compute(), t.compute(), weight=np.ones(5, np.float32), ignore_index=2), "loss")


def test_import_numact_does_not_import_dask():
    code = "import sys, numpy, numact; numact.gelu(numpy.ones(3)); print('dask' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


@pytest.mark.parametrize(("call_it", "error", "message"), [
    (lambda x, t: numact.gelu(x, approximate="cubic"), ValueError, r"numact\.gelu: approximate must be"),
    (lambda x, t: numact.gelu(x.astype(complex)), TypeError, r"numact\.gelu"),
    (lambda x, t: numact.softmax(x, axis=2), np.exceptions.AxisError, "axis 2"),
    (lambda x, t: numact.elu_backward(np.ones(3), x), ValueError, "does not broadcast"),
    (lambda x, t: numact.mse_loss(x, x[:, :2]), ValueError, r"numact\.mse_loss: the shapes"),
    (lambda x, t: numact.mse_loss(x, x, reduction="avg"), ValueError, "reduction must be one of"),
    (lambda x, t: numact.cross_entropy(x, t[:3]), ValueError, "class indices for input"),
    (lambda x, t: numact.cross_entropy(x, t.astype(complex)), TypeError, "target has dtype"),
    (lambda x, t: numact.nll_loss(x, t, weight=np.ones(4)), ValueError, "one per class"),
    (lambda x, t: numact.cross_entropy(x, t, label_smoothing=2.0), ValueError, "label_smoothing"),
    (lambda x, t: numact.prelu(x, np.ones(3)), ValueError, "1 value or one per channel"),
    (lambda x, t: numact.gelu(x, out=np.empty((8, 5), np.float32)), ValueError, "out must be a dask array"),
    (lambda x, t: numact.mse_loss_backward(np.ones(2), x, x), ValueError, "a reduced loss takes a scalar"),
])
def test_bad_input_is_refused_when_the_graph_is_built(call_it, error, message):
    x = chunked(np.ones((8, 5), np.float32))
    t = da.from_array(np.arange(8) % 5, chunks=3)
    with dask.config.set(scheduler=lambda *a, **k: pytest.fail("computed")), pytest.raises(error, match=message):
        call_it(x, t)


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("suffix", ["", "_forward_backward"])
def test_a_bad_class_index_is_named_at_its_place_in_the_whole_target(suffix, split):
    x = da.from_array(np.zeros((10, 4, 3), np.float32), chunks=(3, 2 if split else 4, 3))
    t = np.zeros((10, 3), np.int64)
    t[7, 2] = 9
    with pytest.raises(ValueError, match=r"numact\.cross_entropy.*: target holds class index 9 at \(7, 2\), outside \[0, 4\)"):
        dask.compute(getattr(numact, "cross_entropy" + suffix)(x, da.from_array(t, chunks=(3, 2)), reduction="sum"))


def test_a_probability_outside_0_1_is_named_at_its_place_in_the_whole_input():
    x = np.full((6, 4), 0.5)
    x[4, 3] = 1.5
    with pytest.raises(ValueError, match=r"input holds 1\.5 at \(4, 3\); probabilities must be in \[0, 1\]"):
        numact.binary_cross_entropy(chunked(x), chunked(np.zeros((6, 4)))).compute()


def test_out_takes_a_dask_array_and_holds_the_result():
    x = chunked(np.linspace(-2, 2, 12))
    out = da.zeros(12, chunks=4)
    result = numact.tanh(x, out=out)
    assert result is out
    same_bits(out.compute(), numact.tanh(np.linspace(-2, 2, 12)), "out")


def test_float16_and_integers_follow_numacts_dtype_policy():
    for values in (np.linspace(-2, 2, 10).astype(np.float16), np.arange(-5, 5, dtype=np.int16)):
        y = numact.gelu(chunked(values))
        assert y.dtype == numact.gelu(values).dtype
        same_bits(y.compute(), numact.gelu(values), str(values.dtype))
    a, b = np.linspace(0, 1, 9).astype(np.float16), np.linspace(1, 0, 9).astype(np.float16)
    loss, grad = dask.compute(*numact.mse_loss_forward_backward(chunked(a), chunked(b)))
    expected_loss, expected_grad = numact.mse_loss_forward_backward(a, b)
    within_rounding(loss, expected_loss, "float16 loss")
    same_bits(grad, expected_grad, "float16 gradient")


# --- on a cluster of two worker processes --------------------------------------------------


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=logging.ERROR) as cluster, distributed.Client(cluster) as c:
        yield c


def test_every_operator_on_a_cluster_gives_the_threaded_schedulers_bits(client):
    """Every operator's forward, backward (and fused) on 2 worker processes: numact's kernels
    travel to the workers, and the results are the threaded scheduler's to the bit."""
    dtype = np.float32
    graphs = []
    for op in ELEMENTWISE + ROWWISE:
        params = op_params(op, param_cases(op)[0])
        x = inputs(op, params, dtype)
        xd = da.from_array(x, chunks=(3, 7) if op.kind == "rowwise" else 20)
        graphs += [getattr(numact, op.name)(xd, **params), getattr(numact, op.name + "_backward")(xd, xd, **params)]
    xd, wd = chunked(np.random.default_rng(0).normal(size=(5, 6, 7)).astype(dtype)), chunked(np.linspace(0.1, 0.6, 6).astype(dtype))
    graphs += [numact.prelu(xd, wd), *numact.prelu_backward(xd, xd, wd)]
    for case in LOSS_CASES:
        lazy = {k: chunked(v) for k, v in case.arrays(dtype).items()}
        for reduction in ("mean", "none"):
            loss, grads = call(case, "_forward_backward", lazy, reduction)
            graphs += [loss, *grads_of(grads)]
    on_cluster = client.compute(graphs, sync=True)
    threaded = dask.compute(*graphs, scheduler="threads")
    for k, (a, b) in enumerate(zip(on_cluster, threaded)):
        same_bits(a, b, f"result {k}")
    # the workers compiled (or loaded) numact's kernels themselves
    assert all(client.run(lambda: "numact" in sys.modules).values())


def test_a_bad_class_index_reaches_the_client_from_a_worker(client):
    t = np.zeros(10, np.int64)
    t[8] = -3
    loss = numact.cross_entropy(chunked(np.zeros((10, 4), np.float32)).rechunk({1: -1}), da.from_array(t, chunks=3))
    with pytest.raises(ValueError, match=r"target holds class index -3 at \(8,\)"):
        client.compute(loss, sync=True)



def test_the_modules_example_runs():
    import doctest

    import numact.dask

    assert doctest.testmod(numact.dask).failed == 0
