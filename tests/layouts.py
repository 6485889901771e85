"""Every layout NumPy can give an array, for the property-based tests: the same values laid out
as C or Fortran order, with negative strides, with steps, broadcast with stride 0, with odd
strides on size-1 axes, or at a misaligned address. On CUDA (the simulator or a GPU), the
layouts a device array can take (C order, steps, a transpose, negative strides)."""

import numpy as np

from support import TARGET, device_view, transposed

HOST_LAYOUTS = ("C", "F", "reversed", "stepped", "broadcast", "odd size-1 strides", "misaligned")
DEVICE_LAYOUTS = ("C", "stepped", "transposed", "reversed")
LAYOUTS = HOST_LAYOUTS if TARGET == "cpu" else DEVICE_LAYOUTS


def source_shape(layout: str, shape: tuple, axis: int) -> tuple:
    """The shape of the values to draw for ``layout``: a broadcast array repeats its values
    along ``axis`` (mod the rank), so it has 1 there."""
    if layout != "broadcast" or not shape:
        return shape
    k = axis % len(shape)
    return shape[:k] + (1,) + shape[k + 1:]


def lay_out(values: np.ndarray, layout: str, shape: tuple) -> np.ndarray:
    """``values`` (of ``source_shape``) as an array of ``shape`` in ``layout``, on the target."""
    if TARGET == "cuda":
        return _on_device(values, layout)
    a = np.asarray(values)
    if layout == "C" or (a.ndim == 0 and layout != "misaligned"):
        return np.array(a, order="C")  # (np.ascontiguousarray would make a 0-d array 1-d)
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "reversed":  # every stride negative
        return np.flip(np.flip(a).copy())
    if layout == "stepped":  # every stride twice the contiguous one
        big = np.zeros(tuple(2 * n for n in a.shape), a.dtype)
        view = big[tuple(slice(None, None, 2) for _ in a.shape)]
        view[...] = a
        return view
    if layout == "broadcast":
        return np.broadcast_to(a, shape)
    if layout == "odd size-1 strides":
        strides = tuple(977 * a.itemsize if n == 1 else s for n, s in zip(a.shape, a.strides))
        return np.lib.stride_tricks.as_strided(np.array(a, order="C"), a.shape, strides)
    if layout == "misaligned":  # one byte past an aligned address
        buffer = np.zeros(a.nbytes + a.itemsize + 1, np.uint8)
        view = np.frombuffer(buffer.data, a.dtype, a.size, offset=1).reshape(a.shape)
        view[...] = a
        return view
    raise ValueError(layout)


def _on_device(a: np.ndarray, layout: str):
    """``a`` on the device in ``layout``, built as views (support.device_view), not by numba's
    slicing or ``.T``."""
    from numba import cuda

    if layout == "stepped" and a.ndim:
        big = np.zeros(tuple(2 * n for n in a.shape), a.dtype)
        big[tuple(slice(None, None, 2) for _ in a.shape)] = a
        on_device = cuda.to_device(big)
        return device_view(on_device, a.shape, tuple(2 * s for s in on_device.strides))
    if layout == "transposed" and a.ndim == 2:
        return transposed(cuda.to_device(np.ascontiguousarray(a.T)))
    if layout == "reversed" and a.ndim and a.size:  # every stride negative: the first element last in memory
        on_device = cuda.to_device(np.ascontiguousarray(np.flip(a)))
        return device_view(on_device, a.shape, tuple(-s for s in on_device.strides), (a.size - 1) * a.itemsize)
    return cuda.to_device(np.array(a, order="C"))
