"""The GPU check script (benchmarks/gpu/check.py) runs, here under the simulator."""

import importlib.util
import pathlib

import pytest

pytestmark = pytest.mark.cuda_only


def test_the_gpu_check_runs_and_finds_the_gpu_equal_to_the_cpu(capsys):
    path = pathlib.Path(__file__).parents[1] / "benchmarks" / "gpu" / "check.py"
    spec = importlib.util.spec_from_file_location("gpu_check", path)
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    assert check.main(["--size", "640", "--repeat", "1", "--ops", "sigmoid,softmax,prelu,mse_loss,cross_entropy"]) == 0
    report = capsys.readouterr().out
    assert "all GPU results match the CPU" in report and "| prelu |" in report and "| cross_entropy |" in report


def test_the_gpu_speed_script_measures_every_pass_the_targets_name(tmp_path, capsys):
    """benchmarks/gpu/speed.py, here under the simulator with tiny arrays (torch's columns empty
    without torch's CUDA): a pass for every activation forward and backward (the softmax family
    at each row shape), every loss's fused call (the class losses at each row shape), small
    calls, first calls in new processes, and docs/data's GPU JSON format, which the Speed page
    renders."""
    import json

    from numact.bench.cli import gpu_ratios

    path = pathlib.Path(__file__).parents[1] / "benchmarks" / "gpu" / "speed.py"
    spec = importlib.util.spec_from_file_location("gpu_speed", path)
    speed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(speed)
    out = tmp_path / "gpu-test.json"
    assert speed.main(["--size", "256", "--rows", "2x40,8x8", "--repeat", "1", "--ops", "relu,log_softmax,nll_loss",
                       "--first-calls", "relu", "--json", str(out)]) == 0
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
