"""``numact bench --startup``: what a new process pays before its first result.

For every operator (or those named) and dtype, in fresh processes, each with an empty Numba
cache folder of its own (``NUMBA_CACHE_DIR``):

- **import**: ``import numact``;
- **cold**: the operator's first call (1,000 elements by default), which compiles its kernels;
- **warm**: the same first call in a second process on the cache the first one filled, which
  loads them from the disk.

Beside them, Numba's own floor: the first call of a trivial ``@njit(cache=True)`` function in a
process whose cache is warm. Every figure is the median over ``--repeat`` pairs of processes;
the processes run one at a time, so that they do not share the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap

STEPS = ("forward", "backward", "forward+backward")

# A child: import numact, make the arrays, time the first call of the step, print JSON.
_CHILD = textwrap.dedent("""
    import json, sys, time
    start = time.perf_counter()
    import numact
    imported = time.perf_counter() - start
    from numact.bench.startup import call
    run = call(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
    start = time.perf_counter()
    run()
    first = time.perf_counter() - start
    print(json.dumps({"import_s": imported, "first_s": first}))
""")

_FLOOR = textwrap.dedent("""
    import numba

    @numba.njit(cache=True)
    def trivial(x):
        return x + 1.0
""")

_FLOOR_CHILD = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, sys.argv[1])
    import trivial
    start = time.perf_counter()
    trivial.trivial(1.0)
    print(json.dumps({"first_s": time.perf_counter() - start}))
""")


def call(name: str, step: str, dtype: str, size: int):
    """The call a startup measurement times: ``numact.<name>``'s ``step`` on the benchmarks'
    arrays of ``size`` elements (``numact.bench.workloads``); for a loss, "forward" is the loss
    and "backward" its gradient."""
    import numpy as np

    import numact
    from numact.bench import workloads

    op = next(op for op in workloads.operators([name]))
    rng = np.random.default_rng(0)
    kind = np.dtype(dtype).type
    if hasattr(op, "arrays"):  # a loss
        arrays, params = workloads.loss_arrays(op, size, kind, rng)
        forward = lambda: getattr(numact, name)(*arrays, **params)  # noqa: E731
        backward = lambda: getattr(numact, name + "_backward")(kind(1), *arrays, **params)  # noqa: E731
    else:
        x, g, params = workloads.activation_arrays(op, size, kind, rng)
        forward = lambda: getattr(numact, name)(x, **params)  # noqa: E731
        backward = lambda: getattr(numact, name + "_backward")(g, x, **params)  # noqa: E731
    if step == "forward":
        return forward
    if step == "backward":
        return backward
    return lambda: (forward(), backward())


def _run(code: str, args: list[str], cache: str) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"numact bench --startup: {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(name: str, step: str, dtype: str, size: int, repeat: int) -> dict:
    """Median cold and warm first-call seconds of one case, and the imports' seconds."""
    cold, warm, imports = [], [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="numact-startup-") as cache:
            args = [name, step, dtype, str(size)]
            first = _run(_CHILD, args, cache)
            second = _run(_CHILD, args, cache)
        cold.append(first["first_s"])
        warm.append(second["first_s"])
        imports += [first["import_s"], second["import_s"]]
    return {"op": name, "step": step, "dtype": dtype, "cold_s": statistics.median(cold),
            "warm_s": statistics.median(warm), "import_s": statistics.median(imports)}


def numba_floor(repeat: int) -> float:
    """Median seconds of a trivial cached function's first call in a process with a warm cache."""
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="numact-startup-") as folder:
            with open(os.path.join(folder, "trivial.py"), "w") as f:
                f.write(_FLOOR)
            cache = os.path.join(folder, "cache")
            _run(_FLOOR_CHILD, [folder], cache)
            times.append(_run(_FLOOR_CHILD, [folder], cache)["first_s"])
    return statistics.median(times)


def cases(names, dtypes, steps) -> list[tuple[str, str, str]]:
    """(operator, step, dtype) of every case: each step of each operator, and gelu's forward
    and backward together (what a training step calls first)."""
    from numact.bench import workloads

    ops = [op.name for op in workloads.operators(names)]
    chosen = [(name, step, dtype) for dtype in dtypes for name in ops for step in steps]
    for dtype in dtypes:
        if "gelu" in ops and (case := ("gelu", "forward+backward", dtype)) not in chosen:
            chosen.append(case)
    return chosen


def summary(result: dict) -> list[str]:
    """The first-call targets, each with its measured figure."""
    rows = result["results"]
    lines = [f"import numact: {result['import_s']:.2f} s (target ≤ 0.5 s)"]
    forward = [r for r in rows if r["step"] == "forward" and r["op"] != "cross_entropy"]  # its own target below
    if forward:
        worst = max(forward, key=lambda r: r["cold_s"])
        lines.append(f"slowest cold first forward call: {worst['op']} {worst['dtype']} {worst['cold_s']:.2f} s "
                     "(target ≤ 1.5 s)")
    for r in rows:
        if (r["op"], r["step"]) == ("gelu", "forward+backward"):
            lines.append(f"gelu forward + backward, cold, {r['dtype']}: {r['cold_s']:.2f} s (target ≤ 3 s)")
        if (r["op"], r["step"]) == ("cross_entropy", "forward"):
            lines.append(f"cross_entropy, cold, {r['dtype']}: {r['cold_s']:.2f} s (target ≤ 2 s)")
    if rows:
        worst = max(rows, key=lambda r: r["warm_s"])
        floor = result["numba_floor_s"]
        lines.append(f"slowest warm first call: {worst['op']} {worst['step']} {worst['dtype']} {worst['warm_s']:.3f} s; "
                     f"Numba's floor {floor:.3f} s (target ≤ floor + 0.1 s = {floor + 0.1:.3f} s)")
    return lines


def print_report(result: dict) -> None:
    print(f"numact {result['numact']} (numba {result['numba']}), first calls at {result['size']:,} elements, "
          f"fresh processes, medians of {result['repeat']}\nCPU: {result['cpu']}\n")
    print("| operator | pass | dtype | cold s | warm s |")
    print("|---|---|---|---:|---:|")
    for r in result["results"]:
        print(f"| {r['op']} | {r['step']} | {r['dtype']} | {r['cold_s']:.2f} | {r['warm_s']:.3f} |")
    print()
    for line in summary(result):
        print(line)


def parse(argv):
    parser = argparse.ArgumentParser(prog="numact bench --startup",
                                     description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--ops", default="", help="comma-separated operator names (default all)")
    parser.add_argument("--dtypes", default="float32", help="comma-separated dtypes (default float32)")
    parser.add_argument("--steps", default="forward",
                        help=f"comma-separated passes among {', '.join(STEPS)} (default forward)")
    parser.add_argument("--size", type=int, default=1000, help="elements per array (default 1,000)")
    parser.add_argument("--repeat", type=int, default=1, help="pairs of processes per case (default 1)")
    parser.add_argument("--json", metavar="FILE", help="also write every measurement as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    steps = [s for s in args.steps.split(",") if s]
    if unknown := set(steps) - set(STEPS):
        parser.error(f"unknown pass(es): {', '.join(sorted(unknown))}")
    dtypes = [d for d in args.dtypes.split(",") if d]
    if unknown := set(dtypes) - {"float32", "float64"}:
        parser.error(f"unknown dtype(s): {', '.join(sorted(unknown))}")
    args.steps, args.dtypes = steps, dtypes
    return args


def main(argv=None) -> dict:
    import numba

    import numact
    from numact.bench.cli import Progress, _cpu_name

    args = parse(sys.argv[1:] if argv is None else argv)
    chosen = cases([n for n in args.ops.split(",") if n], args.dtypes, args.steps)
    progress = Progress(len(chosen) + 1, args.quiet)
    progress.step("numba's floor")
    floor = numba_floor(args.repeat)
    rows = []
    for name, step, dtype in chosen:
        progress.step(f"{name} {step} {dtype}")
        rows.append(measure(name, step, dtype, args.size, args.repeat))
    result = {"numact": numact.__version__, "numba": numba.__version__, "cpu": _cpu_name(),
              "size": args.size, "repeat": args.repeat, "numba_floor_s": floor,
              "import_s": statistics.median(r["import_s"] for r in rows) if rows else float("nan"),
              "results": rows}
    print_report(result)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result
