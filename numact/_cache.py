"""numba's on-disk cache, made safe for several processes compiling at once.

numba keeps a cached function's machine code in data files numbered in the order they join
the function's index. Two processes that compile different signatures of one function, or
different closures made at one source line (every numact launcher is such a closure), at the
same time can both take the next number and overwrite each other's file; a later process then
loads one kernel's code for another. Measured: wrong losses (kl_div's as 0) from a fresh
cache that two pytest workers had filled. Here a data file is named by a hash of its index
key instead, so a race can only lose an index entry, which costs a recompile.

Where numba finds no writable folder for the cache at all (numact's own ``__pycache__``, then
the user's cache folder, or ``NUMBA_CACHE_DIR``), kernels compile in every process instead
(``on_disk``), with one warning.
"""

import functools
import hashlib
import warnings

import numba


def _keyed(file_class):
    class KeyNamedCacheFile(file_class):
        def save(self, key, data):
            data_name = self._data_name(int(hashlib.sha256(repr(key).encode()).hexdigest()[:15], 16))
            overloads = self._load_index()
            if overloads.get(key) != data_name:
                overloads[key] = data_name
                self._save_index(overloads)
            self._save_data(data_name, data)

    KeyNamedCacheFile.__name__ = KeyNamedCacheFile.__qualname__ = f"KeyNamed{file_class.__name__}"
    return KeyNamedCacheFile


_CLASSES: dict = {}


def keyed(dispatcher):
    """``dispatcher`` with its cache's data files named by key (see above); as it was where it
    has no such cache (the CUDA simulator, a numba without these internals)."""
    file = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
    cls = type(file)
    if file is not None and all(hasattr(cls, name) for name in ("_data_name", "_load_index", "_save_index", "_save_data")):
        if cls not in _CLASSES.values():
            file.__class__ = _CLASSES.setdefault(cls, _keyed(cls))
    return dispatcher


def _probe():
    pass


@functools.cache
def on_disk() -> bool:
    """Whether numba can keep numact's kernels on disk: False, with a warning, where it has no
    writable folder for them (numba would refuse every ``cache=True`` function)."""
    try:
        numba.njit(cache=True)(_probe)
    except RuntimeError as error:
        warnings.warn(f"numact: kernels compile in every process, since Numba has no writable cache folder "
                      f"({error}); set NUMBA_CACHE_DIR to a writable folder to keep them", RuntimeWarning,
                      stacklevel=2)
        return False
    return True
