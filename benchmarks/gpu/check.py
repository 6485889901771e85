"""The GPU check, for a session with an NVIDIA GPU: every CUDA kernel against the CPU result,
then its bandwidth against a device-to-device copy of the same bytes.

Losses are checked and timed through their fused call (loss and gradients in one pass).

    python benchmarks/gpu/check.py [--size N] [--repeat R] [--ops a,b]

Correctness: every operator, forward and backward, float32 and float64, on the GPU against
the float64 CPU result on the same inputs (the truth): the GPU may be off by 4 times the CPU's
own error plus a few ulps (libdevice and numact's CPU math core round differently). Speed:
medians of R calls after a warm-up (a call: numact's Python side, the launch, the kernel),
float32, bytes the kernel must move (x and y forward; g, x and dx backward) over time, beside
two device-to-device copies of the same bytes: ``copy_to_device`` (the copy engine) and a
grid-stride copy kernel (the SMs, the fair roofline for a kernel).
Runs under the simulator too (NUMBA_ENABLE_CUDASIM=1, small --size), which the tests use.
"""

import argparse
import os
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from numba import cuda

import numact
from numact.bench.gpu import seconds
from numact.bench.workloads import activation_arrays as workload
from numact.bench.workloads import loss_arrays as loss_workload
from numact.operators import ACTIVATIONS, LOSSES

RTOL = {np.float32: 5e-7, np.float64: 1e-13}  # a few ulps; float64 sums may run in another order


def check(op, size: int, dtype, rng) -> list[str]:
    """Forward and backward on the GPU against the truth; the problems found, if any."""
    x, g, params = workload(op, size, dtype, rng)
    device_params = {k: cuda.to_device(v) if isinstance(v, np.ndarray) else v for k, v in params.items()}
    wide_params = {k: v.astype(np.float64) if isinstance(v, np.ndarray) else v for k, v in params.items()}
    forward, backward = getattr(numact, op.name), getattr(numact, f"{op.name}_backward")
    outputs = [(forward(cuda.to_device(x), **device_params), forward(x, **params),
                forward(x.astype(np.float64), **wide_params))]
    grads = (backward(cuda.to_device(g), cuda.to_device(x), **device_params), backward(g, x, **params),
             backward(g.astype(np.float64), x.astype(np.float64), **wide_params))
    outputs += list(zip(*grads)) if op.kind == "channelwise" else [grads]
    problems = []
    for i, (gpu, cpu, truth) in enumerate(outputs):
        problems += differ(gpu, cpu, truth, dtype, f"{op.name} output {i} {dtype.__name__}")
    return problems


def differ(gpu, cpu, truth, dtype, what: str) -> list[str]:
    """The problem, if the GPU result is off the truth by more than 4 times the CPU's error plus
    a few ulps of the largest value."""
    gpu = np.asarray(gpu.copy_to_host(), np.float64)
    cpu, truth = np.asarray(cpu, np.float64), np.asarray(truth, np.float64)
    scale = np.abs(truth[np.isfinite(truth)]).max(initial=1.0)
    with np.errstate(invalid="ignore"):
        allowed = 4 * np.abs(cpu - truth) + RTOL[dtype] * (np.abs(truth) + 1e-3 * scale)
        off = ~((gpu == truth) | (np.isnan(gpu) & np.isnan(truth)) | (np.abs(gpu - truth) <= allowed))
    if not off.any():
        return []
    worst = np.nanargmax(np.where(off, np.abs(gpu - truth), -1))
    return [f"{what}: {off.sum()} of {off.size} differ; worst GPU {gpu.flat[worst]!r}, CPU "
            f"{cpu.flat[worst]!r}, truth {truth.flat[worst]!r}"]


def check_loss(op, size: int, dtype, rng) -> list[str]:
    """The fused loss on the GPU against the truth, reduced and per element."""
    arrays, params = loss_workload(op, size, dtype, rng)
    wide = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays]
    fused = getattr(numact, f"{op.name}_forward_backward")
    problems = []

    def results(call):
        loss, grads = call
        return [loss] + list(grads if isinstance(grads, tuple) else (grads,))

    for reduction in ("mean", "none"):
        gpu = results(fused(*map(cuda.to_device, arrays), **params, reduction=reduction))
        cpu = results(fused(*arrays, **params, reduction=reduction))
        truth = results(fused(*wide, **params, reduction=reduction))
        for i, triple in enumerate(zip(gpu, cpu, truth)):
            problems += differ(*triple, dtype, f"{op.name} {reduction} output {i} {dtype.__name__}")
    return problems


@cuda.jit
def _copy(dst, src):
    for i in range(cuda.grid(1), src.size, cuda.gridsize(1)):
        dst[i] = src[i]


def check_ufuncs(rng) -> list[str]:
    """numact.ufuncs.cuda(name) against the CPU ufunc, float32, for every ufunc."""
    from numact import ufuncs

    problems = []
    for name in ufuncs.__all__:
        spec = ufuncs._SPECS[name]
        inputs = [rng.uniform(0.05, 0.95, 4096).astype(np.float32) for _ in spec.inputs]
        expected = getattr(ufuncs, name)(*inputs)
        got = ufuncs.cuda(name)(*(cuda.to_device(a) for a in inputs)).copy_to_host()
        if not np.allclose(got, expected, rtol=5e-6, atol=1e-7, equal_nan=True):
            problems.append(f"ufunc {name}: largest difference {np.nanmax(np.abs(got - expected)):.3g}")
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
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        problems += check_ufuncs(rng)  # numba-cuda's CUDA ufuncs do not run under the simulator
    print("correctness:", "all GPU results match the CPU" if not problems else "\n  ".join(["FAILED"] + problems))

    itemsize = 4
    src = cuda.to_device(np.ones(args.size, np.float32))
    dst = cuda.device_array_like(src)
    engine_gbps = 2 * args.size * itemsize / seconds(lambda: dst.copy_to_device(src), args.repeat) / 1e9
    blocks = min(65536, -(-args.size // 256))
    copy_gbps = 2 * args.size * itemsize / seconds(lambda: _copy[blocks, 256](dst, src), args.repeat) / 1e9
    print(f"\ndevice-to-device copy of {args.size:,} float32, read + write: copy kernel "
          f"{copy_gbps:.1f} GB/s (the roofline below), copy_to_device {engine_gbps:.1f} GB/s\n")
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
