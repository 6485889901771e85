"""Bit-level helpers for the math core: LLVM instructions numba has no Python spelling for.

Each works on float32 (with int32 bits) and float64 (with int64 bits), and compiles to a few
integer instructions that LLVM's loop vectoriser turns into SIMD code. The math core runs on
the CPU and in CUDA kernels alike: where an instruction is chosen for the host CPU (AVX-512's
vscalef, libm), the choice is made by the target context being compiled for (``on_cpu``),
never by the host that happens to compile, and every target gets the same bits.
"""

import llvmlite.binding
from llvmlite import ir
from numba import types
from numba.core import cgutils, config
from numba.core.cpu import CPUContext
from numba.extending import intrinsic

# (integer type, mantissa bits, exponent bias) of each float type
_LAYOUT = {types.float32: (types.int32, 23, 127), types.float64: (types.int64, 52, 1023)}


@intrinsic
def exp2i(typingctx, k):
    """2^k for an integral float k with a normal result: the exponent field built directly,
    (k + bias) << mantissa bits, then bitcast."""
    if k not in _LAYOUT:
        return None
    bits, mantissa, bias = _LAYOUT[k]

    def codegen(context, builder, signature, args):
        int_type = context.get_value_type(bits)
        n = builder.fptosi(args[0], int_type)
        n = builder.add(n, int_type(bias))
        n = builder.shl(n, int_type(mantissa))
        return builder.bitcast(n, context.get_value_type(k))

    return k(k), codegen


# AVX-512's vscalefps/pd computes x·2^n, rounded once, in one instruction: LLVM emits it for
# llvm.ldexp when numba compiles for this host (NUMBA_CPU_NAME and NUMBA_CPU_FEATURES unset) and
# the host has AVX-512. Elsewhere LLVM would call libm's ldexp per element, so ldexp below
# multiplies instead. A choice for the host CPU: it applies to CPU code only (``_scalef``).
_SCALEF = (config.CPU_NAME is None and config.CPU_FEATURES is None
           and bool(llvmlite.binding.get_host_cpu_features().get("avx512f")))


def on_cpu(context) -> bool:
    """Whether ``context``, the target context an intrinsic is lowered in, compiles for the
    host CPU. An instruction chosen for the host (vscalef, libm's functions) must not reach
    code for another target: a CUDA kernel's IR goes to NVVM, which lowers only the LLVM
    intrinsics of its IR spec (CUDA 12.0's NVVM does not lower ``llvm.ldexp``)."""
    return isinstance(context, CPUContext)


def _scalef(context) -> bool:
    return _SCALEF and on_cpu(context)


def ldexp_codegen(context, builder, signature, args):
    """llvm.ldexp: vscalef on AVX-512, x·2^n rounded once."""
    value, exponent = args
    float_type = context.get_value_type(signature.args[0])
    suffix = "f32" if signature.args[0] == types.float32 else "f64"
    fn = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(float_type, [float_type, ir.IntType(32)]), f"llvm.ldexp.{suffix}.i32")
    return builder.call(fn, [value, builder.fptosi(exponent, ir.IntType(32))])


@intrinsic
def ldexp(typingctx, x, n):
    """x·2^n rounded once, for an integral float n with |n| < 2·bias and x near 1: a subnormal
    result rounds as the exact product would, an overflow gives inf. Without AVX-512:
    x·2^h·2^(n−h) with h = ⌊n/2⌋, both factors normal, so only the second product rounds (the
    same bits)."""
    if x not in _LAYOUT or n != x:
        return None
    bits, mantissa, bias = _LAYOUT[x]

    def codegen(context, builder, signature, args):
        value, exponent = args
        float_type = context.get_value_type(x)
        if _scalef(context):
            return ldexp_codegen(context, builder, signature, args)
        int_type = context.get_value_type(bits)
        k = builder.fptosi(exponent, int_type)
        half = builder.ashr(k, int_type(1))
        for part in (half, builder.sub(k, half)):
            factor = builder.shl(builder.add(part, int_type(bias)), int_type(mantissa))
            value = builder.fmul(value, builder.bitcast(factor, float_type))
        return value

    return x(x, n), codegen


@intrinsic
def ldexp_rounded(typingctx, x, n, rounding, shift):
    """x·2^(n + shift) where the result is normal (no overflow, no subnormal), for n =
    rounding − 1.5·2^m as round_to_int makes it (``rounding`` the sum it rounded with, whose
    low bits hold n) and a constant integral shift: vscalef with AVX-512 (as ldexp), else one
    multiply by 2^(n + shift) built from rounding's bits by one shift and one add ((bits << m)
    keeps n's low bits; the exponent field is then n + bias + shift), two instructions fewer
    than converting n + shift to an integer first."""
    if x not in _LAYOUT or not (n == rounding == shift == x):
        return None
    bits, mantissa, bias = _LAYOUT[x]

    def codegen(context, builder, signature, args):
        value, exponent, rounding, shift = args
        if _scalef(context):
            return ldexp_codegen(context, builder, signature, [value, builder.fadd(exponent, shift)])
        int_type = context.get_value_type(bits)
        low = builder.shl(builder.bitcast(rounding, int_type), int_type(mantissa))
        offset = builder.shl(builder.add(builder.fptosi(shift, int_type), int_type(bias)), int_type(mantissa))
        return builder.fmul(value, builder.bitcast(builder.add(low, offset), context.get_value_type(x)))

    return x(x, n, rounding, shift), codegen


@intrinsic
def split_exponent(typingctx, x, low):
    """(e, m) with x = m·2^e and m in [low, 2·low), for a positive normal x and low a power-of-
    two fraction such as √½; returned as two floats of x's type."""
    if x not in _LAYOUT or low != x:
        return None
    bits, mantissa, _ = _LAYOUT[x]
    result = types.UniTuple(x, 2)

    def codegen(context, builder, signature, args):
        int_type = context.get_value_type(bits)
        float_type = context.get_value_type(x)
        value, lower = (builder.bitcast(a, int_type) for a in args)
        shifted = builder.sub(value, lower)  # m's exponent offset folded into e
        exponent = builder.sitofp(builder.ashr(shifted, int_type(mantissa)), float_type)
        fraction = builder.and_(shifted, int_type((1 << mantissa) - 1))
        m = builder.bitcast(builder.add(fraction, lower), float_type)
        return context.make_tuple(builder, result, (exponent, m))

    return result(x, x), codegen


@intrinsic
def clear_low_bits(typingctx, x, count):
    """x with the ``count`` lowest bits of its mantissa zeroed (count an integer literal)."""
    if x not in _LAYOUT or not isinstance(count, types.IntegerLiteral):
        return None
    bits, _, _ = _LAYOUT[x]
    mask = ~((1 << count.literal_value) - 1)

    def codegen(context, builder, signature, args):
        int_type = context.get_value_type(bits)
        n = builder.and_(builder.bitcast(args[0], int_type), int_type(mask))
        return builder.bitcast(n, context.get_value_type(x))

    return x(x, count), codegen


@intrinsic
def maximum(typingctx, a, b):
    """max(a, b), NaN if either is NaN: LLVM's ``llvm.maximum``, which the loop vectoriser
    turns into a SIMD max reduction (a compare-and-select loop stays scalar without fastmath
    flags that would lose NaN)."""
    if a != b or a not in _LAYOUT:
        return None

    def codegen(context, builder, signature, args):
        if not on_cpu(context):  # NVVM's IR spec has no llvm.maximum: compares and selects
            x, y = args
            keep = builder.or_(builder.fcmp_ordered(">", x, y), builder.fcmp_unordered("uno", x, x))
            larger = builder.select(keep, x, y)
            int_type = ir.IntType(a.bitwidth)  # equal: +0 where either is +0 (the bits' AND)
            both = builder.bitcast(builder.and_(builder.bitcast(x, int_type), builder.bitcast(y, int_type)),
                                   context.get_value_type(a))
            return builder.select(builder.fcmp_ordered("==", x, y), both, larger)
        value_type = context.get_value_type(a)
        suffix = "f32" if a == types.float32 else "f64"
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(value_type, [value_type, value_type]),
            f"llvm.maximum.{suffix}")
        return builder.call(fn, args)

    return a(a, b), codegen


@intrinsic
def plus_zero(typingctx, x):
    """+0 of x's type, computed from x (minnum(|x|, +0), +0 for every x, NaN too) so that LLVM
    cannot fold it to a constant. A select between a loaded value and a constant becomes, on
    AVX-512, a masked load from memory, which reads DRAM more slowly than a load and a blend;
    with x's load used twice it stays a plain load (``_primitives.gate``)."""
    if x not in _LAYOUT:
        return None

    def codegen(context, builder, signature, args):
        value_type = context.get_value_type(x)
        suffix = "f32" if x == types.float32 else "f64"
        unary, binary = (ir.FunctionType(value_type, [value_type] * k) for k in (1, 2))
        fabs = cgutils.get_or_insert_function(builder.module, unary, f"llvm.fabs.{suffix}")
        minnum = cgutils.get_or_insert_function(builder.module, binary, f"llvm.minnum.{suffix}")
        return builder.call(minnum, [builder.call(fabs, args), ir.Constant(value_type, 0.0)])

    return x(x), codegen


@intrinsic
def fma(typingctx, a, b, c):
    """a·b + c with one rounding (``llvm.fma``): the exact residual of a product or a quotient,
    where contraction would only maybe fuse."""
    if not (a == b == c) or a not in _LAYOUT:
        return None

    def codegen(context, builder, signature, args):
        value_type = context.get_value_type(a)
        suffix = "f32" if a == types.float32 else "f64"
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(value_type, [value_type] * 3), f"llvm.fma.{suffix}")
        return builder.call(fn, args)

    return a(a, b, c), codegen


def _order_mask(builder, bits, int_type, width):
    """All ones below the sign bit where ``bits`` is negative, else 0."""
    return builder.and_(builder.ashr(bits, int_type(width - 1)), int_type((1 << (width - 1)) - 1))


@intrinsic
def from_ordered(typingctx, key, like):
    """The float of ``like``'s type whose ``ordered`` key is ``key`` (the map is its own
    inverse)."""
    if like not in _LAYOUT or key != _LAYOUT[like][0]:
        return None

    def codegen(context, builder, signature, args):
        int_type = context.get_value_type(key)
        value = builder.xor(args[0], _order_mask(builder, args[0], int_type, key.bitwidth))
        return builder.bitcast(value, context.get_value_type(like))

    return like(key, like), codegen


def _integer_view(name, doc, transform):
    """An intrinsic from a float to an integer of its width: transform(builder, bits, int_type,
    width) of the float's bits."""

    def typer(typingctx, x):
        if x not in _LAYOUT:
            return None
        bits = _LAYOUT[x][0]

        def codegen(context, builder, signature, args):
            int_type = context.get_value_type(bits)
            value = builder.bitcast(args[0], int_type)
            return transform(builder, value, int_type, bits.bitwidth)

        return bits(x), codegen

    typer.__name__ = typer.__qualname__ = name
    typer.__doc__ = doc
    return intrinsic(typer)


ordered = _integer_view(
    "ordered",
    """An integer key ordered as the floats are (−0 just below +0): x's bits with the
    magnitude's bits flipped where x is negative. A max over keys is an integer max, which
    the loop vectoriser keeps in several SIMD registers at once (a float max reduction that
    keeps NaN is one long dependency chain). Meaningless for NaN: see ``magnitude``.""",
    lambda builder, value, int_type, width: builder.xor(
        value, _order_mask(builder, value, int_type, width)))

magnitude = _integer_view(
    "magnitude",
    """|x|'s bits as an integer: above inf's exactly for NaN.""",
    lambda builder, value, int_type, width: builder.and_(value, int_type((1 << (width - 1)) - 1)))


# --- a scalar fall-back for rare lanes ------------------------------------------------------
# A loop that calls a libm function for a few of its elements would not vectorise (the call
# cannot be widened), or, where the call can be speculated, LLVM calls it for every element.
# ``rare`` calls instead a function that LLVM knows has masked vector variants
# (the "vector-function-abi-variant" attribute): the vectorised loop calls the variant once per
# vector with the mask of the lanes that need it, and the variant returns at once when no lane
# does (one call and a test per vector), else calls libm for the lanes that do.

_VECTOR_WIDTHS = (2, 4, 8, 16)
_RARE = ("sin", "cos")  # the libm functions ``rare`` calls


def _define_rare(module: ir.Module, libm: str) -> ir.Function:
    """``double numact_<libm>_rare(double)`` (libm's function), with its masked vector variants,
    for every function of _RARE at once: their variants share the one list that keeps them."""
    double = ir.DoubleType()
    signature = ir.FunctionType(double, [double])
    name = f"numact_{libm}_rare"
    if name in module.globals:
        return module.globals[name]
    kept = []
    for function in _RARE:
        scalar = _define_scalar(module, f"numact_{function}_rare", function, signature)
        kept += [_define_variant(module, scalar, width) for width in _VECTOR_WIDTHS]
    # Nothing calls the variants until the vectoriser does: keep them from being removed first.
    array = ir.ArrayType(ir.PointerType(), len(kept))
    used = ir.GlobalVariable(module, array, "llvm.compiler.used")
    used.linkage = "appending"
    used.section = "llvm.metadata"
    used.initializer = ir.Constant(array, kept)
    return module.globals[name]


def _define_scalar(module, name, libm, signature):
    scalar = ir.Function(module, signature, name)
    scalar.linkage = "linkonce_odr"
    for attribute in ("nounwind", "readnone", "noinline"):
        scalar.attributes.add(attribute)
    variants = ",".join(f"_ZGV_LLVM_M{w}v_{name}({name}_v{w})" for w in _VECTOR_WIDTHS)
    set.add(scalar.attributes, f'"vector-function-abi-variant"="{variants}"')  # a string attribute
    library = cgutils.get_or_insert_function(module, signature, libm)
    builder = ir.IRBuilder(scalar.append_basic_block())
    builder.ret(builder.call(library, scalar.args))
    return scalar


def _define_variant(module, scalar, width):
    """The masked variant of ``width`` lanes: returns x at once where the mask is empty, else
    calls the scalar function for each lane of the mask."""
    double = ir.DoubleType()
    vector, mask_type = ir.VectorType(double, width), ir.VectorType(ir.IntType(1), width)
    variant = ir.Function(module, ir.FunctionType(vector, [vector, mask_type]), f"{scalar.name}_v{width}")
    variant.linkage = "linkonce_odr"
    variant.attributes.add("nounwind")
    variant.attributes.add("readnone")
    entry, work, done = (variant.append_basic_block(b) for b in ("entry", "work", "done"))
    x, mask = variant.args
    builder = ir.IRBuilder(entry)
    none = builder.icmp_unsigned("==", builder.bitcast(mask, ir.IntType(width)), ir.IntType(width)(0))
    builder.cbranch(none, done, work)
    builder = ir.IRBuilder(work)
    y = x
    for k in range(width):
        lane, on = (builder.extract_element(v, ir.IntType(32)(k)) for v in (x, mask))
        value = builder.call(scalar, [builder.select(on, lane, double(0.0))])
        y = builder.insert_element(y, builder.select(on, value, lane), ir.IntType(32)(k))
    builder.branch(done)
    builder = ir.IRBuilder(done)
    result = builder.phi(vector)
    result.add_incoming(x, entry)
    result.add_incoming(y, work)
    builder.ret(result)
    return variant


def _rare(libm: str):
    def typer(typingctx, x):
        if x != types.float64:
            return None

        def codegen(context, builder, signature, args):
            if not on_cpu(context):  # CUDA: libdevice's function, one thread an element
                double = ir.DoubleType()
                device = cgutils.get_or_insert_function(builder.module, ir.FunctionType(double, [double]), f"__nv_{libm}")
                return builder.call(device, args)
            return builder.call(_define_rare(builder.module, libm), args)

        return types.float64(types.float64), codegen

    typer.__name__ = typer.__qualname__ = f"{libm}_rare"
    typer.__doc__ = f"""libm's {libm}(x) in float64, for the rare elements of a loop that need it
    (libdevice's __nv_{libm} on CUDA)."""
    return intrinsic(typer)


sin_rare = _rare("sin")
cos_rare = _rare("cos")
