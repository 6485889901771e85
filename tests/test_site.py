"""The documentation site builds with mkdocs build --strict (a broken link, a missing page, a
docstring mkdocstrings cannot read fail it), and every operator of the table has its section
on its family's page and its figure in the gallery, computed by numact within the table's
accuracy of torch."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from numact.operators import ACCURACY, OPERATORS
from support import TORCH_FLOAT64_ROUNDING

pytestmark = pytest.mark.cpu_only

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
        capture_output=True, text=True, env=dict(os.environ, NO_MKDOCS_2_WARNING="1"), timeout=900,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    return out


def test_the_site_builds_with_every_page_of_the_nav(site):
    for page in ["index.html", "getting-started/index.html", "gallery/index.html", "examples/index.html",
                 "speed/index.html", "accuracy/index.html", "design/index.html", "operators/contract/index.html",
                 "integrations/ufuncs/index.html", "integrations/torch/index.html", "integrations/dask/index.html"]:
        assert (site / page).is_file(), page


def test_every_operator_has_a_section_and_a_figure(site):
    figures = json.loads((site / "gallery" / "figures.json").read_text())
    assert set(figures) == set(OPERATORS)
    gallery = (site / "gallery" / "index.html").read_text()
    for name, figure in figures.items():
        png = site / "gallery" / f"{name}.png"
        assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 10_000, name
        assert f'src="{name}.png"' in gallery, name
        page = (site / "operators" / figure["family"] / "index.html").read_text()
        assert f'id="{name}"' in page and f'src="../../gallery/{name}.png"' in page, name
        assert f'id="numact.{name}_backward"' in page, f"{name}: no API reference"


def test_the_figures_are_numacts_within_the_tables_accuracy_of_torch(site):
    figures = json.loads((site / "gallery" / "figures.json").read_text())
    rtol, atol = ACCURACY[np.float64]
    for name, figure in figures.items():
        # the figures' values stay below 20 in magnitude; torch's float64 may round like float32
        rounding = max(rtol, TORCH_FLOAT64_ROUNDING.get(f"{name}_backward", 0.0))
        assert figure["max_difference"] <= atol + 20 * rounding, name


def test_the_speed_page_names_its_machines(site):
    speed = (site / "speed" / "index.html").read_text()
    assert "AMD EPYC" in speed and "Intel(R) Xeon(R)" in speed and "NVIDIA H200" in speed
    for chart in ("cpu-znver4-default", "cpu-emeraldrapids-kernels-alone", "gpu-h200-2026-12-04"):
        assert (site / "speed" / f"{chart}.png").is_file()
