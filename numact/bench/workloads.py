"""The arrays every benchmark runs on, and what each timed call is: one table-driven list of
cases (operator × pass) shared by ``numact bench``, the asv suite and the micro-benchmarks."""

from dataclasses import dataclass
from typing import Callable

import numpy as np

import numact
from numact.bench import torch_baselines
from numact.bench.numpy_activations import BASELINES
from numact.bench.numpy_losses import LOSS_BASELINES
from numact.operators import ACTIVATIONS, LOSSES, Loss, param_cases

ROW = 1000  # row length of the softmax family and channels of PReLU; classes of the class losses
VECTOR = 100  # vector length of the vector losses


@dataclass
class Case:
    """One timed call: ``numact``, and the same work in NumPy and (if installed) torch."""

    op: str
    step: str  # "forward", "backward" or "fused"
    numact: Callable[[], object]
    numpy: Callable[[], object]
    torch: Callable[[], object] | None
    bytes: int  # what the kernel must read and write at the least
    torch_allocates: bool = True  # False where torch's kernel writes into a preallocated output


def activation_arrays(op, size: int, dtype, rng):
    """x, g and the keyword parameters: rows of ROW for the softmax family and PReLU (ROW
    channels), shorter rows when size is small, a flat array otherwise."""
    row = min(ROW, max(1, size // 10))
    shape = (size // row, row) if op.kind != "elementwise" else (size,)
    x = rng.normal(0, 3, shape).astype(dtype)
    g = rng.normal(0, 1, shape).astype(dtype)
    params = param_cases(op)[0]
    if op.kind == "channelwise":
        params = {"weight": rng.uniform(0, 0.5, shape[1]).astype(dtype)}
    return x, g, params


def loss_arrays(op, size: int, dtype, rng, rows: int | None = None):
    """The positional arrays and keyword parameters of one loss: ``size`` elements for the
    element-wise losses, (rows, ROW) logits for the class losses (rows = size/ROW unless
    given), (size/VECTOR, VECTOR) vectors for the vector losses."""
    params = {k: v for k, v in param_cases(op)[0].items() if k != "ignore_index"}
    if op.kind == "class":
        classes = min(ROW, max(2, size // 10))
        n = rows or max(1, size // classes)
        x = rng.standard_normal((n, classes), dtype=np.float32) * 3
        if op.name == "nll_loss":
            x = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
        arrays = [x, rng.integers(0, classes, n)]
    elif op.kind == "vector":
        shape = (max(1, size // VECTOR), min(VECTOR, size))
        arrays = [rng.normal(size=shape) for _ in op.inputs]
        arrays += [rng.choice([-1.0, 1.0], shape[0])] if op.target else []
    elif op.name == "binary_cross_entropy":
        arrays = [rng.uniform(0.01, 0.99, size), rng.uniform(0, 1, size)]
    elif op.name == "kl_div":
        arrays = [rng.normal(-3, 1, size), rng.uniform(0, 1, size)]
    elif op.name == "margin_ranking_loss":
        arrays = [rng.normal(size=size), rng.normal(size=size), rng.choice([-1.0, 1.0], size)]
    else:
        arrays = [rng.normal(size=size), rng.uniform(0, 1, size)]
    return [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays], params


def activation_cases(op, size: int, dtype, rng, with_torch: bool = True,
                     into: bool = False) -> list[Case]:
    """The forward and backward cases; ``into``: numact and torch write into preallocated
    outputs (numact's out=, torch's ATen out variants where it has them), the kernels alone."""
    x, g, params = activation_arrays(op, size, dtype, rng)
    forward, backward = getattr(numact, op.name), getattr(numact, op.name + "_backward")
    np_forward, np_backward = BASELINES[op.name]
    with_torch = with_torch and torch_baselines.available()
    t_forward, t_backward = torch_baselines.activation(op, x, g, params) if with_torch else (None, None)
    allocates = True
    if into:
        y, dx = np.empty_like(x), np.empty_like(x)
        dw = np.empty_like(params["weight"]) if op.kind == "channelwise" else None
        outs = (dx, dw) if op.kind == "channelwise" else dx
        n_forward, n_backward = (lambda: forward(x, **params, out=y)), (lambda: backward(g, x, **params, out=outs))
        kernels = torch_baselines.activation_into(op, x, g, params, np.empty_like(x), np.empty_like(x)) \
            if with_torch else None
        if kernels is not None:
            (t_forward, t_backward), allocates = kernels, False
    else:
        n_forward, n_backward = (lambda: forward(x, **params)), (lambda: backward(g, x, **params))
    return [
        Case(op.name, "forward", n_forward, lambda: np_forward(x, **params), t_forward, 2 * x.nbytes,
             allocates),
        Case(op.name, "backward", n_backward, lambda: np_backward(g, x, **params), t_backward,
             3 * x.nbytes, allocates),
    ]


def loss_cases(op, size: int, dtype, rng, rows: int | None = None,
               with_torch: bool = True) -> list[Case]:
    arrays, params = loss_arrays(op, size, dtype, rng, rows)
    np_params = dict(param_cases(op)[0], **params)
    one = dtype(1)
    forward, backward, fused = (getattr(numact, op.name + s)
                                for s in ("", "_backward", "_forward_backward"))
    np_forward, np_backward = LOSS_BASELINES[op.name]
    t_forward, t_backward, t_fused = (torch_baselines.loss(op, arrays, params)
                                      if with_torch and torch_baselines.available()
                                      else (None, None, None))
    read = sum(a.nbytes for a in arrays)
    written = sum(a.nbytes for name, a in zip(op.arrays, arrays) if name in op.inputs)
    return [
        Case(op.name, "forward", lambda: forward(*arrays, **params),
             lambda: np_forward(*arrays, **np_params), t_forward, read),
        Case(op.name, "backward", lambda: backward(one, *arrays, **params),
             lambda: np_backward(one, *arrays, **np_params), t_backward, read + written),
        Case(op.name, "fused", lambda: fused(*arrays, **params),
             lambda: (np_forward(*arrays, **np_params), np_backward(one, *arrays, **np_params)),
             t_fused, read + written),
    ]


def operators(names=None):
    """The activations and losses of the table, or those named."""
    ops = [op for op in (*ACTIVATIONS, *LOSSES) if not names or op.name in names]
    unknown = set(names or ()) - {op.name for op in ops}
    if unknown:
        raise SystemExit(f"unknown operator(s): {', '.join(sorted(unknown))}")
    return ops


def cases(op, size: int, dtype, rng, rows: int | None = None, with_torch: bool = True,
          into: bool = False):
    if isinstance(op, Loss):
        return loss_cases(op, size, dtype, rng, rows, with_torch)
    return activation_cases(op, size, dtype, rng, with_torch, into)
