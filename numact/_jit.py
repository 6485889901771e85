"""The numba decorator for numact's math, shared by the CPU and CUDA launchers."""

import hashlib
import importlib
import inspect
import pathlib

import numba
import numba.extending
from numba.core.registry import CPUDispatcher


def _source_stamp() -> str:
    """A hash of numact's source and numba's version: changes whenever compiled code could."""
    digest = hashlib.sha256(numba.__version__.encode())
    for path in sorted(pathlib.Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


SOURCE_STAMP = _source_stamp()


def _load(module: str, qualname: str, stamp: str):
    """Unpickle a ``@jit`` function: by reference, like a module-level function."""
    return getattr(importlib.import_module(module), qualname)


# A function of numact's math is only ever inlined into compiled code: LLVM's alwaysinline,
# NumPy's error model, and neither a CPython nor a C wrapper, which numba would otherwise
# generate and optimise for every helper a first call compiles (about a third of gelu's
# compilation time). A call from Python takes a twin with wrappers (``inline_only``).
INLINED = {"forceinline": True, "error_model": "numpy", "no_cpython_wrapper": True, "no_cfunc_wrapper": True}


class _InlineOnly(CPUDispatcher):
    """A dispatcher compiled without a CPython wrapper. A call from Python (a test, the CUDA
    simulator's kernels) would jump to no code, so it goes to a twin compiled with one: the
    same function and options, the same bits, compiled only when Python calls it."""

    def __call__(self, *args, **kwargs):
        twin = self.__dict__.get("_twin")
        if twin is None:
            wrapped = ("no_cpython_wrapper", "no_cfunc_wrapper", "nopython")
            options = {k: v for k, v in self.targetoptions.items() if k not in wrapped}
            twin = self.__dict__["_twin"] = numba.njit(**options)(self.py_func)
        return twin(*args, **kwargs)


def ir_inlined(fn, **options):
    """``numba.njit(inline="always")(fn)``, with NumPy's error model: inlined into each caller's
    numba IR, so that LLVM optimises its body once, in the caller, not alone first and again
    there. For a few large helpers only: numba types such a body again in every caller."""
    return numba.njit(inline="always", error_model="numpy", **options)(fn)


def inline_only(fn, **options):
    """``numba.njit(**INLINED, **options)(fn)``, called from Python through a twin (``_InlineOnly``)."""
    dispatcher = numba.njit(**INLINED, **options)(fn)
    dispatcher.__class__ = _InlineOnly
    return dispatcher


# Only sums may be reassociated: LLVM then keeps several partial sums side by side and
# vectorises the loop. Nothing else is relaxed, so NaN and inf keep their IEEE meaning.
REASSOCIATE = {"reassoc"}

# (function, typer) of the functions built apart for the CPU (``_cpu_build``): their CUDA
# build is the function itself, with no flag (``register_cuda``).
_CPU_BUILDS: list = []


def jit(fn=None, *, fastmath=(), cpu=None, into_caller=False):
    """``@numba.njit`` for a scalar or row function of numact's math.

    The function can be called from CPU loops and from ``@cuda.jit`` kernels alike. It is
    always inlined into its caller (LLVM's alwaysinline), so that a kernel's loop sees the
    whole computation and can vectorise it. ``fastmath`` takes numba's flags, for the helpers
    whose sums may be reassociated (``REASSOCIATE``); the flags stay on those helpers' own
    instructions when they are inlined, and apply to the CPU only (see ``_cpu_build``).
    ``cpu`` is a function of the same parameters (a ``jit`` one where ``fn`` calls it) that a
    CPU build compiles in place of ``fn``: ``fn``'s case that the CPU kernels always meet,
    without the branches they never take (numba would type and compile those at every level
    they are inlined into). ``into_caller``: inlined into the caller's numba IR instead
    (``ir_inlined``), for a helper with a large body and few callers.

    Launchers are closures over these functions, and numba keys a cached closure by pickling
    what it closes over. A numba dispatcher pickles with a random per-process uuid and its
    Python function by value (in an order that varies with string hashing), so every on-disk
    cache lookup in a new process would miss. These dispatchers pickle by reference instead,
    with ``SOURCE_STAMP``: cached kernels load in a new process, and any edit of numact (or a
    numba upgrade) invalidates them, where numba alone only watches the launcher's own file.
    """
    if fn is None:
        return lambda fn: jit(fn, fastmath=fastmath, cpu=cpu, into_caller=into_caller)
    if fastmath or cpu is not None:
        return _cpu_build(fn, set(fastmath), cpu or fn)
    dispatcher = (ir_inlined if into_caller else inline_only)(fn)
    reference = (_load, (fn.__module__, fn.__qualname__, SOURCE_STAMP))
    dispatcher.__reduce_ex__ = lambda protocol: reference
    return dispatcher


def _cpu_build(fn, fastmath: set, cpu):
    """``fn`` as a name that compiled code calls, built from ``cpu`` with ``fastmath`` on the
    CPU and from ``fn`` with no flag in CUDA kernels. numba-cuda builds a CPU dispatcher for
    the GPU with the dispatcher's own options, and there any fastmath flag turns a float32
    division into an approximation and lets NVVM assume no NaN and no inf; a CUDA build gains
    nothing from reassociating a thread's sum anyway. (``fn`` called from Python runs as
    Python.)"""
    parameters = ", ".join(inspect.signature(fn).parameters)
    # The CUDA simulator runs CUDA kernels' math as CPU builds, with CUDA's arguments: fn there.
    namespace = {"fn": fn, "cpu": fn if numba.config.ENABLE_CUDASIM else getattr(cpu, "py_func", cpu)}
    exec(f"def typer({parameters}):\n    return fn\n"  # noqa: S102
         f"def cpu_typer({parameters}):\n    return cpu\n", namespace)
    numba.extending.overload(fn, jit_options={**INLINED, "fastmath": fastmath})(namespace["cpu_typer"])
    _CPU_BUILDS.append((fn, namespace["typer"]))
    return fn


def register_cuda() -> None:
    """The CUDA builds of the functions ``_cpu_build`` made: the functions themselves, no flag."""
    from numba.cuda.extending import overload

    for fn, typer in _CPU_BUILDS:
        overload(fn, target="cuda")(typer)
