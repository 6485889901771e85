"""Every code block of README.md and of the site's pages runs: python blocks are executed, a
page's blocks in order in one namespace (as a reader would paste them); the blocks that need a
CUDA target run in the CUDA run (the simulator in make test, the GPU in make test-gpu); sh
blocks name make targets, extras, examples and numact commands that exist."""

import pathlib
import re
import shlex
import tomllib

import pytest

from markdown_blocks import ROOT, all_blocks, pages

BLOCKS = all_blocks()
PYTHON = [b for b in BLOCKS if b.lang == "python" and not b.snippet]


def _page_code(page: str, cuda: bool) -> str:
    return "\n\n".join(b.code for b in PYTHON if b.page == page and b.cuda == cuda)


def _pages_with(cuda: bool) -> list[str]:
    return sorted({b.page for b in PYTHON if b.cuda == cuda})


def _run(page: str, cuda: bool) -> None:
    code = compile(_page_code(page, cuda), f"{page} (its {'CUDA ' if cuda else ''}python blocks)", "exec")
    exec(code, {"__name__": "__docs__"})  # noqa: S102 - the documentation's own examples


@pytest.mark.cpu_only
@pytest.mark.parametrize("page", _pages_with(cuda=False))
def test_the_python_blocks_of_a_page_run(page):
    _run(page, cuda=False)


@pytest.mark.cuda_only
@pytest.mark.parametrize("page", _pages_with(cuda=True))
def test_the_cuda_blocks_of_a_page_run_on_the_cuda_target(page):
    _run(page, cuda=True)


def _make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text()
    return set(re.search(r"^\.PHONY: (.*)$", makefile, re.M).group(1).split())


def _extras() -> set[str]:
    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])


def _check_command(words: list[str]) -> None:
    """One sh line: a make target, a pip install of numact with extras, an example, numact, asv."""
    if words[0] == "make":
        targets = [w for w in words[1:] if "=" not in w]
        assert targets and set(targets) <= _make_targets(), f"make targets {targets}"
    elif words[:2] == ["pip", "install"]:
        for spec in words[2:]:
            name, _, extras = spec.partition("[")
            assert name in (".", "numact"), spec
            assert set(extras.rstrip("]").split(",")) - {""} <= _extras(), spec
    elif words[0] == "python" and words[1].startswith("examples/"):
        source = (ROOT / words[1]).read_text()
        for flag in (w for w in words[2:] if w.startswith("--")):
            assert f'"{flag}"' in source, f"{words[1]} has no option {flag}"
    elif words[0] in ("numact", "python") and "numact" in words[:3]:
        command = words[words.index("numact") + 1] if words[0] == "python" else words[1]
        assert command in ("bench", "warmup", "doctor") or command.startswith("--"), command
    elif words[0].startswith(".venv/bin/asv"):
        assert words[1] in ("machine", "run", "continuous", "publish", "preview"), words
    else:
        raise AssertionError(f"a command the docs test does not know: {shlex.join(words)}")


@pytest.mark.cpu_only
@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang == "sh"], ids=lambda b: f"{b.page}:{b.line}")
def test_the_commands_of_a_sh_block_exist(block):
    for line in block.code.splitlines():
        command = line.split("#", 1)[0].strip()
        for part in filter(None, (p.strip() for p in command.split("&&"))):
            _check_command(shlex.split(part))


@pytest.mark.cpu_only
def test_every_code_block_is_run_or_checked():
    """No python block is left out, and every snippet shows an example that the tests run."""
    kinds = {b.lang for b in BLOCKS}
    assert kinds <= {"python", "sh", "text", ""}, kinds
    assert len(PYTHON) >= 10 and any(b.cuda for b in PYTHON)
    for block in (b for b in BLOCKS if b.snippet):
        assert block.snippet.startswith("examples/") and (ROOT / block.snippet).is_file(), block
    assert {p.name for p in pages()} >= {"README.md", "index.md", "getting-started.md"}
