"""The pictures of a report, one function per kind of plot; each returns a matplotlib Figure.

matplotlib comes with the `report` extra and is imported only here, when a report is drawn.
"""

from __future__ import annotations

import numpy as np

from textcls.errors import RunError

GOOD, BAD = "#1a9850", "#d73027"  # green: evidence for, red: against


def pyplot():
    try:
        import matplotlib
    except ImportError:
        raise RunError("textcls report needs matplotlib: pip install 'textcls[report]'") from None
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def learning_curves(history: list[dict]):
    """Each loss part (training, and validation loss) and each validation metric, per epoch."""
    plt = pyplot()
    epochs = [r["epoch"] for r in history]
    numeric = lambda k: all(isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool) for r in history)
    keys = [k for k in history[0] if numeric(k)] if history else []
    losses = [k for k in keys if k.startswith("train_") or k == "valid_loss"]
    metrics = [
        k for k in keys if k.startswith("valid_") and k != "valid_loss" and "." not in k and not k.endswith("_tokens")
    ]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for k in losses:
        left.plot(epochs, [r[k] for r in history], marker="o", label=k)
    for k in metrics:
        right.plot(epochs, [r[k] for r in history], marker="o", label=k)
    from matplotlib.ticker import MaxNLocator

    for ax, title in ((left, "loss parts"), (right, "validation metrics")):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def confusion(matrix: np.ndarray, labels: list[str], title: str = "confusion matrix (rows: gold, columns: predicted)"):
    plt = pyplot()
    n = len(labels)
    size = min(3 + 0.45 * n, 14)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), labels, rotation=90 if n > 4 else 0, fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    if n <= 20:
        top = matrix.max() if matrix.size else 0
        for i in range(n):
            for j in range(n):
                ax.text(
                    j,
                    i,
                    str(int(matrix[i, j])),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if matrix[i, j] > top / 2 else "black",
                )
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def bars(names: list[str], values: list[float], title: str, xlabel: str, value_format: str = ".3f"):
    """Horizontal bars, one per name (e.g. F1 per class), each with its value written in `value_format`."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 1 + 0.3 * len(names)))
    ax.barh(range(len(names)), values, color="#4575b4")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:{value_format}}", va="center", fontsize=8)
    ax.set_xlim(0, max(1.0, max(values, default=0) * 1.15))
    fig.tight_layout()
    return fig


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = 15, title: str = "reliability"):
    """Mean accuracy against mean confidence in equal-width confidence bins, with the share of rows per bin."""
    plt = pyplot()
    edges = np.linspace(0, 1, bins + 1)
    which = np.minimum((confidence * bins).astype(int), bins - 1)  # as the ECE bins them
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfectly calibrated")
    filled = [b for b in range(bins) if (which == b).any()]
    ax.plot(
        [confidence[which == b].mean() for b in filled],
        [correct[which == b].mean() for b in filled],
        marker="o",
        color="#4575b4",
        label="model",
    )
    counts = np.bincount(which, minlength=bins) / max(len(which), 1)
    ax.bar(edges[:-1] + 0.5 / bins, counts, width=1 / bins, alpha=0.2, color="grey", label="share of rows")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def word_scores(sentences: list[tuple[list[str], list[float], str]]):
    """Each sentence's words coloured by their score (green for, red against), with its caption."""
    plt = pyplot()
    from matplotlib.colors import LinearSegmentedColormap

    cmap = LinearSegmentedColormap.from_list("evidence", [BAD, "#ffffff", GOOD])
    scale = max((abs(s) for _, scores, _ in sentences for s in scores), default=1.0) or 1.0
    fig = plt.figure(figsize=(11, 0.9 * len(sentences) + 0.6))
    renderer = fig.canvas.get_renderer()
    height = 1 / (len(sentences) + 0.5)
    for i, (words, scores, caption) in enumerate(sentences):
        y = 1 - (i + 0.6) * height
        fig.text(0.01, y + 0.35 * height, caption, fontsize=8, color="#444444")
        x = 0.01
        for word, score in zip(words, scores):
            text = fig.text(
                x,
                y,
                word,
                fontsize=10,
                bbox={"facecolor": cmap(0.5 + 0.5 * score / scale), "edgecolor": "none", "pad": 1.5},
            )
            x += text.get_window_extent(renderer).width / fig.bbox.width + 0.006
            if x > 0.95:
                text.set_text("…")
                break
    return fig


def scatter(x: np.ndarray, y: np.ndarray, xlabel: str, ylabel: str, title: str, colours=None, diagonal: bool = False):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.scatter(
        x,
        y,
        s=8,
        alpha=0.5,
        c=colours if colours is not None else "#4575b4",
        cmap="tab10" if colours is not None else None,
    )
    if diagonal and len(x):
        lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
        ax.plot([lo, hi], [lo, hi], "--", color="grey")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def histograms(groups: dict[str, np.ndarray], xlabel: str, title: str):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in groups.items():
        if len(values):
            ax.hist(values, bins=30, alpha=0.5, label=f"{name} ({len(values)})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("rows")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
