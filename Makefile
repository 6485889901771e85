# Two set-up commands on a fresh machine with Python 3.11+ and make:
#   make bench   the benchmark report, numact bench (creates .venv and installs what it needs)
#   make test    the test suite, CPU and CUDA simulator
# On a machine with an NVIDIA GPU: make test-gpu (the suite against the GPU; numact doctor first),
# make bench-gpu (numact beside torch's CUDA kernels, as the GPU speed targets name them).
# Optional third step: make warmup (every CPU kernel compiled into the cache now).
# More: make asv (a quick asv pass, published as HTML), make bench-startup (first-call times),
# make bench-pytest (micro-benchmarks), make docs (the documentation site, site/),
# make bench-torch (a training step with numact.torch), make bench-dask (numact on a dask.distributed
# cluster over 32 GB of logits, more than this machine's memory), make ulp (the accuracy table of the CPU math core, docs/ulp.md:
# float32 over every input, half an hour on two cores; ULP_ARGS=--sample for the quick sweep).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-cpu test-cpu-other test-cuda test-gpu bench-gpu fuzz bench warmup bench-startup bench-torch bench-dask asv asv-history bench-pytest docs docs-serve ulp clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,bench,docs]'
	touch $(STAMP)

# Each run ends with its slowest tests (CI's log shows where its 25 minutes go).
DURATIONS ?= --durations=15

# The simulator's run is one process, bound by Python threads: it runs beside the two CPU runs
# (two workers each), on the core they leave idle while they import and collect, and its
# report follows theirs. CI has 2 cores and 25 minutes.
test: $(STAMP)
	@echo "make test: the CUDA simulator's tests run in the background (.test-cuda.log), the CPU's here"
	@NUMBA_ENABLE_CUDASIM=1 $(BIN)/python -m pytest -q $(DURATIONS) > .test-cuda.log 2>&1 & sim=$$!; \
	$(MAKE) --no-print-directory test-cpu test-cpu-other; cpu=$$?; \
	wait $$sim; cuda=$$?; \
	echo "--- the CUDA simulator's tests (NUMBA_ENABLE_CUDASIM=1 pytest -q) ---"; cat .test-cuda.log; \
	echo "make test: CPU runs exit $$cpu, simulator exit $$cuda"; \
	test $$cpu -eq 0 -a $$cuda -eq 0

# The CPU run mostly compiles kernels (a fresh clone has no cache): two pytest-xdist workers
# halve it on two cores. The simulator run is bound by Python threads and stays in one process.
WORKERS ?= 2

test-cpu: $(STAMP)
	$(BIN)/python -m pytest -q -n $(WORKERS) $(DURATIONS)

# The CPU kernels again under another code generation than the host's (tools/other_cpu.py: AVX2
# code on an AVX-512 host, haswell's tuning on an AVX2 one), so that what would break the other
# kind of host breaks here: the tests of the math core's bounds, of numerics and of same-bits
# promises (the comparisons with torch run once, in test-cpu: CI's time is 25 minutes).
OTHER_CPU_TESTS ?= tests/test_calling_convention.py tests/test_short_paths.py tests/test_vmath.py \
	tests/test_numerics.py

test-cpu-other: $(STAMP)
	$(BIN)/python tools/other_cpu.py $(BIN)/python -m pytest -q -n $(WORKERS) $(DURATIONS) $(OTHER_CPU_TESTS)

# The CUDA kernels under Numba's simulator: its own process, since the variable must be set
# before numba.cuda is imported.
test-cuda: $(STAMP)
	NUMBA_ENABLE_CUDASIM=1 $(BIN)/python -m pytest -q

# The whole suite with a real NVIDIA GPU as the CUDA target (no simulator), on a machine that has
# one: the same tests and promises as the simulator's run, against what NVVM, ptxas and the
# hardware do. GPU_WORKERS processes share the GPU. Where no registry is at hand (the device
# machines here): make test-gpu GPU_SETUP= BIN=<a python's bin folder with numact's needs>.
GPU_WORKERS ?= 8
GPU_SETUP ?= $(STAMP)
test-gpu: $(GPU_SETUP)
	$(BIN)/python -m numact doctor
	NUMACT_TEST_GPU=1 $(BIN)/python -m pytest -q -n $(GPU_WORKERS) -p no:cacheprovider $(ARGS)

# numact beside torch's CUDA kernels (and CuPy's arrays, where installed) on the GPU, float32:
# every activation and loss at 65,536,000 elements, the row passes at 65,536 × 1,000,
# 8,192 × 50,257 and 4,194,304 × 16, calls of 1,000 elements, first calls in new processes;
# a table, bench-gpu.json (docs/data's GPU format) and bench-gpu.png (numact/bench/gpu.py).
bench-gpu: $(GPU_SETUP)
	$(BIN)/python -m numact bench --device cuda --json bench-gpu.json --plot bench-gpu.png $(ARGS)

# Property-based tests with many more examples than make test's (new ones each run), on the CPU
# and under the simulator. FUZZ_ARGS for more, e.g. FUZZ_ARGS=--hypothesis-seed=1.
fuzz: $(STAMP)
	$(BIN)/python -m pytest -q -n $(WORKERS) tests/test_properties.py --hypothesis-profile=fuzz $(FUZZ_ARGS)
	NUMBA_ENABLE_CUDASIM=1 $(BIN)/python -m pytest -q tests/test_properties.py --hypothesis-profile=fuzz $(FUZZ_ARGS)

# The main job: every operator against NumPy and PyTorch, a table on stdout, JSON and a chart.
bench: $(STAMP)
	$(BIN)/numact bench --json bench.json --plot bench.png $(ARGS)

# Optional: every CPU kernel compiled into Numba's disk cache now (one process per core), so
# that no later process compiles on its first calls; ARGS="--ops gelu,softmax --dtypes float32".
warmup: $(STAMP)
	$(BIN)/numact warmup $(ARGS)

# What a new process pays before its first result: import, each operator's first call with an
# empty cache and with a warm one, in fresh processes (numact/bench/startup.py).
bench-startup: $(STAMP)
	$(BIN)/numact bench --startup $(ARGS)

# asv against the current environment: a quick pass (one sample, 100,000 elements), then the
# HTML dashboard in .asv/html (view it with: .venv/bin/asv preview).
asv: $(STAMP)
	$(BIN)/asv machine --yes --machine local >/dev/null
	NUMACT_ASV_SIZES=100000 $(BIN)/asv run --python=same --quick --machine local \
		--set-commit-hash $$(git rev-parse HEAD) --show-stderr
	$(BIN)/asv publish

# asv across commits: the last ASV_COMMITS commits of this branch, each built from its own
# checkout into asv's virtualenv (numpy, numba and scipy from the package registry), benchmarked
# at 100,000 elements (one quick sample each; results already there are kept), then the HTML
# dashboard in .asv/html: each benchmark's history, the NumPy suites beside numact's.
# ASV_ARGS for more, e.g. ASV_ARGS="--bench Ufuncs" for one suite.
ASV_COMMITS ?= 10
asv-history: $(STAMP)
	$(BIN)/asv machine --yes --machine local >/dev/null
	NUMACT_ASV_SIZES=100000 $(BIN)/asv run --quick --machine local --show-stderr \
		--skip-existing-successful $(ASV_ARGS) HEAD~$(ASV_COMMITS)..HEAD
	$(BIN)/asv publish

# pytest-benchmark on the hot kernels; compare a change with ARGS=--benchmark-compare.
bench-pytest: $(STAMP)
	$(BIN)/python -m pytest -p no:xdist microbenchmarks --benchmark-only --benchmark-autosave $(ARGS)

# One training step of an MLP (784-4096-4096-10, batch 1024) with torch.nn's modules and with
# numact.torch's, and each module alone (numact/bench/torch_step.py).
bench-torch: $(STAMP)
	$(BIN)/python -m numact.bench.torch_step $(ARGS)

# numact on a dask.distributed LocalCluster (1 and 2 workers) over 32 GB of float32 logits made
# lazily: cross_entropy_forward_backward and gelu (numact/bench/dask_memory.py; ARGS="--gb 4" for less).
bench-dask: $(STAMP)
	$(BIN)/python -m numact.bench.dask_memory $(ARGS)

# The documentation site into site/ (mkdocs.yml): the operator pages, the gallery's figures
# (computed by numact, with torch's curves) and the speed tables are generated as it is built;
# --strict, so a broken link, a missing page or a docstring mkdocstrings cannot read fails it.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The site at http://127.0.0.1:8000, rebuilt on every change.
docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

ulp: $(STAMP)
	$(BIN)/python -m numact.bench.ulp $(ULP_ARGS) docs/ulp.md

clean:
	rm -rf $(VENV) .pytest_cache .asv .benchmarks bench.json bench.png bench-gpu.json bench-gpu.png .test-cuda.log
	find . -name __pycache__ -prune -exec rm -rf {} +
