"""What every public function does around its kernel, the same on both targets.

Pick the target from the arrays (NumPy → ``numact._cpu``, ``__cuda_array_interface__`` →
``numact._cuda``), apply the dtype policy, check every argument and ``out=`` before anything is
written, lay the arrays out as the launchers expect, launch, and copy back where the kernel
could not write ``out`` directly.
"""

from __future__ import annotations

import functools
import math
import sys
from math import copysign as _copysign
from typing import Any

import numpy as np

from . import _cpu
from ._dtypes import NATIVE, compute_dtype, result_dtype
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
        raise ValueError(
            f"numact.{name}: {', '.join(on_gpu)} on the GPU but {', '.join(on_host)} in host "
            "memory; pass them on one device"
        )
    target = _cuda_module()
    target.check_devices(name, {arg: arrays[arg] for arg in on_gpu})
    return target


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
    if target is not _cpu:
        target.check_devices(name, {arg: out})
    out = target.asarray(out)
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"numact.{name}: {arg} has shape {tuple(out.shape)}, expected {tuple(shape)}")
    if out.dtype != dtype:
        raise ValueError(f"numact.{name}: {arg} has dtype {out.dtype}, expected {dtype}")
    if not target.is_writeable(out):
        raise ValueError(f"numact.{name}: {arg} is read-only")
    for axis, (n, stride) in enumerate(zip(out.shape, out.strides)):
        if n > 1 and stride == 0 and out.size:
            raise ValueError(
                f"numact.{name}: {arg} has a stride of 0 along axis {axis}: its elements overlap, "
                "and several results would be written to one"
            )
    return out


def _buffer(target, out, dtype: np.dtype, *inputs, in_place=True):
    """Where the kernel writes: ``out`` itself when it can, else a scratch array copied back.

    The kernel may write ``out`` directly when it is C-contiguous, of the compute dtype, and
    either separate from every input or exactly one of them (in place; only where
    ``in_place`` allows it, for kernels that read each element before writing it: True, False,
    or one bool per input). A partial overlap would let a write land before a read of the same
    memory, so it goes through scratch.
    """
    direct = target.is_c_contiguous(out) and out.dtype == dtype
    allowed = in_place if isinstance(in_place, tuple) else (in_place,) * len(inputs)
    if target is _cpu and not any(np.may_share_memory(out, a) for a in inputs):
        inputs = ()  # NumPy tells cheaply that nothing overlaps
    if direct and out.size and inputs:
        start, end = target.data_pointer(out), target.data_pointer(out) + out.nbytes
        for a, may_be in zip(inputs, allowed):
            a_start = target.data_pointer(a)
            overlaps = a_start < end and start < a_start + a.nbytes
            if overlaps and not (may_be and a_start == start and a.nbytes == out.nbytes):
                direct = False
    if direct:
        return out, lambda: None
    scratch = target.empty(out.shape, dtype)
    return scratch, lambda: target.copy_into(out, scratch)


def _flat(a):
    return a.reshape(a.size)


def _kernel_args(op: Activation, values: tuple, dtype: np.dtype) -> tuple:
    checked = tuple(p.kernel_value(op.name, v) for p, v in zip(op.params, values))
    if (conflict := op.conflict(*checked)) is not None:
        raise ValueError(f"numact.{op.name}: {conflict}")
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
        self.like, self.given = x, []  # what results are delivered as (``deliver``)
        target.follow(x)  # the caller's stream
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
        result = _output(self.name, self.target, out, self.shape if shape is None else shape, self.dtype, arg)
        self.given.append((result, out))
        return result

    def deliver(self, result):
        """``result`` (an ``output``) as the caller gets it: on the GPU their own out= object, or
        a fresh array of x's library (``target.deliver``)."""
        given = next(out for made, out in self.given if made is result)
        return self.target.deliver(result, given, self.like)

    def launch(self, kernel, out, shape, inputs, *extra, in_place=True):
        """kernel(result, *inputs, *extra) with every array seen as ``shape``; returns out as
        delivered. ``in_place`` as for ``_buffer``."""
        buf, finish = _buffer(self.target, out, self.compute, *inputs, in_place=in_place)
        kernel(buf.reshape(shape), *(a.reshape(shape) for a in inputs), *extra)
        finish()
        return self.deliver(out)


# --- element-wise ---------------------------------------------------------------------------


def _arity(op: Activation) -> int:
    return len(op.params) + len(op.fixed)


_MINUS_ZERO = "-0.0"  # −0.0's place in a memo key (see memo_key)


def key_source(names: list[str], dtype: str) -> str:
    """The source of ``memo_key`` of the values named ``names`` and ``dtype``."""
    return ("".join(f"{n} if {n} or _copysign(1.0, {n}) > 0 else _MINUS_ZERO, " for n in names)
            + "".join(f"type({n}), " for n in names) + dtype + ",")


@functools.cache
def memo_key_of(count: int):
    """``memo_key`` for ``count`` values, written out for them: a call costs half the generic
    one's (no unpacking into a tuple, no loop)."""
    names = [f"_v{k}" for k in range(count)]
    unpack = f"    {', '.join(names)}, = values\n" if names else ""
    namespace = dict(SMALL_NAMES)
    exec(f"def memo_key(values, dtype):\n{unpack}    return ({key_source(names, 'dtype')})\n", namespace)  # noqa: S102
    return namespace["memo_key"]


def memo_key(values: tuple, dtype: np.dtype) -> tuple:
    """The key of a short path's memo: (v1, ..., vn, type(v1), ..., type(vn), dtype), a −0.0
    value (of any float type) replaced by ``_MINUS_ZERO``: it compares equal to +0.0 but can
    give another zero's sign (linear's c·x, a hardtanh bound); only falsy values pay for that
    test. The types tell apart values that compare equal but are not all valid (True == 1 ==
    1.0: only 1.0 is a real parameter, only True a boolean one, only 1 an integer one). The
    public functions make the same key in their generated source (``key_source``). A value
    that cannot be in a key (an array, None) raises TypeError or ValueError: the general path
    then says what is wrong."""
    return memo_key_of(len(values))(values, dtype)


def writable_as(out, x: np.ndarray, *inputs: np.ndarray) -> bool:
    """Whether a short path may write ``out`` itself: a writeable C-contiguous ndarray of x's
    shape and dtype, apart from every input or that input itself (in place; element-wise
    kernels read each element before they write it). Anything else takes the general path,
    which checks ``out`` and says what is wrong (``_output``, ``_buffer``)."""
    return (type(out) is np.ndarray and out.dtype == x.dtype and out.shape == x.shape
            and out.flags.c_contiguous and out.flags.writeable
            and all(a is out or not np.may_share_memory(out, a) for a in inputs))


def remember(memo: dict, values: tuple, dtype: np.dtype, make):
    """memo[memo_key(values, dtype)] = make(), the kernel parameters of a short path; None where the
    short path does not apply: dtype not float32/float64 (native), values that cannot be a
    key, or values make() refuses (the general path then says what is wrong)."""
    if dtype not in NATIVE:
        return None
    try:
        key = memo_key(values, dtype)
        hash(key)
        made = make()
    except (TypeError, ValueError):
        return None
    if len(memo) > 1024:
        memo.clear()
    memo[key] = made
    return made


def _read_only(value, dtype: np.dtype) -> np.ndarray:
    a = np.array(value, dtype)
    a.flags.writeable = False
    return a


SMALL_ARRAYS = {
    # step: the test that a call is on a small array that the ufunc takes as the kernel does
    # (1-D, or C-contiguous; grad_output of x's shape and dtype object), cheapest tests first;
    # the public functions' first lines (``_public._small_path``) and ``elementwise`` run it
    "forward": "out is None and type(x) is _ndarray and x.size < _SMALL and "
               "(x.ndim == 1 or (x.ndim and x.flags.c_contiguous))",
    "backward": "(out is None and type(x) is _ndarray and type(grad_output) is _ndarray\n"
                "            and grad_output.dtype is x.dtype and x.size < _SMALL\n"
                "            and ((grad_output.ndim == x.ndim == 1 and len(grad_output) == len(x))\n"
                "                 or (x.ndim and grad_output.shape == x.shape and x.flags.c_contiguous\n"
                "                     and grad_output.flags.c_contiguous)))",
}
SMALL_NAMES = {"_ndarray": np.ndarray, "_SMALL": _cpu.SERIAL_BELOW, "_copysign": _copysign, "_MINUS_ZERO": _MINUS_ZERO}


def _small_test(step: str):
    """SMALL_ARRAYS[step] as a function of (grad_output, x, out)."""
    return eval(f"lambda grad_output, x, out: {' '.join(SMALL_ARRAYS[step].split())}", dict(SMALL_NAMES))  # noqa: S307


def remember_ufunc(memo: dict, op: Activation, name: str, values: tuple, dtype: np.dtype):
    """Remember (the ufunc ``numact.ufuncs.<name>`` with the one loop of ``dtype``, its
    parameters as 0-d arrays of dtype): what a public function calls on a small array
    (``_public._small_path``: there the call is at its cheapest, NumPy's own dispatch with the
    parameters ready). Returns it, or None where these values have none."""
    try:
        if (found := memo.get(memo_key(values, dtype))) is not None:
            return found
    except (TypeError, ValueError):
        return None

    def make():
        from . import ufuncs

        params = _kernel_args(op, values, dtype)[:len(op.params)]
        return (ufuncs.for_call(name, dtype, params), *(_read_only(v, dtype) for v in params))

    return remember(memo, values, dtype, make)


def elementwise(op: Activation):
    """The forward and backward calls of an element-wise operator, ``(x, values, out)`` and
    ``(g, x, values, out)``, ``values`` the user's parameters in order.

    Plain arrays (float32 or float64 NumPy arrays, the backward's two alike, with no ``out``
    or one the kernel may write itself, ``writable_as``) take a short path: on a small array a
    call's time is mostly its own Python, and on a large one, whose kernel has streamed the
    interpreter's memory out of the caches, each Python step costs cache misses (the general
    path's ~100 µs against the short one's ~20, measured after a 10M-element pass), so the short
    path does only what such arrays still need, with the parameters checked once per value and
    dtype (``prepared``), and lets numba's dispatcher tell the layouts apart (a strided 1-D
    array gets a strided build; an N-d one is flattened, copied if it must be). Everything
    else takes the general path.
    """
    arity = _arity(op)
    # (one thread, threaded): indexed by whether the size reaches _cpu.SERIAL_BELOW
    forward_kernels = _cpu.map_unary(op.forward, arity).builds
    backward_kernels = _cpu.map_binary(op.backward, arity).builds
    prepared: dict = {}  # (values, dtype) → the checked parameters as the CPU kernels take them
    key = memo_key_of(len(op.params))
    ndarray, empty, serial_below = np.ndarray, np.empty, _cpu.SERIAL_BELOW

    def short(kernels, values, out, x, *inputs):
        """The kernel's result on plain arrays (``inputs`` as it reads them, x last), written
        into ``out`` (None: a fresh array; else one that ``writable_as`` accepted), or None
        where the general path must run."""
        try:
            p = prepared[key(values, x.dtype)]
        except (KeyError, TypeError, ValueError):
            p = remember(prepared, values, x.dtype,
                         lambda: _cpu.parameters(_kernel_args(op, values, x.dtype), x.dtype))
            if p is None:
                return None
        y = empty(x.shape, x.dtype) if out is None else out
        kernel = kernels[x.size >= serial_below]
        if x.ndim == 1:
            kernel(y, *inputs, p)
        else:
            kernel(y.ravel(), *[a.ravel() for a in inputs], p)
        return y

    def general(name, map_kernel, values, out, x, g=None):
        call = _Call(name, x, g)
        args = call.target.parameters(_kernel_args(op, values, call.compute), call.compute)
        out = call.output(out)
        kernel = map_kernel(call.target)(op.forward if g is None else op.backward, arity)
        return call.launch(kernel, out, (out.size,), call.inputs, args)

    # A small array's first call with these values: the ufunc it makes (compiling its one loop)
    # runs it, so that the call compiles nothing else; later calls find it in the public
    # function's first lines.
    small_forward: dict = {}  # see remember_ufunc
    small_backward: dict = {}
    small_x, small_g = _small_test("forward"), _small_test("backward")

    def forward(x, values, out):
        if type(x) is ndarray and (out is None or writable_as(out, x, x)):
            if out is None:
                entry = remember_ufunc(small_forward, op, op.name, values, x.dtype)
                if entry is not None and small_x(None, x, out):
                    return entry[0](x, *entry[1:])
            if (y := short(forward_kernels, values, out, x, x)) is not None:
                return y
        return general(op.name, lambda target: target.map_unary, values, out, x)

    def backward(g, x, values, out):
        if (type(x) is ndarray and type(g) is ndarray and g.dtype == x.dtype and g.shape == x.shape
                and (out is None or writable_as(out, x, g, x))):
            if out is None:
                entry = remember_ufunc(small_backward, op, f"{op.name}_backward", values, x.dtype)
                if entry is not None and small_g(g, x, out):
                    return entry[0](g, x, *entry[1:])
            if (dx := short(backward_kernels, values, out, x, g, x)) is not None:
                return dx
        return general(f"{op.name}_backward", lambda target: target.map_binary, values, out, x, g)

    return {"_forward": forward, "_backward": backward,
            "_small_forward": small_forward, "_small_backward": small_backward}


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


def rowwise(op: Activation):
    """The forward and backward calls of a row-wise operator, ``(x, axis, out)`` and
    ``(g, x, axis, out)``. Plain arrays (C-contiguous float32 or float64 NumPy arrays, the
    backward's two alike, rows along the last axis, ``out`` as in ``elementwise`` but never g)
    take a short path, as in ``elementwise``; everything else the general path."""
    arity = _arity(op)
    forward_kernels = _cpu.map_rows(op.forward, arity).unit.builds
    backward_kernels = _cpu.map_rows_binary(op.backward, arity).unit.builds
    prepared = {dtype: _cpu.parameters(_kernel_args(op, (), dtype), dtype) for dtype in NATIVE}
    ndarray, empty, serial_below = np.ndarray, np.empty, _cpu.SERIAL_BELOW
    # Whether the forward may write into x itself (activations.rereads_x): else through scratch.
    forward_in_place = getattr(op.forward, "in_place", True)

    def short(kernels, axis, out, x, *inputs):
        """The kernel's result on plain arrays (``inputs`` as it reads them, x last), into
        ``out`` as in ``elementwise``, or None where the general path must run."""
        if not (type(axis) is int and x.ndim and x.size and (axis == -1 or axis == x.ndim - 1)):
            return None
        p = prepared.get(x.dtype)
        if p is None:
            return None
        y = empty(x.shape, x.dtype) if out is None else out
        kernel = kernels[x.size >= serial_below]
        if x.ndim == 2:
            kernel(y, *inputs, p)
        else:
            n = x.shape[-1]
            kernel(y.reshape(-1, n), *[a.reshape(-1, n) for a in inputs], p)
        return y

    def general(name, map_kernel, axis, out, x, g=None):
        call = _Call(name, x, g)
        rows = _rows_shape(call.name, call.shape, axis)
        args = call.target.parameters(_kernel_args(op, (), call.compute), call.compute)
        kernel = map_kernel(call.target)(op.forward if g is None else op.backward, arity)
        # A backward into g's own memory runs through scratch (a forward into x's, where the
        # row function rereads x): the row function then computes as it does into fresh memory
        # (its exponentials kept in its output), so the two give the same bits by construction
        # on every CPU, not by how LLVM happened to vectorise two loops.
        in_place = forward_in_place if g is None else (False, True)
        return call.launch(kernel, call.output(out), rows, call.inputs, args, in_place=in_place)

    def forward(x, axis, out):
        if (type(x) is ndarray and x.flags.c_contiguous
                and (out is None or ((forward_in_place or out is not x) and writable_as(out, x, x)))
                and (y := short(forward_kernels, axis, out, x, x)) is not None):
            return y
        return general(op.name, lambda target: target.map_rows, axis, out, x)

    def backward(g, x, axis, out):
        if (type(x) is ndarray and type(g) is ndarray and g.dtype == x.dtype
                and g.shape == x.shape and x.flags.c_contiguous and g.flags.c_contiguous
                and (out is None or (out is not g and writable_as(out, x, g, x)))  # into g: general
                and (dx := short(backward_kernels, axis, out, x, g, x)) is not None):
            return dx
        return general(f"{op.name}_backward", lambda target: target.map_rows_binary, axis, out, x, g)

    return {"_forward": forward, "_backward": backward}


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


def channelwise(op: Activation):
    """The forward and backward calls of PReLU, ``(x, weight, out)`` and ``(g, x, weight,
    out)``. Plain arrays (C-contiguous NumPy arrays of one float32 or float64 dtype, channels
    on axis 1 of an N-d x, one weight per channel, without ``out``) take a short path, as in
    ``elementwise``; everything else the general path."""
    forward_kernels = _cpu.map_channels(op.forward)
    backward_kernels = _cpu.map_channels_binary(op.backward)
    sum_kernels = _cpu.sum_channels(op.weight_backward)
    ndarray, empty = np.ndarray, np.empty

    def plain(x, weight):
        """x's (outer, channels, inner) shape, where x and the weight are plain; else None."""
        if (type(x) is ndarray and type(weight) is ndarray and x.ndim >= 2 and weight.ndim == 1
                and x.dtype == weight.dtype and x.dtype in NATIVE and weight.shape[0] == x.shape[1]
                and x.flags.c_contiguous and weight.flags.c_contiguous):
            return _channels_shape(x.shape)
        return None

    def forward(x, weight, out):
        shape3 = plain(x, weight) if out is None else None
        if shape3 is not None:
            y = empty(x.shape, x.dtype)
            forward_kernels(y.reshape(shape3), x.reshape(shape3), weight)
            return y
        call = _Call(op.name, x, weight=weight)
        shape3 = _channels_shape(call.shape)
        _, w = _weight(call, weight, shape3[1])
        kernel = call.target.map_channels(op.forward)
        return call.launch(kernel, call.output(out), shape3, call.inputs, w)

    def backward(g, x, weight, out):
        shape3 = plain(x, weight) if out is None and type(g) is ndarray else None
        if shape3 is not None and g.dtype == x.dtype and g.shape == x.shape and g.flags.c_contiguous:
            g3, x3 = g.reshape(shape3), x.reshape(shape3)
            sums = empty(shape3[1], x.dtype)  # summed in float64, stored rounded
            sum_kernels(sums, g3, x3)
            dx = empty(x.shape, x.dtype)
            backward_kernels(dx.reshape(shape3), g3, x3, weight)
            return dx, sums
        return _channelwise_backward(op, g, x, weight, out)

    return {"_forward": forward, "_backward": backward}


def _channelwise_backward(op: Activation, g, x, weight, out):
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
    return call.launch(kernel, out_x, shape3, call.inputs, w), call.deliver(out_w)
