"""The site's generated markdown: every operator's section (from the operator table and the
public functions' signatures), the gallery, and the speed tables (from benchmark JSON).

Pages hold placeholders, ``<!-- numact:NAME -->`` on a line of their own; ``expand`` puts the
markdown of ``BLOCKS[NAME]`` there. Nothing here repeats what the table or a docstring says.
"""

from __future__ import annotations

import inspect
import json
import pathlib
import re

import numpy as np

import numact
from numact.bench.cli import by_machine, gpu_ratios, report_lines, summary_table
from numact.operators import ACCURACY, ACTIVATIONS, LOSSES, REQUIRED, Loss, loss_markdown_table, markdown_table

PLACEHOLDER = re.compile(r"^<!-- numact:([\w-]+) -->$", re.M)
ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "docs" / "data"
ASV_HTML = ROOT / ".asv" / "html"  # make asv's dashboard

FAMILIES = {
    "activations": [op for op in ACTIVATIONS if op.kind != "rowwise"],
    "row-functions": [op for op in ACTIVATIONS if op.kind == "rowwise"],
    "losses": list(LOSSES),
}


def family_of(name: str) -> str:
    return next(family for family, ops in FAMILIES.items() if any(op.name == name for op in ops))


def _accuracy(measured: float | None) -> str:
    (r32, a32), (r64, a64) = ACCURACY[np.float32], ACCURACY[np.float64]
    text = (f"float32 within {r32:g} relative or {a32:g} absolute of PyTorch's float64 result, "
            f"float64 within {r64:g} relative or {a64:g} absolute (or at most 4× torch's own error "
            "in that dtype where torch's misses that)")
    if measured is not None:
        text += f"; measured when this site was built, over the gallery's figure in float64: largest \\|numact − torch\\| {measured:.1e}"
    return text


def _signature(name: str) -> str:
    return f"`numact.{name}{inspect.signature(getattr(numact, name))}`"


def _param_rows(op) -> str:
    rows = []
    for p in op.params:
        default = "required" if p.default is REQUIRED else f"`{p.default!r}`"
        rows.append(f"`{p.name}` (default {default}, example `{p.example!r}`)")
    if op.kind == "rowwise":
        rows.append("`axis` (default `-1`; torch's `dim`)")
    if op.kind == "channelwise":
        rows.append("`weight`: an array of 1 value or one per channel (axis 1)")
    if isinstance(op, Loss):
        rows += [f"`{w}`: optional array (default `None`)" for w in op.weights]
        rows.append("`reduction`: " + " \\| ".join(f"`{r!r}`" for r in op.reductions)
                    + f" (default `{op.reductions[0]!r}`)")
    return "<br>".join(rows) or "none"


def operator_section(op, figure) -> str:
    """One operator: what it computes, its parameters, reference, accuracy, figure, API."""
    is_loss = isinstance(op, Loss)
    names = [op.name, f"{op.name}_backward"] + ([f"{op.name}_forward_backward"] if is_loss else [])
    reference = f"`{op.reference}`" + (" (its parameters and arrays as keywords and positions)" if is_loss else "")
    lines = [
        f"## {op.name}", "", op.summary, "",
        f"| | `{op.name}` |", "|---|---|",
        f"| {'per-element loss' if is_loss else 'forward'} | {op.formula.replace('|', chr(92) + '|')} |",
        f"| derivative | {op.derivative.replace('|', chr(92) + '|')} |",
    ]
    if is_loss:
        lines.append(f"| arrays | {', '.join(f'`{a}`' for a in op.arrays)} (positional) |")
    lines += [
        f"| parameters (PyTorch's names and defaults) | {_param_rows(op)} |",
        f"| PyTorch reference | {reference} |",
        f"| accuracy | {_accuracy(figure.max_difference if figure else None)} |",
        f"| functions | {'<br>'.join(_signature(n) for n in names)} |",
        "",
    ]
    if figure is not None:
        lines += [f"![{op.name}: {figure.caption}](../gallery/{op.name}.png)", "",
                  f"*{figure.caption}. Computed by numact when this site was built; "
                  "PyTorch's curve dotted.*", ""]
    for n in names:
        lines += [f"::: numact.{n}", "    options:", "      heading_level: 3", "      show_root_heading: true",
                  "      show_root_full_path: true", ""]
    return "\n".join(lines)


def operators_page(family: str, figures: dict) -> str:
    return "\n".join(operator_section(op, figures.get(op.name)) for op in FAMILIES[family])


def gallery(figures: dict) -> str:
    titles = {"activations": "Activations", "row-functions": "Row functions (along an axis)", "losses": "Losses"}
    lines = []
    for family, ops in FAMILIES.items():
        lines += [f"## {titles[family]}", ""]
        for op in ops:
            fig = figures[op.name]
            lines += [f"### {op.name}", "", f"![{op.name}: {fig.caption}](gallery/{op.name}.png)", "",
                      f"*{fig.caption}.* [The operator](operators/{family}.md#{op.name}).", ""]
    return "\n".join(lines)


# --- speed: tables and charts from benchmark JSON ----------------------------------------------

def cpu_runs() -> list[tuple[str, dict]]:
    """The CPU benchmark JSON files (``numact bench --json``) in docs/data, by file stem."""
    return [(path.stem, json.loads(path.read_text())) for path in sorted(DATA.glob("cpu-*.json"))]


def gpu_runs() -> list[tuple[str, dict]]:
    return [(path.stem, json.loads(path.read_text())) for path in sorted(DATA.glob("gpu-*.json"))]


def cpu_speed() -> str:
    lines = []
    for stem, result in cpu_runs():
        regime = "kernels alone (both sides write into preallocated outputs)" if result.get("kernels_alone") \
            else "default (each call allocates its result)"
        lines += [f"### {result.get('cpu', 'unknown CPU')}: {regime}", "", f"From `docs/data/{stem}.json` ({result.get('measured', 'date not recorded')}).",
                  "", f"![speed-ups, {regime}](speed/{stem}.png)", "", "```text" if False else ""]
        lines += report_lines(result, bullet="- ")
        lines.append("")
    return "\n".join(lines)


def speed_summary() -> str:
    """Each machine's headline figures in one table, after the machine and settings its runs share."""
    tables = []
    for runs in by_machine([result for _, result in cpu_runs()]):
        first = runs[0]
        tables.append(f"{first['dtype']}, {first['size']:,} elements ({first['rows']:,} × 1000 logits), "
                      f"{first['threads']} threads, torch {first['torch']}, numba {first['numba']}; CPU: {first['cpu']}; "
                      f"measured {first.get('measured', '')}.\n\n" + summary_table(runs))
    return "\n\n".join(tables)


def _cell(value, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def gpu_speed() -> str:
    lines = []
    for stem, run in gpu_runs():
        lines += [f"### {run['machine']}, {run['date']}, at {run['commit']}", "", run["note"], "",
                  f"![numact and torch on {run['machine']}](speed/{stem}.png)", "",
                  f"From `docs/data/{stem}.json`; device-to-device copy {run['copy_tb_per_s']} TB/s. "
                  f"{run['dtype']}, {run['size']:,} elements unless the pass says; source: {run['source']}. "
                  "Default: both allocate their results; kernels alone: both write into given outputs "
                  "(torch's ATen out variants, where it has them).", "",
                  "| pass | numact ms | torch ms | default vs torch | numact out= ms | torch out= ms | "
                  "kernels alone vs torch | of copy |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in run["results"]:
            default, alone = gpu_ratios(r)
            lines.append(" | ".join([
                f"| {r['pass']}", _cell(r.get("numact_alloc_ms"), ".3f"), _cell(r.get("torch_ms"), ".3f"),
                _cell(default, ".2f") + ("×" if default else ""), _cell(r.get("numact_ms"), ".3f"),
                _cell(r.get("torch_out_ms"), ".3f"), _cell(alone, ".2f") + ("×" if alone else ""),
                _cell(r.get("copy_fraction"), ".0%")]) + " |")
        lines.append("")
    return "\n".join(lines) if lines else "No GPU benchmark JSON in docs/data yet."


def asv_link() -> str:
    if (ASV_HTML / "index.html").is_file():
        return ("[The asv dashboard](asv/index.html) (as `make asv` last published it when this site was built): "
                "each benchmark's time against the commits measured, numact's suites beside NumPy's. asv's page "
                "loads jQuery, flot and Bootstrap from public CDNs, so it needs a network connection to draw.")
    return ("The asv dashboard is not in this build: `make asv` (or `make asv-history`) publishes it to "
            "`.asv/html`, and the next `make docs` puts it into the site, linked here; `.venv/bin/asv preview` serves it alone.")


BLOCKS = {
    "asv": lambda figures: asv_link(),
    "activations": lambda figures: operators_page("activations", figures),
    "row-functions": lambda figures: operators_page("row-functions", figures),
    "losses": lambda figures: operators_page("losses", figures),
    "gallery": gallery,
    "table-activations": lambda figures: markdown_table(),
    "table-losses": lambda figures: loss_markdown_table(),
    "speed-summary": lambda figures: speed_summary(),
    "speed-cpu": lambda figures: cpu_speed(),
    "speed-gpu": lambda figures: gpu_speed(),
    "accuracy-bound": lambda figures: "F" + _accuracy(None)[1:] + ".",
}


def expand(markdown: str, figures: dict) -> str:
    """The page with every placeholder replaced by its generated markdown."""
    return PLACEHOLDER.sub(lambda m: BLOCKS[m.group(1)](figures), markdown)
