"""The CPU math core: exp, expm1, log, log1p, tanh, erf, erfc, sin and cos for float32 and
float64, written branch-free so that LLVM's loop vectoriser turns a loop over them into
AVX2/AVX-512 code. (Numba's ``math.exp`` and friends are scalar libm calls, which no loop
vectorises: PyPI's llvmlite has no SVML.)

Every function is the textbook construction: reduce the argument exactly (Cody–Waite), evaluate
a polynomial on the small remainder, scale back by 2^n (``_bits.ldexp``, or 2^n built in the
exponent bits). Special values (±0, ±inf, NaN, subnormals, overflow) are chosen by selects, not
branches. Constants are rounded to the working type; polynomials are Taylor series cut where
the next term is far below half an ulp, or Chebyshev fits from ``tools/fit_coefficients.py``
(evaluated in monomial form). ``docs/ulp.md`` gives each function's measured error, made by
``python -m numact.bench.ulp`` (``make ulp``).

``_primitives`` puts these behind the names operators use, on the CPU and in CUDA kernels alike.
"""

import math
from fractions import Fraction

import numpy as np
from numba import types
from numba.extending import overload

from ._bits import clear_low_bits, cos_rare, exp2i, fma, ldexp, ldexp_rounded, sin_rare, split_exponent
from ._coefficients import (ERFC_CHEBYSHEV_32, ERFC_CHEBYSHEV_64, ERFC_LIMIT_32, ERFC_LIMIT_64,
                            ERFC_SPLIT_32, ERFC_SPLIT_64, ERFC_T_RANGE_32, ERFC_T_RANGE_64, EXP_MINIMAX_32, NORMAL_CHEBYSHEV_64,
                            NORMAL_DENOMINATOR_32, NORMAL_K_64, NORMAL_LIMIT_32, NORMAL_LIMIT_64,
                            NORMAL_NUMERATOR_32, NORMAL_T_RANGE_64, PIO2_PIECES, TANH_CHEBYSHEV_32,
                            TANH_CHEBYSHEV_64, TANH_SPLIT)
from ._jit import INLINED, inline_only

# LLVM's alwaysinline: every function here ends up inside the caller's loop, where the
# vectoriser needs it (numba's own inline="always", for all of them, would type each body again in
# every caller, at great compile cost; _jit.ir_inlined is for a few large helpers only).
# No fastmath flag, contraction included: a multiply and an add fuse only where ``fma`` says so,
# so every target computes the same roundings (LLVM for x86 and NVVM would fuse different pairs;
# numba-cuda would also take any fastmath flag as leave to divide approximately).
vmath = inline_only

LOG2E = 1.4426950408889634
TWO_OVER_PI = 0.6366197723675814
SQRT_HALF = 0.7071067811865476
TWO_OVER_SQRT_PI = 1.1283791670955126
INV_SQRT_2PI = 0.3989422804014327
INF = math.inf
NAN = math.nan


def _taylor(first, count, step=1):
    """1/first!, 1/(first + step)!, ... : count coefficients, highest degree first."""
    return tuple(1.0 / math.factorial(first + step * k) for k in range(count))[::-1]


# Per dtype: the constants that differ between float32 and float64.
# ln 2 split so that n·LN2_HI is exact for every n the range reduction meets.
LN2_32 = (0.693359375, -2.12194440e-4)
LN2_64 = (6.93147180369123816490e-01, 1.90821492927058770002e-10)
EXP_32 = _taylor(2, 6)  # (e^r − 1 − r)/r², |r| ≤ ln2/2: e^r to degree 7
EXP_64 = _taylor(2, 12)  # e^r to degree 13
EXPM1_32 = _taylor(2, 7)  # (e^r − 1 − r)/r², degree 6
EXPM1_64 = _taylor(2, 13)
EXP_RANGE_32 = (-104.0, 89.0)  # e^x rounds to 0 below, overflows above
EXP_RANGE_64 = (-746.0, 710.0)
EXPM1_LOW_32 = -18.0  # e^x − 1 rounds to −1 below
EXPM1_LOW_64 = -38.0
ATANH_32 = tuple(2.0 / (2 * k + 3) for k in range(4))[::-1]  # 2/3, 2/5, ... of 2·atanh(s)
ATANH_64 = tuple(2.0 / (2 * k + 3) for k in range(11))[::-1]
LOG_SUBNORMAL_32 = (1.1754943508222875e-38, 2.0**23, 23.0)  # below: scale up by 2^23 first
LOG_SUBNORMAL_64 = (2.2250738585072014e-308, 2.0**52, 52.0)
TANH_CLAMP_32 = 10.0  # tanh rounds to ±1 beyond
TANH_CLAMP_64 = 20.0
ERFC_SPLIT_BITS_32 = 12  # z² exact for z cut to the top 12 of 24 bits
ERFC_SPLIT_BITS_64 = 27
SIN_32 = tuple((-1) ** k / math.factorial(2 * k + 1) for k in range(1, 6))[::-1]  # −1/3!, ...
SIN_64 = tuple((-1) ** k / math.factorial(2 * k + 1) for k in range(1, 10))[::-1]
COS_32 = tuple((-1) ** k / math.factorial(2 * k) for k in range(2, 8))[::-1]  # 1/4!, ...
COS_64 = tuple((-1) ** k / math.factorial(2 * k) for k in range(2, 11))[::-1]
SIN_LIMIT = 2.0**20 * 1.5  # |q| < 2^20: the 33-bit pieces of π/2 times q stay exact
# q·(the two smaller pieces) rounds by up to |q|·6.8e-27: an r below |q|·2^−30 (x that near a
# multiple of π/2) would carry more than 1/16 ulp of it, and takes libm's reduction
REDUCTION_ERROR = 2.0**-30


def _linear_part(c, t_range, dtype):
    """(A_hi, A_lo, B_hi, B_lo): c0 + c1·y = A + B·t for y = (t − mid)·2/(b − a), the
    Chebyshev variable of t in [a, b], each of A and B as the sum of two numbers of ``dtype``."""
    a, b = Fraction(t_range[0]), Fraction(t_range[1])
    slope = Fraction(c[1]) * 2 / (b - a)
    pieces = []
    for value in (Fraction(c[0]) - slope * (a + b) / 2, slope):
        hi = float(dtype(value))
        pieces += [hi, float(dtype(value - Fraction(hi)))]
    return tuple(pieces)


def _monomial(c):
    """The Chebyshev series Σ c_k·T_k(y) as a polynomial in y, highest degree first (for
    ``horner``: half the operations of Clenshaw's recurrence), converted exactly and rounded
    once per coefficient. The fits here are well conditioned in this form: Σ|coefficient| stays
    below 0.34, so Horner's roundings stay at the size of Clenshaw's."""
    powers = [[Fraction(1)], [Fraction(0), Fraction(1)]]  # T_0, T_1 as coefficient lists
    while len(powers) < len(c):  # T_(k+1) = 2y·T_k − T_(k−1)
        shifted, previous = [Fraction(0)] + powers[-1], powers[-2] + [Fraction(0)] * 2
        powers.append([2 * u - v for u, v in zip(shifted, previous)])
    total = [Fraction(0)] * len(c)
    for ck, tk in zip(c, powers):
        for j, v in enumerate(tk):
            total[j] += Fraction(ck) * v
    return tuple(float(v) for v in reversed(total))


# erf x = x·(c0 + z·Q(z)), z = x², for |x| below the split: (c0's two pieces, Q) with c0 = 2/√π
# = c0_hi + c0_lo and Q's coefficients c0·(−1)^k/(k!(2k + 1)), k ≥ 1 (Taylor's)
TWO_OVER_SQRT_PI_LO = 1.533545961316588e-17  # 2/√π − TWO_OVER_SQRT_PI


def _erf_series(dtype, terms):
    hi = float(dtype(TWO_OVER_SQRT_PI))
    lo = float(dtype((TWO_OVER_SQRT_PI - hi) + TWO_OVER_SQRT_PI_LO))
    q = tuple(TWO_OVER_SQRT_PI * (-1) ** k / (math.factorial(k) * (2 * k + 1)) for k in range(1, terms))
    return hi, lo, q[::-1]


ERF_32 = _erf_series(np.float32, 8)
ERF_64 = _erf_series(np.float64, 14)
TANH_POLY_32 = _monomial(TANH_CHEBYSHEV_32)
TANH_POLY_64 = _monomial(TANH_CHEBYSHEV_64)
# erfc's fitted h as its linear part and the rest of the series (see erfc_large)
ERFC_LINEAR_32 = _linear_part(ERFC_CHEBYSHEV_32, ERFC_T_RANGE_32, np.float32)
ERFC_LINEAR_64 = _linear_part(ERFC_CHEBYSHEV_64, ERFC_T_RANGE_64, np.float64)
ERFC_REST_32 = _monomial((0.0, 0.0) + ERFC_CHEBYSHEV_32[2:])
ERFC_REST_64 = _monomial((0.0, 0.0) + ERFC_CHEBYSHEV_64[2:])
# The scaled exponential (exp_scaled) makes 2^shift·e^v, normal down to its callers' clamps, with
# e^r = 1 + r·q(r): q a minimax fit (float32), Taylor's (float64)
EXP_SHIFT_32 = 32
EXP_SHIFT_64 = 64
EXP_Q_32 = EXP_MINIMAX_32[::-1]
EXP_Q_64 = _taylor(1, 13)
# Φ's tail, scaled by 2^−shift: float32 N/D, highest degree first; float64 G as a polynomial in
# its Chebyshev variable y = t·scale − offset, with (k, scale, offset)
NORMAL_RATIONAL_32 = (tuple(c * 2.0**-EXP_SHIFT_32 for c in NORMAL_NUMERATOR_32[::-1]), NORMAL_DENOMINATOR_32[::-1])
NORMAL_POLY_64 = tuple(c * 2.0**-EXP_SHIFT_64 for c in _monomial(NORMAL_CHEBYSHEV_64))
# σ'(z) = e^−|z|/(1 + e^−|z|)² rounds to 0 beyond; 2^shift·e^−limit is normal
SLOPE_LIMIT_32 = 104.0
SLOPE_LIMIT_64 = 745.2
NORMAL_SHAPE_64 = (NORMAL_K_64, 2 / (NORMAL_T_RANGE_64[1] - NORMAL_T_RANGE_64[0]),
                   (NORMAL_T_RANGE_64[1] + NORMAL_T_RANGE_64[0]) / (NORMAL_T_RANGE_64[1] - NORMAL_T_RANGE_64[0]))


@vmath
def like(x, value):
    return type(x)(value)


def horner(x, c):
    """c[0]·x^(n−1) + ... + c[n−1], in x's type, each step p·x + c fused (one rounding)."""


def _unrolled(name, lines):
    """A function of (x, c) from straight-line code: a loop over the coefficients inside the
    element loop would keep LLVM from vectorising the element loop."""
    source = f"def {name}(x, c):\n" + "".join(f"    {line}\n" for line in lines)
    namespace = {"like": like, "fma": fma}
    exec(source, namespace)  # noqa: S102 - generated from the templates in the callers
    return namespace[name]


@overload(horner, jit_options=INLINED)
def _horner(x, c):
    steps = [f"p = fma(p, x, like(x, c[{k}]))" for k in range(1, len(c))]  # a step rounds once
    return _unrolled("horner", ["p = like(x, c[0])", *steps, "return p"])


def round_to_int(x):
    """x rounded to the nearest integer (ties to even) for |x| < 2^22 (float32) or 2^51: adding
    and subtracting 1.5·2^(mantissa bits) leaves the integer part (no fastmath, so kept)."""


def rounding_of(x):
    """(round_to_int(x), x + 1.5·2^(mantissa bits)): the rounded value and the sum it comes
    from, whose low bits hold it as an integer (``_bits.ldexp_rounded`` reads them)."""


@overload(rounding_of, jit_options=INLINED)
def _rounding_of(x):
    big = x(12582912.0 if x == types.float32 else 6755399441055744.0)
    return lambda x: ((x + big) - big, x + big)


@overload(round_to_int, jit_options=INLINED)
def _round_to_int(x):
    return lambda x: rounding_of(x)[0]


@vmath
def clamp(x, low, high):
    """x limited to [low, high]; NaN becomes low (the caller restores NaN by a select)."""
    y = x if x > low else low
    return y if y < high else high


@vmath
def reduce_ln2(x, tail, tail_lo, ln2):
    """(n, r, rounding) with x + tail + tail_lo = n·ln 2 + r, n = round((x + tail)/ln 2),
    |r| ≲ ln2/2, and the sum n was rounded with (``rounding_of``). Cody–Waite: n·ln2[0] is
    exact, so x − n·ln2[0] loses nothing; the tails join after that, so they are not rounded
    against a large x."""
    n, rounding = rounding_of((x + tail) * like(x, LOG2E))
    r = fma(-n, like(x, ln2[1]), (fma(-n, like(x, ln2[0]), x) + tail) + tail_lo)  # n·ln2[0] exact
    return n, r, rounding


@vmath
def exp_tail(x, tail, tail_lo, coefficients, ln2):
    """e^(x + tail + tail_lo), x within the finite range of exp, tail_lo ≪ tail (−0 for none:
    x + (−0) is x for every x, so adding it compiles to nothing; +0 would not)."""
    n, r, _ = reduce_ln2(x, tail, tail_lo, ln2)
    p = like(x, 1) + fma(r * r, horner(r, coefficients), r)  # the 1 added last: one rounding
    return ldexp(p, n)  # rounded once, also where e^x is subnormal


@vmath
def exp_(x, coefficients, ln2, bounds):
    """e^x"""
    y = exp_tail(clamp(x, like(x, bounds[0]), like(x, bounds[1])), like(x, -0.0), like(x, -0.0),
                 coefficients, ln2)
    return y if x == x else x


@vmath
def expm1_(x, coefficients, ln2, low, high):
    """e^x − 1 = 2^n(p + 1) − 1 with p = e^r − 1, written as 2·(p·2^(n−1) + (2^(n−1) − ½)):
    exactly p for n = 0 (no cancellation near 0), and finite up to the overflow threshold."""
    xc = clamp(x, like(x, low), like(x, high))
    n, r, _ = reduce_ln2(xc, like(x, -0.0), like(x, -0.0), ln2)
    p = fma(r * r, horner(r, coefficients), r)
    half = exp2i(n - like(x, 1))
    y = fma(p, half, half - like(x, 0.5)) * like(x, 2)
    return y if (x == x and abs(x) >= like(x, 1e-18)) else x  # NaN, ±0 and e^x − 1 = x


@vmath
def log_(x, coefficients, ln2, subnormal):
    """log x = e·ln 2 + log(1 + f), x = 2^e(1 + f), 1 + f in [√½, √2); log(1 + f) from
    s = f/(2 + f) as f − (f²/2 − s(f²/2 + R)), R = s²(2/3 + 2s²/5 + ...) (fdlibm's form, in
    which the large terms are added last)."""
    scale = x < like(x, subnormal[0])
    xs = x * like(x, subnormal[1]) if scale else x
    e, m = split_exponent(xs, like(x, SQRT_HALF))
    e = e - like(x, subnormal[2]) if scale else e
    f = m - like(x, 1)
    s = f / (like(x, 2) + f)
    z = s * s
    half_f2 = like(x, 0.5) * f * f
    r = z * horner(z, coefficients)
    y = fma(e, like(x, ln2[0]), f - (half_f2 - fma(s, half_f2 + r, e * like(x, ln2[1]))))  # e·ln2[0] exact
    y = y if x < like(x, INF) else x + x  # inf → inf, NaN → NaN
    return y if x > 0 else (like(x, -INF) if x == 0 else like(x, NAN))


@vmath
def log1p_(x, coefficients, ln2, subnormal):
    """log(1 + x) = log u + (x − (u − 1))/u with u = 1 + x rounded: the second term restores
    what rounding u lost."""
    u = like(x, 1) + x
    correction = (x - (u - like(x, 1))) / u if u != 0 else like(x, 0)
    y = log_(u, coefficients, ln2, subnormal) + correction
    return y if (x != 0 and x < like(x, INF)) else x  # ±0 and inf pass through


@vmath
def tanh_(x, polynomial, coefficients, ln2, clamp_at):
    """tanh x = x + x³·P(x²) for |x| < TANH_SPLIT (P a Chebyshev fit); beyond, tanh |x| =
    t/(t + 2), t = e^(2|x|) − 1, with |x| clamped where tanh rounds to 1 and the sign copied
    back."""
    a = abs(x)
    u = x * x
    scale = like(x, 2.0 / (TANH_SPLIT * TANH_SPLIT))
    small = fma(x, u * horner(fma(u, scale, like(x, -1)), polynomial), x)
    a = a if a < like(x, clamp_at) else like(x, clamp_at)
    t = expm1_(a + a, coefficients, ln2, like(x, -1), like(x, 2 * clamp_at + 1))
    large = math.copysign(t / (t + like(x, 2)), x)
    y = small if a < like(x, TANH_SPLIT) else large
    return y if (x == x and x != 0) else x  # NaN and ±0 pass through


@vmath
def erf_small(x, series):
    """erf x = (2/√π)·x·Σ (−x²)^k/(k!(2k + 1)), for |x| below the split, as (p, p_lo, rest):
    p + p_lo = x·c0_hi exactly (fma), rest = x·(c0_lo + z·Q(z)) (``ERF_32``). The leading
    product's rounding stays off the result: erf is x·c0_hi + rest rounded once (fma), erfc
    1 − p's exact pieces less p_lo and rest, where 1 − (erf x rounded) would double erf's error
    (erfc ≈ 0.4 at the split, half erf's ulp)."""
    c0_hi = like(x, series[0])
    z = x * x
    p = x * c0_hi
    rest = x * fma(z, horner(z, series[2]), like(x, series[1]))
    return p, fma(x, c0_hi, -p), rest


@vmath
def erfc_large(z, linear, rest, t_range, split, limit, split_bits, exp_c, ln2):
    """erfc z for split ≤ z: t·e^(−z² + h(t)), t = 2/(2 + z), h a Chebyshev fit, evaluated as
    its linear part A + B·t (``linear``: A and B in two pieces each) plus the rest of the
    series, Σ_(k≥2) c_k·T_k(y) (``rest``; |rest| < 0.02, so its roundings stay small).

    Every rounding that would land on the result whole is kept out of it: t is t_hi(1 + δ)
    with δ from t_hi's exact residual (fma) and 2 + z's (TwoSum); A + B·t is summed exactly
    (fma, TwoSum) at t_hi + t_hi·δ; −z² is −s² + (s − z)(s + z), s = z cut to half its bits so
    s² is exact. The small parts join after exp's range reduction, and t·e^r = t + t(e^r − 1)
    is rounded once: the result carries the fit's error, the reduction's and one rounding."""
    zc = clamp(z, like(z, split), like(z, limit))
    two = like(z, 2)
    u = two + zc
    v = u - zc
    u_lo = (two - v) + (zc - (u - v))  # TwoSum: 2 + z = u + u_lo exactly
    t = two / u
    delta = (fma(-t, u, two) - t * u_lo) * like(z, 0.5)  # 2/(u + u_lo) = t(1 + δ), t·u ≈ 2
    y = (t - like(z, 0.5 * (t_range[1] + t_range[0]))) * like(z, 2 / (t_range[1] - t_range[0]))
    a_hi, a_lo, b_hi, b_lo = like(z, linear[0]), like(z, linear[1]), like(z, linear[2]), like(z, linear[3])
    p = b_hi * t
    h_hi = a_hi + p
    w = h_hi - a_hi
    h_lo = (a_hi - (h_hi - w)) + (p - w)  # TwoSum: a_hi + p = h_hi + h_lo exactly
    h_lo = h_lo + (fma(b_hi, t, -p) + (a_lo + (b_hi * (t * delta) + b_lo * t))) + horner(y, rest)
    s = clear_low_bits(zc, split_bits)
    n, r, _ = reduce_ln2(-(s * s), h_hi, ((s - zc) * (s + zc) + h_lo) + delta, ln2)
    q = fma(r * r, horner(r, exp_c), r)  # e^r − 1
    value = ldexp(fma(t, q, t), n)  # t·e^r rounded once, then scaled
    return value if z < like(z, limit) else like(z, 0)


@vmath
def erfc_(x, erf_c, linear, rest, t_range, split, limit, split_bits, exp_c, ln2):
    """erfc x: 1 − erf x near 0, the fitted tail for x ≥ split and 2 − erfc(−x) below −split."""
    a = abs(x)
    p, p_lo, more = erf_small(clamp(x, like(x, -split), like(x, split)), erf_c)
    one_less = like(x, 1) - p
    small = one_less + ((((like(x, 1) - one_less) - p) - p_lo) - more)  # 1 − p exact in two (Fast2Sum: |p| < 1)
    tail = erfc_large(a, linear, rest, t_range, split, limit, split_bits, exp_c, ln2)
    y = small if a < like(x, split) else (tail if x > 0 else like(x, 2) - tail)
    return y if x == x else x


@vmath
def erf_(x, erf_c, linear, rest, t_range, split, limit, split_bits, exp_c, ln2):
    """erf x: the series near 0, ±(1 − erfc |x|) beyond."""
    a = abs(x)
    xs = clamp(x, like(x, -split), like(x, split))
    _, _, more = erf_small(xs, erf_c)
    small = fma(xs, like(x, erf_c[0]), more)  # x·c0_hi + rest, rounded once
    tail = like(x, 1) - erfc_large(a, linear, rest, t_range, split, limit, split_bits, exp_c, ln2)
    y = small if a < like(x, split) else math.copysign(tail, x)
    return y if (x == x and x != 0) else x  # NaN and ±0 pass through (c0_lo < 0 in float32: −0 + (+0))


@vmath
def mills_rational(u, rational):
    """M(u) = Φ(−u)·e^(u²/2) as N(u)/D(u) (float32): positive coefficients, so Horner's
    roundings stay small."""
    return horner(u, rational[0]) / horner(u, rational[1])


@vmath
def mills_chebyshev(u, polynomial, shape):
    """M(u) = t·G(t), t = 1/(1 + k·u), G a Chebyshev fit on all of t's range (float64)."""
    k, scale, offset = shape
    t = like(u, 1) / fma(like(u, k), u, like(u, 1))
    return t * horner(fma(t, like(u, scale), like(u, -offset)), polynomial)


@vmath
def clamp_magnitude(x, limit):
    """min(|x|, limit), NaN kept: it runs through to the result (the exponent's fptosi gives
    x86's integer indefinite there, and the NaN mantissa makes the product NaN)."""
    u = abs(x)
    return like(x, limit) if u > like(x, limit) else u


@vmath
def exp_scaled(v, v_lo, q, ln2, shift):
    """2^shift·e^(v + v_lo) for v ≤ 0 where that is normal: scaled by one multiply where
    AVX-512's vscalef is not at hand. The callers' constants carry 2^−shift, and their product
    with it rounds once, also where it is subnormal."""
    n, r, rounding = reduce_ln2(v, like(v, -0.0), v_lo, ln2)
    return ldexp_rounded(fma(r, horner(r, q), like(v, 1)), n, rounding, like(v, shift))  # e^r rounded once


@vmath
def gaussian(u, q, ln2, shift):
    """2^shift·e^(−u²/2), normal for every u up to the clamp. −u²/2 goes into exp exactly, as
    hi + lo (fma): its rounding would cost u²·ε of relative precision, 100 ulps at u = 10 in
    float32."""
    half = like(u, -0.5) * u
    hi = half * u
    return exp_scaled(hi, fma(half, u, -hi), q, ln2, shift)


@vmath
def normal_cdf_(x, u, mills, q, ln2, shift):
    """Φ(x), the standard normal CDF, from Φ(−u) = e^(−u²/2)·M(u), u = |x| (clamped where both
    round to 0; ±inf take the clamp): relative precision everywhere, also for x ≪ 0, where
    1 + erf(x/√2) cancels. The one exponential is normal_pdf_'s (LLVM computes it once where a
    caller takes both). ``mills`` is M(u)·2^−shift."""
    tail = gaussian(u, q, ln2, shift) * mills
    return tail if x < 0 else like(x, 1) - tail


@vmath
def normal_pdf_(u, q, ln2, shift):
    """φ(x) = e^(−x²/2)/√(2π), u = |x| clamped as in normal_cdf_."""
    return like(u, INV_SQRT_2PI * 2.0**-shift) * gaussian(u, q, ln2, shift)


@vmath
def sigmoid_slope_(z, limit, q, ln2, shift):
    """σ'(z) = σ(z)·σ(−z) = e/(1 + e)² with e = e^−|z|: no overflow, no 1 − σ cancellation.
    e is made as 2^shift·e^−|z| (|z| clamped where σ' rounds to 0, exp_scaled); the
    numerator's 2^−shift rounds once."""
    a = abs(z)
    a = like(z, limit) if a > like(z, limit) else a  # NaN stays NaN, and carries through
    scaled = exp_scaled(-a, like(z, -0.0), q, ln2, shift)
    one = fma(scaled, like(z, 2.0**-shift), like(z, 1))  # the product is exact
    return scaled * like(z, 2.0**-shift) / (one * one)


@vmath
def sin_cos_quadrant(x, sin_c, cos_c, shift):
    """sin x (shift 0) or cos x (shift 1), in float64: x = q·π/2 + r with π/2 in three 33-bit
    pieces, then the Taylor series of sin r or cos r by the quadrant q + shift. The reduction
    holds r to 1/16 ulp for |x| < SIN_LIMIT, except where x is within |q|·2^−30 of a multiple
    of π/2 (a zero of sin or cos, where a float64 result needs r's every bit); those rare
    elements, those beyond, ±inf and NaN take libm's sin or cos (glibc's: Payne–Hanek
    reduction, under 1 ulp), called only for the lanes that need it (``_bits.sin_rare``), so
    the common range stays SIMD code."""
    q = round_to_int(x * TWO_OVER_PI)
    r = fma(-q, PIO2_PIECES[0], x) - fma(q, PIO2_PIECES[1], q * PIO2_PIECES[2])  # one rounding
    r2 = r * r
    sin_r = fma(r * r2, horner(r2, sin_c), r)
    cos_r = fma(r2 * r2, horner(r2, cos_c), fma(-0.5, r2, 1.0))
    k = q + shift
    k = k - 4.0 * round_to_int((k - 1.5) * 0.25)  # k mod 4: (k − 1.5)/4 is never a tie, so it rounds to ⌊k/4⌋
    y = cos_r if (k == 1.0 or k == 3.0) else sin_r
    y = -y if k >= 2.0 else y
    y = x if (x == 0 and shift == 0.0) else y  # sin(±0) = ±0
    if not (abs(x) < SIN_LIMIT and abs(r) >= abs(q) * REDUCTION_ERROR):
        y = sin_rare(x) if shift == 0.0 else cos_rare(x)
    return y


# --- per dtype: the functions _primitives puts behind the operators' names ------------------


@vmath
def exp32(x):
    return exp_(x, EXP_32, LN2_32, EXP_RANGE_32)


@vmath
def exp64(x):
    return exp_(x, EXP_64, LN2_64, EXP_RANGE_64)


@vmath
def expm1_32(x):
    return expm1_(x, EXPM1_32, LN2_32, EXPM1_LOW_32, EXP_RANGE_32[1])


@vmath
def expm1_64(x):
    return expm1_(x, EXPM1_64, LN2_64, EXPM1_LOW_64, EXP_RANGE_64[1])


@vmath
def log32(x):
    return log_(x, ATANH_32, LN2_32, LOG_SUBNORMAL_32)


@vmath
def log64(x):
    return log_(x, ATANH_64, LN2_64, LOG_SUBNORMAL_64)


@vmath
def log1p32(x):
    return log1p_(x, ATANH_32, LN2_32, LOG_SUBNORMAL_32)


@vmath
def log1p64(x):
    return log1p_(x, ATANH_64, LN2_64, LOG_SUBNORMAL_64)


@vmath
def tanh32(x):
    return tanh_(x, TANH_POLY_32, EXPM1_32, LN2_32, TANH_CLAMP_32)


@vmath
def tanh64(x):
    return tanh_(x, TANH_POLY_64, EXPM1_64, LN2_64, TANH_CLAMP_64)


@vmath
def erfc32(x):
    return erfc_(x, ERF_32, ERFC_LINEAR_32, ERFC_REST_32, ERFC_T_RANGE_32, ERFC_SPLIT_32, ERFC_LIMIT_32,
                 ERFC_SPLIT_BITS_32, EXP_32, LN2_32)


@vmath
def erfc64(x):
    return erfc_(x, ERF_64, ERFC_LINEAR_64, ERFC_REST_64, ERFC_T_RANGE_64, ERFC_SPLIT_64, ERFC_LIMIT_64,
                 ERFC_SPLIT_BITS_64, EXP_64, LN2_64)


@vmath
def erf32(x):
    return erf_(x, ERF_32, ERFC_LINEAR_32, ERFC_REST_32, ERFC_T_RANGE_32, ERFC_SPLIT_32, ERFC_LIMIT_32,
                ERFC_SPLIT_BITS_32, EXP_32, LN2_32)


@vmath
def erf64(x):
    return erf_(x, ERF_64, ERFC_LINEAR_64, ERFC_REST_64, ERFC_T_RANGE_64, ERFC_SPLIT_64, ERFC_LIMIT_64,
                ERFC_SPLIT_BITS_64, EXP_64, LN2_64)


@vmath
def normal_cdf32(x):
    u = clamp_magnitude(x, NORMAL_LIMIT_32)
    return normal_cdf_(x, u, mills_rational(u, NORMAL_RATIONAL_32), EXP_Q_32, LN2_32, EXP_SHIFT_32)


@vmath
def normal_cdf64(x):
    u = clamp_magnitude(x, NORMAL_LIMIT_64)
    return normal_cdf_(x, u, mills_chebyshev(u, NORMAL_POLY_64, NORMAL_SHAPE_64), EXP_Q_64, LN2_64, EXP_SHIFT_64)


@vmath
def normal_pdf32(x):
    return normal_pdf_(clamp_magnitude(x, NORMAL_LIMIT_32), EXP_Q_32, LN2_32, EXP_SHIFT_32)


@vmath
def normal_pdf64(x):
    return normal_pdf_(clamp_magnitude(x, NORMAL_LIMIT_64), EXP_Q_64, LN2_64, EXP_SHIFT_64)


@vmath
def sigmoid_slope32(x):
    return sigmoid_slope_(x, SLOPE_LIMIT_32, EXP_Q_32, LN2_32, EXP_SHIFT_32)


@vmath
def sigmoid_slope64(x):
    return sigmoid_slope_(x, SLOPE_LIMIT_64, EXP_Q_64, LN2_64, EXP_SHIFT_64)


# float32 sin and cos are computed in float64 and rounded once.
@vmath
def sin32(x):
    return np.float32(sin_cos_quadrant(np.float64(x), SIN_32, COS_32, 0.0))


@vmath
def sin64(x):
    return sin_cos_quadrant(x, SIN_64, COS_64, 0.0)


@vmath
def cos32(x):
    return np.float32(sin_cos_quadrant(np.float64(x), SIN_32, COS_32, 1.0))


@vmath
def cos64(x):
    return sin_cos_quadrant(x, SIN_64, COS_64, 1.0)
