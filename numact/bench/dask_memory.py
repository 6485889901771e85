"""numact on a dask.distributed LocalCluster over data larger than this machine's memory.

    python -m numact.bench.dask_memory [--gb 32] [--classes 1000] [--rows-per-chunk 32768]

Logits of float32, ``--gb`` in all (default 32 GB, on a 24 GB machine), are generated lazily
chunk by chunk on the workers (a seeded generator per chunk), with one class index per row.
Two passes are timed on 1 and on 2 worker processes: ``cross_entropy_forward_backward`` (the
mean loss, and the gradient, each gradient chunk reduced to one number as it is made, so that
nothing the size of the data is kept) and ``gelu`` (likewise). Reported: the time, the
throughput in GB/s of logits processed, the workers' peak resident memory (sampled every
0.2 s), the same pass on one chunk in memory (numact alone, no dask) and the time to generate
the data alone (the floor any pass over it pays).
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np


def logits_block(block_id, rows, classes):
    """One chunk of logits: uniform on [−4, 4), seeded by the chunk's index."""
    rng = np.random.default_rng(block_id[0])
    x = rng.random((rows, classes), dtype=np.float32)
    x *= 8
    x -= 4
    return x


def targets_block(block_id, rows, classes):
    return np.random.default_rng(10**6 + block_id[0]).integers(0, classes, rows)


def first_row_sum(block):
    """A chunk reduced to one number (its first row's sum): the chunk is made, then dropped."""
    return np.full((1,) * block.ndim, block[:1].sum(dtype=np.float64))


def _arrays(gb, classes, rows):
    import dask.array as da

    n_chunks = max(1, int(gb * 1e9 // (rows * classes * 4)))
    x = da.map_blocks(lambda block_id=None: logits_block(block_id, rows, classes), dtype=np.float32,
                      chunks=((rows,) * n_chunks, (classes,)), meta=np.empty((0, 0), np.float32))
    t = da.map_blocks(lambda block_id=None: targets_block(block_id, rows, classes), dtype=np.int64,
                      chunks=((rows,) * n_chunks,), meta=np.empty((0,), np.int64))
    return x, t


def _sink(a):
    import dask.array as da

    return da.map_blocks(first_row_sum, a, chunks=tuple((1,) * len(c) for c in a.chunks), dtype=np.float64).sum()


def _passes(x, t):
    import numact

    loss, grad = numact.cross_entropy_forward_backward(x, t)
    return {
        "generate only": [_sink(x)],
        "cross_entropy_forward_backward": [loss, _sink(grad)],
        "gelu": [_sink(numact.gelu(x))],
    }


class _PeakMemory:
    """The workers' peak resident set, sampled in a thread while a pass runs."""

    def __init__(self, client):
        self.client, self.peak, self.peak_total = client, 0, 0
        self._stop = threading.Event()

    def _sample(self):
        import psutil

        while not self._stop.is_set():
            try:
                rss = self.client.run(lambda: psutil.Process().memory_info().rss)
            except Exception:  # noqa: BLE001 - a worker busy or restarting: try again
                rss = {}
            if rss:
                self.peak = max(self.peak, *rss.values())
                self.peak_total = max(self.peak_total, sum(rss.values()))
            self._stop.wait(0.2)

    def __enter__(self):
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def in_memory(rows, classes, repeat=5):
    """numact alone on one chunk (no dask), GB/s of logits: the kernel's own speed."""
    import numact

    x = logits_block((0,), rows, classes)
    t = targets_block((0,), rows, classes)
    result = {}
    for name, fn in (("cross_entropy_forward_backward", lambda: numact.cross_entropy_forward_backward(x, t)),
                     ("gelu", lambda: numact.gelu(x)), ("generate only", lambda: logits_block((1,), rows, classes))):
        fn()
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        result[name] = x.nbytes / np.median(times) / 1e9
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gb", type=float, default=32.0, help="logits in all, GB of float32 (default 32)")
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--rows-per-chunk", type=int, default=32768)
    parser.add_argument("--workers", default="1,2", help="worker counts to time, e.g. 1,2")
    parser.add_argument("--memory-limit", default="6GiB", help="per worker (dask spills or pauses beyond it)")
    args = parser.parse_args(argv)

    import distributed
    import llvmlite.binding as llvm
    import numba

    import numact  # noqa: F401 - its kernels compile here first, into the cache the workers load

    cores = os.cpu_count() or 1
    rows, classes = args.rows_per_chunk, args.classes
    print(f"numact on dask.distributed: {args.gb:g} GB of float32 logits ({classes} classes, chunks of "
          f"{rows} rows = {rows * classes * 4 / 1e6:.0f} MB); host {llvm.get_host_cpu_name()}, {cores} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB; numba {numba.__version__}",
          flush=True)
    numba.set_num_threads(cores)
    alone = in_memory(rows, classes)
    print("in memory, one chunk, numact alone (" + f"{cores} threads): "
          + ", ".join(f"{k} {v:.2f} GB/s" for k, v in alone.items()), flush=True)
    print("\n| pass | workers | time s | GB/s | one chunk in memory GB/s | peak RSS per worker GB | peak RSS, all workers GB |")
    print("|---|---:|---:|---:|---:|---:|---:|", flush=True)
    for n_workers in [int(k) for k in args.workers.split(",")]:
        threads = max(1, cores // n_workers)  # numba's threads in each worker: the cores shared out
        with distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                      memory_limit=args.memory_limit, dashboard_address=None,
                                      env={"NUMBA_NUM_THREADS": str(threads)}) as cluster, \
                distributed.Client(cluster) as client:
            x, t = _arrays(args.gb, classes, rows)
            client.compute(_passes(x[:rows], t[:rows])["cross_entropy_forward_backward"], sync=True)  # warm
            client.compute(_passes(x[:rows], t[:rows])["gelu"], sync=True)
            for name, graphs in _passes(x, t).items():
                with _PeakMemory(client) as memory:
                    start = time.perf_counter()
                    values = client.compute(graphs, sync=True)
                    elapsed = time.perf_counter() - start
                total = x.nbytes / 1e9
                print(f"| {name} | {n_workers} | {elapsed:.1f} | {total / elapsed:.2f} | {alone[name]:.2f} | "
                      f"{memory.peak / 1e9:.2f} | {memory.peak_total / 1e9:.2f} |", flush=True)
                if name == "cross_entropy_forward_backward":
                    loss = float(values[0])
                    assert np.isfinite(loss), loss
    print(f"\nData: {x.nbytes / 1e9:.1f} GB of logits ({x.shape[0]:,} rows x {classes}), {x.npartitions} chunks; "
          f"the mean cross-entropy of uniform logits over [-4, 4) with {classes} classes is {loss:.4f}.")


if __name__ == "__main__":
    main()
