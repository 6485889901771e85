"""What every loss call does around its kernels, the same on both targets.

A call is checked whole before any kernel writes: the reduction, the parameters, every array's
device, dtype and shape, the class indices (BCE: the probabilities), and every ``out``. Then
one kernel pass computes the loss (per-element, or float64 partial sums added in a fixed
order) and, for the backward and the fused call, the gradients in the same pass.
"""

from __future__ import annotations

import copy
import functools
import math
from typing import Any

import numpy as np

from . import _cpu
from ._api import _buffer, _grad_output, _input, _output, _target, memo_key_of, remember
from ._dtypes import compute_dtype, result_dtype
from .operators import Loss


@functools.lru_cache(maxsize=256)
def _constant(value: float, dtype: np.dtype, shape: tuple = (), read_only: bool = True) -> np.ndarray:
    """An array of one value that nothing writes, made once (calls on small arrays are
    dominated by such costs; the CUDA target then copies it to the device once:
    ``target.constant``). ``read_only=False`` where a CPU kernel is also handed writable arrays
    in its place (the user's weights, grad_output), so that both compile as one specialisation."""
    a = np.full(shape, value, dtype)
    a.flags.writeable = not read_only
    return a


class BadValue(ValueError):
    """A value in the data that the loss refuses: a ``ValueError`` naming the loss, the array,
    the value and its position. ``moved(offset)`` is the same error at ``position + offset``:
    numact.dask reports a bad value in a chunk at its position in the whole array."""

    def __init__(self, name: str, arg: str, value: Any, position: tuple):
        self.name, self.arg, self.value, self.position = name, arg, value, tuple(position)
        super().__init__(f"numact.{name}: {arg} holds {self.what()} at {self.position}{self.why()}")

    def what(self) -> str:
        return repr(self.value)

    def why(self) -> str:
        return ""

    def __reduce__(self):  # it crosses processes (dask.distributed): kept whole, not rebuilt from args
        return _restore, (type(self), dict(self.__dict__), self.args)

    def moved(self, offset: tuple) -> "BadValue":
        moved = copy.copy(self)
        moved.position = tuple(int(p + o) for p, o in zip(self.position, offset))
        moved.args = (f"numact.{self.name}: {self.arg} holds {self.what()} at {moved.position}{self.why()}",)
        return moved


def _restore(cls, state: dict, args: tuple) -> BadValue:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    error.args = args
    return error


class BadClassIndex(BadValue):
    def __init__(self, name: str, value: int, position: tuple, classes: int, ignore_index: int):
        self.classes, self.ignore_index = classes, ignore_index
        super().__init__(name, "target", value, position)

    def what(self) -> str:
        return f"class index {self.value}"

    def why(self) -> str:
        return f", outside [0, {self.classes}) and not ignore_index ({self.ignore_index})"


class BadProbability(BadValue):
    def why(self) -> str:
        return "; probabilities must be in [0, 1]"


def loss_shape(op: Loss, shape: tuple) -> tuple:
    """The unreduced loss's shape for ``shape``: the input's (class losses, which drop the class
    axis 1, or the class axis alone: ()) or the arrays' broadcast shape (element-wise losses
    keep it, vector losses drop the last axis)."""
    if op.kind == "class":
        return (shape[0],) + tuple(shape[2:]) if len(shape) >= 2 else ()
    return tuple(shape) if op.kind == "elementwise" else tuple(shape[:-1])


class _LossCall:
    """One loss call after its checks: target, dtypes, the arrays laid out for the kernel.

    The checks of the values (class indices, probabilities) refuse the call at once on the CPU;
    on the GPU their kernels run before the loss kernel, which skips its work where one found a
    bad value, and the call is refused after it (``_refuse_if_found``): no round trip to the host
    before the loss kernel, and a refused call writes nothing on either target.
    """

    def __init__(self, op: Loss, name: str, arrays: dict[str, Any], params: dict[str, Any],
                 reduction: Any, g: Any = None):
        self.op, self.name = op, name
        if not isinstance(reduction, str) or reduction not in op.reductions:
            allowed = ", ".join(repr(r) for r in op.reductions)
            raise ValueError(f"numact.{name}: reduction must be one of {allowed}, got {reduction!r}")
        self.reduction = reduction
        self.values = {p.name: p.kernel_value(name, params[p.name]) for p in op.params}
        present = {arg: a for arg, a in arrays.items() if a is not None}
        for arg in op.arrays:
            if arg not in present:
                raise TypeError(f"numact.{name}: {arg} must be an array, got None")
        self.target = target = _target(name, {**present, "grad_output": g})
        self.like = present[op.inputs[0]]  # what results are delivered as (target.deliver)
        target.follow(self.like)  # the caller's stream
        self.arrays = {arg: _input(name, target, arg, a) for arg, a in present.items()}
        for arg, a in self.arrays.items():
            result_dtype(name, arg, a.dtype)  # a TypeError for complex, object, ...
        self.dtype = np.result_type(*(result_dtype(name, arg, self.arrays[arg].dtype) for arg in op.inputs))
        self.compute = compute_dtype(self.dtype)
        self.pending, self.found = None, []  # the checks' results, where the target gives them later
        layout = {"elementwise": self._elementwise, "class": self._class, "vector": self._vector}
        layout[op.kind]()
        self.scale = None if g is None else self._scale(g)

    # --- the three layouts ------------------------------------------------------------------

    def _broadcast_shape(self, args) -> tuple:
        shapes = {arg: tuple(self.arrays[arg].shape) for arg in args if arg in self.arrays}
        if len(set(shapes.values())) == 1:
            return next(iter(shapes.values()))
        try:
            return tuple(np.broadcast_shapes(*shapes.values()))
        except ValueError:
            described = ", ".join(f"{arg} {shape}" for arg, shape in shapes.items())
            raise ValueError(f"numact.{self.name}: the shapes {described} do not broadcast") from None

    def _elementwise(self):
        op = self.op
        self.shape = shape = self._broadcast_shape(op.arrays + op.weights)
        self.n = math.prod(shape)
        for arg in op.probabilities:
            self._check_probabilities(arg)
        ones = self.target.constant(_constant(1.0, self.compute))
        self.operands = [
            self._flat_operand(self.arrays[arg]) if arg in self.arrays else ones
            for arg in op.arrays + op.weights
        ]
        self.operands += [ones] * (4 - len(self.operands))
        self.loss_shape = loss_shape(op, shape)
        self.count = self.n
        if self.reduction == "batchmean":
            self.count = shape[0] if shape else 1
        self.kernel_args = tuple(self.compute.type(v) for v in self.values.values())

    def _class(self):
        op, target = self.op, self.target
        x = self.arrays["input"]
        shape = tuple(x.shape)
        if not shape:
            raise ValueError(f"numact.{self.name}: input must have the classes on axis 1 (or be 1-D), got a 0-d array")
        classes = shape[1] if len(shape) >= 2 else shape[0]
        rows = (shape[0], classes, math.prod(shape[2:])) if len(shape) >= 2 else (1, classes, 1)
        self.shape, self.rows3 = shape, rows
        self.loss_shape = loss_shape(op, shape)
        self.n = rows[0] * rows[2]
        t = self.arrays["target"]
        weight = self.arrays.get("weight")
        if weight is not None and tuple(weight.shape) != (classes,):
            raise ValueError(
                f"numact.{self.name}: weight has shape {tuple(weight.shape)}, expected ({classes},): one per class"
            )
        if weight is not None:
            w = target.contiguous(weight, self.compute)
        else:
            w = target.constant(_constant(1.0, self.compute, (classes,), read_only=False))
        self.w = w
        ignore_index = self.values.get("ignore_index", -100)
        smoothing = self.values.get("label_smoothing", 0.0)
        if t.dtype.kind in "iu":
            if tuple(t.shape) != self.loss_shape:
                raise ValueError(
                    f"numact.{self.name}: target has shape {tuple(t.shape)}; class indices for input of "
                    f"shape {shape} must have shape {self.loss_shape}"
                )
            self.math = op.math
            self.t = target.contiguous(t, np.int64).reshape(rows[0], 1, rows[2])
            flat_t = self.t.reshape(self.n)
            first_bad, weight_sum = target.check_classes(flat_t, w, ignore_index, classes, self._checks(),
                                                         weight is None)
            self._refuse_if_found(first_bad, lambda position: BadClassIndex(
                self.name, _item(target, flat_t, position), _index(position, self.loss_shape), classes, ignore_index))
            self.count = weight_sum  # 'mean' divides by Σ w[target] over the kept targets
        elif t.dtype.kind == "f" and op.probs_math is not None:
            if tuple(t.shape) != shape:
                raise ValueError(
                    f"numact.{self.name}: target has shape {tuple(t.shape)}; class probabilities must "
                    f"have input's shape {shape} (class indices: {self.loss_shape})"
                )
            if ignore_index >= 0:
                raise ValueError(
                    f"numact.{self.name}: ignore_index ({ignore_index}) does not apply to class-probability targets"
                )
            self.math = op.probs_math
            self.t = target.contiguous(t, self.compute).reshape(rows)
            self.count = self.n
        else:
            wanted = "integer class indices" + (" or float class probabilities" if op.probs_math else "")
            raise TypeError(f"numact.{self.name}: target has dtype {t.dtype}; expected {wanted}")
        self.x3 = [target.contiguous(x, self.compute).reshape(rows)]
        self.kernel_args = (ignore_index,) + ((smoothing,) if "label_smoothing" in self.values else ())

    def _vector(self):
        op, target = self.op, self.target
        self.shape = shape = self._broadcast_shape(op.inputs)
        if not shape:
            raise ValueError(f"numact.{self.name}: the inputs must have at least 1 dimension (vectors on the last axis)")
        self.loss_shape = loss_shape(op, shape)
        self.n = math.prod(self.loss_shape)
        self.rows3 = rows = (self.n, shape[-1], 1)
        self.x3 = [self._full(self.arrays[arg], shape).reshape(rows) for arg in op.inputs]
        if op.target:
            y = self.arrays[op.target]
            try:
                fits = np.broadcast_shapes(tuple(y.shape), self.loss_shape) == self.loss_shape
            except ValueError:
                fits = False
            if not fits:
                raise ValueError(
                    f"numact.{self.name}: {op.target} has shape {tuple(y.shape)}; expected one label per "
                    f"vector, shape {self.loss_shape}"
                )
            self.t = self._full(y, self.loss_shape).reshape(self.n, 1, 1)
        else:
            self.t = target.empty((self.n, 0, 1), self.compute)
        self.w = target.empty((0,), self.compute)
        self.math = op.math
        self.count = self.n
        self.kernel_args = tuple(float(v) for v in self.values.values())

    # --- pieces -----------------------------------------------------------------------------

    def _full(self, a, shape):
        """``a`` broadcast to ``shape``, C-contiguous, of the compute dtype."""
        if tuple(a.shape) != tuple(shape):
            a = self.target.broadcast(a, shape)
        return self.target.contiguous(a, self.compute)

    def _flat_operand(self, a):
        """``a`` as the kernel reads it: a 0-d array for one value, else a flat array of the
        broadcast shape (copied in full when ``a`` broadcasts)."""
        if a.size == 1:
            return self.target.contiguous(a, self.compute).reshape(())
        return self._full(a, self.shape).reshape(self.n)

    def _check_probabilities(self, arg):
        a = self.target.contiguous(self.arrays[arg], self.compute)
        position = self.target.first_outside(a, 0.0, 1.0, self._checks())
        self._refuse_if_found(position, lambda p: BadProbability(
            self.name, arg, _item(self.target, a.reshape(a.size), p), _index(p, tuple(a.shape))))

    def _checks(self):
        """Where the target's checks put what they find: None on the CPU, whose checks return
        positions at once; on the GPU a Pending (numact._cuda), made at the first check."""
        if self.pending is None:
            self.pending = self.target.pending()
        return self.pending

    def _refuse_if_found(self, found, error):
        """Raise ``error(position)`` for a bad value a check found: at once where the target
        gives the position (the CPU's checks), else after the loss kernel (``run``: the GPU's
        kernel is launched without waiting for the check, and skips its work where it found
        one, so that a refused call still writes nothing)."""
        if isinstance(found, int):
            if found >= 0:
                raise error(found)
        else:
            self.found.append((found, error))

    def _refuse_what_was_found(self):
        for found, error in self.found:
            if (position := found.position()) >= 0:
                raise error(position)

    def _scale(self, g):
        """grad_output as what the kernels multiply each gradient by: one value per loss element
        for reduction='none', else one value."""
        g = _input(self.name, self.target, "grad_output", g)
        if self.reduction == "none":
            return _grad_output(self.name, self.target, g, self.loss_shape, self.compute).reshape(self.n)
        if g.ndim:
            raise ValueError(
                f"numact.{self.name}: grad_output has shape {tuple(g.shape)}; a reduced loss takes a scalar"
            )
        result_dtype(self.name, "grad_output", g.dtype)
        return self.target.contiguous(g, self.compute)

    def _divisor(self):
        """What the sum is divided by (0-d, float64): the count for 'mean' and 'batchmean',
        else 1."""
        if self.reduction in ("mean", "batchmean"):
            if isinstance(self.count, int):
                return self.target.constant(_constant(float(self.count), np.dtype(np.float64), read_only=False))
            return self.count
        return self.target.constant(_constant(1.0, np.dtype(np.float64)))

    # --- the launch -------------------------------------------------------------------------

    def run(self, want_loss: bool, want_grads: bool, out_loss=None, out_grads=None):
        """(loss or None, the gradients or None): checks every out, then one kernel pass."""
        target, op = self.target, self.op
        reduced = self.reduction != "none"
        loss_out = None
        if want_loss:
            loss_out = _output(self.name, target, out_loss, () if reduced else self.loss_shape, self.dtype)
        grads_out = []
        if want_grads:
            outs = out_grads if out_grads is not None else (None,) * len(op.inputs)
            for k, arg in enumerate(op.inputs):
                arg_out = "out" if len(op.inputs) == 1 else f"out[{k}]"
                grads_out.append(_output(self.name, target, outs[k], tuple(self.arrays[arg].shape), self.dtype, arg_out))
        if self.scale is None:
            self.scale = target.constant(_constant(1.0, self.compute, read_only=False))

        inputs = [self.arrays[arg] for arg in self.arrays]
        # Where a gradient may be written over an input itself: an element-wise loss reads each
        # element before it writes it; a class loss's row reads x before it writes gx there, but
        # reads class probabilities t after (its exponentials are kept in gx first); a vector
        # loss writes a gradient row before it has read the other inputs' rows.
        in_place = tuple(op.kind == "elementwise" or (op.kind == "class" and arg in op.inputs)
                         for arg in self.arrays)
        grad_bufs, finish = [], []
        for k, arg in enumerate(op.inputs if want_grads else ()):
            if tuple(self.arrays[arg].shape) == self.shape:
                buf, done = _buffer(target, grads_out[k], self.compute, *inputs, in_place=in_place)
            else:  # the input was broadcast: a scratch of the full shape, summed back
                buf = target.empty(self.shape, self.compute)
                done = _reduce_into(target, grads_out[k], buf)
            grad_bufs.append(buf)
            finish.append(done)
        if loss_out is not None and not reduced:
            loss_buf, done = _buffer(target, loss_out, self.compute, *inputs)
            finish.append(done)
        else:
            loss_buf = target.empty((1,), self.compute)

        partial = target.partials(self.n, rows=op.kind != "elementwise")
        divisor = self._divisor()
        write_losses = want_loss and not reduced
        if op.kind == "elementwise":
            grads = [b.reshape(b.size) for b in grad_bufs] + [target.empty((1,), self.compute)] * (2 - len(grad_bufs))
            kernel = target.map_loss(op.math, (want_loss and reduced, write_losses, len(grad_bufs)))
            kernel(partial, loss_buf.reshape(loss_buf.size), *grads, *self.operands, self.scale, divisor, self.n,
                   self.kernel_args, *target.stop(self.pending))
        else:
            none = target.empty((self.rows3[0], 0, self.rows3[2]), self.compute)
            grads = [b.reshape(self.rows3) for b in grad_bufs] + [none] * (3 - len(grad_bufs))
            x3 = self.x3 + [self.x3[0]] * (3 - len(self.x3))
            kernel = target.map_row_loss(self.math, (write_losses, want_grads))
            w = self.w.reshape(1, self.w.size, 1)
            kernel(partial, loss_buf.reshape(loss_buf.size), *grads, *x3, self.t, w, self.scale, divisor, self.n,
                   self.kernel_args, *target.stop(self.pending))
        self._refuse_what_was_found()
        if loss_out is not None and reduced:
            result, done = _buffer(target, loss_out, self.compute)
            target.sum_partials(result.reshape(1), partial, divisor)
            finish.append(done)
        for done in finish:
            done()
        if loss_out is not None:
            loss_out = target.deliver(loss_out, out_loss, self.like)
        grads_out = [target.deliver(g, given, self.like) for g, given in zip(grads_out, outs if want_grads else ())]
        grads = grads_out[0] if len(op.inputs) == 1 and want_grads else tuple(grads_out) or None
        return loss_out, grads


def _index(flat_position: int, shape: tuple) -> tuple:
    """The index tuple of a flat position, as plain ints."""
    return tuple(int(k) for k in np.unravel_index(flat_position, shape)) if shape else ()


def _item(target, flat, i: int):
    """flat[i] as a host number."""
    value = target.to_host(flat[i:i + 1])[0]
    return value.item()


def _reduce_into(target, out, full):
    """A finisher that sums ``full`` (the broadcast shape) down to ``out``'s shape, in float64."""

    def done():
        host = target.to_host(full)
        shape = tuple(out.shape)
        lead = host.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(
            lead + k for k, n in enumerate(shape) if n == 1 and host.shape[lead + k] != 1
        )
        summed = host.sum(axis=axes, dtype=np.float64).reshape(shape)  # on the GPU too: a rare case
        rounded = np.empty(shape, out.dtype)
        _cpu.copy_into(rounded, summed)  # on the host: ±inf beyond out's range, without a warning
        target.copy_into(out, target.from_host(rounded))

    return done


# --- the public entry points ----------------------------------------------------------------


def calls(op: Loss):
    """The forward, backward and fused calls of one loss: ``forward(arrays, weights, values,
    reduction, out)``, ``backward(g, arrays, weights, values, reduction, out)`` and
    ``fused(arrays, weights, values, reduction)``, each tuple in the signature's order."""
    names = op.arrays + op.weights
    small_backward: dict = {}  # see _short_path
    short = _short_path(op, small_backward)

    def by_name(arrays, weights, values):
        return dict(zip(names, arrays + weights)), {p.name: v for p, v in zip(op.params, values)}

    def forward(arrays, weights, values, reduction, out):
        if out is None:
            result = short(arrays, weights, values, reduction, None, True, False)
            if result is not None:
                return result
        call = _LossCall(op, op.name, *by_name(arrays, weights, values), reduction)
        return call.run(want_loss=True, want_grads=False, out_loss=out)[0]

    def backward(g, arrays, weights, values, reduction, out):
        if out is None:
            result = short(arrays, weights, values, reduction, g, False, True)
            if result is not None:
                return result
        call = _LossCall(op, f"{op.name}_backward", *by_name(arrays, weights, values), reduction, g)
        return call.run(want_loss=False, want_grads=True, out_grads=_grad_outs(op, out))[1]

    def fused(arrays, weights, values, reduction):
        result = short(arrays, weights, values, reduction, None, True, True)
        if result is not None:
            return result
        call = _LossCall(op, f"{op.name}_forward_backward", *by_name(arrays, weights, values), reduction)
        return call.run(want_loss=True, want_grads=True)

    return forward, backward, fused, small_backward


def _short_path(op: Loss, small_backward: dict):
    """The calls of a loss on small plain arrays, done whole on one thread (``_cpu.small_loss``,
    ``_cpu.small_row_loss``) after the few checks such arrays need: on a few elements a call's
    time is mostly its own Python. ``short(arrays, weights, values, reduction, g, want_loss,
    want_grads)`` gives the loss, the gradients, or (loss, gradients), or None where the
    general path must run (which then also raises what is to be raised). Plain: NumPy arrays
    of one float32 or float64 dtype, fewer than ``_cpu.SERIAL_BELOW`` elements (rows, for the
    forward of a loss that ``picks``), no weights,
    and grad_output a number (reduction='none': no backward here). The inputs have one shape: any for the element-wise
    losses (raveled to 1-D C order where they are not: a few elements, and the entry is compiled
    for one layout), (rows, n) C-contiguous for the others, whose target is one int64 class index (or
    one label) per row.

    A backward it computes on 1-D element-wise or 2-D class arrays also leaves in
    ``small_backward``, under the key of (reduction, parameters…) and dtype (``remember``), the
    entry, its parameters and the divisor (None: the size), for the public function to call
    the entry itself on the next such arrays (``_public._small_loss_path``)."""
    ndarray, empty, scalar, small = np.ndarray, np.empty, _cpu.scalar, _cpu.SERIAL_BELOW
    n_grads, kind, picks = len(op.inputs), op.kind, op.picks
    check = len(op.probabilities)
    assert op.probabilities == op.arrays[:check]  # the entry checks its first operands
    prepared: dict = {}  # (values, dtype) → the kernel's parameters
    key = memo_key_of(len(op.params))
    entries = [None] * 8  # by want_loss + 2·want_grads + 4·(reduction 'none'): the entry

    def entry_for(want_loss, want_grads, each):
        if kind == "elementwise":
            writes = (want_loss and not each, each, n_grads if want_grads else 0)
            entry = _cpu.small_loss(op.math, writes, len(op.arrays), len(op.params), check)
        else:
            target = "classes" if kind == "class" else "labels" if op.target else None
            entry = _cpu.small_row_loss(op.math, (each, want_grads), n_grads, target)
        entries[want_loss + 2 * want_grads + 4 * each] = entry
        return entry

    def parameters(values, dtype):
        """The kernel's parameters for these values: an array for the element-wise kernels, the
        checked values as they are for the row kernels (which the general path passes alike)."""
        args = tuple(p.kernel_value(op.name, v) for p, v in zip(op.params, values))
        return _cpu.parameters(args, dtype) if kind == "elementwise" else args

    int64 = np.dtype(np.int64)
    labels = -1 if op.target else len(op.arrays)  # where the target sits, if it is one per row

    def plain_rows(arrays, dtype, shape):
        """Whether a class or vector loss's arrays are plain."""
        if len(shape) != 2 or not arrays[0].flags.c_contiguous:
            return False
        for b in arrays[1:n_grads]:
            if type(b) is not ndarray or b.dtype != dtype or b.shape != shape or not b.flags.c_contiguous:
                return False
        if labels < 0:  # the entry reads one target per row: a C-contiguous vector
            t = arrays[labels]
            return (type(t) is ndarray and t.dtype == (int64 if kind == "class" else dtype)
                    and t.shape == shape[:1] and t.flags.c_contiguous)
        return True

    def short(arrays, weights, values, reduction, g, want_loss, want_grads):
        a = arrays[0]
        if type(a) is not ndarray:
            return None
        if (a.shape[0] if picks and not want_grads and a.ndim == 2 else a.size) >= small:
            return None  # (the work: a forward that picks an element a row reads the rows)
        for w in weights:
            if w is not None:
                return None
        dtype, shape = a.dtype, a.shape
        flat = True  # the entry takes the arrays as they are: 1-D C-contiguous ones, or (rows, n) ones
        if kind == "elementwise":
            flat = len(shape) == 1 and a.flags.c_contiguous
            for b in arrays[1:]:  # (dtype objects are usually the same object: a quick test first)
                if type(b) is not ndarray or (b.dtype is not dtype and b.dtype != dtype) or b.shape != shape:
                    return None
                flat = flat and b.flags.c_contiguous
        elif not plain_rows(arrays, dtype, shape):
            return None
        try:
            p = prepared[key(values, dtype)]
        except (KeyError, TypeError, ValueError):
            p = remember(prepared, values, dtype, lambda: parameters(values, dtype))
            if p is None:
                return None
        if reduction == "mean":
            divisor = a.size if kind == "elementwise" else -1 if kind == "class" else shape[0]
        elif reduction == "sum" or (reduction == "none" and g is None):
            divisor = 1
        elif reduction == "batchmean" and reduction in op.reductions:
            divisor = shape[0] if shape else 1
        else:
            return None
        if g is None:
            scale = 1.0
        elif type(g) is float or type(g) is int or isinstance(g, np.floating):
            scale = float(g)
        else:
            return None
        each = want_loss and reduction == "none"
        entry = entries[want_loss + 2 * want_grads + 4 * each] or entry_for(want_loss, want_grads, each)
        if not flat:  # one layout for the entry, which each other would compile again
            arrays = [x.ravel() for x in arrays]
        if not want_grads:
            if not each:
                bad, total = entry(*arrays, scale, divisor, p)
                return scalar(total, dtype) if bad < 0 else None
            losses = empty(shape if kind == "elementwise" else shape[:1], dtype)
            bad, _ = entry(losses if flat else losses.ravel(), *arrays, scale, divisor, p)
            return losses if bad < 0 else None
        grads = [empty(shape, dtype)]  # a gradient per input
        if n_grads > 1:
            grads.append(empty(shape, dtype))
            if n_grads > 2:
                grads.append(empty(shape, dtype))
        outs = ([empty(shape if kind == "elementwise" else shape[:1], dtype)] + grads) if each else grads
        if flat:
            bad, total = entry(*outs, *arrays, scale, divisor, p)
            if bad < 0 and not want_loss and (kind == "class" or (kind == "elementwise" and len(shape) == 1)):
                rule = None if kind == "elementwise" and reduction != "sum" else divisor
                remember(small_backward, (reduction, *values), dtype, lambda: (entry, p, rule))
        else:
            bad, total = entry(*[o.ravel() for o in outs], *arrays, scale, divisor, p)
        if bad >= 0:
            return None
        grads = grads[0] if n_grads == 1 else tuple(grads)
        if not want_loss:
            return grads
        return (outs[0] if each else scalar(total, dtype)), grads

    return short


def _grad_outs(op: Loss, out):
    """``out`` as one entry per differentiable input."""
    if len(op.inputs) == 1 or out is None:
        return None if out is None else (out,)
    if not isinstance(out, (tuple, list)) or len(out) != len(op.inputs):
        raise ValueError(
            f"numact.{op.name}_backward: out must be a tuple of {len(op.inputs)} arrays (or None), "
            f"one per input: {', '.join(op.inputs)}"
        )
    return tuple(out)
