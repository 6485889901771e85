"""The fenced code blocks of README.md and the site's pages (docs/), for the tests that run them.

A block is ```` ```python ```` (run), ```` ```sh ```` (commands, checked against the Makefile,
pyproject's extras and the examples), or another language (text, not run). A python block after
a line ``<!-- run: cuda -->`` needs a CUDA target (a GPU or Numba's simulator). A block that
is a snippet include (``--8<-- "examples/x.py"``) shows a file that tests/test_examples.py runs.
"""

from __future__ import annotations

import pathlib
import re
from dataclasses import dataclass

ROOT = pathlib.Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```$", re.M | re.S)
CUDA_MARK = "<!-- run: cuda -->"
SNIPPET = re.compile(r'^--8<-- "([^"]+)"$')


@dataclass
class Block:
    page: str  # the page's path from the repository's root
    line: int
    lang: str
    code: str
    cuda: bool

    @property
    def snippet(self) -> str | None:
        match = SNIPPET.match(self.code.strip())
        return match.group(1) if match else None


def pages() -> list[pathlib.Path]:
    return [ROOT / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))


def blocks(page: pathlib.Path) -> list[Block]:
    text = page.read_text()
    found = []
    for match in FENCE.finditer(text):
        indent = len(match.group("indent"))
        code = "\n".join(line[indent:] for line in match.group("body").splitlines())
        before = text[: match.start()].rstrip().splitlines()
        found.append(Block(str(page.relative_to(ROOT)), text.count("\n", 0, match.start()) + 1,
                           match.group("lang"), code, bool(before) and before[-1].strip() == CUDA_MARK))
    return found


def all_blocks() -> list[Block]:
    return [block for page in pages() for block in blocks(page)]
