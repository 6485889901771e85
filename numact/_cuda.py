"""CUDA launchers: grid-stride kernels that apply numact's scalar and row functions.

The same launcher names and arguments as ``numact._cpu``; the math is the same ``@jit``
functions, compiled for the GPU. Imported only when a CUDA array is seen, so that the CPU path
never pays for ``numba.cuda``. Under Numba's simulator (``NUMBA_ENABLE_CUDASIM=1``) launches
use small grids, since the simulator runs one Python thread per GPU thread.
"""

import contextlib
import contextvars
import math
import sys
from functools import cache

import numba
import numpy as np
from numba import config, cuda, float64, types

from . import _jit, _launch, _primitives
from ._cache import keyed, on_disk
from ._primitives import at, like, maximum, store_loss_element

_primitives.register_cuda()
_jit.register_cuda()

SIMULATOR = bool(config.ENABLE_CUDASIM)
THREADS = 32 if SIMULATOR else 256  # a power of two: the block reduction halves it
MAX_BLOCKS = 4 if SIMULATOR else 8192

if SIMULATOR:
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray as DeviceArray

    def _row(a, o, i):
        """Row (o, :, i) of a 3-D array. The simulator hands kernels wrapped arrays, and the
        @jit row functions take the NumPy view inside."""
        return a._ary[o, :, i]

else:
    from numba.cuda.cudadrv.devicearray import DeviceNDArray as DeviceArray

    @cuda.jit(device=True, inline="always")
    def _row(a, o, i):
        """Row (o, :, i) of a 3-D array, inlined in Numba's IR: a compiled device function
        may not return a view."""
        return a[o, :, i]


# What NVVM is told for numact's kernels, so that they round as the CPU does: IEEE division and
# square root and no flush of subnormals to zero (NVVM's defaults, said), and no contraction of a
# multiply and an add into an FMA (NVVM's default contracts wherever it sees fit, and rounds
# otherwise than the CPU's code; the math core fuses where it says so, with ``_bits.fma``).
NVVM_OPTIONS = {"fma": False, "prec_div": True, "prec_sqrt": True, "ftz": False}
_numact_compiling = contextvars.ContextVar("numact_compiling", default=False)


def _pass_nvvm_options() -> None:
    """numba-cuda has no per-kernel option for NVVM's contraction: its call of NVVM is wrapped
    so that NVVM_OPTIONS join the options while numact compiles (``nvvm_options``), and only
    then; other kernels in the process compile as numba-cuda compiles them."""
    from numba.cuda.cudadrv import nvvm

    compile_ir = nvvm.compile_ir
    if getattr(compile_ir, "numact", False):
        return

    def compile_with_numact_options(llvmir, **options):
        if _numact_compiling.get():
            options = {**options, **NVVM_OPTIONS}
        return compile_ir(llvmir, **options)

    compile_with_numact_options.numact = True
    nvvm.compile_ir = compile_with_numact_options


if not SIMULATOR:
    _pass_nvvm_options()


@contextlib.contextmanager
def nvvm_options():
    """Within: NVVM compiles with NVVM_OPTIONS (numact's kernels, and the tests' builds of them)."""
    token = _numact_compiling.set(True)
    try:
        yield
    finally:
        _numact_compiling.reset(token)


def _kernel(fn):
    """``cuda.jit`` for a launcher's kernel: cached on disk (per compute capability), safely
    for several processes (numact._cache), compiled with NVVM_OPTIONS."""
    dispatcher = keyed(cuda.jit(cache=on_disk())(fn))
    if not SIMULATOR:
        compile = dispatcher.compile

        def compile_with_numact_options(sig):
            with nvvm_options():
                return compile(sig)

        dispatcher.compile = compile_with_numact_options
    return dispatcher


def build(kernel, argtypes: tuple, ccs: tuple) -> tuple[str, dict]:
    """(the LLVM IR handed to NVVM, {cc: PTX}) of ``kernel`` (a launcher's, or any ``cuda.jit``
    kernel) for ``argtypes`` and each compute capability of ``ccs``, built as numact builds
    it; no GPU needed."""
    from numba.cuda.compiler import compile_cuda

    with nvvm_options():
        result = compile_cuda(kernel.py_func, types.void, argtypes, cc=max(ccs), nvvm_options={"opt": 3})
        return result.library.get_llvm_str(), {cc: result.library.get_asm_str(cc=cc) for cc in ccs}


def is_device_array(obj) -> bool:
    return isinstance(obj, DeviceArray)


def asarray(obj):
    """A numba device array over ``obj``'s GPU memory (zero-copy for CuPy and torch). The
    stream ``obj`` names is not waited for: the call runs on its library's current stream
    (``follow``), after what was queued there, as the library's own calls do."""
    return obj if isinstance(obj, DeviceArray) else cuda.as_cuda_array(obj, sync=False)


def empty(shape, dtype):
    """A new device array from the call's allocator (``follow``): the memory pool of the library
    the call's arrays come from (torch's caching allocator, CuPy's pool), numba's memory manager
    (and the pool of an EMM plugin such as RMM's, where one is set) for numba arrays."""
    return _ALLOCATE.get()(shape, np.dtype(dtype))


def _numba_empty(shape, dtype):
    return cuda.device_array(shape, dtype)


_ALLOCATE = contextvars.ContextVar("numact_allocate", default=_numba_empty)


@cache
def _torch_dtype(dtype: np.dtype):
    return sys.modules["torch"].from_numpy(np.empty(0, dtype)).dtype


def _held(obj):
    """A numba view of a library's new array, holding the array, which ``deliver`` hands back
    as it is (no second view made); a numba array (or a subclass) is its own view."""
    a = asarray(obj)
    if a is not obj:
        a.numact_held = obj
    return a


def _allocator(library: str, like):
    """How ``empty`` allocates for a call whose first array ``like`` is of ``library``."""
    if library == "torch":
        torch, device = sys.modules["torch"], like.device
        return lambda shape, dtype: _held(torch.empty(shape, dtype=_torch_dtype(dtype), device=device))
    if library == "cupy":
        cupy = sys.modules["cupy"]
        return lambda shape, dtype: _held(cupy.empty(shape, dtype))
    return _numba_empty


# The stream a call's kernels and copies run on: the caller's (``follow``), so that a call sits
# in order between the caller's own kernels on that stream (a torch side stream, CuPy's current
# stream); the default stream for numba arrays. Kept as the stream's handle (0: the default).
_STREAM = contextvars.ContextVar("numact_stream", default=0)


def stream():
    """numba's object for the call's stream (0 for the default stream)."""
    handle = _STREAM.get()
    return _external_stream(handle) if handle else 0


def _library(like) -> str:
    """The top-level package of ``like``'s type: "torch", "cupy", "numba", ..."""
    return type(like).__module__.partition(".")[0]


def device_of(obj) -> int | None:
    """The ordinal of the GPU that holds ``obj``, where its library says (a torch tensor, a CuPy
    array); None for a numba array (numba's own, in its current context) and the rest."""
    library = _library(obj)
    if library == "torch":
        return obj.device.index
    if library == "cupy":
        return obj.device.id
    return None


def current_device() -> int:
    """The ordinal of the GPU numba launches on: its context in this thread, which is the current
    device's when numba first runs in the thread, and stays (0 in the simulator)."""
    return getattr(cuda.get_current_device(), "id", 0)


def check_devices(name: str, arrays: dict) -> None:
    """Refuse arrays on different GPUs, or on a GPU other than the current one (the kernels
    would run on the current one, with the caller's stream and memory on another)."""
    where = {arg: device_of(a) for arg, a in arrays.items()}
    devices = sorted({d for d in where.values() if d is not None})
    if len(devices) > 1:
        found = ", ".join(f"{arg} on cuda:{d}" for arg, d in where.items() if d is not None)
        raise ValueError(f"numact.{name}: {found}; pass them on one GPU")
    if devices and devices[0] != (current := current_device()):
        d = devices[0]
        raise ValueError(
            f"numact.{name}: the arrays are on cuda:{d}, but numba runs kernels on cuda:{current} in this "
            f"thread; make cuda:{d} the current device before the thread's first GPU call "
            f"(torch.cuda.set_device({d}), cupy.cuda.Device({d}).use() or numba.cuda.select_device({d}))"
        )


def follow(like) -> None:
    """Run this call on the current stream of ``like``'s library, and allocate from its memory
    pool (``empty``): torch's for a torch tensor (on its device), CuPy's for a CuPy array, the
    default stream and numba's memory manager for anything else. Every CUDA call sets it first
    (numact._api._Call, numact._loss_api._LossCall)."""
    library = _library(like)
    handle = 0
    if library == "torch":
        handle = sys.modules["torch"].cuda.current_stream(like.device).cuda_stream
    elif library == "cupy":
        handle = sys.modules["cupy"].cuda.get_current_stream().ptr
    _STREAM.set(handle)
    _ALLOCATE.set(_allocator(library, like))


@cache
def _external_stream(handle: int):
    """numba's view of a stream another library made (it owns and destroys it)."""
    return cuda.external_stream(handle)


@cache
def _core_stream(handle: int):
    """cuda.core's view of the stream ``handle`` (0: the default stream), as numba's launch makes it."""
    from numba.cuda.cudadrv import driver

    return driver._to_core_stream(_external_stream(handle) if handle else 0)


def launch_kernel(kernel, blocks: int, *args) -> None:
    """kernel[blocks, THREADS] on the call's stream: on a GPU launched directly
    (numact._launch: no dispatcher), under the simulator by numba."""
    if SIMULATOR:
        kernel[blocks, THREADS, stream()](*args)
    else:
        handle = _STREAM.get()
        _launch.direct(kernel).launch(blocks, THREADS, _core_stream(handle), stream(), args)


def to_host(a) -> np.ndarray:
    """A host copy of the device array ``a``, once the call's stream has reached it."""
    s = stream()
    if not s:
        return a.copy_to_host()
    host = a.copy_to_host(stream=s)
    s.synchronize()
    return host


def deliver(result, given, like):
    """A result as the caller gets it: their own ``out=`` object when they gave one; else
    ``result`` (a numba device array numact made) as an array of the library of ``like`` (the
    call's first array): a torch tensor for a torch tensor, a CuPy array for a CuPy array, over
    the same memory; a numba device array for anything else."""
    if given is not None:
        return given
    held = getattr(result, "numact_held", None)
    if held is not None:
        return held
    library = _library(like)
    if library == "torch":
        return sys.modules["torch"].as_tensor(result, device=like.device)
    if library == "cupy":
        return sys.modules["cupy"].asarray(result)
    return result


def _blocks(n: int) -> int:
    return min(MAX_BLOCKS, max(1, -(-n // THREADS)))


def contiguous(a, dtype):
    """``a`` as a C-contiguous device array of ``dtype``: ``a`` itself when it already is one."""
    if a.is_c_contiguous() and a.dtype == dtype:
        return a
    converted = empty(a.shape, dtype)
    copy_into(converted, a)
    return converted


def broadcast(a, shape):
    """``a`` broadcast to ``shape`` as NumPy broadcasts (a ValueError where it can't)."""
    shape = tuple(shape)
    if tuple(a.shape) == shape:
        return a
    if np.broadcast_shapes(tuple(a.shape), shape) != shape:
        raise ValueError(f"shape {tuple(a.shape)} does not broadcast to {shape}")
    padded = (1,) * (len(shape) - a.ndim) + tuple(a.shape)
    result = empty(shape, a.dtype)
    copy_into(result, contiguous(a, a.dtype).reshape(padded))
    return result


def copy_into(dst, src) -> None:
    """dst[...] = src for device arrays of any strides, converting the dtype; ``src`` has
    dst's rank and dst's shape or 1 along each axis (broadcast)."""
    if dst.size == 0:
        return
    if dst.ndim == 0:
        dst, src = dst.reshape(1), src.reshape(1)
    launch_kernel(_copy_kernel(dst.ndim), _blocks(dst.size), dst, src)


@cache
def _copy_kernel(ndim: int):
    """A grid-stride kernel copying between two ``ndim``-dimensional arrays of any strides,
    reading ``src`` modulo its shape so that its axes of length 1 broadcast.

    Written out per rank, since a kernel indexes an array with a tuple of fixed length: for
    ndim 2 the body reads ``i1 = r % dst.shape[1]; r //= dst.shape[1]; i0 = ...;
    dst[i0, i1] = src[i0 % src.shape[0], i1 % src.shape[1]]``.
    """
    unravel = "".join(
        f"        i{d} = r % dst.shape[{d}]\n        r //= dst.shape[{d}]\n"
        for d in reversed(range(ndim))
    )
    dst_index = ", ".join(f"i{d}" for d in range(ndim))
    src_index = ", ".join(f"i{d} % src.shape[{d}]" for d in range(ndim))
    source = (
        "def copy(dst, src):\n"
        "    for k in range(cuda.grid(1), dst.size, cuda.gridsize(1)):\n"
        "        r = k\n"
        f"{unravel}"
        f"        dst[{dst_index}] = src[{src_index}]\n"
    )
    namespace = {"cuda": cuda}
    # compiled as if written in this file, so that numba keeps it on disk as numact's other kernels
    exec(compile(source, __file__, "exec"), namespace)  # noqa: S102 - one kernel per rank
    return _kernel(namespace["copy"])


def data_pointer(a) -> int:
    if SIMULATOR:
        return a._ary.__array_interface__["data"][0]
    return a.__cuda_array_interface__["data"][0]


def is_c_contiguous(a) -> bool:
    return a.is_c_contiguous()


def is_writeable(a) -> bool:
    return True


def from_host(a: np.ndarray):
    return cuda.to_device(np.asarray(a, order="C"))


_CONSTANTS: dict = {}


def constant(a: np.ndarray):
    """A device copy of ``a``, a host array that is never written and made once (the losses'
    ones, divisors and unit weights), itself made once per GPU context: a call then copies
    nothing to the device for it. Kept by the identities of the host array and of numba's
    context object (which is not hashable), both of which the entry holds."""
    context = None if SIMULATOR else cuda.current_context()
    key = (id(context), id(a))
    found = _CONSTANTS.get(key)
    if found is None or found[0] is not a or found[1] is not context:
        if len(_CONSTANTS) >= 256:
            _CONSTANTS.clear()
        found = _CONSTANTS[key] = (a, context, from_host(a))
    return found[2]


def _launcher(kernel, size_of, blocks=_blocks):
    """Launch ``kernel`` on a grid sized for ``size_of(*arrays)`` work items."""

    def launch(out, *arrays):
        n = size_of(out)
        if n:
            launch_kernel(kernel, blocks(n), out, *arrays)

    launch.kernel = kernel
    return launch


def _size(a):
    return a.size


def parameters(args: tuple, dtype) -> tuple:
    """The element-wise kernels' parameters: the tuple itself (an array would be copied to the
    device on every launch)."""
    return args


# An element-wise kernel: a block owns a tile of TILE·THREADS consecutive elements and each
# thread TILE of them, THREADS apart (a warp's loads are consecutive), all four loaded before
# any is computed, so that a thread keeps four loads in flight (the kernels write the four out);
# a grid of more tiles than MAX_TILES takes the rest grid-stride.
TILE = 4
MAX_TILES = 4 if SIMULATOR else 1 << 20


def _tiles(n: int) -> int:
    return min(MAX_TILES, max(1, -(-n // (TILE * THREADS))))


def _unary_tiles(element):
    """A kernel writing out[i] = element(x[i], i, args) over flat arrays, in tiles."""
    element = cuda.jit(device=True)(element)

    @_kernel
    def kernel(out, x, args):
        n, width = x.size, cuda.blockDim.x
        for first in range(cuda.blockIdx.x * width * TILE, n, cuda.gridDim.x * width * TILE):
            i = first + cuda.threadIdx.x
            if first + width * TILE <= n:  # a whole tile
                x0, x1, x2, x3 = x[i], x[i + width], x[i + 2 * width], x[i + 3 * width]
                out[i] = element(x0, i, args)
                out[i + width] = element(x1, i + width, args)
                out[i + 2 * width] = element(x2, i + 2 * width, args)
                out[i + 3 * width] = element(x3, i + 3 * width, args)
            else:
                for j in range(i, n, width):
                    out[j] = element(x[j], j, args)

    return kernel


def _binary_tiles(element):
    """A kernel writing out[i] = element(g[i], x[i], i, args) over flat arrays, in tiles."""
    element = cuda.jit(device=True)(element)

    @_kernel
    def kernel(out, g, x, args):
        n, width = x.size, cuda.blockDim.x
        for first in range(cuda.blockIdx.x * width * TILE, n, cuda.gridDim.x * width * TILE):
            i = first + cuda.threadIdx.x
            if first + width * TILE <= n:  # a whole tile
                g0, g1, g2, g3 = g[i], g[i + width], g[i + 2 * width], g[i + 3 * width]
                x0, x1, x2, x3 = x[i], x[i + width], x[i + 2 * width], x[i + 3 * width]
                out[i] = element(g0, x0, i, args)
                out[i + width] = element(g1, x1, i + width, args)
                out[i + 2 * width] = element(g2, x2, i + 2 * width, args)
                out[i + 3 * width] = element(g3, x3, i + 3 * width, args)
            else:
                for j in range(i, n, width):
                    out[j] = element(g[j], x[j], j, args)

    return kernel


@cache
def map_unary(f, arity):
    """out[i] = f(x[i], *args) over flat arrays (args: ``arity`` values), in tiles."""

    def element(x, i, args):
        return f(x, *args)

    return _launcher(_unary_tiles(element), _size, blocks=_tiles)


@cache
def map_binary(f, arity):
    """out[i] = f(g[i], x[i], *args) over flat arrays (args: ``arity`` values), in tiles."""

    def element(g, x, i, args):
        return f(g, x, *args)

    return _launcher(_binary_tiles(element), _size, blocks=_tiles)


# A row kernel: a group of ``lanes`` threads a row (a power of two, up to a block), each thread
# taking every lanes-th element of the row (a warp's loads are consecutive); a block holds
# THREADS // lanes groups. Rows side by side in memory (inner > 1) take a thread a row instead,
# which reads them consecutively. ROW_SHARE: the elements a thread takes at least, where the
# row is long enough (a guess, not yet measured on a GPU: fewer lanes, fewer barriers a row).
ROW_SHARE = 8


def lanes_for(n: int, inner: int) -> int:
    """The threads a row of ``n`` elements, ``inner`` apart, is split between."""
    lanes = 1
    while inner == 1 and lanes < THREADS and lanes * ROW_SHARE < n:
        lanes *= 2
    return lanes


if SIMULATOR:

    def _share(a, o, i, lane, lanes):
        """Every lanes-th element of row (o, :, i) from ``lane`` on (the NumPy view inside
        the simulator's array, as in _row)."""
        return a._ary[o, lane::lanes, i]

else:

    @cuda.jit(device=True, inline="always")
    def _share(a, o, i, lane, lanes):
        """Every lanes-th element of row (o, :, i) from ``lane`` on."""
        return a[o, lane::lanes, i]


@cuda.jit(device=True)
def _group_row(first, lanes, rows, inner):
    """(active, r, o, i): the row r = (o, i) the thread's group takes when its block's turn
    starts at row ``first``. A group past the last row takes the last row again and is not
    active (writes nothing), so that every thread of the block meets every barrier."""
    r = first + cuda.threadIdx.x // lanes
    active = r < rows
    r = min(r, rows - 1)
    return active, r, r // inner, r % inner


@cuda.jit(device=True)
def _group_sums(partial, a, b, c, lanes):
    """(Σ a, Σ b, Σ c) over the thread's group of ``lanes`` threads, returned to each of them.

    As _block_sum, halving in shared memory (``partial``: 3 × THREADS float64) in a fixed
    order. Every thread of the block calls it, the same number of times.
    """
    t = cuda.threadIdx.x
    partial[0, t] = a
    partial[1, t] = b
    partial[2, t] = c
    cuda.syncthreads()
    step = lanes // 2
    while step > 0:
        if t % lanes < step:
            partial[0, t] += partial[0, t + step]
            partial[1, t] += partial[1, t + step]
            partial[2, t] += partial[2, t + step]
        cuda.syncthreads()
        step //= 2
    first = t - t % lanes
    a, b, c = partial[0, first], partial[1, first], partial[2, first]
    cuda.syncthreads()  # every thread has read its sums before they are written again
    return a, b, c


@cuda.jit(device=True)
def _group_max(partial, value, lanes):
    """max of value over the thread's group (NaN if any is NaN) in float64 (exact for float32),
    as _group_sums (``partial``: THREADS float64)."""
    t = cuda.threadIdx.x
    partial[t] = value
    cuda.syncthreads()
    step = lanes // 2
    while step > 0:
        if t % lanes < step:
            partial[t] = maximum(partial[t], partial[t + step])
        cuda.syncthreads()
        step //= 2
    peak = partial[t - t % lanes]
    cuda.syncthreads()
    return peak


def _row_launcher(split):
    """Launch a row function as its pieces (numact.activations: ``split_into``) over every row
    (o, :, i) of (outer, n, inner) arrays: ``launch(out, x, args)`` or ``launch(out, g, x,
    args)``."""
    peak, terms, finish, element = split

    def write_share(gs, xs, outs, m, s1, s2, args):
        c1, c2 = finish(s1, s2, m, *args)
        for j in range(outs.shape[0]):
            outs[j] = element(gs[j], xs[j], m, c1, c2, *args)

    # Compiled as a whole also in the simulator, where values handed back to Python would lose
    # their float32 type between the pieces.
    write_share = numba.njit(write_share) if SIMULATOR else cuda.jit(device=True)(write_share)

    @_kernel
    def kernel(out, g, x, lanes, args):
        partial = cuda.shared.array((3, THREADS), float64)
        lane, groups = cuda.threadIdx.x % lanes, cuda.blockDim.x // lanes
        inner = x.shape[2]
        rows = x.shape[0] * inner
        for first in range(cuda.blockIdx.x * groups, rows, cuda.gridDim.x * groups):
            active, _, o, i = _group_row(first, lanes, rows, inner)
            xs, gs = _share(x, o, i, lane, lanes), _share(g, o, i, lane, lanes)
            m = like(x[o, 0, i], _group_max(partial[0], peak(xs, *args), lanes))
            s1, s2 = terms(gs, xs, m, *args)
            s1, s2, _ = _group_sums(partial, s1, s2, 0.0, lanes)
            if active:
                write_share(gs, xs, _share(out, o, i, lane, lanes), m, s1, s2, args)

    def launch(out, *arrays_and_args):
        *arrays, args = arrays_and_args
        outer, n, inner = out.shape
        if outer * n * inner:
            lanes = lanes_for(n, inner)
            blocks = min(MAX_TILES, -(-outer * inner * lanes // THREADS))
            launch_kernel(kernel, blocks, out, arrays[0], arrays[-1], lanes, args)

    launch.kernel = kernel
    return launch


@cache
def map_rows(f, arity):
    """f(x[o, :, i], out[o, :, i], *args) for every row of (outer, n, inner) arrays, run as the
    pieces f is split into, by a group of threads a row (``_row_launcher``)."""
    return _row_launcher(f.split)


@cache
def map_rows_binary(f, arity):
    """f(g[o, :, i], x[o, :, i], out[o, :, i], *args) for every row, as map_rows."""
    return _row_launcher(f.split)


@cuda.jit(device=True)
def _channel(k, channels, inner):
    """The channel of flat position k of a C-contiguous (outer, channels, inner) array."""
    return (k // inner) % channels


def _channels_launcher(kernel):
    """Launch a tile kernel over flat views of C-contiguous (outer, channels, inner) arrays,
    its args (the weight, 1-D, with the channels and inner length)."""

    def launch(out, *arrays):
        *arrays, w = arrays
        if out.size:
            flat = [a.reshape(a.size) for a in (out, *arrays)]
            launch_kernel(kernel, _tiles(out.size), *flat, (w, out.shape[1], out.shape[2]))

    launch.kernel = kernel
    return launch


@cache
def map_channels(f):
    """out[o, c, i] = f(x[o, c, i], w[c]) over C-contiguous (outer, channels, inner) arrays,
    flat, in tiles as map_unary; c from each element's flat position."""

    def element(x, k, args):
        w, channels, inner = args
        return f(x, w[_channel(k, channels, inner)])

    return _channels_launcher(_unary_tiles(element))


@cache
def map_channels_binary(f):
    """out[o, c, i] = f(g[o, c, i], x[o, c, i], w[c]) over C-contiguous (outer, channels,
    inner) arrays, flat, in tiles as map_binary."""

    def element(g, x, k, args):
        w, channels, inner = args
        return f(g, x, w[_channel(k, channels, inner)])

    return _channels_launcher(_binary_tiles(element))


@cuda.jit(device=True)
def _block_sum(partial, value):
    """Σ value over the block's threads into thread 0's return value.

    The threads' values halve in shared memory (``partial``, THREADS float64): a fixed order,
    so the same input gives the same bits on every run, with no atomics.
    """
    t = cuda.threadIdx.x
    partial[t] = value
    cuda.syncthreads()
    step = THREADS // 2
    while step > 0:
        if t < step:
            partial[t] += partial[t + step]
        cuda.syncthreads()
        step //= 2
    total = partial[0]
    cuda.syncthreads()  # every thread has read partial[0] before it is written again
    return total


# A channel's sum is split between up to SUM_BLOCKS // channels blocks (at least THREADS ·
# ROW_SHARE elements each), so that one weight for all channels (nn.PReLU's default) is not a
# whole tensor summed by one block; the blocks' sums are then added per channel, in order.
SUM_BLOCKS = 4 if SIMULATOR else 1024


def _channel_parts(n: int, channels: int) -> int:
    """The blocks each channel's ``n`` elements are summed by."""
    return max(1, min(-(-n // (THREADS * ROW_SHARE)), SUM_BLOCKS // channels))


@_kernel
def _sum_parts(total, partial):
    """total[c] = Σ_j partial[c, j], a block per channel, in a fixed order."""
    shared = cuda.shared.array(THREADS, float64)
    for c in range(cuda.blockIdx.x, partial.shape[0], cuda.gridDim.x):
        acc = 0.0
        for j in range(cuda.threadIdx.x, partial.shape[1], cuda.blockDim.x):
            acc += partial[c, j]
        acc = _block_sum(shared, acc)
        if cuda.threadIdx.x == 0:
            total[c] = acc


# Where a channel's elements lie less than a warp apart in memory (inner < SHORT_INNER: an
# (N, C) input, channels last), a thread a channel would read a float of each 32-byte sector:
# there blocks take columns (channel, i) side by side instead, each thread one column over a
# share of the rows, the rows of a block consecutive in memory.
SHORT_INNER = 32


def _column_tiles(columns: int) -> tuple:
    """(width, lanes, tiles): a block's columns, the rows it reads at once, and the blocks
    side by side that cover all the columns."""
    width = max(1, min(columns, THREADS))
    return width, THREADS // width, max(1, -(-columns // width))


def _column_parts(outer: int, columns: int) -> int:
    """The parts the rows are split into (a block per part and tile), each of at least
    ROW_SHARE rows per lane."""
    _, lanes, tiles = _column_tiles(columns)
    return max(1, min(-(-outer // (lanes * ROW_SHARE)), SUM_BLOCKS // tiles))


@cache
def sum_channels(f):
    """total[c] = Σ_{o, i} f(g[o, c, i], x[o, c, i]) in float64, in a fixed order (the same bits
    on every run): the terms summed in parts, a block a part, then the parts per channel
    (``_sum_parts``). Parts by channel: each channel's (o, i) split into ``_channel_parts``
    consecutive parts, each thread a strided share. Parts by column, where inner <
    SHORT_INNER: the rows split into ``_column_parts`` parts, a block a part of the rows and a
    tile of the columns (c, i), each thread one column and every lanes-th row."""

    @_kernel
    def kernel(partial, g, x):
        shared = cuda.shared.array(THREADS, float64)
        t = cuda.threadIdx.x
        channels, parts = partial.shape
        inner = x.shape[2]
        n = x.shape[0] * inner
        per = -(-n // parts)
        for b in range(cuda.blockIdx.x, channels * parts, cuda.gridDim.x):
            c, part = b // parts, b % parts
            acc = 0.0
            for k in range(part * per + t, min(n, (part + 1) * per), cuda.blockDim.x):
                o, i = k // inner, k % inner
                acc += f(g[o, c, i], x[o, c, i])
            acc = _block_sum(shared, acc)
            if t == 0:
                partial[c, part] = acc

    @_kernel
    def by_columns(partial, g, x):
        """partial[c, i·parts + part]: column (c, i)'s sum over one part of the rows."""
        shared = cuda.shared.array(THREADS, float64)
        t = cuda.threadIdx.x
        outer, channels, inner = x.shape
        parts = partial.shape[1] // inner
        columns = channels * inner
        width = min(columns, cuda.blockDim.x)
        lanes = cuda.blockDim.x // width
        tiles = -(-columns // width)
        per = -(-outer // parts)
        lane = t // width
        for b in range(cuda.blockIdx.x, tiles * parts, cuda.gridDim.x):
            tile, part = b % tiles, b // tiles
            j = tile * width + t % width
            c, i = j // inner, j % inner
            acc = 0.0
            if lane < lanes and j < columns:
                for o in range(part * per + lane, min(outer, (part + 1) * per), lanes):
                    acc += f(g[o, c, i], x[o, c, i])
            shared[t] = acc
            cuda.syncthreads()
            if lane == 0 and j < columns:
                for other in range(1, lanes):  # the column's lanes, in order
                    acc += shared[t + other * width]
                partial[c, i * parts + part] = acc
            cuda.syncthreads()  # every lane 0 has read shared before it is written again

    def launch(total, g, x):
        outer, channels, inner = x.shape
        if not channels:
            return
        if inner < SHORT_INNER:
            parts = _column_parts(outer, channels * inner)
            partial = empty((channels, inner * parts), np.float64)
            if inner:
                launch_kernel(by_columns, min(_column_tiles(channels * inner)[2] * parts, MAX_BLOCKS),
                              partial, g, x)
        else:
            partial = empty((channels, _channel_parts(outer * inner, channels)), np.float64)
            launch_kernel(kernel, min(partial.size, MAX_BLOCKS), partial, g, x)
        launch_kernel(_sum_parts, min(channels, MAX_BLOCKS), total, partial)

    launch.kernel = kernel
    launch.by_columns = by_columns
    return launch


# --- losses ---------------------------------------------------------------------------------
# As on the CPU: a loss kernel writes float64 partial sums (one per block, in a fixed order),
# sum_partials adds them in one block; what it writes is fixed when it is made (`writes`).


def partials(n: int, rows: bool = False):
    """The partial sums a loss kernel over ``n`` elements (or rows) writes: one per block (a
    block for each row at most, where a row may take a whole block: map_row_loss)."""
    return empty(min(MAX_BLOCKS, max(1, n)) if rows else _blocks(n), np.float64)


def _on_partials(kernel):
    """Launch ``kernel(partial, ...)`` with a block per partial sum."""

    def launch(partial, *arrays):
        launch_kernel(kernel, partial.size, partial, *arrays)

    launch.kernel = kernel
    return launch


@cache
def map_loss(f, writes):
    """For i < n: (ℓ_i, ∂a_i, ∂b_i) = f(a[i], b[i], c[i], d[i], *args), operands 1-D or 0-d.
    ``writes`` = (sum, losses, grads): a partial sum of ℓ per block, ℓ itself, and ∂a (grads 1;
    and ∂b, grads 2) times scale[i] / divisor (0-d)."""
    sum_losses, write_losses, grads = writes

    @_kernel
    def kernel(partial, losses, grad_a, grad_b, a, b, c, d, scale, divisor, n, args, stop):
        if _stopped(stop):
            return
        shared = cuda.shared.array(THREADS, float64)
        acc = 0.0
        inverse = 1.0 / divisor[()]  # one division per call, not per element
        for i in range(cuda.grid(1), n, cuda.gridsize(1)):
            loss, da, db = f(at(a, i), at(b, i), at(c, i), at(d, i), *args)
            if sum_losses:
                acc += loss
            store_loss_element(i, loss, da, db, at(scale, i) * inverse, losses, grad_a, grad_b,
                               write_losses, grads)
        acc = _block_sum(shared, acc)
        if cuda.threadIdx.x == 0:
            partial[cuda.blockIdx.x] = acc

    return _on_partials(kernel)


@cache
def map_row_loss(f, writes):
    """ℓ_r = f(x[o, :, i], y[o, :, i], z[o, :, i], t[o, :, i], w, gx[o, :, i], gy[o, :, i],
    gz[o, :, i], scale[r] / divisor, write_grads, *args) for every row r = (o, i), run as
    the pieces f is split into by a group of threads a row (a class loss: _split_row_loss; a
    vector loss: _split_vector_loss). ``w`` comes as a (1, C, 1) array. ``writes`` =
    (losses, grads): write ℓ itself, and the gradients; a partial sum of ℓ per block is always
    written."""
    if hasattr(f, "vector_split"):
        return _split_vector_loss(f.vector_split, writes)
    return _split_row_loss(f.split, writes)


def _split_vector_loss(split, writes):
    """A vector loss over rows (o, :, i), each row split between a group of threads as the
    softmax family's (_row_launcher), from the pieces of numact.losses (``split_vector_into``):
    three sums over the group, then the loss (added by the group's first thread) and the
    gradients' elements, each thread writing those of its share."""
    terms, finish, element = split
    write_losses, write_grads = writes

    def write_share(gx, gy, gz, x, y, z, lane, lanes, constants, args):
        for k in range(lane, x.shape[0], lanes):
            dx, dy, dz = element(x[k], y[k], z[k], constants, *args)
            gx[k] = dx
            gy[k] = dy
            if gz.shape[0]:  # a loss of two inputs is handed an empty third gradient
                gz[k] = dz

    write_share = numba.njit(write_share) if SIMULATOR else cuda.jit(device=True)(write_share)

    @_kernel
    def kernel(partial, losses, gx, gy, gz, x, y, z, t, _w, scale, divisor, rows, lanes, args, stop):
        if _stopped(stop):
            return
        shared = cuda.shared.array((3, THREADS), float64)
        lane, groups = cuda.threadIdx.x % lanes, cuda.blockDim.x // lanes
        inner = x.shape[2]
        acc = 0.0
        inverse = 1.0 / divisor[()]  # one division per call, not per element
        for first in range(cuda.blockIdx.x * groups, rows, cuda.gridDim.x * groups):
            active, r, o, i = _group_row(first, lanes, rows, inner)
            s1, s2, s3 = terms(_share(x, o, i, lane, lanes), _share(y, o, i, lane, lanes),
                               _share(z, o, i, lane, lanes), *args)
            s1, s2, s3 = _group_sums(shared, s1, s2, s3, lanes)
            loss, constants = finish(_row(t, o, i), s1, s2, s3, at(scale, r) * inverse, *args)
            if active:
                if write_grads:
                    write_share(_row(gx, o, i), _row(gy, o, i), _row(gz, o, i), _row(x, o, i), _row(y, o, i),
                                _row(z, o, i), lane, lanes, constants, args)
                if lane == 0:
                    acc += loss
                    if write_losses:
                        losses[r] = loss
        acc = _block_sum(shared[0], acc)
        if cuda.threadIdx.x == 0:
            partial[cuda.blockIdx.x] = acc

    def launch(partial, losses, gx, gy, gz, x, y, z, t, w, scale, divisor, rows, args, stop):
        lanes = lanes_for(x.shape[1], x.shape[2])
        launch_kernel(kernel, partial.size, partial, losses, gx, gy, gz, x, y, z, t, w, scale, divisor, rows,
                      lanes, args, stop)

    launch.kernel = kernel
    return launch


def _split_row_loss(split, writes):
    """A class loss over rows of classes (o, :, i), each row split between a group of threads
    as the softmax family's (_row_launcher), from the pieces of numact.losses: (x[k], w[k])
    picked, the row maximum and three sums over the group, then the loss (added by the
    group's first thread) and the gradient elements. Launched as map_row_loss's kernels are."""
    pick, peak, terms, finish, element = split
    write_losses, write_grads = writes

    def write_share(gx, x, t, w, m, c1, c2, c3, lane, lanes, args):
        for c in range(lane, x.shape[0], lanes):
            gx[c] = element(c, x, t, w, m, c1, c2, c3, *args)

    write_share = numba.njit(write_share) if SIMULATOR else cuda.jit(device=True)(write_share)

    @_kernel
    def kernel(partial, losses, gx, x, t, w, scale, divisor, rows, lanes, args, stop):
        if _stopped(stop):
            return
        shared = cuda.shared.array((3, THREADS), float64)
        lane, groups = cuda.threadIdx.x % lanes, cuda.blockDim.x // lanes
        n, inner = x.shape[1], x.shape[2]
        acc = 0.0
        inverse = 1.0 / divisor[()]  # one division per call, not per element
        for first in range(cuda.blockIdx.x * groups, rows, cuda.gridDim.x * groups):
            active, r, o, i = _group_row(first, lanes, rows, inner)
            xr, tr, wr = _row(x, o, i), _row(t, o, i), _row(w, 0, 0)
            xk, wk = pick(xr, tr, wr, *args)  # before the barriers below, so before any write
            one = x[o, 0, i]
            xs = _share(x, o, i, lane, lanes)
            m = like(one, _group_max(shared[0], peak(xs, *args), lanes))
            s1, s2, s3 = terms(xs, _share(t, o, i, lane, lanes), _share(w, 0, 0, lane, lanes), m, n, *args)
            s1, s2, s3 = _group_sums(shared, s1, s2, s3, lanes)
            loss, c1, c2, c3 = finish(xk, wk, tr, n, m, s1, s2, s3, at(scale, r) * inverse, *args)
            if active:
                if write_grads:
                    write_share(_row(gx, o, i), xr, tr, wr, m, like(one, c1), like(one, c2), like(one, c3),
                                lane, lanes, args)
                if lane == 0:
                    acc += loss
                    if write_losses:
                        losses[r] = loss
        acc = _block_sum(shared[0], acc)
        if cuda.threadIdx.x == 0:
            partial[cuda.blockIdx.x] = acc

    def launch(partial, losses, gx, _gy, _gz, x, _y, _z, t, w, scale, divisor, rows, args, stop):
        if x.shape[1] == 0:  # no classes: every row ignored (else refused), its loss 0
            copy_into(partial, from_host(np.zeros(1)))
            if write_losses:
                copy_into(losses, from_host(np.zeros(1, losses.dtype)))
            return
        lanes = lanes_for(x.shape[1], x.shape[2])
        launch_kernel(kernel, partial.size, partial, losses, gx, x, t, w, scale, divisor, rows, lanes, args, stop)

    launch.kernel = kernel
    return launch


@_kernel
def _sum_partials(result, partial, divisor):
    shared = cuda.shared.array(THREADS, float64)
    acc = 0.0
    for k in range(cuda.threadIdx.x, partial.size, THREADS):
        acc += partial[k]
    acc = _block_sum(shared, acc)
    if cuda.threadIdx.x == 0:
        result[0] = acc / divisor[()]


def sum_partials(result, partial, divisor) -> None:
    """result[0] = Σ partial / divisor (0-d), in one block: the same order every run."""
    launch_kernel(_sum_partials, 1, result, partial, divisor)


# --- checks of the losses' values -----------------------------------------------------------
# A check kernel writes the first bad position it finds into a slot of a Pending's array on the
# device, and the loss kernel, handed that array (``stop``), skips its work where a slot is set:
# nothing waits for the check before the loss kernel is launched, and no result is written when
# the call is refused. The host reads the positions once, after the loss kernel (``Found``).

_NONE_FOUND = np.full(2, np.inf)  # a slot for each check a loss makes at most (BCE: two)
_NONE_FOUND.flags.writeable = False


@cuda.jit(device=True)
def _stopped(stop):
    """Whether a check has found a bad value (numact._loss_api: the call is refused)."""
    return stop[0] != math.inf or stop[1] != math.inf


class Pending:
    """The positions a call's checks find, on the device, and read on the host once."""

    def __init__(self):
        self.found = empty(len(_NONE_FOUND), np.float64)
        copy_into(self.found, constant(_NONE_FOUND))
        self.slots = 0
        self.host = None

    def slot(self) -> "Found":
        found = Found(self, self.slots)
        self.slots += 1
        return found

    def read(self) -> np.ndarray:
        if self.host is None:
            self.host = to_host(self.found)  # waits for the kernels before it
        return self.host


class Found:
    """One check's result: ``position()``, the first bad flat position or −1, read after the
    loss kernel."""

    def __init__(self, pending: Pending, slot: int):
        self.pending, self.slot = pending, slot

    def position(self) -> int:
        value = self.pending.read()[self.slot]
        return -1 if value == np.inf else int(value)


def pending() -> Pending:
    return Pending()


def stop(pending_checks: Pending | None) -> tuple:
    """The loss kernels' last argument: the checks' positions on the device (none: all clear)."""
    return (constant(_NONE_FOUND) if pending_checks is None else pending_checks.found,)


@_kernel
def _check_classes(partial, found, slot, t, w, ignore_index, classes):
    shared = cuda.shared.array(THREADS, float64)
    acc = 0.0
    for r in range(cuda.grid(1), t.size, cuda.gridsize(1)):
        k = t[r]
        if k != ignore_index:
            if k < 0 or k >= classes:
                cuda.atomic.min(found, slot, r)  # the minimum: the same whatever the order
            else:
                acc += w[k]
    acc = _block_sum(shared, acc)
    if cuda.threadIdx.x == 0:
        partial[cuda.blockIdx.x] = acc


_ONE = np.ones(())
_ONE.flags.writeable = False


def check_classes(t, w, ignore_index: int, classes: int, checks: Pending, _unit_weights: bool = False):
    """(the first position of a target outside [0, classes) that is not ignore_index, as a
    Found of ``checks``; Σ w[t] over the kept targets as a 0-d float64 device array, the
    blocks' sums added in a fixed order), read by nothing on the host. Where ``_unit_weights``
    says every w is 1 the kernel sums them all the same (the CPU counts instead)."""
    found = checks.slot()
    partial = partials(t.size)
    launch_kernel(_check_classes, partial.size, partial, checks.found, found.slot, t, w, ignore_index, classes)
    total = empty(1, np.float64)
    sum_partials(total, partial, constant(_ONE))
    return found, total.reshape(())


@_kernel
def _first_outside(found, slot, a, low, high):
    for i in range(cuda.grid(1), a.size, cuda.gridsize(1)):
        if not (a[i] >= low and a[i] <= high):
            cuda.atomic.min(found, slot, i)


def first_outside(a, low: float, high: float, checks: Pending):
    """The first flat position of ``a`` outside [low, high] (NaN is outside), or −1, as a Found
    of ``checks``."""
    found = checks.slot()
    if a.size:
        launch_kernel(_first_outside, _blocks(a.size), checks.found, found.slot, a.reshape(a.size), low, high)
    return found
