"""The README's tables are the operator table and docs/ulp.md's accuracy table."""

import doctest
import pathlib

import pytest

import numact

from numact.bench import ulp
from numact.operators import loss_markdown_table, markdown_table

pytestmark = pytest.mark.cpu_only


def test_the_readme_lists_every_operator_as_the_table_does():
    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    assert markdown_table() in readme
    assert loss_markdown_table() in readme


def test_every_docstring_example_runs():
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner()
    for name in ["numact", *numact.__all__]:
        obj = numact if name == "numact" else getattr(numact, name)
        for test in finder.find(obj, name, globs={}):
            runner.run(test)
    assert runner.tries > 20 and runner.failures == 0


def test_the_readme_shows_the_accuracy_table_of_docs_ulp():
    root = pathlib.Path(__file__).parents[1]
    table = [line for line in (root / "docs" / "ulp.md").read_text().splitlines() if line.startswith("|")]
    assert len(table) == 2 + len(ulp.FUNCTIONS) and "\n".join(table) in (root / "README.md").read_text()
