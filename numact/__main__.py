"""``python -m numact bench ...`` and ``python -m numact doctor``: the same as the ``numact`` console script."""

from numact.bench.cli import main

if __name__ == "__main__":
    main()
