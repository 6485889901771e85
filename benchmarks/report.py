"""The benchmark report (``make bench``): every operator, forward and backward, numact against
its NumPy baseline on the same arrays, as a table.

Times are medians of repeated calls after a warm-up call (JIT compilation is not timed);
both sides allocate their result. Usage: python benchmarks/report.py [--size N] [--ops a,b]
"""

import argparse
import pathlib
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numba  # noqa: E402

import numact  # noqa: E402
from benchmarks.numpy_baselines import BASELINES  # noqa: E402
from numact.operators import ACTIVATIONS, param_cases  # noqa: E402


def median_seconds(call, repeat: int) -> float:
    call()  # warm-up: compiles or loads from the cache
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def workload(op, size: int, dtype, rng):
    """The arrays and keyword arguments of one operator: rows of 1000 for the softmax family
    and PReLU (1000 channels; 10 for sizes under 100,000), a flat array otherwise."""
    row = 1000 if size >= 100_000 else 10
    shape = (size // row, row) if op.kind != "elementwise" else (size,)
    x = rng.normal(0, 3, shape).astype(dtype)
    g = rng.normal(0, 1, shape).astype(dtype)
    params = param_cases(op)[0]
    if op.kind == "channelwise":
        params = {"weight": rng.uniform(0, 0.5, shape[1]).astype(dtype)}
    return x, g, params


STARTUP = """
import sys, time
if {hide_scipy}:
    sys.modules["scipy"] = None  # as if SciPy were not installed
start = time.perf_counter()
import numpy as np, numact
imported = time.perf_counter()
numact.sigmoid(np.ones(1000, np.float32))
print(imported - start, time.perf_counter() - imported)
"""


def startup_seconds(hide_scipy: bool, runs: int = 5) -> tuple[float, float]:
    """Medians over fresh processes: ``import numact``, then the first numact.sigmoid call
    (its kernel loaded from the warm on-disk cache: the first process fills it)."""
    script = STARTUP.format(hide_scipy=hide_scipy)
    times = [
        [float(t) for t in subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout.split()]
        for _ in range(runs + 1)
    ][1:]
    return statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)


def numact_call(op, backward: bool):
    return getattr(numact, f"{op.name}_backward" if backward else op.name)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="elements per array")
    parser.add_argument("--repeat", type=int, default=15, help="timed calls per measurement")
    parser.add_argument("--ops", default="", help="comma-separated operator names (default all)")
    parser.add_argument("--no-startup", dest="startup", action="store_false",
                        help="skip timing import and the first call in fresh processes")
    args = parser.parse_args(argv)
    ops = [op for op in ACTIVATIONS if not args.ops or op.name in args.ops.split(",")]
    rng = np.random.default_rng(0)
    dtype = np.float32
    print(
        f"numact {numact.__version__}: {args.size:,} float32 elements, median of {args.repeat} "
        f"calls, {numba.get_num_threads()} threads",
        file=sys.stderr,
    )
    rows = []
    for i, op in enumerate(ops, 1):
        print(f"[{i}/{len(ops)}] {op.name}", file=sys.stderr, flush=True)
        x, g, params = workload(op, args.size, dtype, rng)
        forward, backward = numact_call(op, False), numact_call(op, True)
        np_forward, np_backward = BASELINES[op.name]
        rows.append((
            op.name,
            median_seconds(lambda: forward(x, **params), args.repeat),
            median_seconds(lambda: np_forward(x, **params), args.repeat),
            median_seconds(lambda: backward(g, x, **params), args.repeat),
            median_seconds(lambda: np_backward(g, x, **params), args.repeat),
        ))
    print("\n| operator | forward numact ms | forward NumPy ms | speed-up | backward numact ms | backward NumPy ms | speed-up |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, fwd, np_fwd, bwd, np_bwd in rows:
        print(f"| {name} | {fwd * 1e3:.3f} | {np_fwd * 1e3:.3f} | {np_fwd / fwd:.2f}× "
              f"| {bwd * 1e3:.3f} | {np_bwd * 1e3:.3f} | {np_bwd / bwd:.2f}× |")
    speedups = [r[2] / r[1] for r in rows] + [r[4] / r[3] for r in rows]
    print(f"\ngeometric mean speed-up over NumPy: {statistics.geometric_mean(speedups):.2f}×")
    if args.startup:
        # numba initialises its CPU target on the first compile or cache load in a process,
        # and imports scipy.linalg then when SciPy is installed (this environment has it, for
        # the GELU baseline's erf): both are shown.
        print("\nstartup, medians of 5 fresh processes: | import numact | first numact.sigmoid call (warm cache)")
        for label, hide in (("SciPy installed", False), ("without SciPy", True)):
            imported, first_call = startup_seconds(hide)
            print(f"  {label:16} | {imported:.3f} s | {first_call:.3f} s")

if __name__ == "__main__":
    main()
