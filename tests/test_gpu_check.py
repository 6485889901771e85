"""The GPU check script (benchmarks/gpu/check.py), the GPU benchmark (numact bench --device
cuda, make bench-gpu) and asv's GPU suites run, here under the simulator."""

import importlib.util
import pathlib

import pytest

pytestmark = pytest.mark.cuda_only


def _load(path: str):
    """A script of benchmarks/ as a module."""
    file = pathlib.Path(__file__).parents[1] / "benchmarks" / path
    spec = importlib.util.spec_from_file_location(file.stem, file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_gpu_check_runs_and_finds_the_gpu_equal_to_the_cpu(capsys):
    check = _load("gpu/check.py")
    assert check.main(["--size", "640", "--repeat", "1", "--ops", "sigmoid,softmax,prelu,mse_loss,cross_entropy"]) == 0
    report = capsys.readouterr().out
    assert "all GPU results match the CPU" in report and "| prelu |" in report and "| cross_entropy |" in report


def test_the_gpu_benchmark_measures_every_pass_the_targets_name(tmp_path, capsys):
    """numact bench --device cuda, here under the simulator with tiny arrays (torch's columns
    empty without torch's CUDA): a pass for every activation forward and backward (the softmax
    family at each row shape), every loss's fused call (the class losses at each row shape),
    small calls, first calls in new processes, docs/data's GPU JSON format, which the Speed
    page renders, and a chart."""
    import json

    from numact.bench.cli import gpu_ratios, main

    out, chart = tmp_path / "gpu-test.json", tmp_path / "gpu-test.png"
    with pytest.raises(SystemExit) as exited:
        main(["bench", "--device", "cuda", "--size", "256", "--rows", "2x40,8x8", "--repeat", "1",
              "--ops", "relu,log_softmax,nll_loss", "--first-calls", "relu", "--json", str(out), "--plot", str(chart)])
    assert exited.value.code == 0
    assert chart.read_bytes()[:4] == b"\x89PNG"
    run = json.loads(out.read_text())
    assert {"machine", "date", "commit", "source", "note", "dtype", "size", "copy_tb_per_s"} <= run.keys()
    passes = [r["pass"] for r in run["results"]]
    assert passes == ["relu forward", "relu backward",
                      "log_softmax forward, 2 × 40", "log_softmax backward, 2 × 40",
                      "log_softmax forward, 8 × 8", "log_softmax backward, 8 × 8",
                      "nll_loss fused, 2 × 40", "nll_loss fused, 8 × 8",
                      "relu forward, 1,000 elements, numba array in",
                      "relu first forward + backward in a new process, empty cache: compiled",
                      "relu first forward + backward in a new process, cache filled by the run before: loaded"]
    for r in run["results"]:
        assert r["numact_alloc_ms"] > 0 and (r["numact_ms"] is None or r["numact_ms"] > 0)
        assert gpu_ratios(r) == (None, None)  # no torch on the GPU here
    assert "| relu forward |" in capsys.readouterr().out


@pytest.mark.parametrize("suite, name, steps", [("GPUActivations", "gelu", ["forward", "backward"]),
                                               ("GPULosses", "mse_loss", ["fused"])])
def test_the_asv_gpu_suites_time_numact_on_the_gpu(suite, name, steps):
    """Here under the simulator, a small size (a real GPU in make test-gpu)."""
    bench = getattr(_load("benchmarks.py"), suite)()
    bench.setup(name, 64)
    assert sorted(bench.calls) == sorted(steps)
    for step in steps:
        getattr(bench, f"time_{step}")(name, 64)


def test_the_gpu_benchmarks_training_step_times_both_models():
    """numact bench --device cuda's training step (numact.torch against torch.nn), here on the
    CPU with a small MLP, since CI has no torch CUDA: its rows in the JSON's format."""
    import torch

    from numact.bench.gpu import training_steps

    rows = training_steps(torch, 8, 2, widths=(12, 16, 16, 4), device="cpu")
    assert [r["pass"] for r in rows] == ["training step (numact.torch), GELU, batch 8",
                                         "training step (numact.torch), ELU, batch 8"]
    assert all(r["numact_alloc_ms"] > 0 and r["torch_ms"] > 0 for r in rows)
