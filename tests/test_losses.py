"""Every loss against PyTorch: the loss, every gradient, and the fused call, for every
reduction, in float32 and float64, on the target under test (CPU, or the CUDA simulator)."""

import numpy as np
import pytest

from loss_cases import cases, numact_call, torch_loss
from support import assert_close, assert_gpu_matches_cpu, to_host, to_target

DTYPES = [np.float32, np.float64]
CASES = [pytest.param(case, id=case.id) for case in cases()]
WITH_REDUCTIONS = [
    pytest.param(case.values[0], reduction, id=f"{case.id}-{reduction}")
    for case in CASES for reduction in case.values[0].op.reductions
]


def on_target(arrays):
    return {k: to_target(v) for k, v in arrays.items()}


def upstream(loss_shape, dtype, reduction, seed=1):
    """A random grad_output: one per loss element for 'none', else one non-unit scalar."""
    if reduction == "none":
        return np.random.default_rng(seed).normal(0, 2, loss_shape).astype(dtype)
    return dtype(1.7)


def host_grads(grads):
    return [to_host(g) for g in (grads if isinstance(grads, tuple) else (grads,))]


def check_against_torch(case, arrays, reduction, dtype, g):
    truth64 = torch_loss(case, {k: v.astype(np.float64) if v.dtype.kind == "f" else v for k, v in arrays.items()},
                         reduction, np.asarray(g, np.float64))
    low = torch_loss(case, arrays, reduction, np.asarray(g, dtype))
    grads = host_grads(numact_call(case, "_backward", on_target(arrays), reduction, to_target(np.asarray(g, dtype)) if np.ndim(g) else g))
    for name, ours, truth, torch_low in zip(case.op.inputs, grads, truth64[1], low[1]):
        assert ours.dtype == dtype and ours.shape == arrays[name].shape
        assert_close(ours, truth, torch_low, dtype, f"{case.id}_backward[{name}, {reduction}]")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("case, reduction", WITH_REDUCTIONS)
def test_loss_matches_torch(case, reduction, dtype):
    arrays = case.arrays(dtype)
    loss = to_host(numact_call(case, "", on_target(arrays), reduction))
    truth = torch_loss(case, {k: v.astype(np.float64) if v.dtype.kind == "f" else v for k, v in arrays.items()}, reduction)
    assert loss.dtype == dtype and loss.shape == truth.shape
    assert_close(loss, truth, torch_loss(case, arrays, reduction), dtype, f"{case.id}[{reduction}]")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("case, reduction", WITH_REDUCTIONS)
def test_gradients_match_torch(case, reduction, dtype):
    arrays = case.arrays(dtype)
    loss_shape = torch_loss(case, arrays, reduction).shape
    check_against_torch(case, arrays, reduction, dtype, upstream(loss_shape, dtype, reduction))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("case, reduction", WITH_REDUCTIONS)
def test_gradients_with_a_scalar_grad_output(case, reduction, dtype):
    check_against_torch(case, case.arrays(dtype), reduction, dtype, dtype(-0.37))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("case, reduction", WITH_REDUCTIONS)
def test_fused_equals_forward_then_backward(case, reduction, dtype):
    arrays = on_target(case.arrays(dtype))
    loss, grads = numact_call(case, "_forward_backward", arrays, reduction)
    alone = to_host(numact_call(case, "", arrays, reduction))
    ones = to_target(np.ones(alone.shape, dtype)) if reduction == "none" else dtype(1)
    separate = host_grads(numact_call(case, "_backward", arrays, reduction, ones))
    np.testing.assert_array_equal(to_host(loss), alone)
    for fused, apart in zip(host_grads(grads), separate, strict=True):
        np.testing.assert_array_equal(fused, apart)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_a_class_loss_across_another_axis_gives_the_forwards_bits_fused(smoothing):
    """Rows of classes across another axis (N, C, d) on the CPU sum their exponentials in one
    order whether or not a gradient is made: where each row's maximum is 0 at its target, the
    loss is log Σe itself, and every last bit of the sum shows."""
    import numact

    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (4, 37, 6))
    x -= x.max(axis=1, keepdims=True)
    t = x.argmax(axis=1)
    for reduction in ("none", "sum"):
        loss, grad = numact.cross_entropy_forward_backward(to_target(x), to_target(t), reduction=reduction,
                                                           label_smoothing=smoothing)
        alone = numact.cross_entropy(to_target(x), to_target(t), reduction=reduction, label_smoothing=smoothing)
        np.testing.assert_array_equal(to_host(loss), to_host(alone))
        ones = to_target(np.ones(t.shape)) if reduction == "none" else 1.0
        backward = numact.cross_entropy_backward(ones, to_target(x), to_target(t), reduction=reduction,
                                                 label_smoothing=smoothing)
        np.testing.assert_array_equal(to_host(grad), to_host(backward))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_cross_entropy_holds_its_precision_beside_huge_logits(dtype):
    """The loss is taken from x − max, as PyTorch's log_softmax: a row of equal logits of 1e30
    loses log C, not 0 (lse − x_k rounds it away), with label smoothing and against class
    probabilities too."""
    import numact

    x = np.full((3, 5), 1e30, dtype)
    x[1] = -1e30
    x[2, 0] += 1e24 if dtype == np.float64 else 1e25
    t = np.array([0, 3, 1])
    truth = torch_loss_of(x, t)
    for kwargs in ({}, {"label_smoothing": 0.2}):
        ours = to_host(numact.cross_entropy(to_target(x), to_target(t), reduction="none", **kwargs))
        expected = torch_loss_of(x, t, **kwargs)
        np.testing.assert_allclose(ours, expected, rtol=1e-6)
    probs = np.eye(5, dtype=dtype)[t]
    ours = to_host(numact.cross_entropy(to_target(x), to_target(probs), reduction="none"))
    np.testing.assert_allclose(ours, truth, rtol=1e-6)
    assert np.allclose(truth[:2], np.log(5))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_an_ignored_rows_gradient_is_pytorchs(dtype):
    """An ignored row's gradient is 0, or NaN throughout where its softmax is NaN (a NaN, a
    +inf, or every class −inf), as PyTorch's; its loss is 0 either way."""
    import numact
    import torch

    x = np.array([[1.0, 2.0, 3.0], [np.inf, 0.0, 1.0], [np.nan, 0.0, 1.0], [-np.inf] * 3, [-np.inf, 0.0, 1.0]], dtype)
    t = np.array([1, 1, 1, 1, 1])
    tx = torch.tensor(x, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(tx, torch.tensor(t), ignore_index=1, reduction="sum")
    expected.backward()
    loss, grad = numact.cross_entropy_forward_backward(to_target(x), to_target(t), ignore_index=1, reduction="sum")
    assert to_host(loss) == expected.item() == 0
    np.testing.assert_array_equal(to_host(grad), tx.grad.numpy())
    assert np.isnan(to_host(grad)[1:4]).all() and not to_host(grad)[[0, 4]].any()


def test_cosine_embedding_losss_gradient_of_parallel_vectors_keeps_its_precision():
    """For parallel vectors x2/√(m1·m2) and cos·x1/m1 cancel, to the ε's share: numact's float64
    sums of exact products leave the float64 truth's value, where float32 products left their
    rounding of the terms (3.4e-6 against 5.5e-7)."""
    import numact
    import torch

    x1 = np.full((2, 6), -0.44476745, np.float32)
    x2 = np.full((2, 6), -0.00441423, np.float32)
    x2[1] = 3.0
    y = np.array([-1.0, 1.0], np.float32)
    ours = numact.cosine_embedding_loss_backward(1.7, to_target(x1), to_target(x2), to_target(y), reduction="sum")
    t1, t2 = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (x1, x2))
    (1.7 * torch.nn.functional.cosine_embedding_loss(t1, t2, torch.tensor(y, dtype=torch.float64),
                                                     reduction="sum")).backward()
    for got, truth in zip(ours, (t1.grad, t2.grad), strict=True):
        np.testing.assert_allclose(to_host(got), truth.numpy(), rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("p", [2.0, 1.5, 3.0])
def test_triplet_margin_losss_gradient_is_nan_through_a_nan_distance_as_torchs(p):
    """PyTorch's norm backward multiplies by the hinge's gradient, 0 where the hinge passes none,
    so a NaN distance (a NaN in the row) gives NaN through it, and an infinite element NaN at
    that element: numact gave 0, a NaN loss with a gradient that silently ignored it."""
    import numact
    import torch

    rng = np.random.default_rng(3)
    a, pos, neg = (rng.normal(size=(4, 5)) for _ in range(3))
    a[0, 1] = np.nan       # row 0: both distances NaN
    neg[1, 2] = np.nan     # row 1: d(a, neg) NaN, d(a, pos) not
    pos[2, 3] = np.inf     # row 2: an infinite element
    neg[3] = a[3] + 50.0   # row 3: the hinge is < 0, its gradient 0
    loss, grads = numact.triplet_margin_loss_forward_backward(*map(to_target, (a, pos, neg)), p=p, reduction="sum")
    tensors = [torch.tensor(v, requires_grad=True) for v in (a, pos, neg)]
    torch.nn.functional.triplet_margin_loss(*tensors, p=p, reduction="sum").backward()
    for got, t in zip(grads, tensors, strict=True):
        np.testing.assert_allclose(to_host(got), t.grad.numpy(), rtol=1e-10, atol=1e-300)  # NaN where torch's is
    ga, gp, gn = map(to_host, grads)
    assert np.isnan(ga[:2]).all() and np.isnan(gp[0]).all() and np.isnan(gn[:2]).all()
    assert not np.isnan(gp[1]).any() and not ga[3].any() and np.isnan(to_host(loss))


def torch_loss_of(x, t, **kwargs):
    import torch

    return torch.nn.functional.cross_entropy(torch.tensor(x, dtype=torch.float64), torch.tensor(t),
                                             reduction="none", **kwargs).numpy()


@pytest.mark.cuda_only
@pytest.mark.parametrize("reduction", ["none", "sum"])
@pytest.mark.parametrize("case", CASES)
def test_the_gpu_result_equals_the_cpu_result(case, reduction):
    """The same scalar math on both targets: equal per element; sums within their rounding
    (the CPU adds chunks, the GPU blocks)."""
    arrays = case.arrays(np.float64)
    gpu_loss, gpu_grads = numact_call(case, "_forward_backward", on_target(arrays), reduction)
    cpu_loss, cpu_grads = numact_call(case, "_forward_backward", arrays, reduction)
    x = arrays[case.op.inputs[0]]
    row = None if case.op.kind == "elementwise" else x.shape[1 if case.op.kind == "class" and x.ndim > 1 else -1]
    if reduction == "none":
        assert_gpu_matches_cpu(gpu_loss, cpu_loss, f"{case.id} losses", row)
    else:
        np.testing.assert_allclose(to_host(gpu_loss), cpu_loss, rtol=1e-13)
    for gpu, cpu in zip(host_grads(gpu_grads), host_grads(cpu_grads), strict=True):
        assert_gpu_matches_cpu(gpu, cpu, f"{case.id} gradient", row)


@pytest.mark.parametrize("case", CASES)
def test_gradients_match_finite_differences(case):
    """<g, J v> by central differences in float64 equals Σ <grad_k, v_k>, away from kinks."""
    arrays = case.arrays(np.float64, seed=3, smooth=True)
    rng = np.random.default_rng(4)
    v = {name: rng.normal(size=arrays[name].shape) for name in case.op.inputs}
    g = upstream(to_host(numact_call(case, "", on_target(arrays), "none")).shape, np.float64, "none")
    h = 1e-6

    def loss_at(step):
        moved = {k: a + step * v[k] if k in v else a for k, a in arrays.items()}
        return to_host(numact_call(case, "", on_target(moved), "none"))

    numeric = np.sum(g * (loss_at(h) - loss_at(-h))) / (2 * h)
    grads = host_grads(numact_call(case, "_backward", on_target(arrays), "none", to_target(g)))
    analytic = sum(np.sum(grad * v[name]) for name, grad in zip(case.op.inputs, grads))
    assert numeric == pytest.approx(analytic, rel=1e-6, abs=1e-7)


def _split_rows():
    """(shape, the threads a row takes) for rows of classes split between a group of threads
    (numact._cuda.lanes_for): a few threads a row with several rows to a block and more rows
    than the grid holds, a whole block a row, and a thread a row where rows lie side by side."""
    from numact import _cuda

    few = _cuda.ROW_SHARE + 1
    return [((70, few), 2), ((2, _cuda.ROW_SHARE * _cuda.THREADS + 1), _cuda.THREADS), ((3, few, 5), 1)]


@pytest.mark.cuda_only
@pytest.mark.parametrize("target_kind", ["indices", "probabilities"])
def test_the_gpu_splits_rows_of_classes_between_threads_and_gives_the_cpu_result(target_kind):
    """cross_entropy and nll_loss on the GPU split a row of classes between threads: with
    class weights, label smoothing, an ignore_index inside the classes, a class of −inf and a
    NaN, every reduction, and the gradient written into the input itself: within the sum-order
    bound of the CPU's result."""
    import numact
    from numact import _cuda

    rng = np.random.default_rng(3)
    for shape, lanes in _split_rows():
        classes = shape[1]
        assert _cuda.lanes_for(classes, int(np.prod(shape[2:]))) == lanes
        x = rng.normal(0, 3, shape)
        x[0, 1] = -np.inf
        x[1, 2] = np.nan
        w = rng.uniform(0.5, 2, classes)
        loss_shape = (shape[0],) + shape[2:]
        if target_kind == "indices":
            t = rng.integers(0, classes, loss_shape)
            t.flat[::4] = 1
            calls = [("cross_entropy", dict(weight=w, ignore_index=1, label_smoothing=0.1)),
                     ("cross_entropy", dict(weight=w)), ("nll_loss", dict(weight=w, ignore_index=1))]
        else:
            t = rng.dirichlet(np.ones(classes), loss_shape)
            t = np.moveaxis(t, -1, 1)
            calls = [("cross_entropy", dict(weight=w, label_smoothing=0.2))]
        for name, params in calls:
            for reduction in ("none", "mean"):
                what = f"{name} {params.keys()} of {shape}, {reduction}"
                cpu_loss, cpu_grad = getattr(numact, f"{name}_forward_backward")(x, t, reduction=reduction, **params)
                gpu_params = {k: to_target(v) if isinstance(v, np.ndarray) else v for k, v in params.items()}
                gpu_x = to_target(x)
                gpu_loss, gpu_grad = getattr(numact, f"{name}_forward_backward")(gpu_x, to_target(t), reduction=reduction,
                                                                                 **gpu_params)
                if reduction == "none":
                    assert_gpu_matches_cpu(gpu_loss, cpu_loss, f"{what}: losses", classes)
                else:
                    np.testing.assert_allclose(to_host(gpu_loss), cpu_loss, rtol=1e-13, err_msg=what)
                assert_gpu_matches_cpu(gpu_grad, cpu_grad, f"{what}: gradient", classes)
                g = upstream(loss_shape, np.float64, reduction)
                gpu_g = to_target(g) if reduction == "none" else g
                into_x = getattr(numact, f"{name}_backward")(gpu_g, gpu_x, to_target(t), reduction=reduction,
                                                             out=gpu_x, **gpu_params)
                cpu_into = getattr(numact, f"{name}_backward")(g, x, t, reduction=reduction, **params)
                assert_gpu_matches_cpu(into_x, cpu_into, f"{what}: gradient into the input", classes)


@pytest.mark.cuda_only
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_the_gpu_splits_vectors_between_threads_and_gives_the_cpu_result(dtype):
    """triplet_margin_loss and cosine_embedding_loss on the GPU split a vector between
    threads: for p = 2 and p = 1.5, with and without swap, every cosine label and a margin, a
    NaN in one vector (reduction 'none'), reduction 'mean' : within the sum-order bound of the CPU's result."""
    import numact
    from numact import _cuda

    rng = np.random.default_rng(5)
    for shape, lanes in _split_rows()[:2]:
        rows, n = shape
        assert _cuda.lanes_for(n, 1) == lanes
        a, p, q = (rng.normal(0, 1, shape).astype(dtype) for _ in range(3))
        with_nan = a.copy()
        with_nan[1, 3] = np.nan
        y = rng.choice([1.0, -1.0, 0.0], rows).astype(dtype)
        calls = [("triplet_margin_loss", (p, q), dict(p=2.0, swap=True, margin=0.5)),
                 ("triplet_margin_loss", (p, q), dict(p=1.5, eps=1e-3)),
                 ("cosine_embedding_loss", (p, y), dict(margin=-0.2))]
        for name, others, params in calls:
            for reduction, first in (("none", with_nan), ("mean", a)):
                arrays = (first, *others)
                what = f"{name} {params} of {shape}, {reduction}"
                cpu_loss, cpu_grads = getattr(numact, f"{name}_forward_backward")(*arrays, reduction=reduction, **params)
                gpu_loss, gpu_grads = getattr(numact, f"{name}_forward_backward")(*map(to_target, arrays),
                                                                                  reduction=reduction, **params)
                if reduction == "none":
                    assert_gpu_matches_cpu(gpu_loss, cpu_loss, f"{what}: losses", n)
                else:
                    np.testing.assert_allclose(to_host(gpu_loss), cpu_loss, rtol=1e-13 if dtype == np.float64 else 1e-6,
                                               err_msg=what)
                assert len(gpu_grads) == len(cpu_grads) == (3 if name.startswith("triplet") else 2)
                for k, (gpu, cpu) in enumerate(zip(gpu_grads, cpu_grads)):
                    assert_gpu_matches_cpu(gpu, cpu, f"{what}: gradient {k}", n)
