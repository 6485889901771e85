"""The numeric primitives that numact's operators are written with.

One name per primitive, one implementation, compiled for both targets: the transcendental
functions are numact's own math core (``_vmath``, chosen by float type) on the CPU and in CUDA
kernels alike, so that the GPU gives the CPU's bits. Where an instruction must differ per
target (AVX-512's vscalef, libm for the rare huge sine argument), ``_bits`` chooses it by the
target being compiled for. sqrt is the hardware's, correctly rounded, on both.
"""

import math
from math import inf, sqrt  # noqa: F401

import numba.extending
from numba.core import types

from . import _bits, _vmath
from ._jit import INLINED

# name: (float32 version, float64 version), on both targets.
_TRANSCENDENTALS = {
    "exp": (_vmath.exp32, _vmath.exp64),
    "expm1": (_vmath.expm1_32, _vmath.expm1_64),
    "log": (_vmath.log32, _vmath.log64),
    "log1p": (_vmath.log1p32, _vmath.log1p64),
    "tanh": (_vmath.tanh32, _vmath.tanh64),
    "erf": (_vmath.erf32, _vmath.erf64),
    "erfc": (_vmath.erfc32, _vmath.erfc64),
    "sin": (_vmath.sin32, _vmath.sin64),
    "cos": (_vmath.cos32, _vmath.cos64),
    "normal_cdf": (_vmath.normal_cdf32, _vmath.normal_cdf64),
    "normal_pdf": (_vmath.normal_pdf32, _vmath.normal_pdf64),
    "sigmoid_slope": (_vmath.sigmoid_slope32, _vmath.sigmoid_slope64),
}

# The functions math lacks, in plain Python for the stubs below (the simulator's own code).
def _normal_cdf(x):
    return like(x, 0.5) * math.erfc(-x * like(x, _vmath.SQRT_HALF))


def _normal_pdf(x):
    return like(x, _vmath.INV_SQRT_2PI) * math.exp(like(x, -0.5) * x * x)


def _sigmoid_slope(z):
    e = math.exp(-abs(z))
    return e / ((like(z, 1) + e) * (like(z, 1) + e))


_LIBM = {"normal_cdf": _normal_cdf, "normal_pdf": _normal_pdf, "sigmoid_slope": _sigmoid_slope}


def _libm(name):
    return _LIBM[name] if name in _LIBM else getattr(math, name)


def _stub(name):
    libm = _libm(name)

    def primitive(x):
        return type(x)(libm(x))  # plain Python: only the CUDA simulator's own code runs this

    primitive.__name__ = primitive.__qualname__ = name
    primitive.__doc__ = f"{name}(x) in x's float type: numact's math core (_vmath) on both targets"
    return primitive


def _typer(name):
    single, double = _TRANSCENDENTALS[name]
    libm = getattr(math, name, None)

    def typer(x):
        # The functions themselves, not calls of them: one level less to compile. (Their
        # parameter is x, as numba requires of an overload's implementation.)
        if x == types.float32:
            return single.py_func
        if x == types.float64:
            return double.py_func
        return None if libm is None else lambda x: libm(x)  # integers: numba's own, as math.<name> would

    return typer


_STUBS = {name: _stub(name) for name in _TRANSCENDENTALS}
exp, expm1, log, log1p, tanh, erf, erfc, sin, cos, normal_cdf, normal_pdf, sigmoid_slope = _STUBS.values()


def maximum(a, b):
    """max(a, b), NaN if either is NaN (PyTorch's max); a SIMD max in a CPU loop."""
    # plain Python: only the CUDA simulator runs this; +0 is the larger zero
    return a if (a > b or a != a or (a == b and math.copysign(1.0, b) < 0)) else b


def _maximum(a, b):
    if a == b and isinstance(a, types.Float):
        return lambda a, b: _bits.maximum(a, b)
    return None


numba.extending.overload(maximum, jit_options=INLINED)(_maximum)
for _name, _primitive in _STUBS.items():
    numba.extending.overload(_primitive, jit_options=INLINED)(_typer(_name))


def gate(keep, g):
    """g where ``keep``, else +0 of g's type: PyTorch's threshold_backward and the like."""
    return g if keep else type(g)(0)  # plain Python: only the CUDA simulator runs this


def _gate_cpu(keep, g):
    # _bits.plus_zero: a +0 that reads g, so that g's load is not folded into a masked load
    if isinstance(g, types.Float):
        return lambda keep, g: g if keep else _bits.plus_zero(g)
    return None


def _gate_cuda(keep, g):
    return lambda keep, g: g if keep else like(g, 0)


numba.extending.overload(gate, jit_options=INLINED)(_gate_cpu)


def row_max(x, sign):
    """max over a row (at least one element) of sign·x; NaN if the row holds a NaN, as in
    PyTorch."""
    m = sign * x[0]  # plain Python: only the CUDA simulator runs this
    for i in range(1, x.shape[0]):
        m = maximum(m, sign * x[i])
    return m


def _row_max(x, sign):
    # An integer max over keys ordered as the floats are, beside one over the magnitudes' bits
    # that finds a NaN: both SIMD on the CPU, several registers at once (2.5× a float max that
    # keeps NaN); the same integer steps in a CUDA thread, so both give the same bits.
    def impl(x, sign):
        first = sign * x[0]
        key, size = _bits.ordered(first), _bits.magnitude(first)
        for i in range(1, x.shape[0]):
            v = sign * x[i]
            key = max(key, _bits.ordered(v))
            size = max(size, _bits.magnitude(v))
        nan = size > _bits.magnitude(like(first, inf))
        return like(first, math.nan) if nan else _bits.from_ordered(key, first)

    return impl


def spare(row, other):
    """Whether a row function may keep values in ``row`` before a last pass that reads
    ``other``: on the CPU, when the two are not the same memory (in place); never on CUDA,
    a thread a row, which recomputes instead (nor in the simulator, which stands for it)."""
    return False


def _spare_cpu(row, other):
    return lambda row, other: row.ctypes.data != other.ctypes.data


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


numba.extending.overload(like, jit_options=INLINED)(_like_typer)
numba.extending.overload(row_max, jit_options=INLINED)(_row_max)
numba.extending.overload(spare, jit_options=INLINED)(_spare_cpu)


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


numba.extending.overload(at, jit_options=INLINED)(_at_typer)


def store_loss_element(i, loss, da, db, s, losses, grad_a, grad_b, write_losses, grads):
    """What an element-wise loss kernel writes at element i, on either target: ℓ where it
    writes the losses, and s·∂a (grads 1; and s·∂b, grads 2). write_losses and grads are the
    kernel's constants, so the branches compile away. Plain Python, like ``at``: the CUDA
    simulator runs it on its own arrays; compiled code takes it through the overloads."""
    if write_losses:
        losses[i] = loss
    if grads:
        grad_a[i] = da * s
        if grads == 2:
            grad_b[i] = db * s


def _store_typer(i, loss, da, db, s, losses, grad_a, grad_b, write_losses, grads):
    return store_loss_element


numba.extending.overload(store_loss_element, jit_options=INLINED)(_store_typer)


def register_cuda() -> None:
    """Make the primitives callable in ``@cuda.jit`` kernels, with the CPU's implementations
    (what differs per target is chosen inside ``_bits``); called when numba.cuda loads."""
    from numba.cuda.extending import overload

    overload(like, target="cuda")(_like_typer)
    overload(at, target="cuda")(_at_typer)
    overload(store_loss_element, target="cuda")(_store_typer)
    for name, primitive in _STUBS.items():
        overload(primitive, target="cuda")(_typer(name))
    overload(maximum, target="cuda")(_maximum)
    overload(gate, target="cuda")(_gate_cuda)
    overload(row_max, target="cuda")(_row_max)
    overload(spare, target="cuda")(lambda row, other: spare)
