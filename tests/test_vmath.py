"""The CPU math core: within its ulp bound over a sweep of the whole domain, special values
exactly right, and vectorised (no scalar libm call left in a loop over it)."""

import math
import os
import re
import subprocess
import sys

import llvmlite.binding
import numpy as np
import pytest
from numba import njit

from numact._coefficients import ERFC_SPLIT_32, ERFC_SPLIT_64
from numact._primitives import row_max
from numact.bench import ulp

pytestmark = pytest.mark.cpu_only

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", ulp.FUNCTIONS)
def test_within_the_ulp_bound_over_the_whole_domain(name, dtype):
    worst, points = ulp.measure(name, dtype, 1 << 18)
    assert points > 20_000
    assert worst <= ulp.bound(name, dtype), f"{name} {dtype.__name__}: {worst:.2f} ulp"


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", ["erf", "erfc"])
def test_erf_and_erfc_below_the_split_round_once(name, dtype):
    """Below the split erf is x·(2/√π)·S(x²) and erfc 1 − erf x: both within an ulp, the
    leading product x·(2/√π) kept exact until the last rounding. Rounded on its own it had
    put float64 erfc 2.32 ulps off at x = 0.49275 (over the bound: erfc ≈ 0.48 there, half
    erf's ulp) and float32 erfc 3.40."""
    split = ERFC_SPLIT_32 if dtype == np.float32 else ERFC_SPLIT_64
    x = np.linspace(-split, split, 20001)[1:-1].astype(dtype)
    worst = ulp.ulp_errors(name, x).max()
    assert worst <= 1.0, f"{name} {dtype.__name__}: {worst:.2f} ulp"


SPECIAL = {
    # name: [(x, expected)]
    "exp": [(0.0, 1.0), (-0.0, 1.0), (math.inf, math.inf), (-math.inf, 0.0), (1000.0, math.inf),
            (-1000.0, 0.0)],
    "expm1": [(0.0, 0.0), (-0.0, -0.0), (math.inf, math.inf), (-math.inf, -1.0), (1000.0, math.inf)],
    "log": [(1.0, 0.0), (0.0, -math.inf), (-0.0, -math.inf), (math.inf, math.inf), (-1.0, math.nan)],
    "log1p": [(0.0, 0.0), (-0.0, -0.0), (-1.0, -math.inf), (-2.0, math.nan), (math.inf, math.inf)],
    "tanh": [(0.0, 0.0), (-0.0, -0.0), (math.inf, 1.0), (-math.inf, -1.0)],
    "erf": [(0.0, 0.0), (-0.0, -0.0), (math.inf, 1.0), (-math.inf, -1.0)],
    "erfc": [(0.0, 1.0), (math.inf, 0.0), (-math.inf, 2.0), (100.0, 0.0)],
    "sin": [(0.0, 0.0), (-0.0, -0.0), (math.inf, math.nan)],
    "cos": [(0.0, 1.0), (math.inf, math.nan)],
    "normal_cdf": [(0.0, 0.5), (-0.0, 0.5), (math.inf, 1.0), (-math.inf, 0.0), (-1e4, 0.0), (10.0, 1.0)],
    "normal_pdf": [(0.0, 0.3989422804014327), (math.inf, 0.0), (-math.inf, 0.0), (-1e4, 0.0)],
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", ulp.FUNCTIONS)
def test_special_values(name, dtype):
    x = np.array([v for v, _ in SPECIAL[name]] + [math.nan], dtype)
    expected = np.array([e for _, e in SPECIAL[name]] + [math.nan], dtype)
    got = ulp.evaluate(name, x)
    np.testing.assert_array_equal(got, expected)
    assert np.array_equal(np.signbit(got[expected == 0]), np.signbit(expected[expected == 0]))


def test_subnormal_inputs_and_results():
    tiny = np.array([1e-40, 1e-45, -1e-42], np.float32)
    np.testing.assert_allclose(ulp.evaluate("log", np.abs(tiny)), np.log(np.abs(tiny).astype(np.float64)), rtol=1e-6)
    np.testing.assert_array_equal(ulp.evaluate("expm1", tiny), tiny)  # e^x − 1 = x there
    x = np.array([-100.0, -103.0], np.float32)  # e^x subnormal in float32: within one ulp of it
    np.testing.assert_allclose(ulp.evaluate("exp", x), np.exp(x.astype(np.float64)), rtol=0, atol=2.0**-149)
    x = np.array([-740.0], np.float64)
    exact = np.exp(x.astype(np.longdouble)).astype(np.float64)
    np.testing.assert_allclose(ulp.evaluate("exp", x), exact, rtol=0, atol=2.0**-1074)


_SCALE_CHECK = """
import sys
import numpy as np
from numact import _bits
from numact.bench import ulp
assert not _bits._SCALEF  # NUMBA_CPU_NAME is set: the multiplying ldexp
for dtype, low, high in ((np.float32, -110.0, 95.0), (np.float64, -760.0, 720.0)):
    x = np.linspace(low, high, 20001, dtype=dtype)
    for name in ("exp", "erfc"):
        sys.stdout.write(ulp.evaluate(name, x).tobytes().hex() + "\\n")
"""


def test_ldexp_without_avx512_gives_the_same_bits(tmp_path):
    # exp and erfc scale by 2^n through _bits.ldexp: one AVX-512 instruction (vscalef) when
    # numba compiles for this host, two multiplies otherwise. Subnormal, normal and overflowing
    # results must be the same bits either way.
    env = {**os.environ, "NUMBA_CPU_NAME": llvmlite.binding.get_host_cpu_name(),
           "NUMBA_CACHE_DIR": str(tmp_path)}
    lines = subprocess.run([sys.executable, "-c", _SCALE_CHECK], env=env, check=True,
                           capture_output=True, text=True).stdout.split()
    expected = []
    for dtype, low, high in ((np.float32, -110.0, 95.0), (np.float64, -760.0, 720.0)):
        x = np.linspace(low, high, 20001, dtype=dtype)
        expected += [ulp.evaluate(name, x).tobytes().hex() for name in ("exp", "erfc")]
    assert lines == expected


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", ulp.FUNCTIONS)
def test_a_loop_over_it_vectorises(name, dtype):
    f = ulp.core(name, dtype)

    @njit(error_model="numpy")
    def loop(out, x):
        for i in range(x.size):
            out[i] = f(x[i])

    x = np.ones(64, dtype)
    loop(np.empty_like(x), x)
    asm = loop.inspect_asm(loop.signatures[0])
    assert re.search(r"\b(zmm|ymm)\d+", asm), f"no SIMD registers in the loop over {name}"
    # No libm call per element: only the masked vector variants of sin and cos's rare lanes
    # (numact_sin_rare_v4, ...), called once per vector.
    calls = re.findall(r"call\w*\s+\S*(?:exp|log|tanh|erf|sin|cos)\S*", asm)
    assert all(re.search(r"numact_(sin|cos)_rare_v\d+", c) for c in calls), calls


@pytest.mark.parametrize("name", ["exp", "sin", "normal_cdf"])
def test_the_exhaustive_float32_count_is_the_sweeps_on_the_same_inputs(name):
    """docs/ulp.md's float32 column comes from every input (``ulp.every_float32``, half an hour
    for all): on a slice of them it gives ulp_errors' maximum, the same error by another count."""
    first, count = 0xBF000000, 1 << 18  # from −0.5 down, and the binades below
    x = (np.arange(count, dtype=np.uint64) + first).astype(np.uint32).view(np.float32)
    assert ulp.every_float32(name, first, count) == pytest.approx(float(ulp.ulp_errors(name, x).max()), abs=1e-6)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", ["sin", "cos"])
def test_sin_and_cos_keep_their_relative_precision_at_their_zeros(name, dtype):
    """x the float nearest a multiple of π/2, up to the reduction's limit: sin or cos of it is
    tiny, and a float64 result needs every bit of r = x − q·π/2, which the reduction's rounding
    (|q|·6.8e-27) would not keep there (7 ulps at x ≈ −1.3·10^6 when it did not hand such
    elements to libm)."""
    import mpmath

    mpmath.mp.prec = 300
    rng = np.random.default_rng(7)
    q = np.concatenate([np.arange(1, 40), rng.integers(40, 2**20 - 1, 400)])
    x = np.array([float(mpmath.mpf(int(k)) * mpmath.pi / 2) for k in q], dtype)
    x = np.concatenate([x, -x, np.nextafter(x, np.inf), np.nextafter(x, -np.inf)]).astype(dtype)
    got = ulp.evaluate(name, x)
    f = mpmath.sin if name == "sin" else mpmath.cos
    worst = max(float(abs(mpmath.mpf(y) - f(mpmath.mpf(v)))) / float(np.spacing(np.abs(dtype(float(f(mpmath.mpf(v)))))))
                for v, y in zip(x.tolist(), got.tolist()))
    assert worst <= (1.0 if dtype == np.float32 else 2.0), f"{name} {dtype.__name__}: {worst:.2f} ulp"


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", ["sin", "cos"])
def test_sin_and_cos_hold_their_bound_for_every_finite_x(name, dtype):
    # Beyond |x| = 1.5·2^20 the Cody–Waite reduction loses bits: those lanes, found among
    # common ones, take libm's reduction. Large arguments of every binade, against mpmath.
    import mpmath

    rng = np.random.default_rng(5)
    top = 127 if dtype == np.float32 else 1023
    x = (rng.uniform(1, 2, 400) * 2.0 ** rng.integers(20, top, 400)).astype(dtype)
    x = np.concatenate([x, -x[:50], np.array([1.5 * 2**20, 2.0**24 + 1, np.finfo(dtype).max], dtype)])
    x = np.concatenate([x, rng.uniform(-10, 10, x.size).astype(dtype)])[rng.permutation(2 * x.size)]
    got = ulp.evaluate(name, x)
    mpmath.mp.prec = 1200
    f = mpmath.sin if name == "sin" else mpmath.cos
    worst = 0.0
    for v, y in zip(x.tolist(), got.tolist()):
        exact = f(mpmath.mpf(v))
        ulp_size = float(np.spacing(np.abs(dtype(float(exact)))))
        worst = max(worst, float(abs(mpmath.mpf(y) - exact)) / ulp_size)
    assert worst <= (1.0 if dtype == np.float32 else 2.0), f"{name} {dtype.__name__}: {worst:.2f} ulp"


@njit
def _row_max(x, sign):
    return row_max(x, sign)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_the_row_maximum_is_the_float_maximum_and_nan_where_a_nan_is(dtype):
    # The CPU's row maximum is an integer max over keys ordered as the floats are.
    rng = np.random.default_rng(0)
    tiny = np.finfo(dtype).smallest_subnormal
    specials = np.array([0.0, -0.0, np.inf, -np.inf, tiny, -tiny, 1e-30, -1e30], dtype)
    negative_nan = np.copysign(np.array(np.nan, dtype), -1)
    for n in (1, 2, 7, 64, 1000):
        for _ in range(20):
            x = rng.choice(np.concatenate([rng.standard_normal(50).astype(dtype), specials]), n)
            for sign in (dtype(1), dtype(-1)):
                expected = (sign * x).max()
                got = _row_max(x, sign)
                assert got == expected and np.signbit(got) == np.signbit(expected) or expected == 0
        for nan in (np.array(np.nan, dtype), negative_nan):
            x = rng.standard_normal(n).astype(dtype)
            x[rng.integers(n)] = nan
            assert np.isnan(_row_max(x, dtype(1))) and np.isnan(_row_max(x, dtype(-1)))
