"""One training step of a CPU MLP with torch's modules against numact.torch's, and each module
alone: what a PyTorch user gains from ``numact.torch.swap``.

    python -m numact.bench.torch_step [--batch 1024] [--widths 784,4096,4096,10] [--repeats 7]

The model is Linear(784, 4096) → activation → Linear(4096, 4096) → activation → Linear(4096, 10)
with cross_entropy, float32, for each activation of ``--activations`` (GELU, ELU). A step is
zero_grad, forward, loss and backward (no optimizer: it is the same for both). Both run on the
same thread count (torch's, given to numba too), interleaved, after a warm-up; the table shows
medians. The matrix products are torch's in both models, so the step's gain is bounded by the
activations' and the loss's share of it: the modules alone show their own speed.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import statistics
import time

import numba
import torch

import numact.torch as nt


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _has_avx512() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            return "avx512f" in f.read()
    except OSError:
        return False


def _model(widths, activation: torch.nn.Module) -> torch.nn.Sequential:
    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(activation())
    return torch.nn.Sequential(*layers)


def _time(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _compare(cases: dict[str, callable], repeats: int) -> dict[str, float]:
    """Median seconds of each case, the cases interleaved so that drift hits them alike."""
    for fn in cases.values():  # warm-up: numba's first calls compile or load the cache
        fn()
        fn()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            samples[name] += _time(fn, 1)
    return {name: statistics.median(s) for name, s in samples.items()}


def run(batch: int, widths: list[int], activations: list[str], repeats: int) -> list[tuple[str, float, float]]:
    rows = []
    torch.manual_seed(0)
    x = torch.randn(batch, widths[0])
    target = torch.randint(0, widths[-1], (batch,))
    for name in activations:
        theirs = _model(widths, getattr(torch.nn, name))
        ours = _model(widths, getattr(torch.nn, name))
        ours.load_state_dict(theirs.state_dict())
        nt.swap(ours)
        loss_theirs, loss_ours = torch.nn.CrossEntropyLoss(), nt.nn.CrossEntropyLoss()

        def step(model, loss_fn):
            def fn():
                model.zero_grad(set_to_none=True)
                loss_fn(model(x), target).backward()
            return fn

        t = _compare({"torch": step(theirs, loss_theirs), "numact": step(ours, loss_ours)}, repeats)
        rows.append((f"training step, {name}", t["torch"], t["numact"]))

        h = torch.randn(batch, widths[1], requires_grad=True)
        g = torch.randn(batch, widths[1])

        def alone(module, h=h, g=g):
            def fn():
                h.grad = None
                module(h).backward(g)
            return fn

        t = _compare({"torch": alone(getattr(torch.nn, name)()), "numact": alone(getattr(nt.nn, name)())}, repeats)
        rows.append((f"{name} alone, forward + backward, {batch}×{widths[1]}", t["torch"], t["numact"]))

    logits = torch.randn(batch, widths[-1], requires_grad=True)

    def loss_alone(loss_fn):
        def fn():
            logits.grad = None
            loss_fn(logits, target).backward()
        return fn

    t = _compare({"torch": loss_alone(torch.nn.CrossEntropyLoss()), "numact": loss_alone(nt.nn.CrossEntropyLoss())}, repeats)
    rows.append((f"CrossEntropyLoss alone, forward + backward, {batch}×{widths[-1]}", t["torch"], t["numact"]))
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--widths", default="784,4096,4096,10")
    parser.add_argument("--activations", default="GELU,ELU")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    threads = torch.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    widths = [int(w) for w in args.widths.split(",")]
    print(f"numact.torch against torch.nn, float32: {_cpu_name()} "
          f"({'AVX-512' if _has_avx512() else 'no AVX-512'}), torch {torch.__version__}, "
          f"{threads} threads for both; MLP {'-'.join(map(str, widths))}, batch {args.batch}; "
          f"medians of {args.repeats}, interleaved, after warm-up")
    print(f"| {'pass':<58} | torch ms | numact ms | speed-up |")
    print(f"|{'-' * 60}|---------:|----------:|---------:|")
    for what, t_torch, t_ours in run(args.batch, widths, args.activations.split(","), args.repeats):
        print(f"| {what:<58} | {t_torch * 1e3:8.2f} | {t_ours * 1e3:9.2f} | {t_torch / t_ours:7.2f}× |")


if __name__ == "__main__":
    main()
