"""The bar chart of ``numact bench --plot``: speed-up over torch and NumPy per operator and
pass, on a log scale with the break-even line marked."""


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
