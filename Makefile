# Two set-up commands on a fresh machine with Python 3.11+ and make:
#   make bench   the benchmark report (creates .venv and installs what it needs)
#   make test    the test suite, CPU and CUDA simulator
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-cpu test-cuda bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	touch $(STAMP)

test: test-cpu test-cuda

# The CPU run mostly compiles kernels (a fresh clone has no cache): two pytest-xdist workers
# halve it on two cores. The simulator run is bound by Python threads and stays in one process.
WORKERS ?= 2

test-cpu: $(STAMP)
	$(BIN)/python -m pytest -q -n $(WORKERS)

# The CUDA kernels under Numba's simulator: its own process, since the variable must be set
# before numba.cuda is imported.
test-cuda: $(STAMP)
	NUMBA_ENABLE_CUDASIM=1 $(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/report.py

clean:
	rm -rf $(VENV) .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
