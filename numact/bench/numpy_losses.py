"""Straightforward NumPy implementations of every loss with reduction='mean': the baseline
numact is timed against. Each entry is ``(forward(*arrays, **params), backward(g, *arrays,
**params))``; backward returns one gradient, or a tuple for several inputs."""

import numpy as np


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _log_softmax(x):
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _cross_entropy(x, t, ignore_index, label_smoothing):
    log_p = _log_softmax(x)
    picked = log_p[np.arange(len(t)), t]
    smooth = log_p.mean(axis=1)
    return -((1 - label_smoothing) * picked + label_smoothing * smooth).mean()


def _cross_entropy_backward(g, x, t, ignore_index, label_smoothing):
    p = np.exp(_log_softmax(x))
    target = np.full_like(x, label_smoothing / x.shape[1])
    target[np.arange(len(t)), t] += 1 - label_smoothing
    return (p - target) * (g / len(t))


def _nll_backward(g, x, t, ignore_index):
    grad = np.zeros_like(x)
    grad[np.arange(len(t)), t] = -g / len(t)
    return grad


def _distances(a, b, eps):
    d = a - b + eps
    return d, np.sqrt((d * d).sum(axis=-1))


def _triplet(anchor, positive, negative, margin, p, eps, swap):
    _, d_pos = _distances(anchor, positive, eps)
    _, d_neg = _distances(anchor, negative, eps)
    return np.maximum(margin + d_pos - d_neg, 0).mean()


def _triplet_backward(g, anchor, positive, negative, margin, p, eps, swap):
    e_pos, d_pos = _distances(anchor, positive, eps)
    e_neg, d_neg = _distances(anchor, negative, eps)
    active = ((margin + d_pos - d_neg) >= 0) * (g / len(anchor))
    grad_pos = e_pos / d_pos[:, None] * active[:, None]
    grad_neg = e_neg / d_neg[:, None] * active[:, None]
    return grad_pos - grad_neg, -grad_pos, grad_neg


def _cosine(x1, x2):
    dot = (x1 * x2).sum(axis=-1)
    m1, m2 = (x1 * x1).sum(axis=-1) + 1e-12, (x2 * x2).sum(axis=-1) + 1e-12
    denom = np.sqrt(m1 * m2)
    return dot / denom, denom, m1, m2


def _cosine_loss(x1, x2, y, margin):
    cos = _cosine(x1, x2)[0]
    return np.where(y == 1, 1 - cos, np.where(y == -1, np.maximum(cos - margin, 0), 0)).mean()


def _cosine_backward(g, x1, x2, y, margin):
    cos, denom, m1, m2 = _cosine(x1, x2)
    slope = np.where(y == 1, -1.0, np.where((y == -1) & (cos >= margin), 1.0, 0.0)) * (g / len(y))
    slope, cos, denom = slope[:, None], cos[:, None], denom[:, None]
    return slope * (x2 / denom - cos * x1 / m1[:, None]), slope * (x1 / denom - cos * x2 / m2[:, None])


def _margin_ranking_backward(g, x1, x2, y, margin):
    grad = np.where(-y * (x1 - x2) + margin >= 0, -y, 0) * (g / x1.size)
    return grad, -grad


LOSS_BASELINES = {
    "mse_loss": (lambda x, y: np.mean((x - y) ** 2), lambda g, x, y: 2 * (x - y) * (g / x.size)),
    "l1_loss": (lambda x, y: np.mean(np.abs(x - y)), lambda g, x, y: np.sign(x - y) * (g / x.size)),
    "smooth_l1_loss": (
        lambda x, y, beta: np.mean(np.where(np.abs(x - y) < beta, 0.5 * (x - y) ** 2 / beta, np.abs(x - y) - 0.5 * beta)),
        lambda g, x, y, beta: np.clip((x - y) / beta, -1, 1) * (g / x.size),
    ),
    "huber_loss": (
        lambda x, y, delta: np.mean(np.where(np.abs(x - y) < delta, 0.5 * (x - y) ** 2, delta * (np.abs(x - y) - 0.5 * delta))),
        lambda g, x, y, delta: np.clip(x - y, -delta, delta) * (g / x.size),
    ),
    "nll_loss": (lambda x, t, ignore_index: -x[np.arange(len(t)), t].mean(), _nll_backward),
    "cross_entropy": (_cross_entropy, _cross_entropy_backward),
    "binary_cross_entropy": (
        lambda x, y: -np.mean(y * np.maximum(np.log(x), -100) + (1 - y) * np.maximum(np.log1p(-x), -100)),
        lambda g, x, y: (x - y) / np.maximum(x * (1 - x), 1e-12) * (g / x.size),
    ),
    "binary_cross_entropy_with_logits": (
        lambda x, y: np.mean((1 - y) * x + np.logaddexp(0, -x)),
        lambda g, x, y: (_sigmoid(x) - y) * (g / x.size),
    ),
    "kl_div": (
        lambda x, y, log_target: np.mean(np.where(y > 0, y * np.log(np.where(y > 0, y, 1)), 0) - y * x),
        lambda g, x, y, log_target: -y * (g / x.size),
    ),
    "margin_ranking_loss": (
        lambda x1, x2, y, margin: np.mean(np.maximum(-y * (x1 - x2) + margin, 0)), _margin_ranking_backward,
    ),
    "triplet_margin_loss": (_triplet, _triplet_backward),
    "cosine_embedding_loss": (_cosine_loss, _cosine_backward),
}
