"""The numeric primitives that numact's operators are written with.

One name per primitive, the same on every target. Today the transcendental functions are the
target's own (libm on the CPU, libdevice on CUDA; numba picks them by target); a faster CPU
version replaces one here, behind the same name, without touching any operator.
"""

from math import cos, erfc, exp, expm1, inf, log, log1p, sin, sqrt, tanh  # noqa: F401

import numba.extending


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


def register_cuda() -> None:
    """Make the primitives callable in ``@cuda.jit`` kernels; called when numba.cuda loads."""
    from numba.cuda.extending import overload

    overload(like, target="cuda")(_like_typer)
