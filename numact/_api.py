"""What every public function does around its kernel, the same on both targets.

Pick the target from the arrays (NumPy → ``numact._cpu``, ``__cuda_array_interface__`` →
``numact._cuda``), apply the dtype policy, check every argument and ``out=`` before anything is
written, lay the arrays out as the launchers expect, launch, and copy back where the kernel
could not write ``out`` directly.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from . import _cpu
from ._dtypes import compute_dtype, result_dtype
from .operators import Activation


def _cuda_module():
    from . import _cuda

    return _cuda


def is_cuda_array(obj: Any) -> bool:
    if obj is None or isinstance(obj, (np.ndarray, np.generic, int, float, complex)):
        return False
    if hasattr(obj, "__cuda_array_interface__"):
        return True
    # The simulator's arrays have no __cuda_array_interface__; if numba.cuda isn't loaded, obj
    # cannot be one of them.
    return "numba.cuda" in sys.modules and _cuda_module().is_device_array(obj)


def _target(name: str, arrays: dict[str, Any]):
    on_gpu = [arg for arg, obj in arrays.items() if is_cuda_array(obj)]
    if not on_gpu:
        return _cpu
    on_host = [
        arg for arg, obj in arrays.items()
        if obj is not None and arg not in on_gpu and np.ndim(obj) > 0
    ]
    if on_host:
        raise TypeError(
            f"numact.{name}: {', '.join(on_gpu)} on the GPU but {', '.join(on_host)} in host "
            "memory; pass them on one device"
        )
    return _cuda_module()


def _input(name: str, target, arg: str, obj: Any):
    """``obj`` as the target's array; a host scalar next to GPU arrays is copied over."""
    if target is _cpu or is_cuda_array(obj):
        return target.asarray(obj)
    return target.from_host(np.asarray(obj))


def _output(name: str, target, out: Any, shape: tuple, dtype: np.dtype, arg: str = "out"):
    """A fresh result array, or ``out`` once it is checked to fit."""
    if out is None:
        return target.empty(shape, dtype)
    on_target = isinstance(out, np.ndarray) if target is _cpu else is_cuda_array(out)
    if not on_target:
        kind = "NumPy array" if target is _cpu else "CUDA array"
        raise ValueError(f"numact.{name}: {arg} must be a {kind}, got {type(out).__name__}")
    out = target.asarray(out)
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"numact.{name}: {arg} has shape {tuple(out.shape)}, expected {tuple(shape)}")
    if out.dtype != dtype:
        raise ValueError(f"numact.{name}: {arg} has dtype {out.dtype}, expected {dtype}")
    if not target.is_writeable(out):
        raise ValueError(f"numact.{name}: {arg} is read-only")
    return out


def _buffer(target, out, dtype: np.dtype, *inputs, in_place: bool = True):
    """Where the kernel writes: ``out`` itself when it can, else a scratch array copied back.

    The kernel may write ``out`` directly when it is C-contiguous, of the compute dtype, and
    either separate from every input or exactly one of them (in place; only where
    ``in_place``, for kernels that read each element before writing it). A partial overlap
    would let a write land before a read of the same memory, so it goes through scratch.
    """
    direct = target.is_c_contiguous(out) and out.dtype == dtype
    if target is _cpu and not any(np.may_share_memory(out, a) for a in inputs):
        inputs = ()  # NumPy tells cheaply that nothing overlaps
    if direct and out.size and inputs:
        start, end = target.data_pointer(out), target.data_pointer(out) + out.nbytes
        for a in inputs:
            a_start = target.data_pointer(a)
            overlaps = a_start < end and start < a_start + a.nbytes
            if overlaps and not (in_place and a_start == start and a.nbytes == out.nbytes):
                direct = False
    if direct:
        return out, lambda: None
    scratch = target.empty(out.shape, dtype)
    return scratch, lambda: target.copy_into(out, scratch)


def _flat(a):
    return a.reshape(a.size)


def _kernel_args(op: Activation, values: tuple, dtype: np.dtype) -> tuple:
    checked = tuple(p.kernel_value(op.name, v) for p, v in zip(op.params, values))
    return tuple(dtype.type(v) for v in checked + op.fixed)


def _grad_output(name: str, target, g, shape: tuple, dtype: np.dtype):
    result_dtype(name, "grad_output", g.dtype)
    try:
        g = target.broadcast(g, shape)
    except ValueError:
        raise ValueError(
            f"numact.{name}: grad_output has shape {tuple(g.shape)}, which does not broadcast "
            f"to the result's shape {tuple(shape)}"
        ) from None
    return target.contiguous(g, dtype)


# --- one call: the checks, then the launch --------------------------------------------------


class _Call:
    """One public call after its checks: the target, the dtypes, the prepared inputs, ``out``.

    Everything that can be refused is checked here, before any kernel writes.
    """

    def __init__(self, name: str, x, g=None, **others):
        self.name = name
        arrays = {"x": x, **others} if g is None else {"grad_output": g, "x": x, **others}
        self.target = target = _target(name, arrays)
        x = _input(name, target, "x", x)
        self.shape = tuple(x.shape)
        self.dtype = result_dtype(name, "x", x.dtype)
        self.compute = compute_dtype(self.dtype)
        self.g = None if g is None else _grad_output(
            name, target, _input(name, target, "grad_output", g), self.shape, self.compute
        )
        self.x = target.contiguous(x, self.compute)

    @property
    def inputs(self) -> tuple:
        return (self.x,) if self.g is None else (self.g, self.x)

    def output(self, out, shape=None, arg="out"):
        """``out`` checked to fit (x's shape unless told), or a fresh result array."""
        return _output(self.name, self.target, out, self.shape if shape is None else shape, self.dtype, arg)

    def launch(self, kernel, out, shape, inputs, *extra):
        """kernel(result, *inputs, *extra) with every array seen as ``shape``; returns out."""
        buf, finish = _buffer(self.target, out, self.compute, *inputs)
        kernel(buf.reshape(shape), *(a.reshape(shape) for a in inputs), *extra)
        finish()
        return out


# --- element-wise ---------------------------------------------------------------------------


_CHECKED: dict = {}  # (operator, parameter values, dtype) → kernel arguments, checked once


def _checked(op: Activation, values: tuple, dtype: np.dtype):
    """The kernel arguments for these parameter values, checked once per value and dtype;
    None for an unhashable value (the general path checks it)."""
    key = (op.name, values, dtype.char)
    try:
        args = _CHECKED.get(key)
    except TypeError:
        return None
    if args is None:
        if len(_CHECKED) > 4096:
            _CHECKED.clear()
        args = _CHECKED[key] = _kernel_args(op, values, dtype)
    return args


def _plain(a) -> bool:
    """A C-contiguous float32 or float64 NumPy array: what the short paths below take. On small
    arrays the general path's checks cost more than the kernel; the short paths do the same
    checks on fewer objects."""
    return type(a) is np.ndarray and a.dtype.char in "fd" and a.flags.c_contiguous


def _launch_flat(kernels, out, *inputs_and_args):
    """The single-threaded or threaded build of a twin kernel, by size, on flat views."""
    kernel = kernels.for_size(out.size)
    if out.ndim == 1:
        return kernel(out, *inputs_and_args)
    *inputs, args = inputs_and_args
    return kernel(out.reshape(-1), *(a.reshape(-1) for a in inputs), args)


def elementwise_forward(op: Activation, x, values: tuple, out):
    if out is None and _plain(x) and (args := _checked(op, values, x.dtype)) is not None:
        y = np.empty_like(x)
        _launch_flat(_cpu.map_unary(op.forward), y, x, args)
        return y
    call = _Call(op.name, x)
    args = _kernel_args(op, values, call.compute)
    out = call.output(out)
    return call.launch(call.target.map_unary(op.forward), out, (out.size,), call.inputs, args)


def elementwise_backward(op: Activation, g, x, values: tuple, out):
    if (out is None and _plain(x) and _plain(g) and g.dtype == x.dtype and g.shape == x.shape
            and (args := _checked(op, values, x.dtype)) is not None):
        dx = np.empty_like(x)
        _launch_flat(_cpu.map_binary(op.backward), dx, g, x, args)
        return dx
    call = _Call(f"{op.name}_backward", x, g)
    args = _kernel_args(op, values, call.compute)
    out = call.output(out)
    return call.launch(call.target.map_binary(op.backward), out, (out.size,), call.inputs, args)


# --- along an axis --------------------------------------------------------------------------


def _rows_shape(name: str, shape: tuple, axis: Any) -> tuple[int, int, int]:
    """(outer, n, inner): the array seen as rows of length n along ``axis``."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"numact.{name}: axis must be an integer, got {axis!r}")
    ndim = max(len(shape), 1)
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(int(axis), ndim, f"numact.{name}")
    shape = shape or (1,)
    axis = int(axis) % ndim
    return math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:])


def rowwise_forward(op: Activation, x, axis, out):
    call = _Call(op.name, x)
    rows = _rows_shape(call.name, call.shape, axis)
    args = _kernel_args(op, (), call.compute)
    return call.launch(call.target.map_rows(op.forward), call.output(out), rows, call.inputs, args)


def rowwise_backward(op: Activation, g, x, axis, out):
    call = _Call(f"{op.name}_backward", x, g)
    rows = _rows_shape(call.name, call.shape, axis)
    args = _kernel_args(op, (), call.compute)
    kernel = call.target.map_rows_binary(op.backward)
    return call.launch(kernel, call.output(out), rows, call.inputs, args)


# --- a weight per channel (PReLU) -----------------------------------------------------------


def _channels_shape(shape: tuple) -> tuple[int, int, int]:
    """(outer, channels, inner) with the channels on axis 1; one channel below 2 dimensions."""
    if len(shape) < 2:
        return 1, 1, math.prod(shape)
    return shape[0], shape[1], math.prod(shape[2:])


def _weight(call: _Call, weight, channels: int):
    """The weight as given (for its shape) and as one value per channel of the compute dtype."""
    target = call.target
    w = _input(call.name, target, "weight", weight)
    result_dtype(call.name, "weight", w.dtype)
    if w.ndim > 1 or w.size not in (1, channels):
        raise ValueError(
            f"numact.{call.name}: weight has shape {tuple(w.shape)}; expected 1 value or one "
            f"per channel ({channels}, the size of x's axis 1)"
        )
    return w, target.contiguous(target.broadcast(_flat(w), (channels,)), call.compute)


def channelwise_forward(op: Activation, x, weight, out):
    call = _Call(op.name, x, weight=weight)
    shape3 = _channels_shape(call.shape)
    _, w = _weight(call, weight, shape3[1])
    kernel = call.target.map_channels(op.forward)
    return call.launch(kernel, call.output(out), shape3, call.inputs, w)


def channelwise_backward(op: Activation, g, x, weight, out):
    out_x, out_w = (None, None) if out is None else out
    call = _Call(f"{op.name}_backward", x, g, weight=weight)
    shape3 = _channels_shape(call.shape)
    w_given, w = _weight(call, weight, shape3[1])
    out_x = call.output(out_x, arg="out[0]")
    out_w = call.output(out_w, w_given.shape, "out[1]")

    # The weight's gradient first: out_x may be g or x itself. One weight for all channels
    # sums over everything, as one channel.
    sums_shape = shape3 if w_given.size == shape3[1] else (1, 1, math.prod(call.shape))
    sums = call.target.empty((sums_shape[1],), np.float64)
    g3, x3 = call.g.reshape(sums_shape), call.x.reshape(sums_shape)
    call.target.sum_channels(op.weight_backward)(sums, g3, x3)
    call.target.copy_into(out_w, sums.reshape(w_given.shape))

    kernel = call.target.map_channels_binary(op.backward)
    return call.launch(kernel, out_x, shape3, call.inputs, w), out_w
