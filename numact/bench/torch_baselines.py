"""PyTorch's kernels for every operator, from the operator table's reference expressions: on
the CPU for NumPy arrays (tensors over their memory), on the GPU for CUDA tensors handed in.

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


def tensor(a):
    """``a`` itself if it is a tensor, else a tensor over the NumPy array's memory."""
    import torch

    return a if isinstance(a, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(a))


def activation(op, x, g, params):
    """(forward(), backward()) closures over torch tensors sharing x's and g's memory."""
    import torch
    import torch.nn.functional as F

    tx = tensor(x)
    tg = tensor(g)
    scope = {"torch": torch, "F": F, **params}
    if op.kind == "channelwise":
        scope["weight"] = tensor(params["weight"])
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
    tensors = [tensor(a) for a in arrays]
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


def _aten_out_variants(op, params):
    """op name → (forward(x, y), backward(g, x, y, dx)): torch's own kernels writing into the
    given tensors (ATen's out variants). The backward reads what autograd would save: the
    output y for sigmoid, tanh and the softmax family, x for the others."""
    import torch

    from numact.activations import SELU_ALPHA, SELU_SCALE

    aten = torch.ops.aten
    p = params

    def threshold(at, value):
        return (lambda x, y: aten.threshold.out(x, at, value, out=y),
                lambda g, x, y, dx: aten.threshold_backward.grad_input(g, x, at, grad_input=dx))

    def hardtanh(low, high):
        return (lambda x, y: aten.hardtanh.out(x, low, high, out=y),
                lambda g, x, y, dx: aten.hardtanh_backward.grad_input(g, x, low, high, grad_input=dx))

    def elu(alpha, scale, input_scale):
        return (lambda x, y: aten.elu.out(x, alpha, scale, input_scale, out=y),
                lambda g, x, y, dx: aten.elu_backward.grad_input(g, alpha, scale, input_scale, False, x,
                                                                 grad_input=dx))

    def rows(forward, backward, out_name):
        return (lambda x, y: forward(x, -1, False, out=y),
                lambda g, x, y, dx: backward(g, y, -1, x.dtype, **{out_name: dx}))

    return {
        "sigmoid": (lambda x, y: aten.sigmoid.out(x, out=y),
                    lambda g, x, y, dx: aten.sigmoid_backward.grad_input(g, y, grad_input=dx)),
        "tanh": (lambda x, y: aten.tanh.out(x, out=y),
                 lambda g, x, y, dx: aten.tanh_backward.grad_input(g, y, grad_input=dx)),
        "gelu": (lambda x, y: aten.gelu.out(x, approximate=p.get("approximate", "none"), out=y),
                 lambda g, x, y, dx: aten.gelu_backward.grad_input(
                     g, x, approximate=p.get("approximate", "none"), grad_input=dx)),
        "relu": threshold(0, 0),
        "threshold": threshold(p.get("threshold"), p.get("value")),
        "relu6": hardtanh(0, 6),
        "hardtanh": hardtanh(p.get("min_val", -1.0), p.get("max_val", 1.0)),
        "hardsigmoid": (lambda x, y: aten.hardsigmoid.out(x, out=y),
                        lambda g, x, y, dx: aten.hardsigmoid_backward.grad_input(g, x, grad_input=dx)),
        "leaky_relu": (lambda x, y: aten.leaky_relu.out(x, p.get("negative_slope", 0.01), out=y),
                       lambda g, x, y, dx: aten.leaky_relu_backward.grad_input(
                           g, x, p.get("negative_slope", 0.01), False, grad_input=dx)),
        "softplus": (lambda x, y: aten.softplus.out(x, p.get("beta", 1.0), p.get("threshold", 20.0), out=y),
                     lambda g, x, y, dx: aten.softplus_backward.grad_input(
                         g, x, p.get("beta", 1.0), p.get("threshold", 20.0), grad_input=dx)),
        "elu": elu(p.get("alpha", 1.0), 1.0, 1.0),
        "celu": elu(p.get("alpha", 1.0), 1.0, 1.0 / p.get("alpha", 1.0)),
        "selu": elu(SELU_ALPHA, SELU_SCALE, 1.0),
        "softmax": rows(aten._softmax.out, aten._softmax_backward_data.out, "grad_input"),
        "log_softmax": rows(aten._log_softmax.out, aten._log_softmax_backward_data.out, "out"),
    }


def activation_into(op, x, g, params, y, dx):
    """(forward(), backward()) of torch's kernels writing into y and dx (NumPy arrays shared
    with torch), or None where torch has no out variant for the operator (linear, sine,
    softmin, prelu, logsigmoid's needs a buffer: those are timed as they allocate)."""
    import torch

    variants = _aten_out_variants(op, params).get(op.name)
    if variants is None:
        return None
    forward, backward = variants
    tx, tg, ty, tdx = (tensor(a) for a in (x, g, y, dx))
    saved = torch.empty_like(tx)  # the forward's output, as autograd would save it
    forward(tx, saved)
    return (lambda: forward(tx, ty)), (lambda: backward(tg, tx, saved, tdx))
