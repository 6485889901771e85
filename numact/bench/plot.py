"""The bar charts of ``numact bench --plot``: speed-up over torch and NumPy per operator and
pass (the CPU), over torch per pass (``--device cuda``), on a log scale with the break-even
line marked."""


def plot(result, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["results"]
    labels = [f"{r['op']} {r['step']}" for r in rows]
    fig, ax = plt.subplots(figsize=(9, 0.22 * len(rows) + 1.5))
    ys = range(len(rows))
    ax.barh([y + 0.2 for y in ys], [r["vs_numpy"] for r in rows], height=0.4, label="vs NumPy",
            color="#9ecae1")
    if result["torch"]:
        ax.barh([y - 0.2 for y in ys], [r["vs_torch"] or 0 for r in rows], height=0.4,
                label=f"vs torch {result['torch']}", color="#e6550d")
    ax.axvline(1, color="black", linewidth=1)
    ax.set_xscale("log")
    ax.set_yticks(list(ys), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("speed-up (× faster than the peer; right of the line is faster)")
    ax.set_title(f"numact {result['numact']}: {result['dtype']}, {result['size']:,} elements, "
                 f"{result['threads']} threads", fontsize=10)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)


def plot_gpu(run: dict, path) -> None:
    """The speed-ups over torch of a GPU run (numact bench --device cuda), both allocating."""
    from numact.bench.cli import gpu_ratios

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in run["results"] if gpu_ratios(r)[0]]
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(rows) + 1.4), layout="constrained")
    ax.barh(range(len(rows)), [gpu_ratios(r)[0] for r in rows], color="#e6550d")
    ax.axvline(1, color="black", lw=1)
    ax.set_xscale("log")
    ax.set_yticks(range(len(rows)), [r["pass"] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("numact's speed-up over torch, both allocating (right of the line is faster)")
    ax.set_title(f"{run['machine']}, {run['date']}, numact at {run['commit']}", fontsize=9)
    fig.savefig(path, format="png", dpi=90)
    plt.close(fig)
