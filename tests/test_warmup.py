"""First calls (issue 25): ``numact warmup`` fills the disk cache so that a new process compiles
nothing; the cache falls back to a per-user folder where the package's is read-only;
``numact bench --startup`` measures it. Timings are the benchmark's, never asserted here."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.cpu_only

# A user's first calls: small and large arrays, out=, a strided view, another axis, every
# reduction, the fused loss. Prints how many functions numba compiled (none is a cache hit).
FIRST_CALLS = textwrap.dedent("""
    import numba.core.event as ev
    compiled = []
    ev.register("numba:compile", type("Count", (ev.Listener,), {
        "on_start": lambda self, event: compiled.append(event.data["dispatcher"].py_func.__qualname__),
        "on_end": lambda self, event: None})())
    import numpy as np, numact
    for n in (1000, 100_000):
        x = np.linspace(-3, 3, n, dtype=np.float32)
        numact.relu(x); numact.relu_backward(x, x); numact.relu(x[::2]); numact.relu(x, out=np.empty_like(x))
        m = x.reshape(-1, 8)
        numact.softmax(m); numact.softmax(m, axis=0); numact.softmax_backward(m, m)
        for reduction in ("mean", "sum", "none"):
            numact.mse_loss(x, x[::-1], reduction=reduction)
            numact.mse_loss_forward_backward(x, x[::-1], reduction=reduction)
    print(len(compiled), sorted(set(compiled))[:5])
""")


def _env(cache, **extra):
    return dict(os.environ, NUMBA_CACHE_DIR=str(cache), **extra)


def test_after_numact_warmup_a_new_process_compiles_nothing(tmp_path):
    cache = tmp_path / "cache"
    done = subprocess.run([sys.executable, "-m", "numact", "warmup", "--ops", "relu,softmax,mse_loss",
                           "--dtypes", "float32", "--quiet"], env=_env(cache), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "3 of 3 tasks" in done.stdout and str(cache) in done.stdout and "MiB" in done.stdout
    before = subprocess.run([sys.executable, "-c", FIRST_CALLS], env=_env(tmp_path / "empty"),
                            capture_output=True, text=True, check=True)
    assert int(before.stdout.split()[0]) > 0  # the listener sees compilations where there are some
    after = subprocess.run([sys.executable, "-c", FIRST_CALLS], env=_env(cache),
                           capture_output=True, text=True, check=True)
    assert after.stdout.split()[0] == "0", after.stdout


def test_numact_warmup_refuses_unknown_operators_and_dtypes():
    for args in (["--ops", "nonsense"], ["--dtypes", "float16"]):
        done = subprocess.run([sys.executable, "-m", "numact", "warmup", *args], capture_output=True, text=True)
        assert done.returncode != 0 and ("nonsense" in done.stderr or "float16" in done.stderr), done.stderr


# Root writes anywhere: an unwritable folder is numba's own check of it made to fail, before
# numact is imported. argv[1]: "package" (numact's folder) or "all" (every folder).
READ_ONLY = textwrap.dedent("""
    import importlib.util, os, sys, warnings
    import numba.core.caching as caching
    package = os.path.dirname(importlib.util.find_spec("numact").origin)
    writable = caching._CacheLocator.ensure_cache_path
    def ensure_cache_path(self):
        if sys.argv[1] == "all" or self.get_cache_path().startswith(package):
            raise PermissionError(13, "read-only", self.get_cache_path())
        writable(self)
    caching._CacheLocator.ensure_cache_path = ensure_cache_path
    warnings.simplefilter("always")
    import numpy as np, numact
    from numact import _cpu
    from numact.operators import OPERATORS
    y = numact.tanh(np.linspace(-3, 3, 100_000, dtype=np.float32))
    assert np.all(np.abs(y) < 1)
    kernel = _cpu.map_unary(OPERATORS["tanh"].forward, 0).threaded
    path = getattr(kernel._cache, "_cache_path", "")
    print(path.startswith(package), sum(kernel.stats.cache_hits.values()))
""")


def _without_cache_dir(**extra):
    return {**{k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}, **extra}


def test_a_read_only_install_caches_in_the_users_folder(tmp_path):
    """Where numact's own folder cannot be written (a container, a shared environment), numba
    keeps the kernels under the user's cache folder (XDG_CACHE_HOME here), and the next process
    loads them."""
    env = _without_cache_dir(XDG_CACHE_HOME=str(tmp_path))
    runs = [subprocess.run([sys.executable, "-c", READ_ONLY, "package"], env=env, capture_output=True, text=True,
                           check=True) for _ in range(2)]
    assert [r.stdout.split() for r in runs] == [["False", "0"], ["False", "1"]]
    assert any(path.suffix == ".nbi" for path in (tmp_path / "numba").rglob("*"))


def test_with_no_writable_cache_folder_anywhere_numact_warns_once_and_compiles(tmp_path):
    done = subprocess.run([sys.executable, "-c", READ_ONLY, "all"], env=_without_cache_dir(XDG_CACHE_HOME=str(tmp_path)),
                          capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "0"]
    assert done.stderr.count("NUMBA_CACHE_DIR to a writable folder") == 1, done.stderr
    warmup = subprocess.run([sys.executable, "-c", READ_ONLY.split("warnings.simplefilter")[0]
                             + "from numact.warmup import main; sys.exit(main(['--ops', 'relu']))", "all"],
                            env=_without_cache_dir(), capture_output=True, text=True)
    assert warmup.returncode == 1 and "no writable cache" in warmup.stderr, warmup.stderr


def test_numact_bench_startup_measures_cold_and_warm_first_calls(tmp_path):
    out = tmp_path / "startup.json"
    done = subprocess.run([sys.executable, "-m", "numact", "bench", "--startup", "--ops", "relu",
                           "--json", str(out), "--quiet"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    (row,) = result["results"]
    assert (row["op"], row["step"], row["dtype"]) == ("relu", "forward", "float32")
    assert row["cold_s"] > row["warm_s"] > 0 and result["numba_floor_s"] > 0 and result["import_s"] > 0
    assert "| relu | forward | float32 |" in done.stdout and "target ≤ 0.5 s" in done.stdout
