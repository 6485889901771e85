"""README: short, its tables the operator table's and the benchmark JSON's, its links alive;
the docstrings' examples run; the accuracy page shows docs/ulp.md."""

import doctest
import json
import pathlib
import re

import pytest

import numact

from numact.bench import ulp
from numact.bench.cli import by_machine, summary_table
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


def test_the_accuracy_page_shows_the_table_of_docs_ulp():
    root = pathlib.Path(__file__).parents[1]
    table = [line for line in (root / "docs" / "ulp.md").read_text().splitlines() if line.startswith("|")]
    assert len(table) == 2 + len(ulp.FUNCTIONS)
    assert '--8<-- "docs/ulp.md:3:"' in (root / "docs" / "accuracy.md").read_text().splitlines()


def test_the_readme_is_short_and_its_links_lead_to_pages():
    root = pathlib.Path(__file__).parents[1]
    readme = (root / "README.md").read_text()
    assert len(readme.encode()) < 12 * 1024
    links = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert len(links) > 10 and all((root / link).is_file() for link in links), links


def test_the_readme_speed_tables_are_the_benchmark_json_of_docs_data():
    """A table per machine, each of its two regimes (default, kernels alone), each naming its CPU."""
    root = pathlib.Path(__file__).parents[1]
    readme = (root / "README.md").read_text()
    runs = [json.loads(path.read_text()) for path in sorted((root / "docs" / "data").glob("cpu-*.json"))]
    machines = by_machine(runs)
    assert len(machines) >= 1
    for runs in machines:
        assert sorted(bool(r.get("kernels_alone")) for r in runs) == [False, True]
        assert summary_table(runs) in readme
        assert f"code for `{runs[0]['cpu'].split('code for ')[-1]}`" in readme  # the machine named
