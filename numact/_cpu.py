"""CPU launchers: parallel loops (``prange``) that apply numact's scalar and row functions.

Every launcher takes C-contiguous arrays of the compute dtype, and ``args``, the operator's
parameters as a tuple of that dtype. Kernels compile on first use and are cached on disk.
"""

from functools import cache

import numpy as np
from numba import njit, prange


def asarray(obj) -> np.ndarray:
    return np.asarray(obj)


def empty(shape, dtype) -> np.ndarray:
    return np.empty(shape, dtype)


def contiguous(a: np.ndarray, dtype) -> np.ndarray:
    """``a`` as a C-contiguous array of ``dtype``: ``a`` itself when it already is one."""
    return np.asarray(a, dtype=dtype, order="C")


def broadcast(a: np.ndarray, shape) -> np.ndarray:
    return np.broadcast_to(a, shape)


def copy_into(dst: np.ndarray, src: np.ndarray) -> None:
    np.copyto(dst, src, casting="unsafe")


def data_pointer(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def is_c_contiguous(a: np.ndarray) -> bool:
    return a.flags.c_contiguous


def is_writeable(a: np.ndarray) -> bool:
    return a.flags.writeable


def from_host(a: np.ndarray) -> np.ndarray:
    return a


@cache
def map_unary(f):
    """out[i] = f(x[i], *args) over flat arrays."""

    @njit(parallel=True, cache=True)
    def kernel(out, x, args):
        for i in prange(x.size):
            out[i] = f(x[i], *args)

    return kernel


@cache
def map_binary(f):
    """out[i] = f(g[i], x[i], *args) over flat arrays."""

    @njit(parallel=True, cache=True)
    def kernel(out, g, x, args):
        for i in prange(x.size):
            out[i] = f(g[i], x[i], *args)

    return kernel


@cache
def map_rows(f):
    """f(x[o, :, i], out[o, :, i], *args) for every row of (outer, n, inner) arrays."""

    @njit(parallel=True, cache=True)
    def kernel(out, x, args):
        inner = x.shape[2]
        for r in prange(x.shape[0] * inner):
            o, i = r // inner, r % inner
            f(x[o, :, i], out[o, :, i], *args)

    return kernel


@cache
def map_rows_binary(f):
    """f(g[o, :, i], x[o, :, i], out[o, :, i], *args) for every row of (outer, n, inner) arrays."""

    @njit(parallel=True, cache=True)
    def kernel(out, g, x, args):
        inner = x.shape[2]
        for r in prange(x.shape[0] * inner):
            o, i = r // inner, r % inner
            f(g[o, :, i], x[o, :, i], out[o, :, i], *args)

    return kernel


@cache
def map_channels(f):
    """out[o, c, i] = f(x[o, c, i], w[c]) over (outer, channels, inner) arrays."""

    @njit(parallel=True, cache=True)
    def kernel(out, x, w):
        channels = x.shape[1]
        for oc in prange(x.shape[0] * channels):
            o, c = oc // channels, oc % channels
            for i in range(x.shape[2]):
                out[o, c, i] = f(x[o, c, i], w[c])

    return kernel


@cache
def map_channels_binary(f):
    """out[o, c, i] = f(g[o, c, i], x[o, c, i], w[c]) over (outer, channels, inner) arrays."""

    @njit(parallel=True, cache=True)
    def kernel(out, g, x, w):
        channels = x.shape[1]
        for oc in prange(x.shape[0] * channels):
            o, c = oc // channels, oc % channels
            for i in range(x.shape[2]):
                out[o, c, i] = f(g[o, c, i], x[o, c, i], w[c])

    return kernel


@cache
def sum_channels(f):
    """total[c] = Σ_{o, i} f(g[o, c, i], x[o, c, i]), summed in float64 in a fixed order."""

    @njit(parallel=True, cache=True)
    def kernel(total, g, x):
        for c in prange(x.shape[1]):
            acc = 0.0
            for o in range(x.shape[0]):
                for i in range(x.shape[2]):
                    acc += f(g[o, c, i], x[o, c, i])
            total[c] = acc

    return kernel
