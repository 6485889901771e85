"""The numeric primitives that numact's operators are written with.

One name per primitive, the same on every target. Today the transcendental functions are the
target's own (libm on the CPU, libdevice on CUDA; numba picks them by target); a faster CPU
version replaces one here, behind the same name, without touching any operator.
"""

from math import cos, erfc, exp, expm1, inf, log, log1p, sin, sqrt, tanh  # noqa: F401

import numba.extending
from numba.core import types


def like(x, value):
    """``value`` as a number of ``x``'s float type.

    numba types a bare literal such as ``0.5`` as float64, which would turn float32 arithmetic
    into float64; ``like(x, 0.5)`` keeps a float32 kernel in float32.
    """
    return type(x)(value)  # plain Python: only the CUDA simulator runs this


def _like_typer(x, value):
    kind = x

    def impl(x, value):
        return kind(value)

    return impl


numba.extending.overload(like)(_like_typer)


def at(a, i):
    """a[i] for a 1-D array, the value of a 0-d array: an operand broadcast from one value
    costs no index arithmetic, since numba compiles each case apart."""
    return a if not hasattr(a, "ndim") else a[()] if a.ndim == 0 else a[i]  # the simulator's path


def _at_typer(a, i):
    if not isinstance(a, types.Array):  # numba's parfor lowering passes 0-d arrays as scalars
        return lambda a, i: a
    if a.ndim == 0:
        return lambda a, i: a[()]
    return lambda a, i: a[i]


numba.extending.overload(at)(_at_typer)


def register_cuda() -> None:
    """Make the primitives callable in ``@cuda.jit`` kernels; called when numba.cuda loads."""
    from numba.cuda.extending import overload

    overload(like, target="cuda")(_like_typer)
    overload(at, target="cuda")(_at_typer)
