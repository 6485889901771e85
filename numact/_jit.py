"""The numba decorator for numact's math, shared by the CPU and CUDA launchers."""

import hashlib
import pathlib

import numba


def _source_stamp() -> str:
    """A hash of numact's source and numba's version: changes whenever compiled code could."""
    digest = hashlib.sha256(numba.__version__.encode())
    for path in sorted(pathlib.Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


SOURCE_STAMP = _source_stamp()


def jit(fn):
    """``@numba.njit`` for a scalar or row function of numact's math.

    The function can be called from CPU loops and from ``@cuda.jit`` kernels alike. Launchers
    are closures over these functions, and numba keys a cached closure by pickling what it
    closes over; a dispatcher pickles with a random per-process uuid, which would make every
    on-disk cache lookup miss. A uuid made of the function's name and ``SOURCE_STAMP`` makes
    cached kernels load in a new process, and makes any edit of numact (or a numba upgrade)
    invalidate them, where numba alone only watches the launcher's own file.
    """
    dispatcher = numba.njit(error_model="numpy")(fn)
    dispatcher._set_uuid(f"numact:{fn.__module__}.{fn.__qualname__}:{SOURCE_STAMP}")
    return dispatcher
