"""numact's benchmark suite: ``numact bench`` (``python -m numact bench``) times every operator
against NumPy and PyTorch; the asv suite in ``benchmarks/`` and the pytest-benchmark
micro-benchmarks in ``tests/microbench`` use the same workloads."""
