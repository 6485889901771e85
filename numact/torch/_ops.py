"""Every operator of the table as a PyTorch operator (``torch.ops.numact.<name>``), made with
``torch.library.custom_op``, with its backward (``register_autograd``) and its fake
implementation (``register_fake``), and the functions ``numact.torch.<name>`` that call them.

Activations: ``numact::<name>(x, params…)`` and ``numact::<name>_backward(grad_output, x,
params…)``; autograd saves x (a reference, no copy) and calls the backward op.

Losses: ``numact::<name>(arrays…, weights…, params…, reduction)``, ``numact::<name>_backward``
and ``numact::<name>_forward_backward`` → (loss, grad per input). With a reduced loss and an
input that requires grad, ``numact.torch.<name>`` runs the fused op: one pass gives the loss and
the gradient for grad_output 1, which autograd saves and scales by grad_output in the backward.
With reduction='none' the backward op runs with the per-element grad_output.

numact has no second derivatives: differentiating a backward (``create_graph=True`` and a
second ``backward``, ``gradgradcheck``) raises a RuntimeError naming the operator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

import numact

from .._loss_api import loss_shape
from ..operators import (
    ACTIVATIONS,
    LOSSES,
    REQUIRED,
    Activation,
    Loss,
    Param,
    boolean,
    integer,
)
from . import _convert

NAMESPACE = "numact"


def _schema_type(p: Param) -> str:
    if p.to_kernel is integer:
        return "int"
    if p.to_kernel is boolean:
        return "bool"
    return "str" if isinstance(p.default if p.default is not REQUIRED else p.example, str) else "float"


def _python_value(p: Param, value: Any, name: str) -> Any:
    """The user's value, checked as numact checks it, in the type the op's schema takes."""
    p.kernel_value(name, value)  # numact's TypeError or ValueError
    kind = _schema_type(p)
    return value if kind == "str" else {"int": int, "bool": bool, "float": float}[kind](value)


def _arrays(name, tensors):
    return [_convert.to_array(t, f"numact.torch.{name}") for t in tensors]


def _no_second_derivative(name: str):
    def backward(ctx, *grads):
        raise RuntimeError(
            f"numact.torch.{name}: numact has no second derivative of this operator; "
            "double backward (create_graph=True, then differentiating the gradient) is not supported"
        )

    return backward


def _keep_nothing(ctx, inputs, output):
    pass


def _define(name: str, schema: str, impl: Callable, fake: Callable):
    op = torch.library.custom_op(f"{NAMESPACE}::{name}", impl, mutates_args=(), schema=schema)
    op.register_fake(fake)
    return op


class _Op:
    """One operator two ways: the custom op, which torch.compile traces (and torch.ops exposes),
    and an ``autograd.Function`` running the same implementation with the same autograd
    formulas, for eager calls: the dispatcher's Python round trip of a custom op costs ~60 µs
    a call, the Function's ~10. ``backward`` calls (for the formulas) take the same two ways."""

    def __init__(self, name, schema, impl, fake, setup_context, formula, vmap=None):
        """``formula(run)`` is the backward formula given the way ``run`` to call ops with."""
        self.custom = _define(name, schema, impl, fake)
        self.custom.register_autograd(formula(lambda op: op.custom), setup_context=setup_context)
        methods = {"forward": staticmethod(impl), "setup_context": staticmethod(setup_context),
                   "backward": staticmethod(formula(lambda op: op))}
        if vmap is not None:
            self.custom.register_vmap(vmap(self.custom))
            methods["vmap"] = staticmethod(vmap(self))
        self.eager = type(name, (torch.autograd.Function,), methods)
        # Function.apply binds default arguments with inspect.signature on every call (~30 µs);
        # the forward has none, so outside functorch transforms the C apply beneath it is the same.
        self._apply = super(torch.autograd.Function, self.eager).apply
        self.impl = impl

    def __call__(self, *args):
        if torch.compiler.is_compiling():
            return self.custom(*args)
        if torch._C._are_functorch_transforms_active():
            return self.eager.apply(*args)
        if torch.is_grad_enabled() and any(isinstance(a, torch.Tensor) and a.requires_grad for a in args):
            return self._apply(*args)
        return self.impl(*args)  # nothing to differentiate: no autograd node, no saved tensors


def _no_second(name: str):
    """The formula of an op whose result numact cannot differentiate (a backward)."""
    return lambda run: _no_second_derivative(name)


# --- activations ----------------------------------------------------------------------------

def _activation_schema(op: Activation) -> tuple[str, str]:
    """The op's leading tensors and trailing parameters, as schema text."""
    if op.kind == "rowwise":
        return "Tensor x", ", int dim"
    if op.kind == "channelwise":
        return "Tensor x, Tensor weight", ""
    return "Tensor x", "".join(f", {_schema_type(p)} {p.name}" for p in op.params)


def _activation_ops(op: Activation):
    """The forward and backward ops of one activation, autograd registered."""
    forward_fn = getattr(numact, op.name)
    backward_fn = getattr(numact, f"{op.name}_backward")
    tensors, params = _activation_schema(op)
    channelwise = op.kind == "channelwise"

    n_tensors = 2 if channelwise else 1  # x, and PReLU's weight

    def call(fn, args, n):
        return fn(*_arrays(op.name, args[:n]), *args[n:])

    def forward_impl(*args):
        x = args[0]
        return _convert.to_tensor(call(forward_fn, args, n_tensors), x, _convert.result_type(op.name, x.dtype))

    def forward_fake(*args):
        x = args[0]
        return torch.empty_like(x, dtype=_convert.result_type(op.name, x.dtype), memory_format=torch.contiguous_format)

    def backward_impl(*args):
        result, x = call(backward_fn, args, n_tensors + 1), args[1]
        dtype = _convert.result_type(op.name, x.dtype)
        if channelwise:
            grad_x, grad_w = result
            w = args[2]
            return _convert.to_tensor(grad_x, x, dtype), _convert.to_tensor(grad_w, w, w.dtype)
        return _convert.to_tensor(result, x, dtype)

    def backward_fake(g, x, *rest):
        grad_x = torch.empty_like(x, dtype=_convert.result_type(op.name, x.dtype), memory_format=torch.contiguous_format)
        if channelwise:
            return grad_x, torch.empty_like(rest[0], memory_format=torch.contiguous_format)
        return grad_x

    elementwise = op.kind == "elementwise"
    returns = "(Tensor, Tensor)" if channelwise else "Tensor"
    backward = _Op(f"{op.name}_backward", f"(Tensor grad_output, {tensors}{params}) -> {returns}",
                   backward_impl, backward_fake, _keep_nothing, _no_second(f"{op.name}_backward"),
                   _elementwise_vmap(2) if elementwise else None)

    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs[:n_tensors])
        ctx.rest = inputs[n_tensors:]

    def formula(run):
        def backward_formula(ctx, g):
            grads = run(backward)(g, *ctx.saved_tensors, *ctx.rest)
            nones = (None,) * len(ctx.rest)
            return (*grads, *nones) if channelwise else (grads, *nones)

        return backward_formula

    forward = _Op(op.name, f"({tensors}{params}) -> Tensor", forward_impl, forward_fake, setup_context, formula,
                  _elementwise_vmap(1) if elementwise else None)
    return forward, backward


def _elementwise_vmap(n_tensors: int):
    """torch.vmap of an element-wise op: the batch axis moved to the front of every tensor
    (a tensor without one broadcast along it), then the op on the whole batch at once."""

    def make(op):
        def rule(info, in_dims, *args):
            tensors = [t.movedim(d, 0) if d is not None else t.expand(info.batch_size, *t.shape)
                       for t, d in zip(args[:n_tensors], in_dims)]
            if n_tensors == 2:
                tensors = list(torch.broadcast_tensors(*tensors))
            return op(*tensors, *args[n_tensors:]), 0

        return rule

    return make


def _softmax_dim(name: str, x: torch.Tensor, dim: int | None) -> int:
    """torch's rule for a softmax-family ``dim`` of None (deprecated there, kept for modules
    swapped in from models that rely on it)."""
    if dim is not None:
        return int(dim)
    return 0 if x.dim() in (0, 1, 3) else 1


def _activation_function(op: Activation, forward) -> Callable:
    if op.kind == "rowwise":
        def function(x, dim=-1):
            return forward(x, _softmax_dim(op.name, x, dim))
    elif op.kind == "channelwise":
        def function(x, weight):
            return forward(x, weight)
    else:
        defaults = [p.default for p in op.params]

        def function(x, *args, **kwargs):
            values = list(args) + defaults[len(args):]
            for i, p in enumerate(op.params):
                if p.name in kwargs:
                    values[i] = kwargs.pop(p.name)
            if kwargs or len(args) > len(op.params):
                raise TypeError(f"numact.torch.{op.name}() takes x and {', '.join(p.name for p in op.params) or 'no parameters'}")
            for i, p in enumerate(op.params):
                if values[i] is REQUIRED:
                    raise TypeError(f"numact.torch.{op.name}() missing the parameter {p.name!r}")
                values[i] = _python_value(p, values[i], op.name)
            return forward(x, *values)

    params = "dim=-1" if op.kind == "rowwise" else "weight" if op.kind == "channelwise" else ", ".join(
        p.name if p.default is REQUIRED else f"{p.name}={p.default!r}" for p in op.params)
    function.__name__ = function.__qualname__ = op.name
    function.__doc__ = (
        f"numact.{op.name} as a PyTorch operator with autograd: {op.summary}\n\n"
        f"    numact.torch.{op.name}(x{', ' + params if params else ''})\n\n"
        f"y = {op.formula}; its gradient {op.derivative}. PyTorch reference: ``{op.reference}``"
        + (" (dim is torch's name for numact's axis)" if op.kind == "rowwise" else "") + ".\n"
        "Autograd keeps x for the backward (a reference, no copy)."
    )
    return function


# --- losses ---------------------------------------------------------------------------------

def _loss_shape(op: Loss, tensors: dict[str, torch.Tensor], reduction: str) -> tuple:
    """The loss's shape, as numact gives it."""
    if reduction != "none":
        return ()
    if op.kind == "class":
        return loss_shape(op, tuple(tensors["input"].shape))
    arrays = op.arrays + op.weights if op.kind == "elementwise" else op.inputs
    return loss_shape(op, tuple(torch.broadcast_shapes(*(t.shape for a in arrays if (t := tensors.get(a)) is not None))))


def _loss_ops(op: Loss):
    """The forward, backward and fused ops of one loss; autograd on the forward (the backward op
    with grad_output) and on the fused one (its saved gradient times grad_output)."""
    names = op.arrays + op.weights
    n_arrays, n_tensors = len(op.arrays), len(names)
    signature = ", ".join(
        [f"Tensor {a}" for a in op.arrays] + [f"Tensor? {w}" for w in op.weights]
        + [f"{_schema_type(p)} {p.name}" for p in op.params] + ["str reduction"]
    )
    grads = ", ".join(["Tensor"] * len(op.inputs))
    single = len(op.inputs) == 1  # the backward op returns a tensor, not a tuple of one
    fns = [getattr(numact, op.name + suffix) for suffix in ("", "_backward", "_forward_backward")]

    def split(args):
        tensors, rest = args[:n_tensors], args[n_tensors:]
        params, reduction = rest[:-1], rest[-1]
        keywords = dict(zip(op.weights, _arrays(op.name, tensors[n_arrays:])))
        keywords.update(zip((p.name for p in op.params), params), reduction=reduction)
        return tensors, _arrays(op.name, tensors[:n_arrays]), keywords

    def dtype(tensors):
        return _convert.promote(op.name, *(tensors[names.index(a)].dtype for a in op.inputs))

    def grad_tensors(result, tensors, dt):
        result = result if isinstance(result, tuple) else (result,)
        return tuple(_convert.to_tensor(r, tensors[names.index(a)], dt) for r, a in zip(result, op.inputs))

    def forward_impl(*args):
        tensors, arrays, keywords = split(args)
        return _convert.to_tensor(fns[0](*arrays, **keywords), tensors[0], dtype(tensors))

    def backward_impl(g, *args):
        tensors, arrays, keywords = split(args)
        result = grad_tensors(fns[1](_convert.to_array(g), *arrays, **keywords), tensors, dtype(tensors))
        return result[0] if single else result

    def fused_impl(*args):
        tensors, arrays, keywords = split(args)
        loss, result = fns[2](*arrays, **keywords)
        dt = dtype(tensors)
        return (_convert.to_tensor(loss, tensors[0], dt), *grad_tensors(result, tensors, dt))

    def loss_fake(*args):
        tensors = dict(zip(names, args[:n_tensors]))
        first = args[0]
        return first.new_empty(_loss_shape(op, tensors, args[-1]), dtype=dtype(args))

    def grads_fake(*args):
        dt = dtype(args)
        return tuple(torch.empty_like(args[names.index(a)], dtype=dt, memory_format=torch.contiguous_format)
                     for a in op.inputs)

    trailing = (None,) * (n_tensors - len(op.inputs) + len(op.params) + 1)  # no gradients
    backward = _Op(f"{op.name}_backward", f"(Tensor grad_output, {signature}) -> ({grads})", backward_impl,
                   lambda g, *args: grads_fake(*args)[0] if single else grads_fake(*args),
                   _keep_nothing, _no_second(f"{op.name}_backward"))

    def forward_setup(ctx, inputs, output):
        ctx.save_for_backward(*inputs[:n_tensors])
        ctx.rest = inputs[n_tensors:]

    def forward_formula(run):
        def formula(ctx, g):
            result = run(backward)(g, *ctx.saved_tensors, *ctx.rest)
            return ((result,) if single else tuple(result)) + trailing

        return formula

    def fused_setup(ctx, inputs, output):
        ctx.save_for_backward(*output[1:])
        ctx.mark_non_differentiable(*output[1:])

    def fused_formula(run):
        def formula(ctx, g, *unused):
            return (*(run(scale_saved_gradient)(saved, g) for saved in ctx.saved_tensors), *trailing)

        return formula

    forward = _Op(op.name, f"({signature}) -> Tensor", forward_impl, loss_fake, forward_setup, forward_formula)
    fused = _Op(f"{op.name}_forward_backward", f"({signature}) -> (Tensor, {grads})", fused_impl,
                lambda *args: (loss_fake(*args), *grads_fake(*args)), fused_setup, fused_formula)
    return forward, backward, fused


def _scaled(saved: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    return saved * g


scale_saved_gradient = _Op("scale_saved_gradient", "(Tensor saved, Tensor grad_output) -> Tensor", _scaled, _scaled,
                           _keep_nothing, _no_second("loss backward"))
"""A gradient saved by a fused forward, times the loss's (scalar) grad_output: an op of its own
so that differentiating it again raises numact's double-backward error rather than giving 0."""


def _loss_function(op: Loss, forward, fused) -> Callable:
    names = op.arrays + op.weights
    defaults = {w: None for w in op.weights} | {p.name: p.default for p in op.params} | {"reduction": op.reductions[0]}

    def function(*args, **kwargs):
        if len(args) != len(op.arrays):
            raise TypeError(f"numact.torch.{op.name}() takes {len(op.arrays)} tensors ({', '.join(op.arrays)}), "
                            f"got {len(args)}; the other arguments are keywords")
        unknown = set(kwargs) - set(defaults)
        if unknown:
            raise TypeError(f"numact.torch.{op.name}() got unexpected keywords {sorted(unknown)}")
        values = defaults | kwargs
        tensors = list(args) + [values[w] for w in op.weights]
        for name, t in zip(names, tensors):
            if t is not None and not isinstance(t, torch.Tensor):
                raise TypeError(f"numact.torch.{op.name}: {name} must be a tensor, got {type(t).__name__}")
            if name not in op.inputs and t is not None and t.requires_grad:
                raise RuntimeError(
                    f"numact.torch.{op.name}: {name} requires grad, but numact differentiates "
                    f"{' and '.join(op.inputs)} only")
        reduction = values["reduction"]
        if not isinstance(reduction, str) or reduction not in op.reductions:
            raise ValueError(f"numact.torch.{op.name}: reduction must be one of "
                             f"{', '.join(map(repr, op.reductions))}, got {reduction!r}")
        params = [_python_value(p, values[p.name], op.name) for p in op.params]
        wants_grad = torch.is_grad_enabled() and any(t.requires_grad for t in args[: len(op.inputs)])
        if wants_grad and reduction != "none":
            return fused(*tensors, *params, reduction)[0]
        return forward(*tensors, *params, reduction)

    keywords = ", ".join(f"{k}={v!r}" for k, v in defaults.items())
    function.__name__ = function.__qualname__ = op.name
    function.__doc__ = (
        f"numact.{op.name} as a PyTorch operator with autograd: {op.summary}\n\n"
        f"    numact.torch.{op.name}({', '.join(op.arrays)}, *, {keywords})\n\n"
        f"loss = {op.formula}; ∂loss/∂element = {op.derivative}. PyTorch reference: ``{op.reference}``.\n"
        f"Gradients flow to {' and '.join(op.inputs)}.\n\n"
        "In memory for the backward: with a reduced loss, the gradient with respect to each input "
        "that the fused forward computed (one tensor the size of that input); with reduction='none', "
        "references to the arrays (no copies)."
    )
    return function


def build() -> tuple[dict[str, Callable], dict[str, Any]]:
    """The public functions by name, and the ops by name."""
    functions: dict[str, Callable] = {}
    ops: dict[str, Any] = {}
    for op in ACTIVATIONS:
        forward, backward = _activation_ops(op)
        ops[op.name], ops[f"{op.name}_backward"] = forward.custom, backward.custom
        functions[op.name] = _activation_function(op, forward)
    for op in LOSSES:
        forward, backward, fused = _loss_ops(op)
        ops[op.name], ops[f"{op.name}_backward"], ops[f"{op.name}_forward_backward"] = forward.custom, backward.custom, fused.custom
        functions[op.name] = _loss_function(op, forward, fused)
    return functions, ops
