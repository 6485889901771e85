"""``numact warmup`` (or ``python -m numact warmup``): compile numact's CPU kernels into the disk
cache now, so that no later process pays for compilation on its first calls.

Every operator of the table (or those named with ``--ops``), for every dtype asked for
(``--dtypes``, default float32 and float64), is called the ways that reach each of its kernels:
forward, backward and, for the losses, the fused call; a small array (the ufunc loop) and a
large one (the threaded kernel), with and without ``out=``, strided, along another axis for the
row functions, with every reduction and with weights for the losses, every parameter case of the
table. An (operator, dtype) pair is one task; the tasks run in one process per core (``--jobs``).
At the end it says where the cache is and how big it is.

The cache is Numba's: ``__pycache__`` beside numact's modules where that folder is writable,
else a folder of the user's (``~/.cache/numba/...``), or ``NUMBA_CACHE_DIR`` where it is set.
A cached kernel is for this host's CPU: another kind of CPU compiles its own.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import pathlib
import sys
import time

SMALL = 1000


def _activation_calls(op, dtype):
    import numpy as np

    import numact
    from numact._cpu import SERIAL_BELOW
    from numact.operators import param_cases

    forward, backward = getattr(numact, op.name), getattr(numact, op.name + "_backward")
    for n in (SMALL, 2 * SERIAL_BELOW):
        if op.kind == "elementwise":
            x = np.linspace(-4, 4, n, dtype=dtype)
            cases = [(x, {}) for x in (x, x[::2])]
        elif op.kind == "rowwise":
            x = np.linspace(-4, 4, n, dtype=dtype).reshape(-1, 8)  # n is a multiple of 8
            cases = [(x, {}), (x, {"axis": 0})]
        else:  # channelwise: PReLU, channels on axis 1
            x = np.linspace(-4, 4, n, dtype=dtype).reshape(-1, 8)
            cases = [(x, {"weight": np.full(8, 0.25, dtype)})]
        for params in param_cases(op) if op.kind == "elementwise" else [{}]:
            for x, extra in cases:
                g = np.ones_like(x)
                kwargs = {**params, **extra}
                yield lambda: forward(x, **kwargs)
                yield lambda: backward(g, x, **kwargs)
                yield lambda: forward(x, **kwargs, out=np.empty_like(x))
                if op.kind != "channelwise":
                    yield lambda: backward(g, x, **kwargs, out=np.empty_like(x))


def _loss_calls(op, dtype):
    import numpy as np

    import numact
    from numact._cpu import SERIAL_BELOW
    from numact.bench.workloads import loss_arrays

    forward, backward, fused = (getattr(numact, op.name + s) for s in ("", "_backward", "_forward_backward"))
    rng = np.random.default_rng(0)
    for n in (SMALL, 2 * SERIAL_BELOW):
        arrays, params = loss_arrays(op, n, dtype, rng)
        if op.kind == "class":
            weights = {w: np.ones(arrays[0].shape[1], dtype) for w in op.weights}
        else:
            weights = {w: np.ones(arrays[0].shape, dtype) for w in op.weights}
        for reduction in op.reductions:
            for given in ({}, weights) if weights else ({},):
                kwargs = {**params, **given, "reduction": reduction}
                yield lambda: forward(*arrays, **kwargs)
                yield lambda: backward(dtype(1), *arrays, **kwargs)
                yield lambda: fused(*arrays, **kwargs)


def warm(task: tuple[str, str]) -> tuple[str, str, float, str]:
    """Make every call of one (operator, dtype) pair: (operator, dtype, seconds, error or "")."""
    import numpy as np

    from numact.operators import ACTIVATIONS, LOSSES

    name, dtype_name = task
    dtype = np.dtype(dtype_name).type
    start = time.perf_counter()
    activations = {op.name: op for op in ACTIVATIONS}
    op = activations.get(name) or next(op for op in LOSSES if op.name == name)
    calls = _activation_calls(op, dtype) if name in activations else _loss_calls(op, dtype)
    try:
        for run in calls:
            run()
    except Exception as error:  # noqa: BLE001 - reported with the task, the others go on
        return name, dtype_name, time.perf_counter() - start, f"{type(error).__name__}: {error}"
    return name, dtype_name, time.perf_counter() - start, ""


def _worker_init() -> None:
    import numba

    numba.set_num_threads(1)  # the calls are for compiling; the cores go to other tasks


def cache_folder() -> pathlib.Path:
    """The folder Numba keeps numact's compiled kernels in, here."""
    from numact import _cpu

    return pathlib.Path(_cpu.sum_partials._cache._cache_path)


def cache_size(folder: pathlib.Path) -> tuple[int, int]:
    """(files, bytes) of numact's cached kernels in ``folder``."""
    package = pathlib.Path(__file__).parent
    stems = {p.stem for p in package.glob("*.py")}
    files = [f for f in folder.glob("*.nb[ic]") if f.name.split(".")[0] in stems]
    return len(files), sum(f.stat().st_size for f in files)


def parse(argv):
    parser = argparse.ArgumentParser(prog="numact warmup",
                                     description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--ops", default="", help="comma-separated operator names (default all)")
    parser.add_argument("--dtypes", default="float32,float64", help="comma-separated dtypes (default both)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="processes (default one per core)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    dtypes = [d for d in args.dtypes.split(",") if d]
    if unknown := set(dtypes) - {"float32", "float64"}:
        parser.error(f"unknown dtype(s): {', '.join(sorted(unknown))}")
    args.dtypes = dtypes
    return args


def main(argv=None) -> int:
    from numact.bench.cli import Progress
    from numact.bench.workloads import operators

    from numact._cache import on_disk

    args = parse(sys.argv[1:] if argv is None else argv)
    if not on_disk():
        print("numact warmup: Numba has no writable cache folder here, so there is nothing to keep the kernels in; "
              "set NUMBA_CACHE_DIR to a writable folder", file=sys.stderr)
        return 1
    names = [op.name for op in operators([n for n in args.ops.split(",") if n])]
    tasks = [(name, dtype) for dtype in args.dtypes for name in names]
    folder = cache_folder()
    print(f"numact warmup: {len(tasks)} tasks ({len(names)} operators × {', '.join(args.dtypes)}), "
          f"{args.jobs} processes, into {folder}", file=sys.stderr)
    progress = Progress(len(tasks), args.quiet)
    start, failed = time.perf_counter(), []
    context = multiprocessing.get_context("spawn")  # fresh interpreters: no forked numba state
    with context.Pool(args.jobs, initializer=_worker_init) as pool:
        for name, dtype, _, error in pool.imap_unordered(warm, tasks):
            progress.step(f"{name} {dtype}")
            if error:
                failed.append(f"{name} {dtype}: {error}")
    files, size = cache_size(folder)
    print(f"numact warmup: {len(tasks) - len(failed)} of {len(tasks)} tasks in {time.perf_counter() - start:.0f} s; "
          f"the cache {folder} holds {files} files of numact's, {size / 2**20:.1f} MiB")
    for line in failed:
        print(f"  failed: {line}", file=sys.stderr)
    return 1 if failed else 0
