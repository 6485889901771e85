"""Cross-entropy over a dask array of logits in many chunks, its loss and gradient in one pass
(``numact.cross_entropy_forward_backward``), checked against numact on the whole array in memory.

    python examples/dask_cross_entropy.py [--rows 400000] [--classes 1000] [--chunk 32768] [--cluster]

With ``--cluster`` it runs on a dask.distributed LocalCluster of two worker processes, else on
dask's threads. The logits are made lazily, chunk by chunk, by a seeded generator; each chunk
is read once for the loss and its gradient. For data beyond one machine's memory, see
``make bench-dask`` (32 GB of logits on a 24 GiB machine).
"""

import argparse
import time

import dask
import dask.array as da
import numpy as np

import numact


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--chunk", type=int, default=32_768, help="rows per chunk")
    parser.add_argument("--cluster", action="store_true", help="a LocalCluster of 2 worker processes")
    args = parser.parse_args(argv)

    logits = da.random.default_rng(0).standard_normal((args.rows, args.classes), chunks=(args.chunk, args.classes),
                                                      dtype=np.float32)
    target = da.random.default_rng(1).integers(0, args.classes, args.rows, chunks=args.chunk)
    loss, grad = numact.cross_entropy_forward_backward(logits, target, label_smoothing=0.1)
    print(f"logits {logits.shape} in {logits.numblocks[0]} chunks of {args.chunk:,} rows "
          f"({logits.nbytes / 1e6:,.0f} MB); the graph is built, nothing computed yet")
    # The gradient is as large as the logits: keep only a number of each chunk of it.
    grad_norm = da.sqrt((grad.astype(np.float64) ** 2).sum())

    client = None
    if args.cluster:
        from dask.distributed import Client, LocalCluster

        client = Client(LocalCluster(n_workers=2, threads_per_worker=1, processes=True))
    try:
        start = time.perf_counter()
        loss_value, norm = dask.compute(loss, grad_norm)
        seconds = time.perf_counter() - start
    finally:
        if client is not None:
            client.close()
    print(f"loss {float(loss_value):.6f}, |gradient| {float(norm):.6f}, in {seconds:.2f} s")

    whole_loss, whole_grad = numact.cross_entropy_forward_backward(
        logits.compute(), target.compute(), label_smoothing=0.1)
    result = {"loss": float(loss_value), "in_memory_loss": float(whole_loss), "grad_norm": float(norm),
              "in_memory_grad_norm": float(np.sqrt((whole_grad.astype(np.float64) ** 2).sum())), "seconds": seconds}
    print(f"the whole array in memory: loss {result['in_memory_loss']:.6f}, |gradient| {result['in_memory_grad_norm']:.6f}")
    return result


if __name__ == "__main__":
    main()
