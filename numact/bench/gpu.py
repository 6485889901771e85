"""numact beside PyTorch's CUDA kernels (and CuPy's arrays, where CuPy is installed) on one GPU:
the measurements the GPU speed targets name. ``numact bench --device cuda`` (``make bench-gpu``):

    numact bench --device cuda [--size N] [--rows 65536x1000,...] [--repeat R] [--ops a,b]
                               [--json docs/data/gpu-<gpu>-<date>.json] [--plot FILE.png]

float32. Each figure is the median of R calls after a warm-up, each call then synchronised (a
call: the Python side, the launch, the kernel), numact and torch on the same device memory,
one after the other in one run, so that they compare as ratios:
- copy: a device-to-device copy of N float32 (torch's ``copy_``; numba's copy kernel without
  torch), read and write: the roofline;
- every activation forward and backward at N elements (PReLU over rows of 1,000 channels):
  numact into a given ``out=`` and torch's ATen out variant (kernels alone, where torch has
  one), numact allocating and torch allocating (the default regime), and the fraction of the
  copy's bandwidth numact's ``out=`` call reaches (bytes the pass must move over its time);
- the softmax family forward and backward at each ``--rows`` shape;
- every loss's fused call (reduction='mean') against torch's forward plus autograd backward, at
  N elements (the class losses at each ``--rows`` shape);
- small calls: every activation forward at 1,000 elements, from a numba device array, from a
  torch tensor and from a CuPy array (where installed), against torch's call on the tensor;
- numact.torch's training step of an MLP against torch.nn's (with torch's CUDA, all operators);
- first calls (``--first-calls``): an operator's first forward and backward in a new process,
  with numba's cache empty (compiled) and then as that process left it (loaded from disk).
``--json`` writes the format of docs/data/gpu-*.json, which the Speed page shows; ``--plot``
the speed-ups over torch as a bar chart. Without torch's CUDA (under the simulator,
NUMBA_ENABLE_CUDASIM=1 with a tiny --size, as the tests run it) torch's columns are empty.
"""

import argparse
import datetime
import json
import pathlib
import statistics
import subprocess
import sys
import time

import numpy as np
from numba import cuda

import numact
from numact.bench import torch_baselines
from numact.bench.cli import gpu_ratios
from numact.bench.workloads import activation_arrays, loss_arrays
from numact.operators import ACTIVATIONS, LOSSES, param_cases

ROWS = "65536x1000,8192x50257,4194304x16"  # rows × row length: a batch, a vocabulary, short rows
SMALL = 1000


def torch_cuda():
    """torch, where it runs on the GPU; else None."""
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def seconds(call, repeat: int) -> float | None:
    """The median time of ``repeat`` calls after one to warm up, each synchronised with the
    GPU; None where there is no call (no torch)."""
    if call is None:
        return None
    call()
    cuda.synchronize()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cupy_cuda():
    """CuPy, where it is installed and sees a GPU; else None."""
    try:
        import cupy
    except ImportError:
        return None
    try:
        return cupy if cupy.cuda.runtime.getDeviceCount() else None
    except Exception:  # noqa: BLE001 - CuPy without a driver: no CuPy figures
        return None


class Device:
    """Arrays on the GPU: numba device arrays, and torch tensors over the same memory."""

    def __init__(self, torch, cupy=None):
        self.torch, self.cupy = torch, cupy

    def put(self, a: np.ndarray):
        """(numba view, torch tensor or None) of a copy of ``a`` on the GPU."""
        if self.torch is None:
            return cuda.to_device(np.ascontiguousarray(a)), None
        t = self.torch.from_numpy(np.ascontiguousarray(a)).cuda()
        return cuda.as_cuda_array(t), t

    def empty_like(self, a: np.ndarray):
        return self.put(np.empty_like(a))


def _ms(t):
    return None if t is None else round(t * 1e3, 4)


def activation_rows(op, x, g, params, device: Device, repeat: int, label: str, copy_bps: float | None) -> list[dict]:
    """The forward and backward of ``op`` on x, g: numact out= and allocating, torch's."""
    (xd, xt), (gd, gt) = device.put(x), device.put(g)
    (yd, yt), (dxd, dxt) = device.empty_like(x), device.empty_like(x)
    on_device = {k: device.put(v)[0] if isinstance(v, np.ndarray) else v for k, v in params.items()}
    torch_params = {k: device.put(v)[1] if isinstance(v, np.ndarray) else v for k, v in params.items()}
    forward, backward = getattr(numact, op.name), getattr(numact, f"{op.name}_backward")
    outs = (dxd, device.put(params["weight"])[0]) if op.kind == "channelwise" else dxd
    t_forward = t_backward = into = None
    if device.torch is not None:
        t_forward, t_backward = torch_baselines.activation(op, xt, gt, torch_params)
        into = torch_baselines.activation_into(op, xt, gt, torch_params, yt, dxt)
    rows = []
    for step, call_out, call_alloc, torch_alloc, torch_out, moved in [
        ("forward", lambda: forward(xd, **on_device, out=yd), lambda: forward(xd, **on_device),
         t_forward, into and into[0], 2 * x.nbytes),
        ("backward", lambda: backward(gd, xd, **on_device, out=outs), lambda: backward(gd, xd, **on_device),
         t_backward, into and into[1], 3 * x.nbytes),
    ]:
        t_out = seconds(call_out, repeat)
        rows.append({
            "pass": f"{op.name} {step}{label}", "numact_ms": _ms(t_out), "numact_alloc_ms": _ms(seconds(call_alloc, repeat)),
            "torch_ms": _ms(seconds(torch_alloc, repeat)), "torch_out_ms": _ms(seconds(torch_out, repeat)),
            "copy_fraction": None if copy_bps is None else round(moved / t_out / copy_bps, 3),
        })
    return rows


def loss_row(op, arrays, params, device: Device, repeat: int, label: str, copy_bps: float | None) -> dict:
    """The fused call (reduction='mean') against torch's forward + backward."""
    placed = [device.put(a) for a in arrays]
    fused = getattr(numact, f"{op.name}_forward_backward")
    t_numact = seconds(lambda: fused(*(d for d, _ in placed), **params), repeat)
    t_torch = None
    if device.torch is not None:
        t_torch = seconds(torch_baselines.loss(op, [t for _, t in placed], params)[2], repeat)
    moved = sum(a.nbytes for a in arrays) + sum(a.nbytes for name, a in zip(op.arrays, arrays) if name in op.inputs)
    return {"pass": f"{op.name} fused{label}", "numact_ms": None, "numact_alloc_ms": _ms(t_numact),
            "torch_ms": _ms(t_torch), "torch_out_ms": None,
            "copy_fraction": None if copy_bps is None else round(moved / t_numact / copy_bps, 3)}


def small_rows(op, device: Device, repeat: int, rng) -> list[dict]:
    """op's forward at SMALL elements from a numba array, from a torch tensor, and torch's."""
    x, _, params = activation_arrays(op, SMALL, np.float32, rng)
    if op.kind != "elementwise":
        return []
    xd, xt = device.put(x)
    forward = getattr(numact, op.name)
    t_torch = None
    if device.torch is not None:
        t_torch = seconds(torch_baselines.activation(op, xt, xt, params)[0], repeat)
    rows = [{"pass": f"{op.name} forward, {SMALL:,} elements, numba array in", "numact_ms": None,
             "numact_alloc_ms": _ms(seconds(lambda: forward(xd, **params), repeat)), "torch_ms": _ms(t_torch),
             "torch_out_ms": None, "copy_fraction": None}]
    others = [("torch tensor", xt)]
    if device.cupy is not None:
        others.append(("CuPy array", device.cupy.asarray(x)))
    for kind, a in others:
        if a is not None:
            rows.append({"pass": f"{op.name} forward, {SMALL:,} elements, {kind} in", "numact_ms": None,
                         "numact_alloc_ms": _ms(seconds(lambda a=a: forward(a, **params), repeat)),
                         "torch_ms": _ms(t_torch), "torch_out_ms": None, "copy_fraction": None})
    return rows


def training_steps(torch, batch: int, repeat: int, widths=(784, 4096, 4096, 10), device="cuda") -> list[dict]:
    """One training step (zero_grad, forward, cross_entropy, backward) of the MLP
    784-4096-4096-10 on the GPU, float32, with torch.nn's modules and after
    ``numact.torch.swap`` (same initial weights), for GELU and ELU: medians of ``repeat`` steps
    after three, in the rows of the JSON (numact's step as numact_alloc_ms)."""
    import numact.torch as nt

    x = torch.randn(batch, widths[0], device=device)
    target = torch.randint(0, widths[-1], (batch,), device=device)
    rows = []
    for activation in ("GELU", "ELU"):
        medians = {}
        for who in ("torch", "numact"):
            torch.manual_seed(0)
            model = torch.nn.Sequential(torch.nn.Linear(widths[0], widths[1]), getattr(torch.nn, activation)(),
                                        torch.nn.Linear(widths[1], widths[2]), getattr(torch.nn, activation)(),
                                        torch.nn.Linear(widths[2], widths[3])).to(device)
            loss_fn = torch.nn.CrossEntropyLoss()
            if who == "numact":
                nt.swap(model)
                loss_fn = nt.nn.CrossEntropyLoss()

            def step(model=model, loss_fn=loss_fn):
                model.zero_grad(set_to_none=True)
                loss_fn(model(x), target).backward()

            for _ in range(3):
                step()
            medians[who] = seconds(step, repeat)
        rows.append({"pass": f"training step (numact.torch), {activation}, batch {batch:,}", "numact_ms": None,
                     "numact_alloc_ms": _ms(medians["numact"]), "torch_ms": _ms(medians["torch"]),
                     "torch_out_ms": None, "copy_fraction": None})
    return rows


FIRST_CALL = """
import time
start = time.perf_counter()
import numpy as np
from numba import cuda
import numact
imported = time.perf_counter()
x = cuda.to_device(np.linspace(-3, 3, 1000, dtype=np.float32))
numact.{name}(x)
numact.{name}_backward(x, x)
cuda.synchronize()
print(imported - start, time.perf_counter() - imported)
"""


def first_calls(names: list[str], cache: pathlib.Path) -> list[dict]:
    """Each operator's first forward and backward in a new process (1,000 elements, from a numba
    array), with numba's cache in ``cache``: first empty (import, compile), then as that left
    it (import, load from the disk cache)."""
    import os

    rows = []
    for name in names:
        for state in ("empty cache: compiled", "cache filled by the run before: loaded"):
            env = dict(os.environ, NUMBA_CACHE_DIR=str(cache / name))
            run = subprocess.run([sys.executable, "-c", FIRST_CALL.format(name=name)], env=env,
                                 capture_output=True, text=True, check=True)
            imported, called = (float(v) for v in run.stdout.split()[-2:])
            rows.append({"pass": f"{name} first forward + backward in a new process, {state}",
                         "numact_ms": None, "numact_alloc_ms": round(called * 1e3, 1), "torch_ms": None,
                         "torch_out_ms": None, "copy_fraction": None, "import_ms": round(imported * 1e3, 1)})
    return rows


@cuda.jit
def _copy(dst, src):
    for i in range(cuda.grid(1), src.size, cuda.gridsize(1)):
        dst[i] = src[i]


def copy_bandwidth(size: int, device: Device, repeat: int) -> float:
    """Bytes a second of a device-to-device copy of ``size`` float32, read and write."""
    (src, st), (dst, dt) = device.put(np.ones(size, np.float32)), device.empty_like(np.ones(size, np.float32))
    if device.torch is not None:
        t = seconds(lambda: dt.copy_(st), repeat)
    else:
        t = seconds(lambda: _copy[min(65536, -(-size // 256)), 256](dst, src), repeat)
    return 2 * size * 4 / t


def parse_rows(text: str) -> list[tuple[int, int]]:
    return [tuple(int(v) for v in shape.split("x")) for shape in text.split(",") if shape]


def machine(torch) -> str:
    if torch is None:
        from numba import config

        return "the CUDA simulator" if config.ENABLE_CUDASIM else "a GPU (torch without CUDA: no torch figures)"
    props = torch.cuda.get_device_properties(0)
    driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                            capture_output=True, text=True).stdout.strip()
    return f"{props.name} ({props.multi_processor_count} SMs; driver {driver}; torch {torch.__version__})"


def commit() -> str:
    run = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         cwd=pathlib.Path(__file__).parent)
    return run.stdout.strip() or "unknown"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="numact bench --device cuda", description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=65_536_000)
    parser.add_argument("--rows", default=ROWS, help="rows × row length of the row passes, comma-separated")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--ops", default="")
    parser.add_argument("--json", default="", help="write the results here, in docs/data's GPU format")
    parser.add_argument("--plot", default="", metavar="FILE.png", help="draw the speed-ups over torch as a bar chart")
    parser.add_argument("--first-calls", default="relu,gelu,softmax",
                        help="operators whose first call in a new process is timed, comma-separated ('' for none)")
    args = parser.parse_args(argv)
    names = set(args.ops.split(",")) - {""}
    activations = [op for op in ACTIVATIONS if not names or op.name in names]
    losses = [op for op in LOSSES if not names or op.name in names]
    torch = torch_cuda()
    device = Device(torch, cupy_cuda())
    rng = np.random.default_rng(0)
    shapes = parse_rows(args.rows)

    copy_bps = copy_bandwidth(args.size, device, args.repeat)
    print(f"device-to-device copy of {args.size:,} float32: {copy_bps / 1e12:.2f} TB/s", flush=True)
    made: dict = {}

    def normal(shape) -> tuple[np.ndarray, np.ndarray]:
        """(x, g) of ``shape``, made once: a vocabulary's rows take seconds to draw."""
        if shape not in made:
            made[shape] = tuple(rng.standard_normal(shape, dtype=np.float32) * scale for scale in (3, 1))
        return made[shape]

    results = []
    for op in activations:
        if op.kind == "elementwise":
            x, g = normal((args.size,))
            results += activation_rows(op, x, g, param_cases(op)[0], device, args.repeat, "", copy_bps)
        elif op.kind == "channelwise":
            x, g, params = activation_arrays(op, args.size, np.float32, rng)
            results += activation_rows(op, x, g, params, device, args.repeat, f", {x.shape[1]:,} channels", copy_bps)
        else:
            for rows, n in shapes:
                x, g = normal((rows, n))
                results += activation_rows(op, x, g, param_cases(op)[0], device, args.repeat,
                                           f", {rows:,} × {n:,}", copy_bps)
        print(f"{op.name}: done", flush=True)
    for op in losses:
        arrays, params = loss_arrays(op, args.size, np.float32, rng)
        if op.kind != "class":
            results.append(loss_row(op, arrays, params, device, args.repeat, "", copy_bps))
        else:
            for rows, n in shapes:
                targets = rng.integers(0, n, rows)
                results.append(loss_row(op, [normal((rows, n))[0], targets], params, device, args.repeat,
                                        f", {rows:,} × {n:,}", copy_bps))
        print(f"{op.name}: done", flush=True)
    for op in activations:
        results += small_rows(op, device, args.repeat, rng)
    if torch is not None and not names:
        results += training_steps(torch, 1024, args.repeat)
        print("training step: done", flush=True)
    if args.first_calls:
        import tempfile

        with tempfile.TemporaryDirectory() as cache:
            results += first_calls(args.first_calls.split(","), pathlib.Path(cache))

    print("\n| pass | numact ms | torch ms | default vs torch | numact out= ms | torch out= ms | kernels alone vs torch | of copy |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        default, alone = gpu_ratios(r)
        cells = [r["numact_alloc_ms"], r["torch_ms"], default, r["numact_ms"], r["torch_out_ms"], alone]
        print(f"| {r['pass']} | " + " | ".join("–" if c is None else f"{c:.3f}" for c in cells)
              + " | " + ("–" if r["copy_fraction"] is None else f"{r['copy_fraction']:.0%}") + " |")
    run = {"machine": machine(torch), "date": datetime.date.today().isoformat(), "commit": commit(),
           "source": "numact bench --device cuda " + " ".join(argv if argv is not None else sys.argv[1:]),
           "note": "numact beside torch's CUDA kernels in one run (numact bench --device cuda).",
           "dtype": "float32", "size": args.size, "copy_tb_per_s": f"{copy_bps / 1e12:.2f}", "results": results}
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(run, indent=1) + "\n")
        print(f"wrote {args.json}")
    if args.plot:
        from numact.bench.plot import plot_gpu

        plot_gpu(run, args.plot)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
