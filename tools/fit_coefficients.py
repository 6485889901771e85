"""Generate numact/_coefficients.py: the constants of the CPU math core that are not plain
Taylor coefficients. Run with mpmath installed: ``python tools/fit_coefficients.py``.

- π/2 split into 33-bit pieces (Cody–Waite): q·piece is exact in float64 for |q| < 2^20.
- tanh's near 0: tanh x = x + x³·P(x²), P a Chebyshev fit in x² for |x| < TANH_SPLIT.
- erfc's Chebyshev coefficients: for z ≥ ERFC_SPLIT[dtype], erfc(z) = t·e^(−z² + h(t)) with
  t = 2/(2 + z) (Numerical Recipes' form); h is fitted on the Chebyshev points of t's range up
  to the z where erfc underflows, per dtype, to a degree whose fit error is far below an ulp.
- The normal distribution's tail, for Φ (gelu): Φ(−u) = e^(−u²/2)·M(u) for every u ≥ 0, from
  u = 0 to the u where gelu and its gradient round to 0. float64: M(u) = t·G(t) with
  t = 1/(1 + k·u), G fitted on the Chebyshev points of t's range. float32: M = N/D, a rational
  function of degree (4, 5) with positive coefficients (so Horner's roundings stay small),
  fitted for the least maximum relative error by iterated weighted least squares, with its
  coefficients rounded to float32 one at a time and the rest refitted.
- The scaled exponentials' polynomial (Φ's and σ''s, float32): e^r = 1 + r·q(r) on |r| ≤ ln2/2
  (plus the reduction's slack), q of degree 5 fitted the same way (two operations fewer than
  exp's Taylor series, for the same error).
"""

import pathlib

import mpmath
import numpy as np

mpmath.mp.prec = 200
ERFC_SPLIT = {"float32": 0.6, "float64": 0.5}  # erf's series below, the fitted tail above
ERFC_LIMIT = {"float32": 10.1, "float64": 27.3}  # erfc(z) rounds to 0 beyond
ERFC_DEGREE = {"float32": 11, "float64": 30}
TANH_SPLIT = 0.625  # tanh x = x + x³·P(x²) below; t/(t + 2), t = e^(2|x|) − 1, above
TANH_DEGREE = {"float32": 5, "float64": 11}
NORMAL_LIMIT = {"float32": 14.6, "float64": 38.7}  # u·φ(u) rounds to 0 beyond
NORMAL_K_64 = 0.1640625  # t = 1/(1 + k·u): k exact in binary
NORMAL_DEGREE_64 = 23
NORMAL_RATIONAL_32 = (4, 5)


def pi_over_2_pieces(count=4, bits=33):
    rest = mpmath.pi / 2
    pieces = []
    for _ in range(count):
        exponent = int(mpmath.floor(mpmath.log(abs(rest), 2)))
        scale = mpmath.mpf(2) ** (bits - 1 - exponent)
        piece = mpmath.floor(rest * scale) / scale
        pieces.append(float(piece))
        assert mpmath.mpf(pieces[-1]) == piece
        rest -= piece
    return pieces


def erfc_h(t):
    z = 2 / mpmath.mpf(t) - 2
    return mpmath.log(mpmath.erfc(z) * mpmath.exp(z * z) / t)


def erfc_fit(dtype):
    return chebyshev_fit(erfc_h, 2 / (2 + ERFC_LIMIT[dtype]), 2 / (2 + ERFC_SPLIT[dtype]), ERFC_DEGREE[dtype])


def mills(u):
    """M(u) = Φ(−u)·e^(u²/2): the Mills ratio Φ(−u)/φ(u) over √(2π)."""
    u = mpmath.mpf(u)
    return mpmath.erfc(u / mpmath.sqrt(2)) / 2 * mpmath.exp(u * u / 2)


def normal_fit_64():
    """G(t) = M(u)/t with u = (1/t − 1)/k: smooth on the whole of (0, 1], k/√(2π) at 0."""
    k = mpmath.mpf(NORMAL_K_64)
    low = 1 / (1 + k * mpmath.mpf(NORMAL_LIMIT["float64"]))
    return chebyshev_fit(lambda t: mills((1 / mpmath.mpf(t) - 1) / k) / t, float(low), 1.0, NORMAL_DEGREE_64)


def rational_fit(u, f, n, m, fixed, iterations=60):
    """N/D (D(0) = 1) of degree (n, m) with the least maximum relative error on the points u,
    with the coefficients in ``fixed`` (index into [a0..an, b1..bm]) held: Loeb's linearised
    least squares, the weights raised where the error is large (Lawson)."""
    columns = np.hstack([u[:, None] ** np.arange(n + 1), -f[:, None] * u[:, None] ** np.arange(1, m + 1)])
    free = [i for i in range(n + 1 + m) if i not in fixed]
    weights, d = np.ones_like(u), np.ones_like(u)
    best = (np.inf, None)
    for _ in range(iterations):
        w = weights / (np.abs(d) * f)
        rhs = f - sum(columns[:, i] * v for i, v in fixed.items())
        solution = np.linalg.lstsq(columns[:, free] * w[:, None], rhs * w, rcond=None)[0]
        c = np.zeros(n + 1 + m)
        c[free] = solution
        for i, v in fixed.items():
            c[i] = v
        d = np.polyval(np.concatenate([[1.0], c[n + 1:]])[::-1], u)
        error = np.polyval(c[:n + 1][::-1], u) / d / f - 1
        if np.abs(error).max() < best[0]:
            best = (np.abs(error).max(), c)
        weights = np.sqrt(weights * (np.abs(error) + 1e-30))
        weights /= weights.mean()
    return best[1]


def exp_minimax_fit_32(degree=5, reach=0.3467):
    """q(r) ≈ (e^r − 1)/r in float32 coefficients, q(0) = 1 exactly."""
    r = np.unique(np.concatenate([np.linspace(-reach, reach, 4001), reach * np.cos(np.linspace(0, np.pi, 2001))]))
    r = r[r != 0]
    f = np.array([float(mpmath.expm1(v) / v) for v in r])
    fixed = {0: 1.0}
    for i in range(1, degree + 1):
        fixed[i] = float(np.float32(rational_fit(r, f, degree, 0, fixed)[i]))
    q = np.array([fixed[i] for i in range(degree + 1)])
    exact = np.array([float(mpmath.exp(v)) for v in r[::7]])
    error = np.abs((1 + r[::7] * np.polyval(q[::-1], r[::7])) / exact - 1).max()
    return tuple(map(float, q)), float(error)


def normal_fit_32():
    """M(u) ≈ N(u)/D(u) in float32 coefficients, N(0)/D(0) = ½ exactly."""
    n, m = NORMAL_RATIONAL_32
    limit = NORMAL_LIMIT["float32"]
    u = np.unique(np.concatenate([np.linspace(0, limit, 8000), limit * (1 - np.cos(np.linspace(0, np.pi / 2, 4000)))]))
    f = np.array([float(mills(v)) for v in u])
    fixed = {0: 0.5}
    for i in range(1, n + 1 + m):
        fixed[i] = float(np.float32(rational_fit(u, f, n, m, fixed)[i]))
    c = np.array([fixed[i] for i in range(n + 1 + m)])
    numerator, denominator = c[:n + 1], np.concatenate([[1.0], c[n + 1:]])
    check = np.linspace(0, limit, 20001)
    exact = np.array([float(mills(v)) for v in check[::10]])
    error = np.abs(np.polyval(numerator[::-1], check[::10]) / np.polyval(denominator[::-1], check[::10]) / exact - 1).max()
    return tuple(map(float, numerator)), tuple(map(float, denominator)), float(error)


def tanh_p(u):
    """(tanh √u − √u)/(u·√u): tanh x = x + x³·P(x²)."""
    if u == 0:
        return mpmath.mpf(-1) / 3
    r = mpmath.sqrt(u)
    return (mpmath.tanh(r) - r) / (u * r)


def chebyshev_fit(f, low, high, degree):
    # Chebyshev interpolation at the points of the first kind, computed in mpmath so that the
    # float64 coefficients carry no rounding from the fit itself.
    n = degree + 1
    angles = [mpmath.pi * (k + mpmath.mpf(0.5)) / n for k in range(n)]
    half, mid = (mpmath.mpf(high) - low) / 2, (mpmath.mpf(high) + low) / 2
    values = [f(half * mpmath.cos(a) + mid) for a in angles]
    coefficients = np.array([
        float((1 if j == 0 else 2) * mpmath.fsum(v * mpmath.cos(j * a) for v, a in zip(values, angles)) / n)
        for j in range(n)
    ])
    check = np.linspace(-1, 1, 4001)
    error = max(
        abs(mpmath.fsum(mpmath.mpf(c) * mpmath.chebyt(j, y) for j, c in enumerate(coefficients))
            - f(half * y + mid))
        for y in check[::20]
    )
    return low, high, coefficients, float(error)


def main():
    lines = [
        '"""Constants of the CPU math core, generated by tools/fit_coefficients.py: do not edit."""',
        "",
        f"PIO2_PIECES = {tuple(pi_over_2_pieces())!r}  # π/2 in 33-bit pieces",
    ]
    for dtype in ("float32", "float64"):
        low, high, coefficients, error = erfc_fit(dtype)
        name = dtype[-2:]
        lines += [
            f"# erfc, {dtype}: h(t) on t in [{low!r}, {high!r}], fit error {error:.2g}",
            f"ERFC_SPLIT_{name} = {ERFC_SPLIT[dtype]!r}",
            f"ERFC_T_RANGE_{name} = ({low!r}, {high!r})",
            f"ERFC_LIMIT_{name} = {ERFC_LIMIT[dtype]!r}",
            f"ERFC_CHEBYSHEV_{name} = {tuple(float(c) for c in coefficients)!r}",
        ]
        print(dtype, "fit error", error)
    lines.append(f"TANH_SPLIT = {TANH_SPLIT!r}")
    for dtype in ("float32", "float64"):
        low, high, coefficients, error = chebyshev_fit(tanh_p, 0.0, TANH_SPLIT**2, TANH_DEGREE[dtype])
        lines += [f"# tanh, {dtype}: P(u) on u in [0, {TANH_SPLIT}²], fit error {error:.2g}",
                  f"TANH_CHEBYSHEV_{dtype[-2:]} = {tuple(float(c) for c in coefficients)!r}"]
        print("tanh", dtype, "fit error", error)
    numerator, denominator, error = normal_fit_32()
    lines += [
        f"# Φ, float32: M(u) = N(u)/D(u) on u in [0, {NORMAL_LIMIT['float32']}], relative error {error:.2g}",
        f"NORMAL_LIMIT_32 = {NORMAL_LIMIT['float32']!r}",
        f"NORMAL_NUMERATOR_32 = {numerator!r}",
        f"NORMAL_DENOMINATOR_32 = {denominator!r}",
    ]
    print("normal float32 fit error", error)
    q, error = exp_minimax_fit_32()
    lines += [f"# e^r = 1 + r·q(r), float32, |r| ≤ 0.3467: relative error {error:.2g}",
              f"EXP_MINIMAX_32 = {q!r}"]
    print("exp minimax float32 fit error", error)
    low, high, coefficients, error = normal_fit_64()
    lines += [
        f"# Φ, float64: G(t) on t in [{low!r}, {high!r}], fit error {error:.2g}",
        f"NORMAL_K_64 = {NORMAL_K_64!r}",
        f"NORMAL_LIMIT_64 = {NORMAL_LIMIT['float64']!r}",
        f"NORMAL_T_RANGE_64 = ({low!r}, {high!r})",
        f"NORMAL_CHEBYSHEV_64 = {tuple(float(c) for c in coefficients)!r}",
    ]
    print("normal float64 fit error", error)
    path = pathlib.Path(__file__).parents[1] / "numact" / "_coefficients.py"
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
