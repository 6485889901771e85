"""The README's operator table is the operator table."""

import pathlib

import pytest

from numact.operators import markdown_table

pytestmark = pytest.mark.cpu_only


def test_the_readme_lists_every_operator_as_the_table_does():
    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    assert markdown_table() in readme
