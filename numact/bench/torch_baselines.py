"""PyTorch's CPU kernels for every operator, from the operator table's reference expressions.

The forward is the reference itself; the backward is autograd's, run on a graph built once
(``retain_graph``), so what is timed is torch's own backward kernels (``sigmoid_backward``,
``gelu_backward``, ``_softmax_backward_data``, ...), as a training step runs them.
"""

import warnings

import numpy as np


def available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def activation(op, x, g, params):
    """(forward(), backward()) closures over torch tensors sharing x's and g's memory."""
    import torch
    import torch.nn.functional as F

    tx = torch.from_numpy(x)
    tg = torch.from_numpy(g)
    scope = {"torch": torch, "F": F, **params}
    if op.kind == "channelwise":
        scope["weight"] = torch.from_numpy(params["weight"])
    if op.kind == "rowwise":
        scope["axis"] = params.get("axis", -1)

    def forward():
        with torch.no_grad():
            return eval(op.reference, forward_scope)  # noqa: S307 - the table's expression

    forward_scope = scope | {"x": tx}

    leaf = tx.clone().requires_grad_(True)
    inputs = [leaf]
    if op.kind == "channelwise":
        scope["weight"] = scope["weight"].clone().requires_grad_(True)
        inputs.append(scope["weight"])
    y = eval(op.reference, scope | {"x": leaf})  # noqa: S307

    def backward():
        return torch.autograd.grad(y, inputs, tg, retain_graph=True)

    return forward, backward


def loss(op, arrays, params):
    """(forward(), backward(), fused()) for a loss with reduction='mean'; fused is forward then
    backward through autograd, as a training step does."""
    import torch
    import torch.nn.functional as F

    fn = eval(op.reference, {"F": F})  # noqa: S307
    tensors = [torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]
    positional = dict(zip(op.arrays, tensors))
    keywords = {k: v for k, v in params.items() if k not in op.weights}

    def call(ts):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return fn(*ts, **keywords)

    def forward():
        return call(tensors)

    leaves = [t.clone().requires_grad_(True) if name in op.inputs else t for name, t in positional.items()]
    grads_of = [t for name, t in zip(positional, leaves) if name in op.inputs]
    graph = call(leaves)

    def backward():
        return torch.autograd.grad(graph, grads_of, retain_graph=True)

    def fused():
        value = call(leaves)
        return value, torch.autograd.grad(value, grads_of)

    return forward, backward, fused
