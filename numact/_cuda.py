"""CUDA launchers: grid-stride kernels that apply numact's scalar and row functions.

The same launcher names and arguments as ``numact._cpu``; the math is the same ``@jit``
functions, compiled for the GPU. Imported only when a CUDA array is seen, so that the CPU path
never pays for ``numba.cuda``. Under Numba's simulator (``NUMBA_ENABLE_CUDASIM=1``) launches
use small grids, since the simulator runs one Python thread per GPU thread.
"""

from functools import cache

import numpy as np
from numba import config, cuda, float64

from . import _primitives

_primitives.register_cuda()

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


def is_device_array(obj) -> bool:
    return isinstance(obj, DeviceArray)


def asarray(obj):
    """A numba device array over ``obj``'s GPU memory (zero-copy for CuPy and torch)."""
    return obj if isinstance(obj, DeviceArray) else cuda.as_cuda_array(obj)


def empty(shape, dtype):
    return cuda.device_array(shape, dtype)


def _blocks(n: int) -> int:
    return min(MAX_BLOCKS, max(1, -(-n // THREADS)))


def contiguous(a, dtype):
    """``a`` as a C-contiguous device array of ``dtype``: ``a`` itself when it already is one."""
    if a.is_c_contiguous() and a.dtype == dtype:
        return a
    converted = cuda.device_array(a.shape, dtype)
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
    result = cuda.device_array(shape, a.dtype)
    copy_into(result, contiguous(a, a.dtype).reshape(padded))
    return result


def copy_into(dst, src) -> None:
    """dst[...] = src for device arrays of any strides, converting the dtype; ``src`` has
    dst's rank and dst's shape or 1 along each axis (broadcast)."""
    if dst.size == 0:
        return
    if dst.ndim == 0:
        dst, src = dst.reshape(1), src.reshape(1)
    _copy_kernel(dst.ndim)[_blocks(dst.size), THREADS](dst, src)


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
    exec(source, namespace)  # noqa: S102 - one kernel per rank, from the template above
    return cuda.jit(namespace["copy"])


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


def _launcher(kernel, size_of, blocks=_blocks):
    """Launch ``kernel`` on a grid sized for ``size_of(*arrays)`` work items."""

    def launch(out, *arrays):
        n = size_of(out)
        if n:
            kernel[blocks(n), THREADS](out, *arrays)

    launch.kernel = kernel
    return launch


def _size(a):
    return a.size


def _rows(a):
    return a.shape[0] * a.shape[2]


@cache
def map_unary(f):
    """out[i] = f(x[i], *args) over flat arrays."""

    @cuda.jit(cache=True)
    def kernel(out, x, args):
        for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
            out[i] = f(x[i], *args)

    return _launcher(kernel, _size)


@cache
def map_binary(f):
    """out[i] = f(g[i], x[i], *args) over flat arrays."""

    @cuda.jit(cache=True)
    def kernel(out, g, x, args):
        for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
            out[i] = f(g[i], x[i], *args)

    return _launcher(kernel, _size)


@cache
def map_rows(f):
    """f(x[o, :, i], out[o, :, i], *args) for every row of (outer, n, inner) arrays: a thread a row."""

    @cuda.jit(cache=True)
    def kernel(out, x, args):
        inner = x.shape[2]
        for r in range(cuda.grid(1), x.shape[0] * inner, cuda.gridsize(1)):
            o, i = r // inner, r % inner
            f(_row(x, o, i), _row(out, o, i), *args)

    return _launcher(kernel, _rows)


@cache
def map_rows_binary(f):
    """f(g[o, :, i], x[o, :, i], out[o, :, i], *args) for every row: a thread a row."""

    @cuda.jit(cache=True)
    def kernel(out, g, x, args):
        inner = x.shape[2]
        for r in range(cuda.grid(1), x.shape[0] * inner, cuda.gridsize(1)):
            o, i = r // inner, r % inner
            f(_row(g, o, i), _row(x, o, i), _row(out, o, i), *args)

    return _launcher(kernel, _rows)


@cache
def map_channels(f):
    """out[o, c, i] = f(x[o, c, i], w[c]) over (outer, channels, inner) arrays."""

    @cuda.jit(cache=True)
    def kernel(out, x, w):
        channels, inner = x.shape[1], x.shape[2]
        for k in range(cuda.grid(1), x.size, cuda.gridsize(1)):
            o, c, i = k // (channels * inner), (k // inner) % channels, k % inner
            out[o, c, i] = f(x[o, c, i], w[c])

    return _launcher(kernel, _size)


@cache
def map_channels_binary(f):
    """out[o, c, i] = f(g[o, c, i], x[o, c, i], w[c]) over (outer, channels, inner) arrays."""

    @cuda.jit(cache=True)
    def kernel(out, g, x, w):
        channels, inner = x.shape[1], x.shape[2]
        for k in range(cuda.grid(1), x.size, cuda.gridsize(1)):
            o, c, i = k // (channels * inner), (k // inner) % channels, k % inner
            out[o, c, i] = f(g[o, c, i], x[o, c, i], w[c])

    return _launcher(kernel, _size)


@cache
def sum_channels(f):
    """total[c] = Σ_{o, i} f(g[o, c, i], x[o, c, i]) in float64: a block per channel.

    Each thread sums a strided share, then the block halves its partial sums in shared memory:
    a fixed order, so the same input gives the same bits on every run.
    """

    @cuda.jit(cache=True)
    def kernel(total, g, x):
        partial = cuda.shared.array(THREADS, float64)
        t = cuda.threadIdx.x
        inner = x.shape[2]
        for c in range(cuda.blockIdx.x, x.shape[1], cuda.gridDim.x):
            acc = 0.0
            for k in range(t, x.shape[0] * inner, cuda.blockDim.x):
                o, i = k // inner, k % inner
                acc += f(g[o, c, i], x[o, c, i])
            partial[t] = acc
            cuda.syncthreads()
            step = THREADS // 2
            while step > 0:
                if t < step:
                    partial[t] += partial[t + step]
                cuda.syncthreads()
                step //= 2
            if t == 0:
                total[c] = partial[0]
            cuda.syncthreads()

    return _launcher(kernel, _size, blocks=lambda channels: min(channels, MAX_BLOCKS))
