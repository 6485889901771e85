"""Inputs for every loss, as SPEC.md describes its domain, and PyTorch's result on them.

``cases()`` expands the operator table: each loss with its default and example parameters,
with and without its optional weight arrays, and cross_entropy with class indices and with
class probabilities.
"""

import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

import numact
from numact.operators import LOSSES, param_cases

SHAPE = (6, 11)  # element-wise losses; more elements than the simulator's 4 blocks of 32 threads


@dataclass
class Case:
    op: object
    params: dict
    weights: tuple = ()
    probs: bool = False  # cross_entropy with class-probability targets
    id: str = ""

    def arrays(self, dtype, seed=0, smooth=False):
        """The loss's arrays by name (NumPy, host); ``smooth`` keeps away from kinks and
        clamps (for finite differences)."""
        rng = np.random.default_rng(seed)
        data = _MAKERS[self.op.kind if self.op.kind != "elementwise" else self.op.name](self, rng, smooth)
        return {k: (v.astype(dtype) if v.dtype.kind == "f" else v) for k, v in data.items()}


def cases():
    result = []
    for op in LOSSES:
        weight_options = [()] + ([op.weights] if op.weights else [])
        targets = [False, True] if op.probs_math is not None else [False]
        for i, params in enumerate(param_cases(op)):
            for weights in weight_options:
                for probs in targets:
                    if probs and params.get("ignore_index", -100) >= 0:
                        params = dict(params, ignore_index=-100)
                    case_id = f"{op.name}-{i}" + ("-weighted" if weights else "") + ("-probs" if probs else "")
                    result.append(Case(op, params, weights, probs, case_id))
    return result


# --- the arrays of each kind of loss ---------------------------------------------------------


def _pair(case, rng, smooth):
    """input and target of the distance losses: random, specials, and differences exactly at
    the kinks (x = y + kink with both exact in binary)."""
    x = rng.normal(0, 2, SHAPE)
    y = rng.normal(0, 2, SHAPE)
    if not smooth:
        kinks = case.op.kinks(**case.params)
        for j, kink in enumerate(kinks + [-k for k in kinks]):
            y[j, :3] = [1.0, -2.0, 0.25]
            x[j, :3] = y[j, :3] + kink
        x[5, :4] = [np.inf, -np.inf, np.nan, 1e4]
    return {"input": x, "target": y}


def _bce(case, rng, smooth):
    low = 0.05 if smooth else 0.0
    x = rng.uniform(low, 1 - low, SHAPE)
    y = rng.uniform(0, 1, SHAPE)
    if not smooth:
        x[0, :4] = [0.0, 1.0, 0.0, 1.0]
        y[0, :4] = [0.0, 1.0, 1.0, 0.0]
        x[1, :3] = [1e-30, 1 - 1e-7, 0.5]
    data = {"input": x, "target": y}
    if case.weights:
        data["weight"] = rng.uniform(0, 2, SHAPE[1:])  # one per column, broadcast over rows
    return data


def _bce_with_logits(case, rng, smooth):
    x = rng.normal(0, 4, SHAPE)
    if not smooth:
        x[0, :8] = [0.0, -0.0, 20.0, -20.0, 100.0, -100.0, np.inf, -np.inf]
    data = {"input": x, "target": rng.uniform(0, 1, SHAPE)}
    if case.weights:
        data["weight"] = rng.uniform(0, 2, SHAPE[1:])
        data["pos_weight"] = rng.uniform(0.5, 3, SHAPE[1:])
    return data


def _log_probs(rng, shape, axis):
    z = rng.normal(0, 2, shape)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def _kl_div(case, rng, smooth):
    x = _log_probs(rng, SHAPE, -1)
    p = np.exp(_log_probs(rng, SHAPE, -1))
    if not smooth:
        p[0, :3] = 0.0  # y = 0 contributes 0
    with np.errstate(divide="ignore"):  # log 0 = −inf: a log-target of probability 0
        y = np.log(p) if case.params["log_target"] else p
    return {"input": x, "target": y}


def _margin_ranking(case, rng, smooth):
    n = SHAPE[0] * SHAPE[1]
    x1, x2 = rng.normal(0, 1, n), rng.normal(0, 1, n)
    y = rng.choice([-1.0, 1.0], n)
    if not smooth:
        margin = case.params["margin"]
        x1[:4] = x2[:4] + np.array([margin, -margin, margin, -margin])  # on the hinge
        y[:4] = [-1.0, 1.0, 1.0, -1.0]
        y[4:6] = [0.5, 0.0]  # other labels: computed as torch computes them
    return {"input1": x1, "input2": x2, "target": y}


def _class(case, rng, smooth):
    """Logits (log-probabilities for nll_loss): (N, C) = (8, 5), and (N, C, d1, d2) =
    (3, 4, 2, 3) for the weighted cases."""
    shape = (3, 4, 2, 3) if case.weights else (8, 5)
    classes = shape[1]
    if case.op.name == "nll_loss":
        x = _log_probs(rng, shape, 1)
    else:
        x = rng.normal(0, 3, shape)
        if not smooth and len(shape) == 2:
            x[0, 0] = 30.0
            x[1, :] = [88.0, -88.0, 0.0, 1e4, -1e4]
    target_shape = (shape[0],) + shape[2:]
    data = {"input": x}
    if case.probs:
        data["target"] = np.exp(_log_probs(rng, shape, 1))
    else:
        t = rng.integers(0, classes, target_shape)
        t.flat[1] = case.params["ignore_index"]
        data["target"] = t.astype(np.int64)
    if case.weights:
        data["weight"] = rng.uniform(0.2, 2, classes)
    return data


def _vector(case, rng, smooth):
    shape = (9, 6)
    arrays = {name: rng.normal(0, 1, shape) for name in case.op.inputs}
    names = list(case.op.inputs)
    if not smooth:
        arrays[names[1]][0] = arrays[names[0]][0]  # a zero difference (a distance of eps)
        arrays[names[0]][1] = 0.0  # a zero vector
    if case.op.target:
        y = rng.choice([-1.0, 1.0], shape[0])
        if not smooth:
            y[2] = 0.0  # another label: loss 0, as in torch
        arrays[case.op.target] = y
    return arrays


_MAKERS = {
    "mse_loss": _pair, "l1_loss": _pair, "smooth_l1_loss": _pair, "huber_loss": _pair,
    "binary_cross_entropy": _bce, "binary_cross_entropy_with_logits": _bce_with_logits,
    "kl_div": _kl_div, "margin_ranking_loss": _margin_ranking,
    "class": _class, "vector": _vector,
}


# --- PyTorch's results -------------------------------------------------------------------------


def torch_loss(case, arrays, reduction, g=None):
    """PyTorch's loss on ``arrays`` in their dtype, and given g, the gradient of every input."""
    tensors = {k: torch.tensor(v, requires_grad=k in case.op.inputs and g is not None) for k, v in arrays.items()}
    positional = [tensors[a] for a in case.op.arrays]
    keywords = {w: tensors[w] for w in case.op.weights if w in tensors}
    with warnings.catch_warnings():  # kl_div's 'mean' warns that it is not 'batchmean'
        warnings.simplefilter("ignore", UserWarning)
        loss = eval(case.op.reference, {"F": F})(*positional, **keywords, **case.params, reduction=reduction)  # noqa: S307
    if g is None:
        return loss.detach().numpy()
    grads = torch.autograd.grad(
        loss, [tensors[a] for a in case.op.inputs], torch.as_tensor(g, dtype=loss.dtype).expand_as(loss)
    )
    return loss.detach().numpy(), [gr.numpy() for gr in grads]


def numact_call(case, suffix, arrays, reduction, *lead):
    fn = getattr(numact, case.op.name + suffix)
    positional = [arrays[a] for a in case.op.arrays]
    keywords = {w: arrays[w] for w in case.op.weights if w in arrays}
    return fn(*lead, *positional, **keywords, **case.params, reduction=reduction)
