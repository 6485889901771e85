"""``python -m numact bench ...``: the same as the ``numact`` console script."""

from numact.bench.cli import main

if __name__ == "__main__":
    main()
