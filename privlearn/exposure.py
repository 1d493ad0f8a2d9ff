"""Per-record risk: every record's membership score and rank, and a gallery of the most exposed."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

__all__ = ["record_risk", "write_risk_csv", "plot_gallery"]


def record_risk(scores, membership, paths=None):
    """Rows ``(index, path, member, score, rank)``; rank 1 is the highest score."""
    scores = np.asarray(scores, dtype=np.float64)
    membership = np.asarray(membership)
    if scores.shape != membership.shape or scores.ndim != 1:
        raise ValueError("record_risk: `scores` and `membership` must be 1-D of one length")
    if not np.isfinite(scores).all():
        raise ValueError("record_risk: `scores` must be finite")
    ranks = rankdata(-scores, method="min").astype(int)
    paths = [""] * len(scores) if paths is None else [str(p) for p in paths]
    return [{"index": i, "path": paths[i], "member": int(membership[i]),
             "score": float(scores[i]), "rank": int(ranks[i])}
            for i in np.argsort(ranks, kind="stable")]


def write_risk_csv(rows, path):
    """Write :func:`record_risk` rows as CSV (atomically)."""
    from .audit.output import atomic_write_text
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["index", "path", "member", "score", "rank"])
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(Path(path), buf.getvalue())


def plot_gallery(images, rows, path, *, k=16, title="Most exposed members"):
    """A PNG grid of the ``k`` highest-scoring *members* of ``rows``, with their scores.

    Returns the number of images shown.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    members = [r for r in rows if r["member"] == 1][:k]
    if not members:
        return 0
    images = np.asarray(images)
    cols = min(8, len(members))
    nrows = int(np.ceil(len(members) / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(1.6 * cols, 1.9 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, r in zip(axes.ravel(), members):
        img = images[r["index"]]
        img = img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255)
        ax.set_title(f"#{r['rank']} {r['score']:.3g}", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    tmp = Path(str(path) + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return len(members)
