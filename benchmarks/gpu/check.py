"""The GPU check, for a session with an NVIDIA GPU: every CUDA kernel against the CPU result,
then its bandwidth against a device-to-device copy of the same bytes.

Losses are checked and timed through their fused call (loss and gradients in one pass).

    python benchmarks/gpu/check.py [--size N] [--repeat R] [--ops a,b]

Correctness: every operator, forward and backward, float32 and float64, on the GPU equals the
CPU result within 4 ulp-ish tolerances (libdevice and libm differ in the last bits). Speed:
medians of R launches after a warm-up, float32, bytes the kernel must move (x and y forward;
g, x and dx backward) over time, beside ``copy_to_device`` between two device arrays.
Runs under the simulator too (NUMBA_ENABLE_CUDASIM=1, small --size), which the tests use.
"""

import argparse
import pathlib
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from numba import cuda  # noqa: E402

import numact  # noqa: E402
from numact.bench.workloads import activation_arrays as workload  # noqa: E402
from numact.bench.workloads import loss_arrays as loss_workload  # noqa: E402
from numact.operators import ACTIVATIONS, LOSSES  # noqa: E402

RTOL = {np.float32: 2e-6, np.float64: 1e-13}


def seconds(call, repeat: int) -> float:
    call()
    cuda.synchronize()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def check(op, size: int, dtype, rng) -> list[str]:
    """Forward and backward on the GPU against the CPU; the problems found, if any."""
    x, g, params = workload(op, size, dtype, rng)
    device_params = {k: cuda.to_device(v) if isinstance(v, np.ndarray) else v for k, v in params.items()}
    forward, backward = getattr(numact, op.name), getattr(numact, f"{op.name}_backward")
    pairs = [(forward(cuda.to_device(x), **device_params), forward(x, **params))]
    gpu_grads = backward(cuda.to_device(g), cuda.to_device(x), **device_params)
    cpu_grads = backward(g, x, **params)
    if op.kind == "channelwise":
        pairs += list(zip(gpu_grads, cpu_grads))
    else:
        pairs.append((gpu_grads, cpu_grads))
    problems = []
    for i, (gpu, cpu) in enumerate(pairs):
        problems += differ(gpu, cpu, dtype, f"{op.name} output {i} {dtype.__name__}")
    return problems


def differ(gpu, cpu, dtype, what: str) -> list[str]:
    """The problem, if the GPU array differs from the CPU one beyond the tolerance."""
    gpu, cpu = np.asarray(gpu.copy_to_host()), np.asarray(cpu)
    scale = np.abs(cpu[np.isfinite(cpu)]).max(initial=1.0)
    with np.errstate(invalid="ignore"):
        off = ~((gpu == cpu) | (np.isnan(gpu) & np.isnan(cpu))
                | (np.abs(gpu - cpu) <= RTOL[dtype] * (np.abs(cpu) + 1e-3 * scale)))
    return [f"{what}: {off.sum()} of {off.size} differ"] if off.any() else []


def check_loss(op, size: int, dtype, rng) -> list[str]:
    """The fused loss on the GPU against the CPU, reduced and per element."""
    arrays, params = loss_workload(op, size, dtype, rng)
    fused = getattr(numact, f"{op.name}_forward_backward")
    problems = []
    for reduction in ("mean", "none"):
        gpu_loss, gpu_grads = fused(*map(cuda.to_device, arrays), **params, reduction=reduction)
        cpu_loss, cpu_grads = fused(*arrays, **params, reduction=reduction)
        pairs = [(gpu_loss, cpu_loss)] + list(zip(
            gpu_grads if isinstance(gpu_grads, tuple) else (gpu_grads,),
            cpu_grads if isinstance(cpu_grads, tuple) else (cpu_grads,)))
        for i, (gpu, cpu) in enumerate(pairs):
            problems += differ(gpu, cpu, dtype, f"{op.name} {reduction} output {i} {dtype.__name__}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--ops", default="")
    args = parser.parse_args(argv)
    ops = [op for op in ACTIVATIONS if not args.ops or op.name in args.ops.split(",")]
    losses = [op for op in LOSSES if not args.ops or op.name in args.ops.split(",")]
    rng = np.random.default_rng(0)

    small = min(args.size, 1 << 20)
    problems = [p for op in ops for dtype in (np.float32, np.float64) for p in check(op, small, dtype, rng)]
    problems += [p for op in losses for dtype in (np.float32, np.float64) for p in check_loss(op, small, dtype, rng)]
    print("correctness:", "all GPU results match the CPU" if not problems else "\n  ".join(["FAILED"] + problems))

    itemsize = 4
    src = cuda.to_device(np.ones(args.size, np.float32))
    dst = cuda.device_array_like(src)
    copy_gbps = 2 * args.size * itemsize / seconds(lambda: dst.copy_to_device(src), args.repeat) / 1e9
    print(f"\ndevice-to-device copy: {copy_gbps:.1f} GB/s ({args.size:,} float32)\n")
    print("| operator | forward ms | GB/s | of copy | backward ms | GB/s | of copy |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for op in ops:
        x, g, params = workload(op, args.size, np.float32, rng)
        params = {k: cuda.to_device(v) if isinstance(v, np.ndarray) else v for k, v in params.items()}
        xd, gd = cuda.to_device(x), cuda.to_device(g)
        yd, dxd = cuda.device_array_like(xd), cuda.device_array_like(xd)
        forward, backward = getattr(numact, op.name), getattr(numact, f"{op.name}_backward")
        t_fwd = seconds(lambda: forward(xd, **params, out=yd), args.repeat)
        out = (dxd, cuda.device_array_like(params["weight"])) if op.kind == "channelwise" else dxd
        t_bwd = seconds(lambda: backward(gd, xd, **params, out=out), args.repeat)
        fwd_gbps = 2 * x.size * itemsize / t_fwd / 1e9
        bwd_gbps = 3 * x.size * itemsize / t_bwd / 1e9
        print(f"| {op.name} | {t_fwd * 1e3:.3f} | {fwd_gbps:.1f} | {fwd_gbps / copy_gbps:.0%} "
              f"| {t_bwd * 1e3:.3f} | {bwd_gbps:.1f} | {bwd_gbps / copy_gbps:.0%} |")
    if losses:
        print("\n| loss (fused, 'mean') | ms | GB/s | of copy |\n|---|---:|---:|---:|")
    for op in losses:
        arrays, params = loss_workload(op, args.size, np.float32, rng)
        device = [cuda.to_device(a) for a in arrays]
        fused = getattr(numact, f"{op.name}_forward_backward")
        t = seconds(lambda: fused(*device, **params), args.repeat)
        # bytes the pass must move: every array read once, a gradient written per input
        moved = sum(a.nbytes for a in arrays) + sum(arrays[k].nbytes for k in range(len(op.inputs)))
        print(f"| {op.name} | {t * 1e3:.3f} | {moved / t / 1e9:.1f} | {moved / t / 1e9 / copy_gbps:.0%} |")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
