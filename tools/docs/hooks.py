"""MkDocs hooks (mkdocs.yml: hooks): the gallery's figures and the speed charts are computed when
the site is built and added to it as generated files; each page's placeholders are expanded
(pages.py)."""

from __future__ import annotations

import io
import json
import logging
import pathlib
import sys
import time

from mkdocs.structure.files import File

sys.path.insert(0, str(pathlib.Path(__file__).parent))

import gallery  # noqa: E402
import pages  # noqa: E402

log = logging.getLogger("mkdocs.plugins.numact")
_figures: dict = {}


def on_files(files, config):
    start = time.perf_counter()
    log.info("numact: computing the gallery, a figure per operator (numact's kernels compile on first use)")
    _figures.clear()
    _figures.update(gallery.figures())
    for name, figure in _figures.items():
        files.append(File.generated(config, f"gallery/{name}.png", content=figure.png))
    # What the figures show, for the tests: each operator's family and largest difference from torch.
    summary = {name: {"family": pages.family_of(name), "max_difference": figure.max_difference}
               for name, figure in _figures.items()}
    files.append(File.generated(config, "gallery/figures.json", content=json.dumps(summary, indent=1)))
    from numact.bench.plot import plot, plot_gpu

    for stem, result in pages.cpu_runs():
        chart = io.BytesIO()
        plot(result, chart)
        files.append(File.generated(config, f"speed/{stem}.png", content=chart.getvalue()))
    for stem, run in pages.gpu_runs():
        chart = io.BytesIO()
        plot_gpu(run, chart)
        files.append(File.generated(config, f"speed/{stem}.png", content=chart.getvalue()))
    files.append(File.generated(config, "examples/siren.png", content=_siren_figure()))
    if pages.ASV_HTML.is_dir():  # make asv's dashboard, published into the site as it is
        for path in sorted(p for p in pages.ASV_HTML.rglob("*") if p.is_file()):
            files.append(File.generated(config, f"asv/{path.relative_to(pages.ASV_HTML).as_posix()}", abs_src_path=str(path)))
    log.info(f"numact: {len(_figures)} figures and the speed charts in {time.perf_counter() - start:.1f} s")
    return files


def _siren_figure() -> bytes:
    """examples/siren.py's figure, the example run as it is (300 steps)."""
    import importlib.util
    import tempfile

    spec = importlib.util.spec_from_file_location("siren_example", pages.ROOT / "examples" / "siren.py")
    siren = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(siren)
    with tempfile.TemporaryDirectory() as folder:
        out = pathlib.Path(folder) / "siren.png"
        siren.main(["--steps", "300", "--out", str(out)])
        return out.read_bytes()


def on_page_markdown(markdown, page, config, files):
    return pages.expand(markdown, _figures)
