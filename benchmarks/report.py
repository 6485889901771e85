"""The benchmark report (``make bench``): every operator, forward and backward (losses also
fused), numact against its NumPy baseline on the same arrays, as tables.

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
from benchmarks.numpy_loss_baselines import LOSS_BASELINES  # noqa: E402
from numact.operators import ACTIVATIONS, LOSSES, param_cases  # noqa: E402


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


def loss_workload(op, size: int, dtype, rng):
    """The positional arrays and keyword parameters of one loss over about ``size`` elements:
    flat arrays for the element-wise losses, (size/1000, 1000) logits for the class losses
    (10 classes under 100,000 elements), (size/100, 100) vectors for the vector losses."""
    params = {k: v for k, v in param_cases(op)[0].items() if k != "ignore_index"}
    if op.kind == "class":
        classes = 1000 if size >= 100_000 else 10
        x = rng.normal(0, 3, (size // classes, classes))
        if op.name == "nll_loss":
            x = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
        arrays = [x, rng.integers(0, classes, size // classes)]
    elif op.kind == "vector":
        shape = (size // 100, 100)
        arrays = [rng.normal(size=shape) for _ in op.inputs]
        arrays += [rng.choice([-1.0, 1.0], shape[0])] if op.target else []
    elif op.name == "binary_cross_entropy":
        arrays = [rng.uniform(0.01, 0.99, size), rng.uniform(0, 1, size)]
    elif op.name == "kl_div":
        arrays = [rng.normal(-3, 1, size), rng.uniform(0, 1, size)]
    elif op.name == "margin_ranking_loss":
        arrays = [rng.normal(size=size), rng.normal(size=size), rng.choice([-1.0, 1.0], size)]
    else:
        arrays = [rng.normal(size=size), rng.uniform(0, 1, size)]
    return [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays], params


def loss_rows(ops, size: int, repeat: int, rng, dtype=np.float32):
    """(name, forward, NumPy forward, backward, NumPy backward, fused, NumPy forward + backward)
    in seconds, for every loss of ``ops``."""
    rows = []
    for i, op in enumerate(ops, 1):
        print(f"[{i}/{len(ops)}] {op.name}", file=sys.stderr, flush=True)
        arrays, params = loss_workload(op, size, dtype, rng)
        np_params = dict(param_cases(op)[0], **params)
        g = dtype(1)
        forward, backward, fused = (getattr(numact, op.name + s) for s in ("", "_backward", "_forward_backward"))
        np_forward, np_backward = LOSS_BASELINES[op.name]
        rows.append((
            op.name,
            median_seconds(lambda: forward(*arrays, **params), repeat),
            median_seconds(lambda: np_forward(*arrays, **np_params), repeat),
            median_seconds(lambda: backward(g, *arrays, **params), repeat),
            median_seconds(lambda: np_backward(g, *arrays, **np_params), repeat),
            median_seconds(lambda: fused(*arrays, **params), repeat),
            median_seconds(lambda: (np_forward(*arrays, **np_params), np_backward(g, *arrays, **np_params)), repeat),
        ))
    return rows


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
    wanted = args.ops.split(",") if args.ops else None
    ops = [op for op in ACTIVATIONS if not wanted or op.name in wanted]
    losses = [op for op in LOSSES if not wanted or op.name in wanted]
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
    if speedups:
        print(f"\ngeometric mean speed-up over NumPy: {statistics.geometric_mean(speedups):.2f}×")
    if losses:
        rows = loss_rows(losses, args.size, args.repeat, rng, dtype)
        print("\nLosses, reduction='mean' (class losses: rows of 1000 classes; triplet and cosine: vectors of 100)\n")
        print("| loss | forward numact ms | NumPy ms | speed-up | backward numact ms | NumPy ms | speed-up "
              "| fused numact ms | NumPy forward + backward ms | speed-up |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, *t in rows:
            print(f"| {name} | " + " | ".join(
                f"{t[k] * 1e3:.3f} | {t[k + 1] * 1e3:.3f} | {t[k + 1] / t[k]:.2f}×" for k in (0, 2, 4)) + " |")
        speedups = [r[k + 1] / r[k] for r in rows for k in (1, 3, 5)]
        print(f"\ngeometric mean speed-up of the losses over NumPy: {statistics.geometric_mean(speedups):.2f}×")
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
