"""The public functions, generated from the operator table with real signatures and docstrings."""

from __future__ import annotations

import inspect
import sys

import numpy as np

from . import _api, _loss_api
from .operators import ACTIVATIONS, LOSSES, REQUIRED, Activation, Loss


def _lazy(*arrays) -> bool:
    """Whether any argument is a dask array (dask is loaded, or there can be none)."""
    array = sys.modules["dask.array"].Array
    return any(isinstance(a, array) for a in arrays)


def _dask(name: str):
    from . import dask

    return getattr(dask, name)


def _dispatching(source: str, names: dict) -> str:
    """The source of each function, with a line before its last that sends a call with a dask
    array argument to numact.dask's function of the same name (a dictionary look-up when dask
    is not loaded)."""
    namespace: dict = {}
    exec(source, dict(names), namespace)  # noqa: S102 - only to read the signatures back
    lines = []
    for fn_source, fn in zip(source.split("def ")[1:], namespace.values()):
        params = list(inspect.signature(fn).parameters)
        arrays = [p for p in params if p in _ARRAY_ARGUMENTS]
        body = ("def " + fn_source).rstrip("\n").split("\n")
        last = max(i for i, line in enumerate(body) if line.startswith("    return "))
        call = ", ".join(f"{p}={p}" for p in params)
        lines += body[:last] + [
            f"    if 'dask.array' in _modules and _lazy({', '.join(arrays)}):",
            f"        return _dask({fn.__name__!r})({call})",
        ] + body[last:]
    return "\n".join(lines) + "\n"


_ARRAY_ARGUMENTS = {"x", "grad_output", "weight", "pos_weight"} | {
    a for op in LOSSES for a in op.arrays
}
_DISPATCH = {"_modules": sys.modules, "_lazy": _lazy, "_dask": _dask}

def _remembered(memo: str, key: str, unpack: str, found: str) -> str:
    """The lines that look ``key`` up in ``memo`` and, if it is there, unpack it and run ``found``
    (lines indented for it); a missing or unhashable key falls through."""
    return (
        "        try:\n"
        f"            {unpack} = {memo}[{key}]\n"
        "        except (KeyError, TypeError, ValueError):\n"
        "            pass\n"
        "        else:\n"
        f"{found}"
    )


def _small_path(op: Activation, step: str) -> str:
    """An element-wise function's first lines: on a small plain array, numact's ufunc with the
    parameters as the last call with these values and types left them (``_api.remember_ufunc``).
    There a call costs mostly its dispatch: NumPy's own, with nothing converted, is the
    cheapest there is, and no Python frame is added to reach it."""
    names = [p.name for p in op.params]
    params = "".join(f", _p{k}" for k in range(len(names)))
    inputs = "x" if step == "forward" else "grad_output, x"
    return f"    if {_api.SMALL_ARRAYS[step]}:\n" + _remembered(
        f"_small_{step}", _api.key_source(names, "x.dtype"), f"_u{params},", f"            return _u({inputs}{params})\n")


_SMALL_NAMES = {**_api.SMALL_NAMES, "_empty": np.empty,
                "_INT64": np.dtype(np.int64), "_SCALARS": frozenset({float, int, np.float16, np.float32, np.float64})}

_KIND_CALLS = {
    # kind: (forward parameters, backward parameters, forward call, backward call)
    "elementwise": (
        "x, {params}", "grad_output, x, {params}",
        "_forward(x, ({values}), out)",
        "_backward(grad_output, x, ({values}), out)",
    ),
    "rowwise": (
        "x, axis=-1, ", "grad_output, x, axis=-1, ",
        "_forward(x, axis, out)",
        "_backward(grad_output, x, axis, out)",
    ),
    "channelwise": (
        "x, weight, ", "grad_output, x, weight, ",
        "_forward(x, weight, out)",
        "_backward(grad_output, x, weight, out)",
    ),
}


def _param_list(op: Activation) -> str:
    return "".join(
        f"{p.name}, " if p.default is REQUIRED else f"{p.name}={p.default!r}, " for p in op.params
    )


def _docstring(op: Activation, backward: bool) -> str:
    params = "".join(
        f"    {p.name}: {'required' if p.default is REQUIRED else f'default {p.default!r}'}\n"
        for p in op.params
    )
    if op.kind == "rowwise":
        params += "    axis: the axis the rows run along, default -1\n"
    if op.kind == "channelwise":
        params += "    weight: 1 value, or one per channel (axis 1 of x)\n"
    call = f"numact.{op.name}(x)" if not op.params or op.params[0].default is not REQUIRED else None
    if backward:
        head = f"The gradient of numact.{op.name}: grad_output · d{op.name}/dx = {op.derivative}."
        returns = (
            "(grad_x, grad_weight)" if op.kind == "channelwise"
            else "grad_x, shaped and typed like x"
        )
    else:
        head = f"{op.summary}  y = {op.formula}."
        returns = "y, shaped like x"
    example = ""
    if call and op.kind != "channelwise" and not backward:
        example = (
            "\nExamples:\n    >>> import numpy as np, numact\n"
            f"    >>> y = {call.replace('(x)', '(np.linspace(-3, 3, 7, dtype=np.float32))')}\n"
        )
    out = (
        "optional (grad_x, grad_weight) arrays to write into" if backward and op.kind == "channelwise"
        else "optional array of the result's shape and dtype to write into (may be an input)"
    )
    return (
        f"{head}\n\nPyTorch reference: ``{op.reference}``.\n\nParameters:\n{params}"
        f"    out: {out}\n"
        f"\nReturns {returns}. float32/float64 keep their dtype, float16 is computed in float32,\n"
        "integers and bool are promoted as np.exp promotes them. NaN in gives NaN out, and\n"
        "kinks take PyTorch's one-sided values.\n" + example
    )


_LOSS_CALLS = {
    # suffix: (leading parameters, call, trailing keyword parameters)
    "": ("", "_forward({arrays}, {weights}, {params}, reduction, out)", ", out=None"),
    "_backward": ("grad_output, ", "_backward(grad_output, {arrays}, {weights}, {params}, reduction, out)", ", out=None"),
    "_forward_backward": ("", "_fused({arrays}, {weights}, {params}, reduction)", ""),
}


_EXAMPLE_ARRAYS = {
    # an example value for every positional array name, by the kind of loss
    "elementwise": {"input": "np.array([0.2, 0.8])", "target": "np.array([0.0, 1.0])",
                    "input1": "np.array([0.2, 0.8])", "input2": "np.array([0.5, 0.1])"},
    "class": {"input": "np.log(np.array([[0.7, 0.2, 0.1]]))", "target": "np.array([0])"},
    "vector": {"input1": "np.array([[1.0, 0.0]])", "input2": "np.array([[0.6, 0.8]])",
               "target": "np.array([1.0])", "anchor": "np.array([[0.0, 0.0]])",
               "positive": "np.array([[0.5, 0.0]])", "negative": "np.array([[0.0, 2.0]])"},
}


def _loss_example(op: Loss) -> str:
    examples = _EXAMPLE_ARRAYS[op.kind]
    target = "np.array([1.0, -1.0])" if op.name == "margin_ranking_loss" else examples.get("target")
    arrays = ", ".join(target if a == "target" else examples[a] for a in op.arrays)
    return f"\nExamples:\n    >>> import numpy as np, numact\n    >>> loss = numact.{op.name}({arrays})\n"


def _loss_docstring(op: Loss, suffix: str) -> str:
    grads = ", ".join(f"grad_{arg}" for arg in op.inputs)
    grads = grads if len(op.inputs) == 1 else f"({grads})"
    head, returns = {
        "": (f"{op.summary}  loss = {op.formula}, reduced.", "the loss: a 0-d array, or per element with reduction='none'"),
        "_backward": (
            f"The gradient of numact.{op.name}: grad_output · ∂loss/∂{op.inputs[0]}, ∂loss/∂element = {op.derivative}.",
            f"{grads}, each shaped and typed like its input",
        ),
        "_forward_backward": (
            f"numact.{op.name} and its gradient (grad_output 1) in one pass.",
            f"(loss, {grads})",
        ),
    }[suffix]
    params = "".join(f"    {w}: optional array, default None\n" for w in op.weights)
    params += "".join(f"    {p.name}: default {p.default!r}\n" for p in op.params)
    params += f"    reduction: {' | '.join(repr(r) for r in op.reductions)}, default {op.reductions[0]!r}\n"
    if suffix != "_forward_backward":
        params += "    out: optional array to write the result into (backward: one per input)\n"
    return (
        f"{head}\n\nPyTorch reference: ``{op.reference}``.\n\nArrays (positional): {', '.join(op.arrays)}.\n"
        f"\nParameters:\n{params}\nReturns {returns}. The result's dtype is the inputs' (float16 is "
        "computed in float32); reductions sum in float64.\n" + (_loss_example(op) if not suffix else "")
    )


def _small_loss_path(op: Loss) -> str:
    """A loss backward's first lines: on small plain arrays (an element-wise loss's C-contiguous
    1-D arrays of one dtype, or a class loss's C-contiguous (rows, n) input and int64 class indices; no
    weights; grad_output a number), the entry the last such call left for these values
    (``_loss_api._short_path``), called here with nothing else in between."""
    first, others = op.arrays[0], op.arrays[1:]
    if op.kind == "elementwise":
        tests = [f"type({first}) is _ndarray and {first}.ndim == 1 and {first}.size < _SMALL"
                 f" and {first}.flags.c_contiguous"]
        tests += [f"type({a}) is _ndarray and {a}.dtype is {first}.dtype and {a}.ndim == 1 and len({a}) == len({first})"
                  f" and {a}.flags.c_contiguous" for a in others]
        shape, divisor = f"len({first})", f"len({first}) if _d is None else _d"
    else:
        tests = [f"type({first}) is _ndarray and {first}.ndim == 2 and {first}.size < _SMALL and {first}.flags.c_contiguous",
                 "type(target) is _ndarray and target.dtype is _INT64 and target.ndim == 1 "
                 f"and len(target) == len({first}) and target.flags.c_contiguous"]
        shape, divisor = f"{first}.shape", "_d"
    tests += [f"{w} is None" for w in op.weights] + ["type(grad_output) in _SCALARS", "out is None"]
    key = _api.key_source(["reduction"] + [p.name for p in op.params], f"{first}.dtype")
    grads = [f"_g{k}" for k in range(len(op.inputs))]
    allocate = "".join(f"            {g} = _empty({shape}, {first}.dtype)\n" for g in grads)
    result = grads[0] if len(grads) == 1 else "(" + ", ".join(grads) + ")"
    call = (f"            if _entry({', '.join(grads)}, {', '.join(op.arrays)}, float(grad_output), {divisor}, _p)[0] < 0:\n"
            f"                return {result}\n")
    return "    if (" + "\n            and ".join(tests) + "):\n" + _remembered(
        "_small_backward", key, "_entry, _p, _d", allocate + call)


def _build_loss(op: Loss) -> dict[str, object]:
    arrays = "(" + "".join(f"{a}, " for a in op.arrays) + ")"
    weights = "(" + "".join(f"{w}, " for w in op.weights) + ")"
    values = "(" + "".join(f"{p.name}, " for p in op.params) + ")"
    keywords = "".join(f"{w}=None, " for w in op.weights) + "".join(
        f"{p.name}={p.default!r}, " for p in op.params
    ) + f"reduction={op.reductions[0]!r}"
    functions = {}
    for suffix, (lead, call, trail) in _LOSS_CALLS.items():
        name = op.name + suffix
        small = suffix == "_backward" and op.kind in ("elementwise", "class")
        source = (
            f"def {name}({lead}{', '.join(op.arrays)}, *, {keywords}{trail}):\n"
            + (_small_loss_path(op) if small else "")
            + f"    return {call.format(arrays=arrays, weights=weights, params=values)}\n"
        )
        namespace = dict(zip(("_forward", "_backward", "_fused", "_small_backward"), _loss_api.calls(op)),
                         **_DISPATCH, **_SMALL_NAMES)
        exec(_dispatching(source, namespace), namespace)  # noqa: S102 - real signatures, as for the activations
        fn = namespace[name]
        fn.__module__ = "numact"
        fn.__doc__ = _loss_docstring(op, suffix)
        functions[name] = fn
    return functions


def build() -> dict[str, object]:
    """Every public function, by name."""
    functions: dict[str, object] = {}
    for op in LOSSES:
        functions.update(_build_loss(op))
    for op in ACTIVATIONS:
        fwd_params, bwd_params, fwd_call, bwd_call = _KIND_CALLS[op.kind]
        params = _param_list(op)
        values = "".join(f"{p.name}, " for p in op.params)
        small = op.kind == "elementwise"
        source = (
            f"def {op.name}({fwd_params.format(params=params)}*, out=None):\n"
            + (_small_path(op, "forward") if small else "")
            + f"    return {fwd_call.format(values=values)}\n"
            f"def {op.name}_backward({bwd_params.format(params=params)}*, out=None):\n"
            + (_small_path(op, "backward") if small else "")
            + f"    return {bwd_call.format(values=values)}\n"
        )
        namespace = dict(getattr(_api, op.kind)(op), **_DISPATCH, **_SMALL_NAMES)
        exec(_dispatching(source, namespace), namespace)  # noqa: S102 - real signatures, built like dataclasses builds __init__
        for backward, suffix in ((False, ""), (True, "_backward")):
            fn = namespace[op.name + suffix]
            fn.__module__ = "numact"
            fn.__doc__ = _docstring(op, backward)
            functions[op.name + suffix] = fn
    return functions
