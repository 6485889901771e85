"""numact.torch on CUDA tensors, for a machine with an NVIDIA GPU and a CUDA build of torch:
every operator's forward and gradient on the GPU against numact.torch on the CPU, then one
training step of an MLP with torch's modules and with numact's, on the GPU.

    python benchmarks/gpu/torch_check.py [--batch 1024] [--repeat 20]

CUDA tensors reach numact through ``__cuda_array_interface__`` and its results come back as
tensors on the same device memory. Exits 1 when a result differs from the CPU's by more than
float32's rounding (libdevice and numact's CPU math core round differently).
"""

import argparse
import functools
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

import numact.torch as nt
from numact.bench.gpu import training_steps
from numact.operators import ACTIVATIONS, LOSSES, param_cases


def _activation_args(op, device):
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(64, 33, generator=g) * 4).to(device).requires_grad_()
    if op.kind == "rowwise":
        return (x, 1), (x,)
    if op.kind == "channelwise":
        w = torch.full((33,), 0.25, device=device, requires_grad=True)
        return (x, w), (x, w)
    return (x,), (x,)


def _loss_args(op, device):
    g = torch.Generator().manual_seed(0)
    if op.kind == "class":
        x = torch.randn(64, 7, generator=g)
        if op.name == "nll_loss":
            x = torch.log_softmax(x, 1)
        arrays = {"input": x, "target": torch.randint(0, 7, (64,), generator=g)}
    elif op.kind == "vector":
        arrays = {a: torch.randn(64, 9, generator=g) for a in op.inputs}
        if op.target:
            arrays[op.target] = torch.where(torch.rand(64, generator=g) < 0.5, -1.0, 1.0)
    elif op.name in ("binary_cross_entropy",):
        arrays = {"input": torch.rand(64, 33, generator=g) * 0.9 + 0.05, "target": torch.rand(64, 33, generator=g)}
    elif op.name == "kl_div":
        arrays = {"input": torch.log_softmax(torch.randn(64, 33, generator=g), 1),
                  "target": torch.softmax(torch.randn(64, 33, generator=g), 1)}
    elif op.name == "margin_ranking_loss":
        arrays = {"input1": torch.randn(300, generator=g), "input2": torch.randn(300, generator=g),
                  "target": torch.where(torch.rand(300, generator=g) < 0.5, -1.0, 1.0)}
    else:
        arrays = {"input": torch.randn(64, 33, generator=g), "target": torch.rand(64, 33, generator=g)}
    tensors = {k: v.to(device).requires_grad_(k in op.inputs) for k, v in arrays.items()}
    return tensors


def _run(fn, args, grad_of):
    y = fn(*args)
    grads = torch.autograd.grad(y, grad_of, torch.ones_like(y))
    return [y.detach().cpu(), *(gr.cpu() for gr in grads)]


def check() -> bool:
    ok = True
    for op in ACTIVATIONS:
        for params in param_cases(op):
            call = functools.partial(getattr(nt, op.name), **(params if op.kind == "elementwise" else {}))
            results = [_run(call, *_activation_args(op, d)) for d in ("cpu", "cuda")]
            ok &= _report(f"{op.name} {params}", *results)
    for op in LOSSES:
        for reduction in op.reductions:
            results = []
            for device in ("cpu", "cuda"):
                t = _loss_args(op, device)
                results.append(_run(functools.partial(getattr(nt, op.name), reduction=reduction),
                                    [t[a] for a in op.arrays], [t[a] for a in op.inputs]))
            ok &= _report(f"{op.name} {reduction}", *results)
    return ok


def _report(what, cpu, gpu) -> bool:
    good = all(torch.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True) for a, b in zip(cpu, gpu))
    if not good:
        worst = max((a - b).abs().nan_to_num(0).max().item() for a, b in zip(cpu, gpu))
        print(f"MISMATCH {what}: largest difference {worst:.3g}")
    return good


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("torch has no CUDA here (a CPU build, or no GPU): nothing to check")
        return 2
    print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    ok = check()
    print("all numact.torch GPU results match the CPU" if ok else "some GPU results differ from the CPU")
    print("| pass | torch | numact | speed-up |\n|---|---:|---:|---:|")
    for r in training_steps(torch, args.batch, args.repeat):
        print(f"| {r['pass']} | {r['torch_ms']:.3f} ms | {r['numact_alloc_ms']:.3f} ms | "
              f"{r['torch_ms'] / r['numact_alloc_ms']:.2f}× |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
