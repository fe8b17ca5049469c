"""The metrics pictures: a precision-recall plot and the load-state confusion matrix.

matplotlib is imported here only, with the non-interactive Agg backend, so evaluating on a server
or in CI never needs a display and the rest of :mod:`tankerwatch.infer` never pays for it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.atomic import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_precision_recall(path: Path, recall: np.ndarray, curves: dict[str, np.ndarray], figures: dict,
                          title: str = "") -> None:
    """Interpolated precision against recall at IoU 0.5, one line per curve, AP in the legend."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=100)
    ap_keys = {"vessel": "vessel_AP50", "tanker": "AP50_tanker", "other": "AP50_other"}
    for name, precision in curves.items():
        ap = figures.get(ap_keys.get(name, ""))
        label = f"{name} (AP50 {ap:.3f})" if ap is not None else name
        ax.plot(recall, precision, label=label, linewidth=1.8 if name == "vessel" else 1.2)
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision (interpolated)",
           title="Precision-recall at IoU 0.5" + (f"\n({title})" if title else ""))
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(loc="lower left")
    else:
        ax.text(0.5, 0.5, "no ground truth", ha="center", va="center")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(fig)


def plot_confusion(path: Path, counts: np.ndarray, true_names, pred_names, title: str = "") -> None:
    """Counts of true load state (rows) against the call made (columns), with the count in each cell."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.2), dpi=100)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (row, col), count in np.ndenumerate(counts):
        ax.text(col, row, str(int(count)), ha="center", va="center",
                color="white" if shares[row, col] > 0.5 else "black")
    ax.set_xticks(range(len(pred_names)), pred_names)
    ax.set_yticks(range(len(true_names)), [f"true {n}" for n in true_names])
    ax.set(xlabel="predicted", title="Tanker load state" + (f"\n({title})" if title else ""))
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(fig)
