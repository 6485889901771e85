"""The accuracy of the CPU math core (``numact._vmath``) in ulps, over a dense sweep of every
function's whole domain: evenly spaced bit patterns of the float type, so every binade gets
its share, subnormals, ±0, ±inf and NaN included.

The reference is float64 for float32 (NumPy's functions; SciPy's or math's erf and erfc) and
long double (x87, 64-bit mantissa) for float64, or mpmath at 60 digits for float64's erf and
erfc. An ulp is that of the exact result in the function's float type; a result must be inf
(NaN) exactly where the correctly rounded one is. ``python -m numact.bench.ulp`` writes
docs/ulp.md.
"""

import math
import sys
import textwrap

import numpy as np
from numba import njit, prange

from numact import _vmath

FUNCTIONS = ("exp", "expm1", "log", "log1p", "tanh", "erf", "erfc", "sin", "cos", "normal_cdf", "normal_pdf")
BOUND = {np.float32: 4.0, np.float64: 2.0}  # the promise, in ulps
# Φ and φ (gelu's): the tail's one exponential times a fit, t·G(t) of degree 23 in float64,
# whose Horner roundings and t's own add a few ulps
FUNCTION_BOUND = {"normal_cdf": {np.float32: 6.0, np.float64: 10.0}, "normal_pdf": {np.float32: 4.0, np.float64: 4.0}}
MPMATH = ("erf", "erfc", "normal_cdf", "normal_pdf")  # float64's reference: mpmath


def bound(name: str, dtype) -> float:
    return FUNCTION_BOUND.get(name, BOUND)[dtype]
DOMAIN: dict = {}  # |x| below which the bound holds, where it does not hold for all x


def core(name: str, dtype):
    bits = 32 if dtype == np.float32 else 64
    return getattr(_vmath, f"{name}_{bits}" if name == "expm1" else f"{name}{bits}")


_kernels = {}


def evaluate(name: str, x: np.ndarray) -> np.ndarray:
    f = core(name, x.dtype.type)
    if f not in _kernels:
        @njit(error_model="numpy")
        def kernel(out, x):
            for i in range(x.size):
                out[i] = f(x[i])

        _kernels[f] = kernel
    out = np.empty_like(x)
    _kernels[f](out, x)
    return out


def sweep(dtype, count: int) -> np.ndarray:
    """``count`` evenly spaced bit patterns of ``dtype``: the whole line, both signs."""
    if dtype == np.float32:
        return np.linspace(0, 2**32 - 1, count, dtype=np.uint64).astype(np.uint32).view(np.float32)
    step = (2**64 - 1) // (count - 1)
    return (np.arange(count, dtype=np.uint64) * np.uint64(step)).view(np.float64)


def _erf_mp(name, x):
    import mpmath

    mpmath.mp.dps = 60
    f = {"erf": mpmath.erf, "erfc": mpmath.erfc, "normal_cdf": mpmath.ncdf, "normal_pdf": mpmath.npdf}[name]
    return np.array([f(mpmath.mpf(float(v))) if math.isfinite(v) else np.nan for v in x],
                    dtype=object)


def reference(name: str, x: np.ndarray):
    """The exact result as float64 (for float32 x) or long double / mpmath values."""
    if x.dtype == np.float32:
        wide = x.astype(np.float64)
        if name == "normal_cdf":
            try:
                from scipy import special

                return special.ndtr(wide)
            except ImportError:
                return np.vectorize(lambda v: 0.5 * math.erfc(-v / math.sqrt(2)), otypes=[np.float64])(wide)
        if name == "normal_pdf":
            return np.exp(-0.5 * wide * wide) / np.sqrt(2 * np.pi)  # x² exact in float64
        if name in ("erf", "erfc"):
            try:
                from scipy import special

                return getattr(special, name)(wide)
            except ImportError:
                return np.vectorize(getattr(math, name), otypes=[np.float64])(wide)
        return getattr(np, name)(wide)
    if name in MPMATH:
        exact = _erf_mp(name, x)
        finite = np.isfinite(x)
        result = np.empty(x.size, np.longdouble)
        result[finite] = [np.longdouble(mpmath_str) for mpmath_str in map(str, exact[finite])]
        at_inf = {"erf": np.sign(x[~finite]), "erfc": np.where(x[~finite] > 0, 0.0, 2.0),
                  "normal_cdf": np.where(x[~finite] > 0, 1.0, 0.0), "normal_pdf": np.zeros((~finite).sum())}
        result[~finite] = at_inf[name]
        result[np.isnan(x)] = np.nan
        return result
    return getattr(np, name)(x.astype(np.longdouble))


def ulp_errors(name: str, x: np.ndarray) -> np.ndarray:
    """|result − exact| in ulps of the exact result's float type; inf where a special value
    (NaN, inf, a zero of the wrong kind) differs from the correctly rounded one."""
    dtype = x.dtype.type
    mantissa, smallest = (24, -149) if dtype == np.float32 else (53, -1074)
    with np.errstate(all="ignore"):
        exact = reference(name, x)
        got = evaluate(name, x)
        rounded = exact.astype(dtype)
        _, exponent = np.frexp(exact)
        ulp = np.ldexp(np.ones_like(exact), np.maximum(exponent - mantissa, smallest))
        err = np.abs(got.astype(exact.dtype) - exact) / ulp
    special = ~np.isfinite(rounded) | ~np.isfinite(got)
    same = (got == rounded) | (np.isnan(got) & np.isnan(rounded))
    err = np.where(special, np.where(same, 0.0, np.inf), err)
    return err


@njit(error_model="numpy")
def _normal_cdf64(x):
    return 0.5 * math.erfc(-x * _vmath.SQRT_HALF)  # x/√2's rounding: x²·2^−53, far below float32's ulp


@njit(error_model="numpy")
def _normal_pdf64(x):
    return math.exp(-0.5 * x * x) * _vmath.INV_SQRT_2PI  # x² exact for a float32 x


def _float64_reference(name: str):
    """libm's float64 function (numba's), the reference for a float32 result: its own error,
    under an ulp of float64, is 2^−29 of a float32 ulp."""
    own = {"normal_cdf": _normal_cdf64, "normal_pdf": _normal_pdf64}
    return own[name] if name in own else getattr(math, name)


def every_float32(name: str, first: int = 0, count: int = 1 << 32) -> float:
    """The max ulp error of the float32 function over every float32 input (the ``count`` bit
    patterns from ``first``; by default all 2^32, NaN included), as ``ulp_errors`` counts it:
    inf where a special value differs from the correctly rounded one. Threaded; minutes per
    function on two cores."""
    f, ref = core(name, np.float32), _float64_reference(name)

    @njit(parallel=True, error_model="numpy")
    def worst_of(chunks, first, n):
        worst = np.zeros(chunks)
        for c in prange(chunks):
            bits = np.empty(1, np.uint32)
            value = bits.view(np.float32)
            for b in range(first + n * c // chunks, first + n * (c + 1) // chunks):
                bits[0] = b
                x = value[0]
                got, exact = f(x), ref(np.float64(x))
                rounded = np.float32(exact)
                if not (math.isfinite(rounded) and math.isfinite(got)):
                    if not (got == rounded or (got != got and rounded != rounded)):
                        worst[c] = math.inf
                    continue
                e = math.frexp(exact)[1] if exact != 0 else -149
                err = abs(np.float64(got) - exact) / math.ldexp(1.0, max(e - 24, -149))
                worst[c] = max(worst[c], err)
        return worst

    return float(worst_of(4096, first, count).max())


def measure(name: str, dtype, count: int):
    """(max ulp error inside the domain, points, max |x| of the domain) for one function."""
    x = sweep(dtype, count)
    limit = DOMAIN.get(name)
    if limit is not None:
        x = x[~(np.abs(x) >= limit)]
    if dtype == np.float64 and name in ("erf", "erfc"):
        x = x[:: max(1, x.size // 20000)]
        x = x[np.abs(x) < 30] if name == "erfc" else x[np.abs(x) < 8]
        x = np.concatenate([x, np.linspace(-30 if name == "erfc" else -8, 30 if name == "erfc" else 8, 20001),
                            np.linspace(0.3, 27.3, 60001), -np.linspace(0.3, 6, 6001)])  # the tail, finer
    if dtype == np.float64 and name in ("normal_cdf", "normal_pdf"):  # 0 beyond −38.7, 1 beyond 8.3
        x = x[:: max(1, x.size // 20000)]
        x = np.concatenate([x[np.abs(x) < 40], np.linspace(-39, 9, 60001), np.linspace(-1, 1, 20001)])
    return float(np.max(ulp_errors(name, x))), x.size


def main(argv=None) -> None:
    """``python -m numact.bench.ulp [--sample] [PATH]``: the table into PATH (docs/ulp.md);
    float32 over every input (half an hour on two cores), or with --sample over the sweep."""
    import pathlib

    argv = list(sys.argv[1:] if argv is None else argv)
    sample = "--sample" in argv
    argv = [a for a in argv if a != "--sample"]
    count = 1 << 24
    float32 = (f"{count:,} evenly spaced bit patterns per float32 function" if sample else
               "every float32 input (all 2^32 bit patterns) against libm's float64 function")
    about = (f"Maximum error in ulps: float32 over {float32}; float64 over a dense sweep of evenly "
             "spaced bit patterns (so every binade, the subnormals, ±0, ±inf and NaN are sampled) "
             "against long double or 60-digit mpmath. Made by `python -m numact.bench.ulp` (`make ulp`); "
             f"{count // 16:,} points per float64 function (erf and erfc: 106,000 mpmath points over "
             "the range where they are not 0, ±1 or 2; normal_cdf and normal_pdf, the same over "
             "[−39, 9]). Bound: 4 ulp (float32), 2 ulp (float64); normal_cdf 6 (float32) and 10 "
             "(float64), normal_pdf 4 (float64).")
    lines = [
        "# Accuracy of numact's CPU math core",
        "",
        *textwrap.wrap(about, 92),
        "",
        "| function | float32 max ulp | float64 max ulp | domain |",
        "|---|---:|---:|---|",
    ]
    for name in FUNCTIONS:
        e32 = measure(name, np.float32, count)[0] if sample or name in DOMAIN else every_float32(name)
        e64, _ = measure(name, np.float64, count // 16)
        domain = f"\\|x\\| < {DOMAIN[name]:.4g} (NaN beyond)" if name in DOMAIN else "all x"
        lines.append(f"| {name} | {e32:.2f} | {e64:.2f} | {domain} |")
        print(lines[-1], file=sys.stderr)
    lines += ["", "erfc's tail (|x| ≥ ½, where erfc = t·e^(−x² + h(t))) keeps every rounding but one off",
              "its result: t and h(t) are carried in two pieces (fma, TwoSum), the small parts join",
              "after exp's range reduction, and t·e^r is rounded once. Below the split, erf is",
              "x·(2/√π)·S(x²) with the leading product x·c0_hi exact (fma) until the one last rounding, and",
              "erfc is 1 − erf x from 1 − x·c0_hi's exact pieces (erfc is about 0.4 at the split, where a",
              "rounded erf's error would count double). The tests hold every function to the bound.",
              "sin and cos reduce by π/2 in three 33-bit pieces for |x| < 1.5·2^20, with one rounding",
              "of q times the two smaller pieces; the rare elements within |q|·2^−30 of a multiple q·π/2",
              "(a zero, where float64 needs r's every bit), those beyond, and ±inf and NaN take glibc's",
              "sin or cos (Payne–Hanek reduction), called only for the lanes that need it, so the common",
              "range stays SIMD code.",
              "normal_cdf (Φ) and normal_pdf (φ), gelu's, share one exponential: Φ(−|x|) =",
              "e^(−x²/2)·M(|x|), with −x²/2 passed to exp exactly (hi + lo by fma) and M the Mills",
              "ratio's fit (float32: a rational function of degree (4, 5); float64: a polynomial of",
              "degree 23 in t = 1/(1 + k|x|)). They keep their relative precision for x ≪ 0, down to",
              "where they round to 0.",
              "", "CUDA kernels compile this same core; libdevice's sin and cos stand for glibc's on the",
              "rare elements."]
    path = pathlib.Path(argv[0] if argv else "docs/ulp.md")
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
