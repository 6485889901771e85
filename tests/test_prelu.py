"""PReLU: a weight per channel (axis 1) or one for all, with the weight's gradient."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import numact
from support import SPECIAL_POINTS, assert_close, to_host, to_target

SHAPES = [((7,), 1), ((4, 3), 3), ((4, 3), 1), ((2, 3, 4, 5), 3), ((2, 3, 4, 5), 1), ((0, 3), 3)]
DTYPES = [np.float32, np.float64]


def data(shape, channels, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 3, shape)
    specials = np.array(SPECIAL_POINTS)
    x.flat[: min(x.size, specials.size)] = specials[: x.size]
    weight = rng.uniform(-0.5, 0.5, channels)
    g = rng.normal(0, 2, shape)
    return x.astype(dtype), weight.astype(dtype), g.astype(dtype)


def torch_prelu(x, weight, g):
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(weight, requires_grad=True)
    y = F.prelu(xt, wt)
    gx, gw = torch.autograd.grad(y, (xt, wt), torch.tensor(g), allow_unused=True)
    return y.detach().numpy(), gx.numpy(), (torch.zeros_like(wt) if gw is None else gw).numpy()


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("shape, channels", SHAPES, ids=str)
def test_prelu_matches_torch(shape, channels, dtype):
    x, weight, g = data(shape, channels, dtype)
    y = to_host(numact.prelu(to_target(x), to_target(weight)))
    gx, gw = numact.prelu_backward(to_target(g), to_target(x), to_target(weight))
    gx, gw = to_host(gx), to_host(gw)
    truth = torch_prelu(x.astype(np.float64), weight.astype(np.float64), g.astype(np.float64))
    low = torch_prelu(x, weight, g)
    assert y.dtype == gx.dtype == gw.dtype == dtype and gw.shape == weight.shape
    for name, ours, t, lo in zip(("y", "grad_x", "grad_weight"), (y, gx, gw), truth, low):
        assert_close(ours, t, lo, dtype, f"prelu {name}", None)


def test_prelu_weight_gradient_by_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.uniform(-3, 3, (3, 4, 5))
    x[np.abs(x) < 0.05] = 0.5
    weight, g, v = rng.uniform(-1, 1, 4), rng.normal(size=x.shape), rng.normal(size=4)
    h = 1e-6
    plus = to_host(numact.prelu(to_target(x), to_target(weight + h * v)))
    minus = to_host(numact.prelu(to_target(x), to_target(weight - h * v)))
    _, gw = numact.prelu_backward(to_target(g), to_target(x), to_target(weight))
    assert np.sum(g * (plus - minus)) / (2 * h) == pytest.approx(np.sum(to_host(gw) * v), rel=1e-7)


def test_a_python_float_weight_is_one_weight():
    x = np.linspace(-2, 2, 9)
    np.testing.assert_array_equal(to_host(numact.prelu(to_target(x), 0.25)), np.where(x > 0, x, 0.25 * x))
    _, gw = numact.prelu_backward(to_target(np.ones(9)), to_target(x), 0.25)
    assert to_host(gw).shape == () and float(to_host(gw)) == pytest.approx(x[x < 0].sum())


@pytest.mark.parametrize("weight", [np.ones(2), np.ones((3, 1))], ids=["wrong-count", "2-d"])
def test_a_weight_that_does_not_fit_the_channels_is_refused(weight):
    x = np.ones((4, 3))
    out = to_target(np.full((4, 3), 7.0))
    with pytest.raises(ValueError, match=r"numact\.prelu: weight has shape"):
        numact.prelu(to_target(x), to_target(weight), out=out)
    np.testing.assert_array_equal(to_host(out), 7.0)


def test_prelu_backward_writes_both_outs_in_place():
    x, weight, g = data((4, 3, 2), 3, np.float64)
    expected = numact.prelu_backward(g, x, weight)
    gx_t, gw_t = to_target(g.copy()), to_target(np.zeros(3))
    result = numact.prelu_backward(gx_t, to_target(x), to_target(weight), out=(gx_t, gw_t))
    np.testing.assert_array_equal(to_host(result[0]), expected[0])
    np.testing.assert_array_equal(to_host(gx_t), expected[0])
    np.testing.assert_array_equal(to_host(gw_t), expected[1])


def test_float16_and_integer_inputs_follow_the_dtype_policy():
    x16 = np.linspace(-3, 3, 12, dtype=np.float16).reshape(4, 3)
    w = np.array([0.1, 0.2, 0.3], np.float16)
    y = to_host(numact.prelu(to_target(x16), to_target(w)))
    assert y.dtype == np.float16
    np.testing.assert_array_equal(y, numact.prelu(x16.astype(np.float32), w.astype(np.float32)).astype(np.float16))
    gx, gw = (to_host(a) for a in numact.prelu_backward(to_target(np.ones((4, 3), np.float16)), to_target(x16), to_target(w)))
    assert gx.dtype == gw.dtype == np.float16
    x_int = np.arange(-6, 6, dtype=np.int32).reshape(4, 3)
    assert to_host(numact.prelu(to_target(x_int), to_target(np.float64(0.5)))).dtype == np.float64


def test_strided_inputs_give_the_contiguous_result():
    x, weight, g = data((3, 4, 5), 4, np.float64)
    x_t, g_t = to_target(x), to_target(g)
    view = lambda a: a[::-1, :, ::2]  # noqa: E731
    expected = numact.prelu_backward(to_target(np.ascontiguousarray(view(g))),
                                     to_target(np.ascontiguousarray(view(x))), to_target(weight))
    got = numact.prelu_backward(view(g_t), view(x_t), to_target(weight))
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(to_host(a), to_host(b))


def test_prelu_backward_takes_an_out_for_either_gradient_alone():
    x, weight, g = data((4, 3), 3, np.float64)
    expected = numact.prelu_backward(g, x, weight)
    gx_t, gw_t = to_target(np.zeros((4, 3))), to_target(np.zeros(3))
    gx, gw = numact.prelu_backward(to_target(g), to_target(x), to_target(weight), out=(gx_t, None))
    np.testing.assert_array_equal(to_host(gx_t), expected[0])
    np.testing.assert_array_equal(to_host(gw), expected[1])
    gx, gw = numact.prelu_backward(to_target(g), to_target(x), to_target(weight), out=(None, gw_t))
    np.testing.assert_array_equal(to_host(gx), expected[0])
    np.testing.assert_array_equal(to_host(gw_t), expected[1])
