"""CPU launchers: parallel loops (``prange``) that apply numact's scalar and row functions.

Every launcher takes C-contiguous arrays of the compute dtype, and ``args``, the operator's
parameters: a tuple of that dtype, or for the element-wise maps a 1-D array of it (``parameters``),
which numba's dispatcher reads faster than a tuple, and small calls are mostly dispatch. Kernels
compile on first use and are cached on disk.
"""

from functools import cache, partial

import numpy as np
from numba import njit, prange, types
from numba.core.errors import TypingError
from numba.extending import overload

from ._cache import keyed, on_disk
from ._jit import INLINED, REASSOCIATE, SOURCE_STAMP, inline_only, ir_inlined
from ._primitives import at, store_loss_element


def _njit(**options):
    """``numba.njit`` for a launcher: cached on disk, safely for several processes (_cache),
    with NumPy's error model (division by zero gives inf or NaN, and loops vectorise)."""
    return lambda fn: keyed(njit(cache=on_disk(), error_model="numpy", **options)(fn))


def asarray(obj) -> np.ndarray:
    return np.asarray(obj)


def follow(_like) -> None:
    """The CPU has no streams (numact._cuda.follow)."""


def to_host(a: np.ndarray) -> np.ndarray:
    return a


def deliver(result: np.ndarray, _given, _like) -> np.ndarray:
    """A result as the caller gets it: the array itself (``out`` when one was given)."""
    return result


def empty(shape, dtype) -> np.ndarray:
    return np.empty(shape, dtype)


def contiguous(a: np.ndarray, dtype) -> np.ndarray:
    """``a`` as a C-contiguous array of ``dtype``: ``a`` itself when it already is one."""
    return np.asarray(a, dtype=dtype, order="C")


def broadcast(a: np.ndarray, shape) -> np.ndarray:
    return np.broadcast_to(a, shape)


def copy_into(dst: np.ndarray, src: np.ndarray) -> None:
    """dst[...] = src, converting the dtype. Into a narrower float type, a value beyond its range
    becomes ±inf without NumPy's RuntimeWarning: it is numact's result (a float64 sum, a
    float16 result computed in float32), and numact's own arithmetic overflows silently, as
    torch's does."""
    if dst.dtype.itemsize < src.dtype.itemsize:
        with np.errstate(over="ignore"):
            np.copyto(dst, src, casting="unsafe")
    else:
        np.copyto(dst, src, casting="unsafe")


FLOAT32_MAX = float(np.finfo(np.float32).max)


def scalar(total: float, dtype) -> np.ndarray:
    """A float64 total as a 0-d array of ``dtype``, ±inf beyond its range (without NumPy's
    warning, as ``copy_into``). The common case costs no ``np.errstate`` (~2.5 µs)."""
    if abs(total) <= FLOAT32_MAX:
        return np.array(total, dtype)
    with np.errstate(over="ignore"):
        return np.array(total, dtype)


def data_pointer(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def is_c_contiguous(a: np.ndarray) -> bool:
    return a.flags.c_contiguous


def is_writeable(a: np.ndarray) -> bool:
    return a.flags.writeable


def from_host(a: np.ndarray) -> np.ndarray:
    return a


def constant(a: np.ndarray) -> np.ndarray:
    """``a``, a host array that is never written (the CUDA target copies it once)."""
    return a


SERIAL_BELOW = 1 << 15  # elements: fewer run on one thread, where a threaded launch costs more


def _twin(make, size, recipe=None, **options):
    """The kernel ``make(loop)`` compiled twice: threaded (``loop = prange``, Numba's thread
    count) and single-threaded (``loop = range``) for inputs of fewer than SERIAL_BELOW
    elements, ``size(*arguments)`` telling. Both run the same code per element, so their
    results are the same bits. ``recipe`` = (factory, arguments) that return this launcher:
    the single-threaded build then pickles as that call, so that a cached kernel that calls it
    (``small_loss``) loads in a new process (see ``_jit.jit``)."""
    threaded = _njit(parallel=True, **options)(make(prange))
    single = _njit(**options)(make(range))
    if recipe is not None:
        reference = (_single_of, (*recipe, SOURCE_STAMP))
        single.__reduce_ex__ = lambda protocol: reference

    def for_size(n):
        return single if n < SERIAL_BELOW else threaded

    def launch(*arguments):
        return for_size(size(*arguments))(*arguments)

    launch.threaded, launch.single, launch.for_size = threaded, single, for_size
    launch.builds = (single, threaded)
    return launch


def _single_of(factory, arguments, stamp):
    return factory(*arguments).single


def parameters(args: tuple, dtype) -> np.ndarray:
    """The element-wise kernels' parameters: a read-only 1-D array of the compute dtype."""
    p = np.array(args, dtype)
    p.flags.writeable = False
    return p


def unpack(p, count):
    """(p[0], ..., p[count − 1]) as a tuple: a parameter array as the scalar functions take it."""


@overload(unpack, jit_options=INLINED)
def _unpack(p, count):
    if not isinstance(count, types.IntegerLiteral):
        raise TypingError("unpack needs the count as a constant")
    items = "".join(f"p[{k}], " for k in range(count.literal_value))
    namespace = {}
    exec(f"def unpack(p, count):\n    return ({items})\n", namespace)  # noqa: S102
    return namespace["unpack"]


def _size(out, *arrays):
    return out.size


@cache
def map_unary(f, arity):
    """out[i] = f(x[i], *p) over flat arrays, p the ``arity`` parameters."""

    def make(loop):
        def kernel(out, x, p):
            args = unpack(p, arity)
            for i in loop(x.size):
                out[i] = f(x[i], *args)

        return kernel

    return _twin(make, _size)


@cache
def map_binary(f, arity):
    """out[i] = f(g[i], x[i], *p) over flat arrays, p the ``arity`` parameters."""

    def make(loop):
        def kernel(out, g, x, p):
            args = unpack(p, arity)
            for i in loop(x.size):
                out[i] = f(g[i], x[i], *args)

        return kernel

    return _twin(make, _size)


def _as_rows(a):
    """An (outer, n, 1) array as (outer, n): its rows then have unit stride (numba's C layout),
    which lets LLVM vectorise the loops over them."""
    return a.reshape(a.shape[0], a.shape[1])


def _by_layout(strided, unit, rows):
    """Launch ``unit`` with the (outer, n, inner) arrays at positions ``rows`` seen as (outer, n)
    when inner = 1 (the first of them tells), else ``strided`` on the arguments as they are."""

    def launch(*arguments):
        if arguments[rows[0]].shape[2] != 1:
            return strided(*arguments)
        return unit(*(_as_rows(a) if k in rows else a for k, a in enumerate(arguments)))

    launch.strided, launch.unit = strided, unit
    return launch


@cache
def map_rows(f, arity):
    """f(x[o, :, i], out[o, :, i], *p) for every row of (outer, n, inner) arrays."""

    def strided(loop):
        def kernel(out, x, p):
            args = unpack(p, arity)
            inner = x.shape[2]
            for r in loop(x.shape[0] * inner):
                o, i = r // inner, r % inner
                f(x[o, :, i], out[o, :, i], *args)

        return kernel

    def unit(loop):
        def kernel(out, x, p):
            args = unpack(p, arity)
            for o in loop(x.shape[0]):
                f(x[o], out[o], *args)

        return kernel

    # No reference counts (see map_row_loss): a row's views cost atomics otherwise.
    return _by_layout(_twin(strided, _size, _nrt=False), _twin(unit, _size, _nrt=False), rows=(1, 0))


@cache
def map_rows_binary(f, arity):
    """f(g[o, :, i], x[o, :, i], out[o, :, i], *p) for every row of (outer, n, inner) arrays."""

    def strided(loop):
        def kernel(out, g, x, p):
            args = unpack(p, arity)
            inner = x.shape[2]
            for r in loop(x.shape[0] * inner):
                o, i = r // inner, r % inner
                f(g[o, :, i], x[o, :, i], out[o, :, i], *args)

        return kernel

    def unit(loop):
        def kernel(out, g, x, p):
            args = unpack(p, arity)
            for o in loop(x.shape[0]):
                f(g[o], x[o], out[o], *args)

        return kernel

    return _by_layout(_twin(strided, _size, _nrt=False), _twin(unit, _size, _nrt=False), rows=(2, 0, 1))


@cache
def map_channels(f):
    """out[o, c, i] = f(x[o, c, i], w[c]) over (outer, channels, inner) arrays."""

    def strided(loop):
        def kernel(out, x, w):
            channels = x.shape[1]
            for oc in loop(x.shape[0] * channels):
                o, c = oc // channels, oc % channels
                for i in range(x.shape[2]):
                    out[o, c, i] = f(x[o, c, i], w[c])

        return kernel

    def unit(loop):
        def kernel(out, x, w):  # (outer, channels): the loop over channels vectorises
            for o in loop(x.shape[0]):
                for c in range(x.shape[1]):
                    out[o, c] = f(x[o, c], w[c])

        return kernel

    return _by_layout(_twin(strided, _size), _twin(unit, _size), rows=(1, 0))


@cache
def map_channels_binary(f):
    """out[o, c, i] = f(g[o, c, i], x[o, c, i], w[c]) over (outer, channels, inner) arrays."""

    def strided(loop):
        def kernel(out, g, x, w):
            channels = x.shape[1]
            for oc in loop(x.shape[0] * channels):
                o, c = oc // channels, oc % channels
                for i in range(x.shape[2]):
                    out[o, c, i] = f(g[o, c, i], x[o, c, i], w[c])

        return kernel

    def unit(loop):
        def kernel(out, g, x, w):
            for o in loop(x.shape[0]):
                for c in range(x.shape[1]):
                    out[o, c] = f(g[o, c], x[o, c], w[c])

        return kernel

    return _by_layout(_twin(strided, _size), _twin(unit, _size), rows=(2, 0, 1))


CHANNEL_ROWS = 256  # rows per partial sum of a channel reduction


@cache
def sum_channels(f):
    """total[c] = Σ_{o, i} f(g[o, c, i], x[o, c, i]), summed in float64 in a fixed order (per
    block of CHANNEL_ROWS rows, then the blocks in order, when inner = 1), rounded once to
    total's type (±inf beyond its range: a compiled store reads no FP flag, where NumPy's cast
    would warn)."""

    def strided(loop):
        def kernel(total, g, x):
            for c in loop(x.shape[1]):
                acc = 0.0
                for o in range(x.shape[0]):
                    for i in range(x.shape[2]):
                        acc += f(g[o, c, i], x[o, c, i])
                total[c] = acc

        return kernel

    def unit(loop):
        def kernel(total, g, x):  # (outer, channels): rows read in order, channels vectorised
            rows, channels = x.shape
            blocks = -(-rows // CHANNEL_ROWS)
            partial = np.zeros((blocks, channels))
            for k in loop(blocks):
                for o in range(k * CHANNEL_ROWS, min(rows, (k + 1) * CHANNEL_ROWS)):
                    for c in range(channels):
                        partial[k, c] += f(g[o, c], x[o, c])
            for c in range(channels):
                acc = 0.0
                for k in range(blocks):
                    acc += partial[k, c]
                total[c] = acc

        return kernel

    size = lambda total, g, x: x.size  # noqa: E731
    return _by_layout(_twin(strided, size), _twin(unit, size), rows=(2, 1))


# --- losses ---------------------------------------------------------------------------------
# A loss kernel writes per-chunk float64 partial sums of the loss; sum_partials adds them in
# order. The chunks are fixed by size, not by thread, so the bits never depend on the thread
# count. Within a chunk, the element-wise kernels' sum may be reassociated (their only relaxed
# operation), so that LLVM vectorises the loop: the order is fixed by the compiled code, the
# same for every call on a machine. Row kernels sum rows in order (their rows vectorise inside). What a kernel writes is fixed when it is made (`writes`), so that numba compiles away
# what a call does not need: the backward never computes the loss itself.

CHUNK = 1 << 14  # elements per partial sum
ROW_CHUNK = 64  # rows per partial sum


@inline_only
def _chunk(k, size, n):
    """The indices of chunk k as unsigned integers: an index numba knows to be ≥ 0 needs no
    wraparound check, which would keep LLVM from vectorising the loop."""
    return range(np.uint64(k) * np.uint64(size), np.uint64(min(n, (k + 1) * size)))


@partial(inline_only, fastmath=REASSOCIATE)
def _add(total, value):
    """total + value, which may be reassociated (so that a loop summing with it vectorises),
    while the rest of the loop keeps its order: with the whole kernel reassociated, LLVM turned
    g·(s·(1/n)) into a division per element, (g·s)/n, a vdivpd costing more than the rest."""
    return total + value


def hoist(a):
    """A 0-d operand's value, read once before a loop; other operands as they are. A value
    read from memory inside the loop might change with the loop's stores, as far as LLVM can
    tell, which keeps the loop from vectorising."""


@overload(hoist, jit_options=INLINED)
def _hoist(a):
    if isinstance(a, types.Array) and a.ndim == 0:
        return lambda a: a[()]
    return lambda a: a


def partials(n: int, rows: bool = False) -> np.ndarray:
    """The partial sums a loss kernel over ``n`` elements (or rows) writes."""
    return np.empty(-(-n // (ROW_CHUNK if rows else CHUNK)), np.float64)


@cache
def map_loss(f, writes):
    """For i < n: (ℓ_i, ∂a_i, ∂b_i) = f(a[i], b[i], c[i], d[i], *args), each operand 1-D or 0-d
    (one value for all). ``writes`` = (sum, losses, grads): write the partial sums of ℓ, ℓ
    itself, and ∂a (grads 1; and ∂b, grads 2) times scale[i] / divisor (0-d)."""
    sum_losses, write_losses, grads = writes

    def make(loop):
        def kernel(partial, losses, grad_a, grad_b, a, b, c, d, scale, divisor, n, args):
            inverse = 1.0 / hoist(divisor)  # one division per call, not per element
            a, b, c, d, scale = hoist(a), hoist(b), hoist(c), hoist(d), hoist(scale)
            for k in loop(partial.size):
                acc = 0.0
                for i in _chunk(k, CHUNK, n):
                    loss, da, db = f(at(a, i), at(b, i), at(c, i), at(d, i), *args)
                    if sum_losses:
                        acc = _add(acc, loss)
                    store_loss_element(i, loss, da, db, at(scale, i) * inverse, losses, grad_a, grad_b,
                                       write_losses, grads)
                partial[k] = acc

        return kernel

    return _twin(make, lambda *arguments: arguments[-2], recipe=(map_loss, (f, writes)))


def _inlined(kernel, *, into_typing=False, **options):
    """An uncached copy of a launcher's one-thread kernel (``options``: its numba flags, such
    as ``_nrt=False``), for an entry to call: compiled in the entry's own process, it is
    inlined there. A cached kernel would be called by its symbol name, which numba numbers per
    process, so a kernel loaded from another process's cache can share its name with a
    different kernel here, and the call can land on that one (measured: fused losses summed by
    a backward kernel, 0.0 for NaN, with two pytest workers filling a fresh cache). It pickles
    as the kernel does, so entries stay keyed by it.

    ``into_typing``: inlined into the entry's own numba IR (``inline="always"``) rather than by
    LLVM, so that its body is optimised and assembled once, not once alone and again in the
    entry (0.1 s of binary_cross_entropy_with_logits' first call). It then runs under the
    entry's flags: only for a kernel that makes no array views per step, which numba's
    reference counting would cost (the row losses' kernels stay ``_nrt=False`` copies)."""
    if into_typing:
        copy = ir_inlined(kernel.py_func, **options)
    else:
        copy = inline_only(kernel.py_func, **options)
    copy.__reduce_ex__ = kernel.__reduce_ex__
    return copy


def _entry(source, *closure):
    """The function that ``make(*closure)`` in ``source`` returns, compiled. The source is
    compiled as if written in this file, and the entry closes over what makes it differ, so that
    numba caches it on disk and keys the cache by the kernel it calls."""
    namespace = dict(globals())
    exec(compile(source, __file__, "exec"), namespace)  # noqa: S102 - the signature varies
    return _njit()(namespace["make"](*closure))


def as_dtype(a, value):
    """value as a number of array a's dtype (a is not read)."""


@overload(as_dtype, jit_options=INLINED)
def _as_dtype(a, value):
    kind = a.dtype
    return lambda a, value: kind(value)


@cache
def small_loss(f, writes, count, arity, check):
    """A whole element-wise loss call on one thread: the kernel of map_loss(f, writes) (the
    same bits) behind a lean signature, since on a few elements a call costs mostly numba's
    handling of each argument, and an array returned from numba costs more than one made in
    Python. ``entry(*outs, *arrays, scale, divisor, p)``: outs are the arrays written (the
    losses, ∂a, ∂b, as ``writes`` says), arrays the ``count`` operands, scale and divisor
    numbers, p the ``arity`` parameters (an array). The first ``check`` operands must lie in
    [0, 1]. Returns (the first position where one does not, or −1; Σ loss / divisor). It
    allocates only the partial sums: the missing operands are the number 1, the scale and
    divisor numbers (which the kernel takes as it takes 0-d arrays), and an output not written
    is stood in for by one that is."""
    _, write_losses, grads = writes
    outs = ["losses"] * write_losses + ["grad_a", "grad_b"][:grads]
    operands = ["a", "b", "c", "d"][:count]
    source = f"""
def make(kernel, check, arity):
    def entry({", ".join(outs + operands)}, scale, divisor, p):
        dtype = a.dtype
        for i in range(a.size if check else 0):
            if not ({" and ".join(f"{x}[i] >= 0 and {x}[i] <= 1" for x in operands[:check])}):
                return i, 0.0
        one = as_dtype(a, 1.0)
        unused = {outs[0] if outs else "np.empty(1, dtype)"}  # never written: a stand-in of the type
        {"".join(f"{name} = unused; " for name in ("losses", "grad_a", "grad_b") if name not in outs)}
        {"".join(f"{name} = one; " for name in ("b", "c", "d")[count - 1:])}
        partial = np.empty(-(-a.size // CHUNK))
        kernel(partial, losses, grad_a, grad_b, a, b, c, d, as_dtype(a, scale), float(divisor),
               a.size, unpack(p, arity))
        return -1, _sum(partial) / divisor
    return entry
"""
    return _entry(source, _inlined(map_loss(f, writes).single, into_typing=True), check, arity)


@cache
def map_row_loss(f, writes):
    """For every row r = (o, i) of (outer, n, inner) arrays: ℓ_r = f(x[o, :, i], y[o, :, i],
    z[o, :, i], t[o, :, i], w[0, :, 0], gx[o, :, i], gy[o, :, i], gz[o, :, i], s_r, write_grads,
    *args) with s_r = scale[r] / divisor (scale 1-D or 0-d, divisor 0-d or a number) and the
    class weights w as a (1, C, 1) array, as on CUDA. ``writes`` = (losses, grads): write ℓ
    itself, and the gradients; the partial sums of ℓ are always written. Without gradients, gx
    is a scratch row of n (one per chunk of rows), which a row function may use as its
    gradient pass would (cross_entropy keeps its exponentials there). Rows across another axis
    (inner > 1) take that contiguous scratch row for gx with gradients too, then copy it into
    gx: a sum over gx's row would otherwise run in another order (a strided loop against a
    vectorised one), and the fused loss would not be the forward's bits.

    The kernels take the scratch rows as their last argument (``scratch_rows``: the launcher
    here makes them), so the kernels allocate nothing and are compiled without numba's
    reference counts (``_nrt=False``): each row's views of x, t, gx, ... cost an atomic
    increment and decrement apiece otherwise, ~100 ns a row, which made a loss over many short
    rows several times slower than its arithmetic (nll_loss backward on 65,536 × 10, two
    threads: 0.87 → 0.19 ms)."""
    write_losses, write_grads = writes

    @_njit(parallel=True, _nrt=False)
    def strided(partial, losses, gx, gy, gz, x, y, z, t, w, scale, divisor, rows, args, scratch):
        inner = x.shape[2]
        inverse = 1.0 / hoist(divisor)  # one division per call, not per element
        for k in prange(partial.size):
            acc = 0.0
            row = scratch[k]
            for r in range(k * ROW_CHUNK, min(rows, (k + 1) * ROW_CHUNK)):
                o, i = r // inner, r % inner
                s = at(scale, r) * inverse
                loss = f(x[o, :, i], y[o, :, i], z[o, :, i], t[o, :, i], w[0, :, 0], row, gy[o, :, i],
                         gz[o, :, i], s, write_grads, *args)
                if write_grads:
                    gx[o, :, i] = row
                acc += loss
                if write_losses:
                    losses[r] = loss
            partial[k] = acc

    def make(loop):
        def unit(partial, losses, gx, gy, gz, x, y, z, t, w, scale, divisor, rows, args, scratch):
            inverse = 1.0 / hoist(divisor)
            for k in loop(partial.size):
                acc = 0.0
                for r in range(k * ROW_CHUNK, min(rows, (k + 1) * ROW_CHUNK)):
                    s = at(scale, r) * inverse
                    loss = f(x[r], y[r], z[r], t[r], w[0], gx[r] if write_grads else scratch[k],
                             gy[r], gz[r], s, write_grads, *args)
                    acc += loss
                    if write_losses:
                        losses[r] = loss
                partial[k] = acc

        return unit

    unit = _twin(make, lambda *arguments: arguments[5].size, recipe=(map_row_loss, (f, writes)), _nrt=False)
    by_layout = _by_layout(strided, unit, rows=(5, 2, 3, 4, 6, 7, 8, 9))  # x first

    def launch(partial, losses, gx, gy, gz, x, *rest):
        by_layout(partial, losses, gx, gy, gz, x, *rest, scratch_rows(partial, x, write_grads and x.shape[2] == 1))

    launch.single = unit.single
    return launch


def scratch_rows(partial, x, in_gx):
    """The scratch rows of map_row_loss's kernels: one of x's row length per chunk of rows
    (partial sum), none where the row functions work in gx's rows (``in_gx``)."""
    return np.empty((partial.size, 0 if in_gx else x.shape[1]), x.dtype)


@cache
def small_row_loss(f, writes, inputs, target):
    """A whole class or vector loss call on one thread, as ``small_loss`` is for the
    element-wise losses: the kernel of map_row_loss(f, writes) behind a lean signature.
    ``entry(*outs, *operands, scale, divisor, args)``: outs the arrays written (the losses,
    then a gradient per input), the ``inputs`` (rows, n) operands, then the target: "classes"
    (int64 class indices, one per row; args[0] is ignore_index, and a negative divisor means
    the count of rows kept), "labels" (one value per row) or None. Returns (the first row
    whose class index is outside [0, n) and not ignore_index, or −1; Σ loss / divisor)."""
    write_losses, write_grads = writes
    grads = ["gx", "gy", "gz"][:inputs if write_grads else 0]
    outs = ["losses"] * write_losses + grads
    operands = ["x", "y", "z"][:inputs] + ["t"] * (target is not None)
    source = f"""
def make(kernel, classes):
    def entry({", ".join(outs + operands)}, scale, divisor, args):
        rows, n = x.shape
        dtype = x.dtype
        w = np.empty((1, n if classes else 0), dtype)  # (np.ones would be one more compilation)
        for c in range(w.shape[1]):
            w[0, c] = 1
        if classes:
            bad, kept = class_check(t, args[0], n)
            if bad >= 0:
                return bad, 0.0
            divisor = float(kept) if divisor < 0 else divisor
        none = {grads[0] if grads else "np.empty((rows, 0), dtype)"}  # not written: a stand-in of the type
        {"".join(f"{name} = none; " for name in ("gx", "gy", "gz") if name not in grads)}
        {"".join(f"{name} = x; " for name in ("y", "z")[inputs - 1:])}
        {"t2 = t.reshape((rows, 1))" if target else "t2 = none"}
        {"" if write_losses else "losses = w[0]  # never written: a stand-in of the type"}
        partial = np.empty(-(-rows // ROW_CHUNK))
        scratch = np.empty((partial.size, {0 if write_grads else "n"}), dtype)
        kernel(partial, losses, gx, gy, gz, x, y, z, t2, w, as_dtype(x, scale), float(divisor), rows, args,
               scratch)
        return -1, _sum(partial) / divisor
    return entry
"""
    return _entry(source, _inlined(map_row_loss(f, writes).single, _nrt=False), target == "classes")


@inline_only  # not cached: inlined where it is called (see _inlined)
def _sum(partial):
    total = 0.0
    for k in range(partial.size):
        total += partial[k]
    return total


@_njit()
def sum_partials(result, partial, divisor):
    """result[0] = Σ partial / divisor (0-d), summed in order."""
    result[0] = _sum(partial) / divisor[()]


def pending() -> None:
    """The CPU's checks give their positions at once (the GPU's later: numact._cuda.Pending)."""
    return None


def stop(_checks) -> tuple:
    """The loss kernels take no check results: the CPU's checks have raised before them."""
    return ()


def check_classes(t: np.ndarray, w: np.ndarray, ignore_index: int, classes: int, _checks=None,
                  unit_weights: bool = False):
    """(the first position of a target outside [0, classes) that is not ignore_index, or −1;
    Σ w[t] over the kept targets as a 0-d float64 array: their count where ``unit_weights``
    says every w is 1)."""
    total = np.zeros(())
    return _check_classes(total.reshape(1), t, w, ignore_index, classes, unit_weights), total


@_njit()
def _check_classes(total, t, w, ignore_index, classes, unit_weights):
    bad, kept = class_check(t, ignore_index, classes)
    if bad >= 0:
        return bad
    if unit_weights:
        total[0] = kept
        return -1
    acc = 0.0  # in a register: a sum into total[0] would go through memory at every element
    for r in range(t.size):
        k = t[r]
        if k != ignore_index:
            acc += w[k]
    total[0] = acc
    return -1


@inline_only
def class_check(t, ignore_index, classes):
    """(the first position of a class index in t outside [0, classes) that is not ignore_index,
    or −1; how many are not ignore_index). One SIMD pass with no exit (an exit at the first bad
    index keeps a loop scalar) finds whether there is one, by one unsigned compare, and counts;
    the position is searched only then. 65,536 targets: 13 µs, where a scalar loop that also
    summed w[t] took 90, its float sum waiting out each add."""
    bad = 0
    kept = 0
    for r in range(t.size):
        k = t[r]
        keep = np.int64(k != ignore_index)
        kept += keep
        bad |= keep & np.int64(np.uint64(k) >= np.uint64(classes))
    if bad:
        for r in range(t.size):
            k = t[r]
            if k != ignore_index and (k < 0 or k >= classes):
                return r, kept
    return -1, kept


def first_outside(a: np.ndarray, low: float, high: float, _checks=None) -> int:
    """The first flat position of ``a`` outside [low, high] (NaN is outside), or −1."""
    return _first_outside(a.reshape(a.size), low, high)


@_njit(parallel=True)
def _first_outside(a, low, high):
    # A vectorised or-reduction per chunk, in parallel; then the first flagged chunk, scanned.
    chunks = -(-a.size // CHUNK)
    flagged = np.zeros(chunks, np.bool_)
    for k in prange(chunks):
        bad = False
        for i in _chunk(k, CHUNK, a.size):
            bad |= not (a[i] >= low and a[i] <= high)
        flagged[k] = bad
    for k in range(chunks):
        if flagged[k]:
            for i in range(k * CHUNK, min(a.size, (k + 1) * CHUNK)):
                if not (a[i] >= low and a[i] <= high):
                    return i
    return -1
