"""Every program in examples/ runs, at a small size, and does what its docstring says."""

import importlib.util
import pathlib

import pytest

pytestmark = pytest.mark.cpu_only

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_has_a_test_here():
    tested = {name.removeprefix("test_the_").split("_example")[0] for name in globals() if name.startswith("test_the_")}
    assert {path.stem for path in EXAMPLES.glob("*.py")} == tested


def test_the_digits_mlp_example_trains_the_same_with_numact_torch():
    result = load("digits_mlp").main(["--epochs", "40", "--hidden", "32", "--dtype", "float64"])
    assert result["largest_relative_difference"] < 1e-10  # the same losses at every step
    assert result["numact_losses"][-1] < result["numact_losses"][0] / 4
    assert result["numact_accuracy"] == pytest.approx(result["torch_accuracy"])


def test_the_siren_example_fits_the_signal_and_its_derivative(tmp_path):
    out = tmp_path / "siren.png"
    result = load("siren").main(["--steps", "150", "--points", "256", "--hidden", "32", "--out", str(out)])
    assert result["losses"][-1] < result["losses"][0] / 1000
    assert result["signal_error"] < 0.05 and result["derivative_error"] < 0.25  # never trained on the derivative
    assert out.stat().st_size > 10_000 and out.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("cluster", [False, True], ids=["threads", "local-cluster"])
def test_the_dask_cross_entropy_example_matches_the_in_memory_result(cluster):
    result = load("dask_cross_entropy").main(
        ["--rows", "20000", "--classes", "50", "--chunk", "4096"] + (["--cluster"] if cluster else []))
    assert result["loss"] == pytest.approx(result["in_memory_loss"], rel=1e-6)
    assert result["grad_norm"] == pytest.approx(result["in_memory_grad_norm"], rel=1e-6)
