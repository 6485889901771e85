"""The benchmark suite: every operator has a NumPy and a PyTorch baseline that compute what
numact computes, ``numact bench`` prints its tables and writes JSON and a plot, and the asv
suite passes asv's own check."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from numact.bench import cli, torch_baselines
from numact.bench.workloads import cases, operators
from numact.operators import ACTIVATIONS, LOSSES

pytestmark = pytest.mark.cpu_only
ROOT = pathlib.Path(__file__).resolve().parents[1]


def _arrays(result):
    """The arrays of a result, flattened: a loss and its gradients, a tuple of gradients."""
    if isinstance(result, (tuple, list)):
        return [a for r in result for a in _arrays(r)]
    if hasattr(result, "detach"):
        return [result.detach().numpy()]
    return [np.asarray(result)]


@pytest.mark.parametrize("into", [False, True], ids=["allocating", "kernels-alone"])
@pytest.mark.parametrize("op", [*ACTIVATIONS, *LOSSES], ids=lambda op: op.name)
def test_every_baseline_computes_what_numact_computes(op, into):
    # kernels-alone: numact with out=, torch's ATen out variants into preallocated tensors
    for case in cases(op, 4000, np.float64, np.random.default_rng(0), into=into):
        ours = _arrays(case.numact())
        for name, theirs in (("numpy", case.numpy()), ("torch", case.torch() if case.torch else None)):
            if theirs is None:
                continue
            theirs = _arrays(theirs)
            assert len(ours) == len(theirs), (case.op, case.step, name)
            # PyTorch's float64 hardsigmoid rounds 1/6 to float32: the same function, not the same bits.
            rtol = 1e-9 if name == "numpy" else 1e-6
            for a, b in zip(ours, theirs):
                np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-12, err_msg=f"{case.op} {case.step} {name}")


def test_numact_bench_times_the_kernels_alone_into_preallocated_outputs(capsys):
    cli.main(["bench", "--size", "4000", "--repeat", "1", "--quiet", "--no-small", "--kernels-alone",
              "--ops", "gelu,tanh,sine"])
    report = capsys.readouterr().out
    assert "activations into preallocated outputs (kernels alone" in report and "CPU: " in report
    if torch_baselines.available():
        assert "| gelu | forward |" in report and "| sine | forward |" in report
        sine = next(line for line in report.splitlines() if line.startswith("| sine | forward |"))
        gelu = next(line for line in report.splitlines() if line.startswith("| gelu | forward |"))
        assert "*" in sine and "*" not in gelu  # torch has no out variant for sin(w0·x)


def test_numact_bench_prints_the_tables_and_writes_json_and_a_plot(tmp_path, capsys):
    out_json, out_png = tmp_path / "bench.json", tmp_path / "bench.png"
    cli.main(["bench", "--size", "4000", "--rows", "8", "--repeat", "1", "--quiet",
              "--ops", "sigmoid,softmax,prelu,mse_loss,cross_entropy",
              "--json", str(out_json), "--plot", str(out_png)])
    report = capsys.readouterr().out
    for name in ("sigmoid", "softmax", "prelu", "mse_loss", "cross_entropy"):
        assert f"| {name} | forward |" in report and f"| {name} | backward |" in report
    assert "| cross_entropy | fused |" in report and "At 1,000 elements" in report
    assert "activation forwards vs NumPy: geometric mean" in report
    assert "of the copy bandwidth" in report
    result = json.loads(out_json.read_text())
    assert {r["op"] for r in result["results"]} == {"sigmoid", "softmax", "prelu", "mse_loss", "cross_entropy"}
    assert all(r["numact_s"] > 0 and r["numpy_s"] > 0 for r in result["results"])
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if torch_baselines.available():
        assert all(r["torch_s"] > 0 for r in result["results"])


def test_numact_bench_small_only_prints_the_1000_element_table_alone(capsys):
    cli.main(["bench", "--small-only", "--no-torch", "--quiet", "--ops", "relu,mse_loss"])
    report = capsys.readouterr().out
    assert "1,000 elements only" in report and "numact ms" not in report
    for row in ("| relu | forward |", "| relu | backward |", "| mse_loss | backward |"):
        assert row in report
    assert "at 1,000 elements: slowest vs NumPy" in report


def test_numact_bench_refuses_unknown_operators_and_commands():
    with pytest.raises(SystemExit, match="unknown operator"):
        operators(["sigmoid", "no_such_op"])
    with pytest.raises(SystemExit, match="unknown command"):
        cli.main(["frobnicate"])


def test_python_m_numact_bench_runs_and_can_reuse_memory():
    # In its own process: --reuse-memory changes how glibc allocates for the rest of it.
    done = subprocess.run(
        [sys.executable, "-m", "numact", "bench", "--size", "2000", "--rows", "4", "--repeat", "1",
         "--ops", "relu", "--no-small", "--no-torch", "--quiet", "--reuse-memory"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    assert "| relu | forward |" in done.stdout
    assert "outputs in reused memory" in done.stdout


def test_the_asv_suite_passes_asv_check():
    asv = str(pathlib.Path(sys.executable).with_name("asv"))  # the bench extra, which make test installs
    done = subprocess.run([asv, "check", "--python=same"], capture_output=True, text=True, cwd=ROOT,
                          env={**__import__("os").environ, "NUMACT_ASV_SIZES": "1000"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Activations.time_forward" in done.stdout + done.stderr or "benchmarks" in done.stdout


def _benchmarks_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("asv_benchmarks", ROOT / "benchmarks" / "benchmarks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_asv_gpu_suites_are_skipped_where_there_is_no_gpu(monkeypatch):
    """asv skips a benchmark whose setup raises NotImplementedError: so on a machine without a GPU."""
    from numba import cuda

    monkeypatch.setattr(cuda, "is_available", lambda: False)
    suites = _benchmarks_module()
    for suite, name in [(suites.GPUActivations, "gelu"), (suites.GPULosses, "cross_entropy")]:
        with pytest.raises(NotImplementedError, match="no GPU"):
            suite().setup(name, 1000)

