"""The on-disk kernel cache stays right when several processes fill it at once (numact._cache)."""

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.cpu_only

MODULE = textwrap.dedent("""
    from numba import njit
    from numact._cache import keyed


    def make(k):
        # One source line, many closures: one cache index for all of them, as numact's launchers.
        def constant(x):
            return x + k

        return keyed(njit(cache=True)(constant))
""")


def test_processes_that_fill_one_cache_at_once_each_get_their_own_code(tmp_path):
    (tmp_path / "closures.py").write_text(MODULE)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join([str(tmp_path), *sys.path]))
    fill = "import sys, closures\nfor k in range(int(sys.argv[1]), int(sys.argv[1]) + 40): closures.make(k)(1.0)"
    fillers = [subprocess.Popen([sys.executable, "-c", fill, str(start)], env=env) for start in (0, 40, 80)]
    assert all(p.wait() == 0 for p in fillers)
    # numba alone numbers its data files as they join the index, and racing writers overwrite
    # each other's: measured 1 to 6 of these 120 closures loading another's code.
    check = "import closures\nprint([k for k in range(120) if closures.make(k)(1.0) != 1.0 + k])"
    done = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
