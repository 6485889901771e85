"""Straightforward NumPy implementations of every operator: the baseline numact is timed
against. Each entry is ``(forward(x, **params), backward(g, x, **params))``."""

import numpy as np
from scipy.special import erf

from numact.activations import GELU_TANH_COEFF, SELU_ALPHA, SELU_SCALE, SQRT_2_OVER_PI


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _softmax_backward(g, x, axis):
    y = _softmax(x, axis)
    return y * (g - (g * y).sum(axis=axis, keepdims=True))


def _log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _gelu(x, approximate):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(SQRT_2_OVER_PI * (x + GELU_TANH_COEFF * x**3)))
    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


def _gelu_backward(g, x, approximate):
    if approximate == "tanh":
        t = np.tanh(SQRT_2_OVER_PI * (x + GELU_TANH_COEFF * x**3))
        du = SQRT_2_OVER_PI * (1 + 3 * GELU_TANH_COEFF * x * x)
        return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)
    return g * (0.5 * (1 + erf(x / np.sqrt(2))) + x * np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi))


def _channel(weight, x):
    return weight.reshape((-1,) + (1,) * (x.ndim - 2)) if x.ndim > 1 else weight


def _prelu_backward(g, x, weight):
    grad_x = np.where(x > 0, g, _channel(weight, x) * g)
    terms = np.where(x > 0, 0, x * g)
    axes = tuple(a for a in range(x.ndim) if a != 1) if weight.size > 1 else None
    return grad_x, terms.sum(axis=axes)


BASELINES = {
    "linear": (lambda x, c: c * x, lambda g, x, c: c * g),
    "sigmoid": (_sigmoid, lambda g, x: g * _sigmoid(x) * (1 - _sigmoid(x))),
    "tanh": (np.tanh, lambda g, x: g * (1 - np.tanh(x) ** 2)),
    "relu": (lambda x: np.maximum(x, 0), lambda g, x: np.where(x > 0, g, 0)),
    "leaky_relu": (
        lambda x, negative_slope: np.where(x > 0, x, negative_slope * x),
        lambda g, x, negative_slope: np.where(x > 0, g, negative_slope * g),
    ),
    "prelu": (lambda x, weight: np.where(x > 0, x, _channel(weight, x) * x), _prelu_backward),
    "softplus": (
        lambda x, beta, threshold: np.where(beta * x > threshold, x, np.log1p(np.exp(beta * x)) / beta),
        lambda g, x, beta, threshold: np.where(beta * x > threshold, g, g * _sigmoid(beta * x)),
    ),
    "elu": (
        lambda x, alpha: np.where(x > 0, x, alpha * np.expm1(x)),
        lambda g, x, alpha: np.where(x > 0, g, g * alpha * np.exp(x)),
    ),
    "celu": (
        lambda x, alpha: np.where(x > 0, x, alpha * np.expm1(x / alpha)),
        lambda g, x, alpha: np.where(x > 0, g, g * np.exp(x / alpha)),
    ),
    "selu": (
        lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x)),
        lambda g, x: g * SELU_SCALE * np.where(x > 0, 1, SELU_ALPHA * np.exp(x)),
    ),
    "gelu": (_gelu, _gelu_backward),
    "relu6": (lambda x: np.clip(x, 0, 6), lambda g, x: np.where((x > 0) & (x < 6), g, 0)),
    "hardtanh": (
        lambda x, min_val, max_val: np.clip(x, min_val, max_val),
        lambda g, x, min_val, max_val: np.where((x > min_val) & (x < max_val), g, 0),
    ),
    "hardsigmoid": (
        lambda x: np.clip(x + 3, 0, 6) / 6,
        lambda g, x: np.where((x > -3) & (x < 3), g / 6, 0),
    ),
    "threshold": (
        lambda x, threshold, value: np.where(x > threshold, x, value),
        lambda g, x, threshold, value: np.where(x > threshold, g, 0),
    ),
    "logsigmoid": (lambda x: -np.logaddexp(0, -x), lambda g, x: g * _sigmoid(-x)),
    "softmin": (lambda x, axis=-1: _softmax(-x, axis), lambda g, x, axis=-1: -_softmax_backward(g, -x, axis)),
    "softmax": (lambda x, axis=-1: _softmax(x, axis), lambda g, x, axis=-1: _softmax_backward(g, x, axis)),
    "log_softmax": (
        lambda x, axis=-1: _log_softmax(x, axis),
        lambda g, x, axis=-1: g - np.exp(_log_softmax(x, axis)) * g.sum(axis=axis, keepdims=True),
    ),
    "sine": (lambda x, w0: np.sin(w0 * x), lambda g, x, w0: g * w0 * np.cos(w0 * x)),
}
