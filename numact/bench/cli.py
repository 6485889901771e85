"""``numact bench``: every operator's forward, backward and fused pass timed against NumPy and
(when installed) PyTorch's CPU kernels on the same arrays and thread count.

Times are medians of repeated calls after a warm-up call (compilation is not timed), the
sides timed in turns; every side allocates its result, or with --kernels-alone numact and
torch write the activations into preallocated outputs. GB/s counts the bytes a kernel must read and write; "roofline" is
that against ``np.copyto``'s bandwidth on an array of the same size. A second table times
every operator at 1,000 elements against NumPy, where call overhead is what counts.
"""

import argparse
import json
import math
import statistics
import sys
import time

import numpy as np

SMALL = 1000


def median_seconds(call, repeat: int) -> float:
    call()  # warm-up: compiles, or loads from the on-disk cache
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def warm_up(size: int, dtype, with_torch: bool, seconds: float = 1.0) -> None:
    """Run a threaded kernel of every side on fresh arrays for a while before timing anything:
    the first calls of a process run several times slower (thread pools starting, the first
    page faults), which would land on whichever operator came first."""
    import numact

    x = np.ones(size, dtype)
    calls = [lambda: numact.relu(x), lambda: np.maximum(x, 0)]
    if with_torch:
        import torch

        t = torch.from_numpy(x)
        calls.append(lambda: torch.relu(t))
    for call in calls:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            call()


def reuse_freed_memory() -> bool:
    """Ask glibc to serve every allocation from its heap and keep what is freed, so that each
    timed call writes pages an earlier call already faulted in. By default an array over 32 MB
    is mapped fresh on every allocation and its first touch costs page faults, which this VM
    serves slowly and unevenly; and NumPy asks for huge pages (madvise) where torch does not,
    so numact's and NumPy's outputs fault 512 times less often than torch's. With the memory
    reused, the timings are of the kernels alone. False where mallopt is not there."""
    import ctypes
    import ctypes.util

    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    m_trim_threshold, m_top_pad, m_mmap_max = -1, -2, -4
    return all(mallopt(option, value) == 1 for option, value in
               ((m_mmap_max, 0), (m_trim_threshold, 2**31 - 1), (m_top_pad, 64 << 20)))


def copy_bandwidth(nbytes: int, repeat: int) -> float:
    """Bytes per second of np.copyto (read + write) between two arrays of ``nbytes``."""
    src = np.ones(nbytes // 4, np.float32)
    dst = np.empty_like(src)
    return 2 * src.nbytes / median_seconds(lambda: np.copyto(dst, src), repeat)


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total: int, quiet: bool = False):
        self.total, self.done, self.quiet, self.start = total, 0, quiet, time.perf_counter()

    def step(self, label: str) -> None:
        self.done += 1
        if self.quiet:
            return
        filled = round(30 * self.done / self.total)
        elapsed = time.perf_counter() - self.start
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} "
                         f"{elapsed:5.0f}s {label:<40.40}")
        if self.done == self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def interleaved_medians(calls: dict, repeat: int, budget: float = 0.5) -> dict:
    """Median seconds of each call, timed in turns (a, b, c, a, b, c, ...) after a warm-up of
    each: a slow spell of the machine then lands on every side alike, not on whichever was
    timed during it. A side whose calls have taken ``budget`` seconds stops after 3 turns."""
    for call in calls.values():
        call()  # warm-up: compiles, or loads from the on-disk cache
    times = {name: [] for name in calls}
    for turn in range(repeat):
        for name, call in calls.items():
            if turn >= 3 and sum(times[name]) > budget:
                continue
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def measure(case, repeat: int, copy_rate: float) -> dict:
    calls = {"numact": case.numact, "numpy": case.numpy}
    if case.torch:
        calls["torch"] = case.torch
    medians = interleaved_medians(calls, repeat)
    row = {"op": case.op, "step": case.step, "bytes": case.bytes}
    row["numact_s"], row["numpy_s"] = medians["numact"], medians["numpy"]
    row["torch_s"] = medians.get("torch")
    row["gb_per_s"] = case.bytes / row["numact_s"] / 1e9
    row["roofline"] = case.bytes / row["numact_s"] / copy_rate
    row["vs_numpy"] = row["numpy_s"] / row["numact_s"]
    row["vs_torch"] = row["torch_s"] / row["numact_s"] if row["torch_s"] else None
    row["torch_allocates"] = case.torch_allocates
    return row


def parse(argv):
    from numact.bench.workloads import ROW

    parser = argparse.ArgumentParser(prog="numact bench",
                                     description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--size", type=int, default=10_000_000,
                        help="elements per array (default 10,000,000)")
    parser.add_argument("--rows", type=int, default=65536,
                        help=f"rows of {ROW} logits for nll_loss and cross_entropy (default 65,536)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--ops", default="", help="comma-separated operator names (default all)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for numact and torch (default numba's: NUMBA_NUM_THREADS)")
    parser.add_argument("--repeat", type=int, default=11, help="timed calls per median (default 11)")
    parser.add_argument("--no-small", dest="small", action="store_false",
                        help=f"skip the table at {SMALL:,} elements")
    parser.add_argument("--small-only", action="store_true",
                        help=f"only the table at {SMALL:,} elements (--size is then ignored)")
    parser.add_argument("--no-torch", dest="torch", action="store_false", help="skip PyTorch")
    parser.add_argument("--reuse-memory", action="store_true",
                        help="serve every array from memory already touched (glibc mallopt): time "
                             "the kernels without the page faults of fresh outputs")
    parser.add_argument("--kernels-alone", action="store_true",
                        help="numact and torch write every activation into preallocated outputs "
                             "(numact's out=, torch's ATen out variants such as aten.gelu.out; "
                             "torch's backward then reads the saved output where autograd would); "
                             "implies --reuse-memory for what still allocates")
    parser.add_argument("--json", metavar="FILE", help="also write every measurement as JSON")
    parser.add_argument("--plot", metavar="FILE.png", help="also draw the speed-ups as a bar chart")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cuda: numact beside torch's CUDA kernels on the GPU instead, as the GPU "
                             "speed targets name them (numact bench --device cuda --help)")
    parser.add_argument("--startup", action="store_true",
                        help="instead: import and first-call times in fresh processes with an empty "
                             "cache (numact bench --startup --help)")
    return parser.parse_args(argv)


def _device(argv: list[str]) -> str:
    """The value of ``--device`` in ``argv`` ("cpu" where it has none)."""
    for i, a in enumerate(argv):
        if a == "--device" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--device="):
            return a.partition("=")[2]
    return "cpu"


def _without_device(argv: list[str]) -> list[str]:
    found = [i for i, a in enumerate(argv) if a == "--device"]
    drop = {found[0], found[0] + 1} if found else set()
    return [a for i, a in enumerate(argv) if i not in drop and not a.startswith("--device=")]


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["doctor"]:
        from numact.doctor import main as doctor

        raise SystemExit(doctor(argv[1:]))
    if argv[:1] == ["warmup"]:
        from numact.warmup import main as warmup

        raise SystemExit(warmup(argv[1:]))
    if argv[:1] == ["bench"]:
        argv = argv[1:]
    elif argv and argv[0] not in ("-h", "--help") and not argv[0].startswith("--"):
        raise SystemExit(f"numact: unknown command {argv[0]!r}; try: numact bench --help, numact warmup --help, "
                         "numact doctor")
    if _device(argv) == "cuda":
        from numact.bench import gpu

        raise SystemExit(gpu.main(_without_device(argv)))
    if "--startup" in argv:
        from numact.bench import startup

        startup.main([a for a in argv if a != "--startup"])
        return
    args = parse(argv)
    result = run(args)
    print_report(result)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    if args.plot:
        from numact.bench.plot import plot

        plot(result, args.plot)


def run(args) -> dict:
    import numba

    import numact
    from numact.bench import torch_baselines
    from numact.bench.workloads import cases, operators

    args.reuse_memory = args.reuse_memory or args.kernels_alone
    reused = args.reuse_memory and reuse_freed_memory()
    if args.reuse_memory and not reused:
        print("numact bench: --reuse-memory needs glibc's mallopt; timing with fresh pages", file=sys.stderr)
    if args.threads:
        numba.set_num_threads(args.threads)
    threads = numba.get_num_threads()
    with_torch = args.torch and torch_baselines.available()
    if with_torch:
        import torch

        torch.set_num_threads(threads)
    dtype = np.dtype(args.dtype).type
    ops = operators([n for n in args.ops.split(",") if n])
    rng = np.random.default_rng(0)
    large = not args.small_only
    progress = Progress(len(ops) * (large + (args.small or args.small_only)), args.quiet)
    warm_up(args.size if large else SMALL, dtype, with_torch)
    copy_rate = copy_bandwidth(args.size * np.dtype(dtype).itemsize, args.repeat) if large else float("nan")
    rows, small = [], []
    for op in ops if large else ():
        progress.step(op.name)
        for case in cases(op, args.size, dtype, rng, args.rows, with_torch, args.kernels_alone):
            rows.append(measure(case, args.repeat, copy_rate))
    if args.small or args.small_only:
        small_cases = [(op, cases(op, SMALL, dtype, rng, None, with_torch=False)) for op in ops]
        # After the large arrays, the first microseconds-long calls run slow for a second or
        # two (caches, the freed memory going back): call every case for a while first.
        end = time.perf_counter() + 1.0
        while time.perf_counter() < end:
            for _, op_cases in small_cases:
                for case in op_cases:
                    case.numact(), case.numpy()
        for op, op_cases in small_cases:
            progress.step(f"{op.name} at {SMALL:,}")
            for case in op_cases:
                medians = interleaved_medians({"numact": case.numact, "numpy": case.numpy}, 200)
                small.append({"op": case.op, "step": case.step, "numact_s": medians["numact"],
                              "numpy_s": medians["numpy"]})
    return {
        "numact": numact.__version__, "numba": numba.__version__,
        "torch": __import__("torch").__version__ if with_torch else None,
        "threads": threads, "dtype": args.dtype, "size": args.size, "rows": args.rows,
        "memory": "reused memory" if reused else "fresh pages", "kernels_alone": args.kernels_alone,
        "cpu": _cpu_name(), "measured": time.strftime("%Y-%m-%d"),
        "copy_gb_per_s": copy_rate / 1e9, "results": rows, "small": small,
    }


def _cpu_name() -> str:
    """The CPU numba compiles for (NUMBA_CPU_NAME, or the host's as LLVM names it) and the
    processor's model name."""
    import platform

    import llvmlite.binding
    from numba.core import config

    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    target = config.CPU_NAME or llvmlite.binding.get_host_cpu_name()
    return f"{model}, code for {target}" + (" (forced)" if config.CPU_NAME else "")


def geomean(values) -> float:
    values = [v for v in values if v]
    return math.exp(statistics.fmean(math.log(v) for v in values)) if values else float("nan")


def _activation_names() -> set:
    from numact.operators import ACTIVATIONS

    return {op.name for op in ACTIVATIONS}


def gpu_ratios(r: dict) -> tuple[float | None, float | None]:
    """(default, kernels alone) of a GPU result (numact bench --device cuda, docs/data/gpu-*.json):
    torch's time over numact's, both allocating their results, and both writing into given
    outputs (where torch has an out variant)."""
    default = r["torch_ms"] / r["numact_alloc_ms"] if r.get("torch_ms") and r.get("numact_alloc_ms") else None
    alone = r["torch_out_ms"] / r["numact_ms"] if r.get("torch_out_ms") and r.get("numact_ms") else None
    return default, alone


def headline(result) -> dict:
    """The figures a run is judged by, for the summary lines and the summary table: the
    activations' rows (``act``) and forward rows, cross_entropy's fused row, the median
    fraction of the copy bandwidth, and the 1,000-element rows' speed-ups over NumPy."""
    activations = _activation_names()
    act = [r for r in result["results"] if r["op"] in activations]
    with_torch = bool(act) and bool(act[0]["vs_torch"])
    return {
        "act": act if with_torch else [],
        "forward": [r for r in act if r["step"] == "forward"],
        "fused": next((r for r in result["results"]
                       if r["op"] == "cross_entropy" and r["step"] == "fused" and r["vs_torch"]), None),
        "roofline": statistics.median(r["roofline"] for r in result["results"]) if result["results"] else None,
        "small": [(r, r["numpy_s"] / r["numact_s"]) for r in result["small"]],
    }


def summary(result) -> list[str]:
    """The targets of the speed issue, each with its measured figure."""
    h = headline(result)
    lines = []
    if h["act"]:
        worst = min(h["act"], key=lambda r: r["vs_torch"])
        lines.append(f"activations vs torch: geometric mean {geomean(r['vs_torch'] for r in h['act']):.2f}×, "
                     f"slowest {worst['op']} {worst['step']} {worst['vs_torch']:.2f}×")
    if h["forward"]:
        worst = min(h["forward"], key=lambda r: r["vs_numpy"])
        lines.append(f"activation forwards vs NumPy: geometric mean "
                     f"{geomean(r['vs_numpy'] for r in h['forward']):.2f}×, slowest {worst['op']} {worst['vs_numpy']:.2f}×")
    if h["roofline"] is not None:
        lines.append(f"median operator at {h['roofline']:.0%} of the copy bandwidth ({result['copy_gb_per_s']:.1f} GB/s)")
    if h["fused"]:
        lines.append(f"cross_entropy_forward_backward vs torch forward + backward: {h['fused']['vs_torch']:.2f}×")
    if h["small"]:
        worst, speed_up = min(h["small"], key=lambda pair: pair[1])
        lines.append(f"at {SMALL:,} elements: slowest vs NumPy {worst['op']} {worst['step']} "
                     f"{speed_up:.2f}× ({worst['numact_s'] * 1e6:.1f} µs)")
    return lines


def by_machine(runs: list[dict]) -> list[list[dict]]:
    """Runs grouped by the CPU they name (their ``cpu``), in the order they come: a summary table
    holds one machine's runs."""
    groups: dict = {}
    for result in runs:
        groups.setdefault(result.get("cpu", "unknown"), []).append(result)
    return list(groups.values())


def summary_table(runs: list[dict]) -> str:
    """One markdown table of several runs' headline figures (README's and the site's speed
    table), a column per run, headed by its regime; the text around it names the machine."""

    def cells(result):
        h = headline(result)
        return [
            f"{geomean(r['vs_torch'] for r in h['act']):.2f}×" if h["act"] else "–",
            f"{sum(r['vs_torch'] < 1 for r in h['act'])} of {len(h['act'])}" if h["act"] else "–",
            f"{geomean(r['vs_numpy'] for r in h['forward']):.2f}×" if h["forward"] else "–",
            f"{h['fused']['vs_torch']:.2f}×" if h["fused"] else "–",
            f"{h['roofline']:.0%}" if h["roofline"] is not None else "–",
            f"{sum(up >= 1 for _, up in h['small'])} of {len(h['small'])}" if h["small"] else "–",
        ]

    names = ["activations vs torch, geometric mean", "activation passes slower than torch",
             "activation forwards vs NumPy, geometric mean", "cross_entropy_forward_backward vs torch",
             "median operator, fraction of np.copyto's bandwidth",
             f"at {SMALL:,} elements, passes at least as fast as NumPy"]
    heads = [("kernels alone" if r.get("kernels_alone") else "default (each call allocates)") for r in runs]
    columns = [cells(r) for r in runs]
    lines = ["| | " + " | ".join(heads) + " |", "|---|" + "---:|" * len(runs)]
    lines += [f"| {name} | " + " | ".join(column[i] for column in columns) + " |" for i, name in enumerate(names)]
    return "\n".join(lines)


def report_lines(result, bullet: str = "") -> list[str]:
    """The report as markdown lines: the header, the tables and the summary (each summary line
    after ``bullet``)."""
    torch = result["torch"]
    size = (f"{result['size']:,} elements ({result['rows']:,} × 1000 logits for the class losses)"
            if result["results"] else f"{SMALL:,} elements only")
    lines = [f"numact {result['numact']} (numba {result['numba']}), torch {torch or 'not installed'}: "
             f"{result['dtype']}, {size}, {result['threads']} thread{'s' if result['threads'] != 1 else ''}, "
             f"medians after warm-up, outputs in {result.get('memory', 'fresh pages')}"
             + (", activations into preallocated outputs (kernels alone; * torch allocates: no out variant)"
                if result.get("kernels_alone") else ""), f"CPU: {result.get('cpu', 'unknown')}", ""]
    if result["results"]:
        lines += ["| operator | pass | numact ms | GB/s | roofline | NumPy ms | vs NumPy | torch ms | vs torch |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["results"]:
        mark = "*" if result.get("kernels_alone") and r.get("torch_allocates") and r["op"] in _activation_names() else ""
        t = (f"{r['torch_s'] * 1e3:.2f}{mark} | {r['vs_torch']:.2f}×" if r["torch_s"] else "– | –")
        lines.append(f"| {r['op']} | {r['step']} | {r['numact_s'] * 1e3:.2f} | {r['gb_per_s']:.1f} | "
                     f"{r['roofline']:.0%} | {r['numpy_s'] * 1e3:.2f} | {r['vs_numpy']:.2f}× | {t} |")
    if result["small"]:
        lines += ["", f"At {SMALL:,} elements (call overhead included)", "",
                  "| operator | pass | numact µs | NumPy µs | vs NumPy |", "|---|---|---:|---:|---:|"]
        for r in result["small"]:
            lines.append(f"| {r['op']} | {r['step']} | {r['numact_s'] * 1e6:.1f} | {r['numpy_s'] * 1e6:.1f} | "
                         f"{r['numpy_s'] / r['numact_s']:.2f}× |")
    return lines + [""] + [bullet + line for line in summary(result)]


def print_report(result) -> None:
    print("\n".join(report_lines(result)))


if __name__ == "__main__":
    main()
