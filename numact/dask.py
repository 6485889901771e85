"""numact on dask arrays: every operator of the table, lazily, chunk by chunk through numact's
own functions (CPU kernels for NumPy chunks, CUDA kernels for CuPy chunks).

    >>> import dask.array as da, numact
    >>> x = da.random.default_rng(0).standard_normal((1000, 10), chunks=(250, 5)).astype("float32")
    >>> y = numact.gelu(x)                   # lazy: a dask array of x's shape, dtype and chunks
    >>> loss, grad = numact.cross_entropy_forward_backward(x, da.zeros(1000, dtype=int, chunks=250))
    >>> print(loss.shape, grad.chunks == x.chunks)
    () True

numact's public functions come here when any array argument is a ``dask.array.Array``; the
functions of this module are the same functions by name (``numact.dask.gelu``), with the same
signatures. Nothing is computed until the caller asks (``.compute()``, ``dask.compute``), and
this module, the only one that imports dask, is imported on the first dask array numact sees.

How each kind of operator is laid over the chunks:

- element-wise activations, their backward, and the unreduced element-wise losses: one call of
  numact's function per chunk (``map_blocks``), so the result has the in-memory call's bits.
- PReLU: the weight is chunked as x's channel axis; the weight's gradient is a tree reduction
  of float64 sums per chunk (``numact.ufuncs.prelu_backward_weight``, each element's share).
- the softmax family along an axis held in one chunk: numact's row kernels per chunk. Along an
  axis split over chunks (no rechunking: a wide axis need not fit in memory), the online
  log-sum-exp: each chunk's log Σ e^x along the axis (its row maximum m and Σ e^(x − m), kept
  as m + log Σ e^(x − m), in float64), combined by a tree reduction with ``np.logaddexp``
  (which rescales the pairs: log(e^a + e^b) = max + log(1 + e^−|a − b|)), then a blockwise
  pass that normalises, y = e^(x − lse), in float64.
- reduced losses ('mean', 'sum', 'batchmean'): per chunk, numact's per-element (per-row) losses
  and gradients with grad_output 1 (reduction='none', computed in numact's compute dtype), a
  float64 tree sum of the losses (``Array.sum``: its tree depends on the chunks only, so the
  bits do not depend on the workers or the scheduler), and the gradient scaled by
  grad_output/divisor, the divisor itself a lazy reduction where the data sets it (Σ w[target]
  over the kept targets). ``<loss>_forward_backward`` computes the loss and the gradient of a
  chunk in one call, so ``dask.compute(loss, grad)`` reads each chunk of the input once.
- cross_entropy and nll_loss with the class axis split over chunks: the loss is
  −Σ_c a_c·log p_c (log p = log_softmax(x), the split form above; nll_loss: log p = x) and its
  gradient A·p − a (nll_loss: −a), a = w·t', A = Σ_c a_c, t' the one-hot (or given) target
  smoothed by label_smoothing, in float64: the input is read twice, once for the log-sum-exp.
- the vector losses (triplet_margin_loss, cosine_embedding_loss): the last axis (a vector) in
  one chunk, rechunked to one if it was split.

Bad input is refused when the graph is built (dtypes, shapes, parameters, the reduction), as
numact refuses it; what only the data can show (a class index outside [0, C), a probability
outside [0, 1]) raises numact's error when the chunk is computed, at its position in the whole
(broadcast) array. ``out=`` takes a dask array of the result's shape and dtype, whose graph is
replaced by the result's (as dask's own ufuncs do).
"""

from __future__ import annotations

import functools
import inspect
import math
import sys

import dask.array as da
import numpy as np
from dask.array.core import handle_out
from dask.array.utils import meta_from_array

import numact

from . import ufuncs
from ._api import _rows_shape
from ._dtypes import compute_dtype, result_dtype
from ._loss_api import BadClassIndex, BadValue, loss_shape
from .operators import ACTIVATIONS, LOSSES, Activation, Loss

F64 = np.dtype(np.float64)


# --- one chunk ------------------------------------------------------------------------------


def _on_blocks(*blocks, function, names, views, keywords, params, block_info=None):
    """``numact.<function>`` on one chunk of each array, its results as a tuple.

    ``names`` are the arrays' argument names, in order; those in ``keywords`` are passed by
    keyword. ``views`` say how numact sees a chunk that was laid out to align with the others:
    "ravel" for a per-channel or per-class weight laid along axis 1, an axis to drop for a
    target laid with an axis of 1 (class indices, vector labels, their grad_output). A bad
    value is raised at its position in the whole array; CUDA results of CuPy chunks come back
    as CuPy arrays.
    """
    positional, by_name = [], {}
    for name, block in zip(names, blocks):
        view = views.get(name)
        if view == "ravel":
            block = block.reshape(-1)
        elif view is not None:
            block = block.reshape(_without(block.shape, view))
        if name in keywords:
            by_name[name] = block
        else:
            positional.append(block)
    try:
        result = getattr(numact, function)(*positional, **by_name, **params)
    except BadValue as error:
        if block_info is None or error.arg not in names:
            raise
        k = names.index(error.arg)
        starts = tuple(start for start, _ in block_info[k]["array-location"])
        view = views.get(error.arg)
        raise error.moved(_without(starts, view) if isinstance(view, int) else starts) from None
    if not isinstance(result, tuple):
        result = (result,)
    elif len(result) == 2 and isinstance(result[1], tuple):  # (loss, (grads, ...))
        result = (result[0],) + result[1]
    return tuple(_like(r, blocks[0]) for r in result)


def _without(shape: tuple, axis: int) -> tuple:
    axis %= len(shape)
    return shape[:axis] + shape[axis + 1:]


def _like(result, block):
    """``result`` as ``block``'s kind of array (numact's CUDA results are numba device arrays)."""
    if isinstance(result, np.ndarray) or type(result) is type(block):
        return result
    return sys.modules[type(block).__module__.split(".")[0]].asarray(result)


def _item(results, k):
    """The k-th result of a chunk's call (of the one chunk, where blockwise passes a list)."""
    while isinstance(results, list):
        (results,) = results
    return results[k]


def _map(function, arrays, names, params, like, outputs, views=None, keywords=()):
    """Lazy ``numact.<function>`` over aligned chunks of ``arrays`` (dask arrays), chunked as
    ``like``: one dask array per result, ``outputs`` giving each one's (dtype, axis dropped or
    None)."""
    calls = da.map_blocks(
        _on_blocks, *arrays, function=function, names=tuple(names), views=views or {},
        keywords=tuple(keywords), params=params, chunks=like.chunks, dtype=object,
        meta=meta_from_array(like, dtype=object),
    )
    results = []
    index = tuple(range(like.ndim))
    for k, (dtype, drop) in enumerate(outputs):
        # An axis dropped from a result is one chunk of the calls (a class or vector axis):
        # blockwise hands _item the one call of that axis, in a list.
        out_index = index if drop is None else _without(index, drop)
        results.append(da.blockwise(
            _item, out_index, calls, index, k, None, concatenate=False, dtype=dtype,
            meta=meta_from_array(like, ndim=len(out_index), dtype=dtype),
        ))
    return results


def _as_dask(a):
    return a if isinstance(a, da.Array) else da.asarray(a)


def _finish(name, result, out, arg="out"):
    """result, or ``out`` (a dask array of its shape and dtype) made to hold it."""
    if out is None:
        return result
    if not isinstance(out, da.Array):
        raise ValueError(f"numact.{name}: {arg} must be a dask array here, got {type(out).__name__}")
    if out.shape != result.shape or out.dtype != result.dtype:
        raise ValueError(
            f"numact.{name}: {arg} has shape {out.shape} and dtype {out.dtype}, expected "
            f"{result.shape} and {result.dtype}"
        )
    return handle_out(out, result)


def _grad_output(name, g, shape, chunks=None):
    """grad_output checked to broadcast to ``shape``, as a dask array of that shape (chunked
    as ``chunks``, where given)."""
    g = _as_dask(g)
    result_dtype(name, "grad_output", g.dtype)
    try:
        fits = np.broadcast_shapes(g.shape, shape) == tuple(shape)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"numact.{name}: grad_output has shape {g.shape}, which does not broadcast to the "
            f"result's shape {tuple(shape)}"
        )
    g = da.broadcast_to(g, shape) if g.shape != tuple(shape) else g
    return g if chunks is None else g.rechunk(chunks)


def _check_params(name, op, values):
    for p in op.params:
        p.kernel_value(name, values[p.name])


# --- activations ----------------------------------------------------------------------------


def _elementwise(op: Activation, name: str, backward: bool, args: dict):
    x = _as_dask(args["x"])
    dtype = result_dtype(name, "x", x.dtype)
    params = {p.name: args[p.name] for p in op.params}
    _check_params(name, op, params)
    arrays, names = [x], ["x"]
    if backward:
        arrays, names = [_grad_output(name, args["grad_output"], x.shape, x.chunks), x], ["grad_output", "x"]
    return _map(name, arrays, names, params, x, [(dtype, None)])[0]


def _rowwise(op: Activation, name: str, backward: bool, args: dict):
    x, axis = _as_dask(args["x"]), args["axis"]
    dtype = result_dtype(name, "x", x.dtype)
    _rows_shape(name, x.shape, axis)  # the axis, checked as numact checks it
    g = _grad_output(name, args["grad_output"], x.shape, x.chunks) if backward else None
    axis = int(axis) % max(x.ndim, 1)
    if x.ndim == 0 or x.size == 0 or len(x.chunks[axis]) == 1:
        arrays, names = ([x], ["x"]) if g is None else ([g, x], ["grad_output", "x"])
        return _map(name, arrays, names, {"axis": axis}, x, [(dtype, None)])[0]
    return split_rows(op, x, axis, g).astype(dtype)


def _lse_block(x, axis, sign):
    """log Σ e^(sign·x) along axis of one chunk, in float64, the axis kept (of size 1)."""
    v = sign * x.astype(F64)
    if v.shape[axis] == 0:
        return np.full(v.shape[:axis] + (1,) + v.shape[axis + 1:], -np.inf)
    m = v.max(axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)  # rows of ±inf or NaN: the sum below gives ±inf, NaN
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return m + np.log(np.exp(v - m).sum(axis=axis, keepdims=True))


def _logaddexp(a, axis, keepdims):
    return np.logaddexp.reduce(a, axis=axis[0] if isinstance(axis, tuple) else axis, keepdims=keepdims)


def log_sum_exp(x, axis: int, sign: float = 1.0):
    """log Σ e^(sign·x) along an axis split over chunks, lazily, in float64, the axis kept:
    each chunk's (max, Σ e^(x − max)) as its log, combined by a tree of np.logaddexp."""
    chunks = tuple((1,) * len(c) if k == axis else c for k, c in enumerate(x.chunks))
    per_chunk = da.map_blocks(_lse_block, x, axis=axis, sign=sign, chunks=chunks, dtype=F64,
                              meta=meta_from_array(x, dtype=F64))
    return da.reduction(per_chunk, _logaddexp, _logaddexp, combine=_logaddexp, axis=axis,
                        keepdims=True, dtype=F64, concatenate=True)


def _normalise(x, lse, sign, log):
    """sign·x − lse (log) or its exponential, in float64; NaN where the row's lse is ±inf (a
    row of −inf, or one holding +inf), as softmax gives after subtracting the row maximum."""
    with np.errstate(invalid="ignore"):
        v = sign * x.astype(F64) - lse
        y = v if log else np.exp(v)
    return np.where(np.isinf(lse), np.nan, y)


def split_rows(op: Activation, x, axis: int, g=None):
    """The softmax family along an axis split over chunks, in float64 (the module's
    docstring says how); with g, the backward, from the forward's y: softmax y·(g − Σ g·y),
    log_softmax g − e^y·Σ g, softmin −(softmax's at −x)."""
    sign = op.fixed[0]
    log = op.name == "log_softmax"
    lse = log_sum_exp(x, axis, sign)
    y = da.map_blocks(_normalise, x, lse, sign=sign, log=log, dtype=F64, meta=meta_from_array(x, dtype=F64))
    if g is None:
        return y
    g = g.astype(F64)
    if log:
        return g - da.exp(y) * g.sum(axis=axis, keepdims=True)
    return sign * y * (g - (g * y).sum(axis=axis, keepdims=True))


def _channelwise(op: Activation, name: str, backward: bool, args: dict):
    x, weight = _as_dask(args["x"]), _as_dask(args["weight"])
    dtype = result_dtype(name, "x", x.dtype)
    result_dtype(name, "weight", weight.dtype)
    channels = x.shape[1] if x.ndim >= 2 else 1
    if weight.ndim > 1 or weight.size not in (1, channels):
        raise ValueError(
            f"numact.{name}: weight has shape {weight.shape}; expected 1 value or one per channel "
            f"({channels}, the size of x's axis 1)"
        )
    # The weight laid along x's axis 1 and chunked as x's channels (or one value for all).
    per_channel = weight.size == channels and x.ndim >= 2
    if per_channel:
        w = weight.reshape((1, channels) + (1,) * (x.ndim - 2))
        w = w.rechunk(((1,), x.chunks[1]) + ((1,),) * (x.ndim - 2))
    else:
        w = weight.reshape((1,) * x.ndim).rechunk(1)
    views = {"weight": "ravel"}
    if not backward:
        return _map(op.name, [x, w], ["x", "weight"], {}, x, [(dtype, None)], views)[0]
    g = _grad_output(name, args["grad_output"], x.shape, x.chunks)
    grad_x = _map(name, [g, x, w], ["grad_output", "x", "weight"], {}, x, [(dtype, None)], views)[0]
    # Each element's share of the weight's gradient (x·g where x < 0), summed in float64 per
    # channel (or over everything, for one weight) by a tree reduction.
    compute = compute_dtype(dtype)
    shares = da.map_blocks(ufuncs.prelu_backward_weight, g.astype(compute), x.astype(compute),
                           dtype=compute, meta=meta_from_array(x, dtype=compute))
    axes = tuple(k for k in range(x.ndim) if not (per_channel and k == 1))
    grad_w = shares.sum(axis=axes, dtype=F64).astype(dtype).reshape(weight.shape)
    return grad_x, grad_w


# --- losses ---------------------------------------------------------------------------------


def _kept_block(t, w=None, *, ignore_index, classes, loss, block_info=None):
    """Σ w[t] over one chunk's kept class indices (t laid with a class axis of 1, w along
    axis 1, or None for 1 each), in float64. A class index outside [0, C) that is not
    ignore_index raises numact's error, at its position in the whole target."""
    kept = t != ignore_index
    bad = kept & ((t < 0) | (t >= classes))
    if bad.any():
        local = np.unravel_index(int(np.argmax(bad)), t.shape)
        starts = [start for start, _ in block_info[0]["array-location"]]
        position = _without(tuple(int(p + s) for p, s in zip(local, starts)), 1)
        raise BadClassIndex(loss, int(t[local]), position, classes, ignore_index)
    if w is None:
        total = float(np.count_nonzero(kept))
    else:
        total = float(np.sum(w.reshape(-1)[t[kept]], dtype=F64))
    return np.full((1,) * t.ndim, total)


def _ones_like_total(total):
    return np.ones_like(total)


def _divide(total, divisor):
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / np.float64(divisor)


def _factor(g, divisor):
    """s = grad_output·(1/divisor) in float64, as numact's kernels compute it once per call."""
    return np.asarray(np.float64(g) * (1.0 / np.float64(divisor)))


def _times(grad, s):
    """grad·s computed in float64 and rounded once to grad's dtype. Not in place: dask shares
    one chunk's result between graphs that ask for the same call (a 'mean' and a 'none' loss
    call the chunks alike)."""
    return np.multiply(grad, np.float64(s), out=np.empty_like(grad), casting="unsafe")


class _Losses:
    """One loss call on dask arrays after its checks: what each chunk's numact call takes,
    the per-element (or per-row) losses and gradients at grad_output 1, their reduction, and
    the lazy divisor of 'mean'."""

    def __init__(self, op: Loss, name: str, args: dict):
        self.op, self.name = op, name
        reduction = args["reduction"]
        if not isinstance(reduction, str) or reduction not in op.reductions:
            allowed = ", ".join(repr(r) for r in op.reductions)
            raise ValueError(f"numact.{name}: reduction must be one of {allowed}, got {reduction!r}")
        self.reduction = reduction
        self.params = {p.name: args[p.name] for p in op.params}
        _check_params(name, op, self.params)
        for arg in op.arrays:
            if args[arg] is None:
                raise TypeError(f"numact.{name}: {arg} must be an array, got None")
        self.arrays = {a: _as_dask(args[a]) for a in op.arrays + op.weights if args[a] is not None}
        for arg, a in self.arrays.items():
            result_dtype(name, arg, a.dtype)  # a TypeError for complex, object, ...
        self.dtype = np.result_type(*(result_dtype(name, a, self.arrays[a].dtype) for a in op.inputs))
        self.compute = compute_dtype(self.dtype)
        self.views: dict = {}
        self.unbatched = self.split = False
        self.loss_drop = None  # the axis of the chunks that the per-element losses do not have
        {"elementwise": self._elementwise, "class": self._class, "vector": self._vector}[op.kind]()

    def _computed(self, arg):
        """An array (not class indices) in the compute dtype: the chunks' per-element losses,
        which are summed, are then the compute dtype's, as numact sums them."""
        return self.arrays[arg].astype(self.compute)

    def _broadcast_shape(self, names) -> tuple:
        shapes = {a: self.arrays[a].shape for a in names if a in self.arrays}
        try:
            return tuple(np.broadcast_shapes(*shapes.values()))
        except ValueError:
            described = ", ".join(f"{arg} {s}" for arg, s in shapes.items())
            raise ValueError(f"numact.{self.name}: the shapes {described} do not broadcast") from None

    # --- the three layouts ------------------------------------------------------------------

    def _elementwise(self):
        op = self.op
        self.names = [a for a in op.arrays + op.weights if a in self.arrays]
        self.shape = self.loss_shape = shape = self._broadcast_shape(self.names)
        full = [da.broadcast_to(self._computed(a), shape) for a in self.names]
        index = tuple(range(len(shape)))
        _, full = da.core.unify_chunks(*[v for a in full for v in (a, index)])
        self.blocks, self.like = list(full), full[0]
        self.count = shape[0] if self.reduction == "batchmean" and shape else math.prod(shape)

    def _class(self):
        op = self.op
        x, t = self.arrays["input"], self.arrays["target"]
        if x.ndim == 0:
            raise ValueError(f"numact.{self.name}: input must have the classes on axis 1 (or be 1-D), got a 0-d array")
        self.unbatched = x.ndim == 1
        if self.unbatched:  # one row of C classes: the batched layout with N = 1
            x, t = x[None], t[None]
        self.shape, classes = x.shape, x.shape[1]
        self.loss_shape = loss_shape(op, x.shape)
        weight = self.arrays.get("weight")
        if weight is not None and weight.shape != (classes,):
            raise ValueError(
                f"numact.{self.name}: weight has shape {weight.shape}, expected ({classes},): one per class"
            )
        ignore_index = self.params.get("ignore_index", -100)
        self.index = t.dtype.kind in "iu"
        if self.index:
            if t.shape != self.loss_shape:
                raise ValueError(
                    f"numact.{self.name}: target has shape {t.shape}; class indices for input of shape "
                    f"{x.shape} must have shape {self.loss_shape}"
                )
        elif t.dtype.kind == "f" and op.probs_math is not None:
            if t.shape != x.shape:
                raise ValueError(
                    f"numact.{self.name}: target has shape {t.shape}; class probabilities must have "
                    f"input's shape {x.shape} (class indices: {self.loss_shape})"
                )
            if ignore_index >= 0:
                raise ValueError(
                    f"numact.{self.name}: ignore_index ({ignore_index}) does not apply to class-probability targets"
                )
        else:
            wanted = "integer class indices" + (" or float class probabilities" if op.probs_math else "")
            raise TypeError(f"numact.{self.name}: target has dtype {t.dtype}; expected {wanted}")
        x = x.astype(self.compute)
        self.split = len(x.chunks[1]) > 1
        lay = (1, classes) + (1,) * (x.ndim - 2)  # a weight laid along axis 1
        w = None if weight is None else weight.astype(self.compute).reshape(lay)
        if self.index:
            # class indices as x's chunks see them: a class axis of 1, chunked as x's rows
            t = t.astype(np.int64).rechunk(x.chunks[:1] + x.chunks[2:])[:, None]
            kept = da.map_blocks(
                _kept_block, t, *([] if w is None else [w.rechunk(-1)]), ignore_index=ignore_index,
                classes=classes, loss=self.name, chunks=tuple((1,) * len(c) for c in t.chunks),
                dtype=F64, meta=meta_from_array(t, dtype=F64),
            )
            self.count = kept.sum()  # 'mean' divides by Σ w[target] over the kept targets
            self.views["target"] = 1
        else:
            t = t.astype(self.compute).rechunk(x.chunks)
            self.count = math.prod(self.loss_shape)
        self.x, self.t, self.w = x, t, w
        self.names = ["input", "target"] + ([] if w is None else ["weight"])
        self.blocks = [x, t] + ([] if w is None else [w.rechunk(-1)])
        if w is not None:
            self.views["weight"] = "ravel"
        self.like, self.loss_drop = x, 1

    def _vector(self):
        op = self.op
        self.shape = shape = self._broadcast_shape(op.inputs)
        if not shape:
            raise ValueError(f"numact.{self.name}: the inputs must have at least 1 dimension (vectors on the last axis)")
        self.loss_shape = loss_shape(op, shape)
        full = [da.broadcast_to(self._computed(a), shape) for a in op.inputs]
        chunks = full[0].chunks[:-1] + ((shape[-1],),)  # a vector is one chunk
        self.blocks, self.names = [a.rechunk(chunks) for a in full], list(op.inputs)
        if op.target:
            y = self.arrays[op.target]
            try:
                fits = np.broadcast_shapes(y.shape, self.loss_shape) == self.loss_shape
            except ValueError:
                fits = False
            if not fits:
                raise ValueError(
                    f"numact.{self.name}: {op.target} has shape {y.shape}; expected one label per "
                    f"vector, shape {self.loss_shape}"
                )
            y = da.broadcast_to(self._computed(op.target), self.loss_shape).rechunk(chunks[:-1])
            self.blocks.append(y[..., None])  # a vector axis of 1, aligned with the inputs' chunks
            self.names.append(op.target)
            self.views[op.target] = -1
        self.like, self.loss_drop = self.blocks[0], len(shape) - 1
        self.count = math.prod(self.loss_shape)

    # --- per element ------------------------------------------------------------------------

    def laid_like_targets(self, g):
        """reduction='none''s grad_output, checked, broadcast to the losses and laid out as the
        chunks' targets are (with the class or vector axis of 1)."""
        chunks = self.like.chunks
        if self.loss_drop is not None:
            chunks = _without(chunks, self.loss_drop)
        g = _grad_output(self.name, g, self.loss_shape, chunks)
        return g if self.loss_drop is None else da.expand_dims(g, self.loss_drop % self.like.ndim)

    def per_element(self, want_loss: bool, want_grads: bool, g=None, reduction="none"):
        """(losses or None, [gradient per input] or None), lazily: numact's call on every
        chunk with reduction='none', at grad_output 1; for the backward, with ``g`` laid like
        the targets, or with reduction='sum' and ``g`` a lazy 0-d scale."""
        if self.split:
            return _class_split(self, want_loss, want_grads, g if reduction == "none" else None)
        op = self.op
        suffix = "_forward_backward" if want_loss and want_grads else "_backward" if want_grads else ""
        arrays, names, views = list(self.blocks), list(self.names), dict(self.views)
        if suffix == "_backward":
            arrays, names = [g] + arrays, ["grad_output"] + names
            if self.loss_drop is not None and reduction == "none":
                views["grad_output"] = self.loss_drop
        outputs = ([(self.compute, self.loss_drop)] if want_loss else []) + (
            [(self.compute, None)] * len(op.inputs) if want_grads else [])
        results = _map(op.name + suffix, arrays, names, dict(self.params, reduction=reduction), self.like,
                       outputs, views, keywords=op.weights)
        return (results[0] if want_loss else None), (results[want_loss:] if want_grads else None)

    def factor(self, g=None):
        """A reduced loss's gradient scale, lazily: compute(grad_output)·(1/divisor) in float64,
        as numact's kernels compute it once per call."""
        g = np.ones((), self.compute) if g is None else g
        g = g.astype(self.compute) if isinstance(g, da.Array) else np.asarray(g).astype(self.compute)
        divisor = self.divisor()
        divisor = divisor if isinstance(divisor, da.Array) else np.float64(divisor)
        return da.map_blocks(_factor, _as_dask(g), _as_dask(divisor), dtype=F64,
                             meta=meta_from_array(self.like, ndim=0, dtype=F64))

    # --- reduction and scale ----------------------------------------------------------------

    def divisor(self):
        """What the sum is divided by: a number, or a lazy float64 0-d array (Σ w[target])."""
        return self.count if self.reduction in ("mean", "batchmean") else 1

    def reduce(self, losses):
        """The loss as numact gives it: per element in the result dtype, or the float64 sum
        divided by the divisor."""
        if self.reduction == "none":
            return (losses.reshape(()) if self.unbatched else losses).astype(self.dtype)
        total = losses.sum(dtype=F64)
        total = da.map_blocks(_divide, total, self.divisor(), dtype=F64, meta=meta_from_array(total, dtype=F64))
        return total.astype(self.dtype)

    def scale(self, grads, g=None, scaled=False):
        """The gradients times grad_output/divisor (a reduced loss's; g None: 1; not where they
        are ``scaled`` already), each summed back to its input's shape where the input was
        broadcast."""
        divisor = self.divisor()
        if not scaled and self.reduction != "none" and (
                g is not None or not (isinstance(divisor, int) and divisor == 1)):
            s = self.factor(g)
            grads = [da.map_blocks(_times, grad, s, dtype=grad.dtype, meta=grad._meta) for grad in grads]
        out = []
        for arg, grad in zip(self.op.inputs, grads):
            given = self.arrays[arg].shape
            if self.unbatched:
                grad = grad.reshape(given)
            if grad.shape != given:  # the input was broadcast: its gradient summed back to its shape
                lead = grad.ndim - len(given)
                axes = tuple(range(lead)) + tuple(
                    lead + k for k, n in enumerate(given) if n == 1 and grad.shape[lead + k] != 1)
                grad = grad.sum(axis=axes, dtype=F64).reshape(given)
            out.append(grad.astype(self.dtype))
        return out[0] if len(out) == 1 else tuple(out)


def _scalar_grad_output(name, g):
    """A reduced loss's grad_output: a scalar (a number, a 0-d array, a 0-d dask array)."""
    if np.ndim(g) if not isinstance(g, da.Array) else g.ndim:
        raise ValueError(f"numact.{name}: grad_output has shape {tuple(np.shape(g))}; a reduced loss takes a scalar")
    result_dtype(name, "grad_output", g.dtype if isinstance(g, da.Array) else np.asarray(g).dtype)
    return g


def _class_split(call: _Losses, want_loss: bool, want_grads: bool, g=None):
    """cross_entropy and nll_loss with the class axis split over chunks, in float64 (see the
    module's docstring): ℓ = −Σ_c a_c·log p_c and ∂ℓ/∂x = A·p − a (nll_loss: log p = x and
    −a), a = w·t', A = Σ_c a_c; a term with a_c = 0 adds 0, whatever log p_c is."""
    op, x = call.op, call.x
    classes = x.shape[1]
    smoothing = call.params.get("label_smoothing", 0.0)
    if call.index:
        labels = da.arange(classes, chunks=x.chunks[1]).reshape((1, classes) + (1,) * (x.ndim - 2))
        kept = (call.t != call.params["ignore_index"]).astype(F64)
        # the class check: a dependency on the divisor's pass, which raises on a bad index
        kept = kept * da.map_blocks(_ones_like_total, call.count, dtype=F64, meta=call.count._meta)
        a = ((call.t == labels) * (1.0 - smoothing) + smoothing / classes) * kept
    else:
        a = call.t.astype(F64) * (1.0 - smoothing) + smoothing / classes
    if call.w is not None:
        a = a * call.w.astype(F64).rechunk(((1,), x.chunks[1]) + ((1,),) * (x.ndim - 2))
    log_p = x.astype(F64) if op.name == "nll_loss" else split_rows(_LOG_SOFTMAX, x, 1)
    losses = grads = None
    if want_loss:
        losses = -da.where(a == 0, 0.0, a * log_p).sum(axis=1)
        losses = losses.astype(call.compute)
    if want_grads:
        if op.name == "nll_loss":
            grad = -a
        else:
            total = a.sum(axis=1, keepdims=True)
            grad = da.where(total == 0, 0.0, total * da.exp(log_p)) - a
        if g is not None:
            grad = grad * g.astype(F64)
        grads = [grad.astype(call.compute)]
    return losses, grads


_LOG_SOFTMAX = next(op for op in ACTIVATIONS if op.name == "log_softmax")


def _loss(op: Loss, name: str, suffix: str, args: dict):
    call = _Losses(op, name, args)
    if suffix == "":
        losses, _ = call.per_element(True, False)
        return _finish(name, call.reduce(losses), args["out"])
    if suffix == "_forward_backward":
        losses, grads = call.per_element(True, True)
        return call.reduce(losses), call.scale(grads)
    g = args["grad_output"]
    if call.reduction == "none":
        grads = call.scale(call.per_element(False, True, call.laid_like_targets(g))[1])
    elif op.kind == "elementwise" or call.split:
        # ∂ℓ/∂x at grad_output 1 is a value of the compute dtype: scaled in float64 and rounded
        # once, it is what numact's kernel writes
        grads = call.scale(call.per_element(False, True, call.laid_like_targets(np.ones((), call.compute)))[1],
                           _scalar_grad_output(name, g))
    else:  # a row function folds the scale into its gradient pass: numact's call is given it
        s = call.factor(_scalar_grad_output(name, g))
        grads = call.scale(call.per_element(False, True, s, reduction="sum")[1], scaled=True)
    out = args["out"]
    if out is None:
        return grads
    if len(op.inputs) == 1:
        return _finish(name, grads, out)
    if not isinstance(out, (tuple, list)) or len(out) != len(op.inputs):
        raise ValueError(
            f"numact.{name}: out must be a tuple of {len(op.inputs)} arrays (or None), one per input: "
            f"{', '.join(op.inputs)}"
        )
    return tuple(_finish(name, r, o, f"out[{k}]") for k, (r, o) in enumerate(zip(grads, out)))


# --- the public functions -------------------------------------------------------------------

_ACTIVATION_KINDS = {"elementwise": _elementwise, "rowwise": _rowwise, "channelwise": _channelwise}


def _activation(op: Activation, name: str, backward: bool, args: dict):
    result = _ACTIVATION_KINDS[op.kind](op, name, backward, args)
    out = args["out"]
    if op.kind == "channelwise" and backward:
        if out is None:
            return result
        return tuple(_finish(name, r, o, f"out[{k}]") for k, (r, o) in enumerate(zip(result, out)))
    return _finish(name, result, out)


def _function(name: str, implementation):
    """A function with numact.<name>'s signature and docstring that calls
    ``implementation(arguments)`` with every argument by name, defaults applied."""
    eager = getattr(numact, name)
    signature = inspect.signature(eager)

    def call(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return implementation(dict(bound.arguments))

    call.__name__ = call.__qualname__ = name
    call.__module__ = __name__
    call.__signature__ = signature
    call.__doc__ = f"numact.{name} on dask arrays, lazily (numact.dask).\n\n{eager.__doc__ or ''}"
    return call


def _build() -> dict:
    functions = {}
    for op in ACTIVATIONS:
        for backward, suffix in ((False, ""), (True, "_backward")):
            name = op.name + suffix
            functions[name] = _function(name, functools.partial(_activation, op, name, backward))
    for op in LOSSES:
        for suffix in ("", "_backward", "_forward_backward"):
            name = op.name + suffix
            functions[name] = _function(name, functools.partial(_loss, op, name, suffix))
    return functions


_FUNCTIONS = _build()
globals().update(_FUNCTIONS)
__all__ = sorted(_FUNCTIONS)
