"""NumPy ufuncs for every element-wise operator, made by ``numba.vectorize`` from numact's scalar
math (``numact.activations``, ``numact.losses``): no formula is written again, and an operator
added to the table gets its ufuncs with no code here.

    import numpy as np, numact.ufuncs as nu
    x = np.linspace(-2, 2, 5)
    nu.elu(x, 0.5)                        # the parameters are trailing inputs, broadcast
    nu.elu_backward(np.ones(5), x, 0.5)
    nu.mse_loss(x, 0.0)                   # a loss per element, and its gradient
    nu.mse_loss_backward(x, 0.0)

Activations: ``<name>(x, params…)`` and ``<name>_backward(grad_output, x, params…)`` for every
element-wise activation and PReLU (``prelu(x, weight)``, ``prelu_backward(grad_output, x,
weight)`` for x's gradient and ``prelu_backward_weight(grad_output, x)`` for each element's
share of the weight's). Parameters are inputs, in the table's order, with no defaults (a ufunc
has none): ``gelu(x, 0)`` is the erf form and ``gelu(x, 1)`` the tanh form; booleans are 0/1.

Element-wise losses: ``<loss>(arrays…, weights…, params…)``, the unreduced loss of each
element, and ``<loss>_backward`` (``<loss>_backward_<input>`` for each of several inputs), its
gradient for grad_output 1. A weight is an input too: pass 1 for none. Unlike numact's functions
they check no domain (binary_cross_entropy's probabilities): out of it, the result is what the
formula gives.

Each is a real ``numpy.ufunc`` made by ``numba.vectorize``, with float32 and float64 loops
written here (``_loop_source``: numba's own loop stays scalar code): other dtypes follow NumPy's
casting rules (integers as NumPy picks a loop for them: int8, uint8 and bool run in float32,
not numact's float16; float16 runs in float32 and returns float32: numba's CPU target has no
float16 loops), ``out=``, ``where=``, ``dtype=``, ``casting=``, broadcasting, and
``__array_ufunc__`` dispatch (an ``xarray.DataArray`` comes back a DataArray). The same values
give the same bits as numact's functions.

They raise no floating-point warnings, as numact's functions raise none: the loops clear the
flags their branch-free math leaves (both sides of a select are computed).

``where=``: numba builds its ufuncs with the outputs' iterator flags set (read-write, to be
allocated), and NumPy then takes those flags instead of its defaults, which for a masked call
include the write mask: every ``where=`` call failed ("An iterator operand was flagged as the
ARRAYMASK, but no WRITEMASKED operands were given"). ``_numpy_output_flags`` clears them, so that
NumPy's defaults apply, as for its own ufuncs; where the ufunc's memory layout is not the one
checked, it leaves them, and ``where=`` raises that error.
"""

from __future__ import annotations

import ctypes

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from . import activations as _activations  # noqa: F401 - the generated sources name them
from . import losses as _losses  # noqa: F401
from ._cache import on_disk
from ._jit import SOURCE_STAMP, inline_only
from ._primitives import like
from .operators import ACTIVATIONS, LOSSES, boolean

_SIGNATURES = ("float32", "float64")

# NumPy 2's PyUFuncObject: nin and nout at offsets 16 and 20, op_flags at 176.
_NIN, _NOUT, _OP_FLAGS = 16, 20, 176
_KEEP: list = []  # numact's inner loops, alive as long as the ufuncs that call them
_NUMBA_OUTPUT_FLAGS = 0x00010000 | 0x00800000 | 0x01000000  # READWRITE | UPDATEIFCOPY | ALLOCATE


def _numpy_output_flags(ufunc: np.ufunc) -> bool:
    """Clear the iterator flags numba sets on a ufunc's outputs (see the module's docstring);
    True where it did. The layout is checked first: nin and nout where NumPy 2 keeps them, and
    the flags as numba sets them."""
    base = id(ufunc)
    if (ctypes.c_int.from_address(base + _NIN).value, ctypes.c_int.from_address(base + _NOUT).value) != (ufunc.nin, ufunc.nout):
        return False
    pointer = ctypes.c_void_p.from_address(base + _OP_FLAGS).value
    if not pointer:
        return False
    flags = (ctypes.c_uint32 * ufunc.nargs).from_address(pointer)
    if list(flags) != [0] * ufunc.nin + [_NUMBA_OUTPUT_FLAGS] * ufunc.nout:
        return False
    for i in range(ufunc.nin, ufunc.nargs):
        flags[i] = 0
    return True


@intrinsic
def _at(typingctx, pointer, nbytes):
    """``pointer`` moved by ``nbytes`` bytes (either sign)."""
    if pointer != types.voidptr or not isinstance(nbytes, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return builder.gep(args[0], [args[1]])

    return types.voidptr(types.voidptr, types.intp), codegen


# The loops clear the floating-point exception flags they leave, as numact's kernels leave them
# unread: the branch-free math computes both sides of its selects (an exponential that
# overflows where the other side is taken, a comparison with NaN), so the flags say nothing
# about the result, and NumPy would turn them into warnings. x86's FE_ALL_EXCEPT is 0x3d,
# aarch64's 0x1f; the C library ignores the other bits.
_FE_ALL_EXCEPT = 0x3F
_clear_fp_flags = types.ExternalFunction("feclearexcept", types.intc(types.intc))

_LOOP_SIGNATURE = types.void(types.CPointer(types.voidptr), types.CPointer(types.intp),
                             types.CPointer(types.intp), types.voidptr)


def _discrete(p) -> tuple:
    """The few values a parameter can take (gelu's approximate, kl_div's log_target), or ()."""
    return (0.0, 1.0) if p.to_kernel is boolean else getattr(p.to_kernel, "values", ())


def _loop_source(name: str, n_inputs: int, n_leading: int, dtype: str, discrete: dict | None = None,
                 fixed: tuple | None = None) -> str:
    """A NumPy inner loop (args, dimensions, steps, data) over the scalar function ``name``.

    numba's own ufunc loop reads every operand through its stride, so LLVM keeps it scalar
    (measured, float32, one thread: elu 7.9 ns an element, gelu 23, against numact's kernels'
    1.0 and 3.5). Here the common layout, the leading operands (x, grad_output, a loss's
    arrays) contiguous and the trailing ones (parameters, weights) broadcast scalars (stride 0),
    is a loop over contiguous arrays with the parameters loaded once, which vectorises, the
    scalar function inlined into it (``name``). ``discrete`` maps a parameter's index to the
    few values it can take (gelu's approximate, kl_div's log_target): the loop is written once
    per value, the value a constant, since LLVM does not unswitch such a choice in a large body
    itself. ``fixed`` = (index, value): that parameter is the constant ``value`` throughout
    (its input is not read), for a ufunc that is only ever called with it. Every other layout
    takes the strided loop (scalar code, the function inlined too: a call to a separately
    compiled copy would cost another compilation of each ufunc).
    """
    discrete = {} if fixed else (discrete or {})
    size = np.dtype(dtype).itemsize
    n, out = n_inputs, n_inputs

    def operands(values: list[str]) -> str:
        if fixed:
            values = values[:fixed[0]] + [f"np.{dtype}({fixed[1]!r})"] + values[fixed[0] + 1:]
        return ", ".join(values)

    fast = " and ".join([f"steps[{i}] == {size}" for i in range(n_leading)]
                        + [f"steps[{i}] == 0" for i in range(n_leading, n)] + [f"steps[{out}] == {size}"])
    lines = [f"def {name}_loop_{dtype}(args, dims, steps, data):", "    n = dims[0]", f"    if {fast}:"]
    lines += [f"        a{i} = carray(args[{i}], n, np.{dtype})" for i in range(n_leading)]
    lines += [f"        p{i} = carray(args[{i}], 1, np.{dtype})[0]" for i in range(n_leading, n)]
    lines += [f"        out = carray(args[{out}], n, np.{dtype})"]
    inputs = [f"a{i}[i]" for i in range(n_leading)] + [f"p{i}" for i in range(n_leading, n)]
    if discrete:
        k, values = next(iter(discrete.items()))
        for value in values:
            constant = inputs[:k] + [f"np.{dtype}({value!r})"] + inputs[k + 1:]
            lines += [f"        if p{k} == {value!r}:", "            for i in range(n):",
                      f"                out[i] = {name}({', '.join(constant)})",
                      f"            _clear_fp_flags({_FE_ALL_EXCEPT})", "            return"]
    else:
        lines += ["        for i in range(n):", f"            out[i] = {name}({operands(inputs)})",
                  f"        _clear_fp_flags({_FE_ALL_EXCEPT})", "        return"]
    values = [f"carray(_at(args[{i}], i * steps[{i}]), 1, np.{dtype})[0]" for i in range(n)]
    lines += ["    for i in range(n):",
              f"        carray(_at(args[{out}], i * steps[{out}]), 1, np.{dtype})[0] = {name}({operands(values)})",
              f"    _clear_fp_flags({_FE_ALL_EXCEPT})"]
    return "\n".join(lines) + "\n"


class _Spec:
    """One ufunc: its name, its inputs (the first ``n_leading`` the arrays, the rest parameters
    and weights), and ``call``, the Python source of its scalar body over the inputs' names,
    calling numact's scalar math."""

    def __init__(self, name: str, inputs: list[str], call: str, doc: str, namespace: dict, n_leading: int = 1,
                 params=()):
        self.name, self.inputs, self.doc, self.namespace = name, inputs, doc, namespace
        self.n_leading = n_leading
        self.first = first = len(inputs) - len(params)  # the parameters are the last inputs
        self.discrete = {first + k: _discrete(p) for k, p in enumerate(params) if _discrete(p)}
        self.source = f"def {name}({', '.join(inputs)}):\n    return {call}\n"
        self.signatures = [f"{t}({', '.join([t] * len(inputs))})" for t in _SIGNATURES]
        self._loops: dict = {}  # (dtype, value) → compiled loop, see loop()
        self._jitted = None

    def function(self):
        """The scalar function, compiled as if written in this file, so that numba's disk cache
        keeps its loops for the next process. numba keys that cache by the function's qualified
        name and this file's time stamp; the name carries numact's ``SOURCE_STAMP`` too, so
        that an edit of the math (in another file) is not answered from the cache."""
        scope = dict(self.namespace, __name__=__name__)
        exec(compile(self.source, __file__, "exec"), scope)  # noqa: S102 - the arity numba.vectorize needs
        fn = scope[self.name]
        fn.__doc__ = self.doc
        fn.__qualname__ = f"{self.name}_{SOURCE_STAMP}"
        return fn

    def _scalar(self):
        """The scalar function as the loops call it: inlined, no division checks, as numact's
        kernels."""
        if self._jitted is None:
            self._jitted = inline_only(self.function())
        return self._jitted

    def loop(self, dtype: str, value=None):
        """The compiled inner loop for ``dtype`` (``_loop_source``), made once: every value of the
        discrete parameter, or only ``value`` where given (its loop then ignores that input)."""
        key = (dtype, value)
        if key not in self._loops:
            fixed = None if value is None else (next(iter(self.discrete)), value)
            scope = {"np": np, "carray": numba.carray, "_at": _at, "_clear_fp_flags": _clear_fp_flags,
                     "__name__": __name__, self.name: self._scalar()}
            source = _loop_source(self.name, len(self.inputs), self.n_leading, dtype, self.discrete, fixed)
            exec(compile(source, __file__, "exec"), scope)  # noqa: S102
            loop_fn = scope[f"{self.name}_loop_{dtype}"]
            variant = "" if value is None else f"_{int(value)}"
            loop_fn.__qualname__ = f"{loop_fn.__name__}{variant}_{SOURCE_STAMP}"  # see function()
            self._loops[key] = numba.cfunc(_LOOP_SIGNATURE, cache=on_disk(), error_model="numpy")(loop_fn)
        return self._loops[key]

    def ufunc(self, loops) -> np.ufunc:
        """A ``numpy.ufunc`` of the scalar function with these loops (dtype → ``loop``)."""
        dufunc = numba.vectorize(self.function())  # a ufunc with no loops yet: numba's are never made
        for dtype, loop in loops.items():
            _KEEP.append(loop)
            dufunc._add_loop(loop.address, [np.dtype(dtype).num] * (len(self.inputs) + 1))
        # The numpy.ufunc itself: the DUFunc around it would compile a loop for any new dtype
        # (int64 in, int64 loop); the ufunc casts other dtypes to its loops, by NumPy's rules.
        _KEEP.append(dufunc)
        _numpy_output_flags(dufunc.ufunc)
        return dufunc.ufunc

    def cpu(self) -> np.ufunc:
        """``numba.vectorize`` of the scalar function, with numact's inner loops (``loop``) for
        float32 and float64 in place of the ones numba would compile (each compile costs a
        second or more for the erf- and exp-based operators)."""
        return self.ufunc({dtype: self.loop(dtype) for dtype in _SIGNATURES})

    def for_call(self, dtype: str, value=None) -> np.ufunc:
        """A ufunc with the one loop a call on ``dtype`` needs (``value``: the discrete
        parameter's, whose loop then computes that form only), for the public functions' small
        arrays: a first call compiles that loop and nothing else."""
        return self.ufunc({dtype: self.loop(dtype, value if self.discrete else None)})

    def cuda(self):
        from . import _cuda  # registers the primitives' CUDA versions

        with _cuda.nvvm_options():  # compiled here (its signatures are given), as numact's kernels
            return numba.vectorize(self.signatures, target="cuda")(self.function())




def _names(op) -> list[str]:
    return [p.name for p in op.params]


def _activation_ufuncs(op) -> dict:
    namespace = {"forward": op.forward, "backward": op.backward, "like": like,
                 "weight_backward": op.weight_backward}
    params = ["weight"] if op.kind == "channelwise" else _names(op)
    fixed = "".join(f", like(x, {v!r})" for v in op.fixed)
    args = ", ".join(params)
    head = f"numact's {op.name} as a ufunc: {op.summary}\n\ny = {op.formula}; PyTorch: {op.reference}."
    inputs = f"({', '.join(['x', *params])})"
    result = {
        op.name: _Spec(op.name, ["x", *params], f"forward(x, {args}{fixed})" if params else f"forward(x{fixed})",
                        f"{head}\nInputs {inputs}.", namespace, params=op.params),
        f"{op.name}_backward": _Spec(
            f"{op.name}_backward", ["grad_output", "x", *params],
            f"backward(grad_output, x{', ' + args if params else ''}{fixed})",
            f"The gradient of numact.ufuncs.{op.name}: grad_output·({op.derivative}).\n"
            f"Inputs (grad_output, {inputs[1:]}.", namespace, n_leading=2, params=op.params),
    }
    if op.weight_backward is not None:
        result[f"{op.name}_backward_weight"] = _Spec(
            f"{op.name}_backward_weight", ["grad_output", "x"], "weight_backward(grad_output, x)",
            f"Each element's share of numact.ufuncs.{op.name}'s weight gradient (x·grad_output where "
            "x ≤ 0): sum it over the elements of a channel.", namespace, n_leading=2)
    return result


def _loss_ufuncs(op) -> dict:
    arrays = list(op.arrays + op.weights)
    inputs = arrays + _names(op)
    slots = arrays + ["like(" + arrays[0] + ", 1.0)"] * (4 - len(arrays))
    call = f"math({', '.join(slots + _names(op))})"
    namespace = {"math": op.math, "like": like}
    head = f"numact's {op.name} per element, as a ufunc: {op.summary}\n\nloss = {op.formula}. Inputs ({', '.join(inputs)})"
    leading = len(op.arrays)
    result = {op.name: _Spec(op.name, inputs, f"{call}[0]", head + "; weights: pass 1 for none.", namespace, leading,
                             op.params)}
    for k, arg in enumerate(op.inputs):
        name = f"{op.name}_backward" + (f"_{arg}" if len(op.inputs) > 1 else "")
        result[name] = _Spec(name, inputs, f"{call}[{k + 1}]",
                              f"∂loss/∂{arg} of numact.ufuncs.{op.name} per element ({op.derivative}).\n"
                              f"Inputs ({', '.join(inputs)}).", namespace, leading, op.params)
    return result


def _specs() -> dict:
    specs: dict = {}
    for op in ACTIVATIONS:
        if op.kind in ("elementwise", "channelwise"):
            specs.update(_activation_ufuncs(op))
    for op in LOSSES:
        if op.kind == "elementwise":
            specs.update(_loss_ufuncs(op))
    return specs


_SPECS = _specs()
__all__ = sorted(_SPECS)  # noqa: PLE0605 - built from the table


def __getattr__(name: str) -> np.ufunc:
    """Each ufunc is compiled (or loaded from the disk cache) when first used: importing this
    module compiles nothing."""
    if name not in _SPECS:
        raise AttributeError(f"module 'numact.ufuncs' has no attribute {name!r}")
    ufunc = globals()[name] = _SPECS[name].cpu()
    return ufunc


_FOR_CALL: dict = {}


def for_call(name: str, dtype: np.dtype, params: tuple) -> np.ufunc:
    """The ufunc ``name`` as a public function calls it on a small array of ``dtype`` with
    these parameters (the kernel's values): one loop, that dtype's (``_Spec.for_call``), so that
    the first call compiles nothing else; the full ufunc where it is already made."""
    spec = _SPECS[name]
    value = float(params[next(iter(spec.discrete)) - spec.first]) if spec.discrete else None
    if value is None and name in globals():
        return globals()[name]
    key = (name, np.dtype(dtype).name, value)
    if key not in _FOR_CALL:
        _FOR_CALL[key] = spec.for_call(key[1], value)
    return _FOR_CALL[key]


_CUDA: dict = {}


def cuda(name: str):
    """The ufunc ``name`` for CUDA arrays: numba-cuda's ``vectorize(target='cuda')`` of the
    same scalar function, made when first asked for (it compiles for the current GPU). It takes
    device arrays (numba's, or anything with ``__cuda_array_interface__``) and returns numba
    device arrays; it is not a ``numpy.ufunc`` (no ``where=``, ``casting=`` or
    ``__array_ufunc__``: numba-cuda's ufuncs have none)."""
    if name not in _SPECS:
        raise ValueError(f"numact.ufuncs.cuda: no ufunc named {name!r}")
    if name not in _CUDA:
        _CUDA[name] = _SPECS[name].cuda()
    return _CUDA[name]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SPECS))


def all_ufuncs() -> dict[str, np.ufunc]:
    """Every ufunc by name (compiling those not yet made)."""
    return {name: getattr(__import__(__name__, fromlist=["_"]), name) for name in _SPECS}
