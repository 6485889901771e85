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
