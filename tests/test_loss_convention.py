"""The losses' calling convention: strides, out= and in place, dtypes, broadcasting, unbatched
shapes, and reductions that give the same bits on every run."""

import concurrent.futures

import numba
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import numact
from support import to_host, to_target

RNG = np.random.default_rng(0)


def torch_result(fn, arrays, differentiable, **params):
    """PyTorch's loss and the gradients of the named arrays (float64)."""
    tensors = [torch.tensor(a, requires_grad=i in differentiable) for i, a in enumerate(arrays)]
    loss = fn(*tensors, **params)
    grads = torch.autograd.grad(loss.sum(), [tensors[i] for i in differentiable])
    return loss.detach().numpy(), [g.numpy() for g in grads]


def close(ours, truth):
    np.testing.assert_allclose(to_host(ours), truth, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("view", ["transposed", "reversed", "every other"])
def test_strided_inputs_give_the_contiguous_result(view):
    x = RNG.normal(size=(8, 10))
    make = {"transposed": lambda a: np.asfortranarray(a), "reversed": lambda a: a[::-1, ::-1].copy()[::-1, ::-1],
            "every other": lambda a: np.repeat(a, 2, axis=1)[:, ::2]}[view]
    t = RNG.integers(0, 10, 8)
    y = RNG.normal(size=(8, 10))
    for call in (
        lambda a, b: numact.cross_entropy_forward_backward(a, to_target(t)),
        lambda a, b: numact.mse_loss_forward_backward(a, b, reduction="none"),
        lambda a, b: numact.triplet_margin_loss_forward_backward(a, b, b[::-1]),
    ):
        strided = call(to_target(make(x)), to_target(make(y)))
        contiguous = call(to_target(x), to_target(y))
        np.testing.assert_array_equal(to_host(strided[0]), to_host(contiguous[0]))
        for s, c in zip(strided[1] if isinstance(strided[1], tuple) else [strided[1]],
                        contiguous[1] if isinstance(contiguous[1], tuple) else [contiguous[1]]):
            np.testing.assert_array_equal(to_host(s), to_host(c))



TARGET_VIEWS = {
    "negative stride": lambda t: np.flip(np.flip(t).copy()),
    "every other": lambda t: np.repeat(t, 2)[::2],
    "broadcast": lambda t: np.broadcast_to(t[:1], t.shape),
}


@pytest.mark.parametrize("view", TARGET_VIEWS)
def test_a_target_in_any_layout_gives_the_contiguous_result(view):
    """The class indices and the label vector, not only the input, in any layout: the short
    path on small plain arrays once handed a strided target to a kernel that needs it
    contiguous (a TypingError inside numba)."""
    x, a, b = RNG.normal(size=(6, 5)), RNG.normal(size=(6, 4)), RNG.normal(size=(6, 4))
    t, y = RNG.integers(0, 5, 6), RNG.choice([-1.0, 1.0], 6)
    make = TARGET_VIEWS[view]
    for name, arrays in [("cross_entropy", (x, t)), ("nll_loss", (x, t)), ("cosine_embedding_loss", (a, b, y))]:
        for suffix, lead in [("", ()), ("_backward", (1.0,)), ("_forward_backward", ())]:
            fn = getattr(numact, name + suffix)
            viewed = [to_target(v) for v in arrays[:-1]] + [to_target(make(arrays[-1]))]
            plain = [to_target(v) for v in arrays[:-1]] + [to_target(np.ascontiguousarray(make(arrays[-1])))]
            got, want = fn(*lead, *viewed), fn(*lead, *plain)
            for g_, w_ in zip(got if isinstance(got, tuple) else [got], want if isinstance(want, tuple) else [want]):
                for gi, wi in zip(g_ if isinstance(g_, tuple) else [g_], w_ if isinstance(w_, tuple) else [w_]):
                    np.testing.assert_array_equal(to_host(gi), to_host(wi), err_msg=f"{name}{suffix}")

def test_out_receives_the_loss_and_the_gradient():
    x, y = RNG.normal(size=(5, 7)), RNG.normal(size=(5, 7))
    out = to_target(np.zeros((5, 7)))
    assert numact.huber_loss(to_target(x), to_target(y), reduction="none", out=out) is out
    close(out, F.huber_loss(torch.tensor(x), torch.tensor(y), reduction="none").numpy())
    scalar = to_target(np.zeros(()))
    assert numact.huber_loss(to_target(x), to_target(y), out=scalar) is scalar
    close(scalar, F.huber_loss(torch.tensor(x), torch.tensor(y)).numpy())
    grad = to_target(np.zeros((5, 7)))
    assert numact.huber_loss_backward(2.0, to_target(x), to_target(y), out=grad) is grad
    close(grad, 2 * torch_result(F.huber_loss, [x, y], [0])[1][0])


def test_the_logits_gradient_can_overwrite_the_logits():
    """Cross-entropy's gradient written into the logits themselves saves an N×C array."""
    x = RNG.normal(size=(6, 9))
    t = RNG.integers(0, 9, 6)
    expected = to_host(numact.cross_entropy_backward(1.0, to_target(x), to_target(t), label_smoothing=0.1))
    logits = to_target(x.copy())
    numact.cross_entropy_backward(1.0, logits, to_target(t), label_smoothing=0.1, out=logits)
    np.testing.assert_array_equal(to_host(logits), expected)
    logits = to_target(x.copy())
    numact.nll_loss_backward(1.0, logits, to_target(t), out=logits)
    np.testing.assert_array_equal(to_host(logits), to_host(numact.nll_loss_backward(1.0, to_target(x), to_target(t))))


def test_a_gradient_can_overwrite_its_input_in_every_elementwise_loss():
    x, y = RNG.uniform(0.1, 0.9, 20), RNG.uniform(0, 1, 20)
    for name in ("mse_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div"):
        expected = to_host(getattr(numact, f"{name}_backward")(1.0, to_target(x), to_target(y)))
        inout = to_target(x.copy())
        getattr(numact, f"{name}_backward")(1.0, inout, to_target(y), out=inout)
        np.testing.assert_array_equal(to_host(inout), expected)


@pytest.mark.parametrize("dtype, expected", [(np.float16, np.float16), (np.int64, np.float64), (np.int16, np.float32)])
def test_dtypes_follow_the_activations_policy(dtype, expected):
    x = np.arange(6).reshape(2, 3).astype(dtype)
    y = np.ones((2, 3), np.int32)  # a target of another dtype is converted
    loss, grad = numact.mse_loss_forward_backward(to_target(x), to_target(y))
    assert to_host(loss).dtype == expected and to_host(grad).dtype == expected
    assert float(to_host(loss)) == pytest.approx(np.mean((np.arange(6) - 1.0) ** 2), rel=1e-3)


def test_a_broadcast_input_gets_its_gradient_summed_to_its_shape():
    x, y = RNG.normal(size=(6, 1)), RNG.normal(size=(6, 11))
    loss, grad = numact.mse_loss_forward_backward(to_target(x), to_target(y), reduction="sum")
    truth, (truth_grad,) = torch_result(lambda a, b: F.mse_loss(a.expand_as(b), b, reduction="sum"), [x, y], [0])
    close(loss, truth)
    assert to_host(grad).shape == (6, 1)
    close(grad, truth_grad)


def test_weights_broadcast_along_any_axis():
    x, y = RNG.normal(size=(6, 11)), RNG.uniform(0, 1, (6, 11))
    w, pw = RNG.uniform(0, 2, (6, 1)), RNG.uniform(0.5, 2, (11,))
    loss, grad = numact.binary_cross_entropy_with_logits_forward_backward(
        to_target(x), to_target(y), weight=to_target(w), pos_weight=to_target(pw), reduction="sum")
    truth, (truth_grad,) = torch_result(
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, weight=torch.tensor(w), pos_weight=torch.tensor(pw), reduction="sum"),
        [x, y], [0])
    close(loss, truth)
    close(grad, truth_grad)


@pytest.mark.parametrize("name, arrays, differentiable, params", [
    ("nll_loss", [np.log(np.full(4, 0.25)), np.array(2)], [0], {}),
    ("cross_entropy", [RNG.normal(size=5), np.array(3)], [0], {"label_smoothing": 0.2}),
    ("cross_entropy", [RNG.normal(size=5), np.full(5, 0.2)], [0], {}),
    ("cosine_embedding_loss", [RNG.normal(size=4), RNG.normal(size=4), np.array(-1.0)], [0, 1], {"margin": -0.5}),
    ("triplet_margin_loss", [RNG.normal(size=4), RNG.normal(size=4), RNG.normal(size=4)], [0, 1, 2], {"swap": True}),
    ("kl_div", [np.array(-0.5), np.array(0.3)], [0], {"reduction": "batchmean"}),
], ids=["nll", "cross_entropy", "cross_entropy probs", "cosine", "triplet", "kl_div 0-d batchmean"])
def test_unbatched_inputs(name, arrays, differentiable, params):
    truth, truth_grads = torch_result(getattr(F, name), arrays, differentiable, **params)
    loss, grads = getattr(numact, f"{name}_forward_backward")(*map(to_target, arrays), **params)
    close(loss, truth)
    for ours, expected in zip(grads if isinstance(grads, tuple) else (grads,), truth_grads, strict=True):
        close(ours, expected)


@pytest.mark.cpu_only  # the simulator keeps its thread and block indices per Python thread
def test_concurrent_calls_from_python_threads():
    x, y = RNG.normal(size=(4, 300)), RNG.normal(size=(4, 300))
    expected = [to_host(numact.smooth_l1_loss(to_target(x[i]), to_target(y[i]))) for i in range(4)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: to_host(numact.smooth_l1_loss(to_target(x[i]), to_target(y[i]))), range(4)))
    assert results == expected


# --- reductions: float64 sums in a fixed order --------------------------------------------------


@pytest.mark.cpu_only
def test_a_float32_loss_over_10_million_elements_is_within_1e_6_of_float64():
    rng = np.random.default_rng(5)
    x = rng.normal(1, 1, 10_000_000).astype(np.float32)
    y = np.zeros_like(x)
    exact = np.mean(np.square(x.astype(np.float64)))
    assert abs(float(numact.mse_loss(x, y)) - exact) <= 1e-6 * exact
    logits = rng.normal(0, 2, (10_000, 1000)).astype(np.float32)
    t = rng.integers(0, 1000, 10_000)
    exact = F.cross_entropy(torch.tensor(logits, dtype=torch.float64), torch.tensor(t)).item()
    assert abs(float(numact.cross_entropy(logits, t)) - exact) <= 1e-6 * exact


@pytest.mark.cpu_only
@pytest.mark.parametrize("name", ["mse_loss", "cross_entropy", "cosine_embedding_loss"])
def test_the_same_input_gives_the_same_bits_whatever_the_thread_count(name):
    rng = np.random.default_rng(6)
    arrays = {
        "mse_loss": [rng.normal(size=300_001).astype(np.float32), np.zeros(300_001, np.float32)],
        "cross_entropy": [rng.normal(size=(3001, 100)).astype(np.float32), rng.integers(0, 100, 3001)],
        "cosine_embedding_loss": [rng.normal(size=(3001, 50)), rng.normal(size=(3001, 50)), rng.choice([-1.0, 1.0], 3001)],
    }[name]
    results = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS, 1):
        numba.set_num_threads(threads)
        try:
            results.append(getattr(numact, name)(*arrays).tobytes())
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert results[0] == results[1] == results[2]


def test_a_plus_inf_logit_makes_its_row_nan_as_in_torch():
    # torch's cross_entropy goes through log_softmax: a +inf logit makes the whole row NaN (loss
    # and gradient). numact once gave an infinite loss and finite gradients beside one NaN.
    x = RNG.normal(size=(3, 4))
    x[1, 2] = np.inf
    for target in (np.array([0, 1, 2]), np.full((3, 4), 0.25)):
        loss, grad = numact.cross_entropy_forward_backward(to_target(x), to_target(target), reduction="none")
        xt = torch.tensor(x, requires_grad=True)
        expected = F.cross_entropy(xt, torch.tensor(target), reduction="none")
        (expected_grad,) = torch.autograd.grad(expected.sum(), xt)
        np.testing.assert_array_equal(np.isnan(to_host(loss)), np.isnan(expected.detach().numpy()))
        np.testing.assert_array_equal(np.isnan(to_host(grad)), np.isnan(expected_grad.numpy()))
        assert np.isnan(to_host(grad)[1]).all() and np.isfinite(to_host(grad)[[0, 2]]).all()


@pytest.mark.parametrize("into", ["input", "target"])
def test_a_gradient_written_over_the_class_probabilities_or_the_logits_is_the_fresh_one(into):
    """out= may be the input itself or the target of class probabilities (same shape and
    dtype): the result is the gradient written into fresh memory (the row function reads the
    probabilities after it has stored its exponentials in the gradient's row, so a gradient
    over the target goes through scratch)."""
    rng = np.random.default_rng(7)
    x, t = rng.normal(size=(6, 9)), rng.dirichlet(np.ones(9), 6)
    fresh = numact.cross_entropy_backward(1.0, to_target(x), to_target(t), label_smoothing=0.1)
    x_d, t_d = to_target(x), to_target(t)
    out = x_d if into == "input" else t_d
    got = numact.cross_entropy_backward(1.0, x_d, t_d, label_smoothing=0.1, out=out)
    assert got is out
    np.testing.assert_array_equal(to_host(got), to_host(fresh))
