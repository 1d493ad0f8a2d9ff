"""Per-record risk: every record's membership score and rank, and a gallery of the most exposed.

Works on any per-record score array (an attack's membership scores, or a
memorization score): :func:`record_risk` ranks the records, :func:`write_risk_csv`
writes the ranking, :func:`plot_gallery` draws the highest-ranked members with
their rank and score.  Used by ``privlearn audit`` and by
:func:`privlearn.own_audit.audit_model`.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

__all__ = ["record_risk", "write_risk_csv", "plot_gallery"]


def record_risk(scores, membership, paths=None):
    """Every record's score and rank, highest score first.

    Parameters
    ----------
    scores : array-like of shape (n,)
        One score per record, higher: more exposed (e.g. an attack's membership
        score, or a memorization score).
    membership : array-like of shape (n,)
        1 for members, 0 for non-members.
    paths : array-like of shape (n,), optional
        The records' file paths (written into the rows).

    Returns
    -------
    rows : list of dict
        ``{"index", "path", "member", "score", "rank"}`` sorted by rank; rank 1 is
        the highest score (ties share the lowest rank).

    Examples
    --------
    >>> from privlearn.exposure import record_risk
    >>> [(r["index"], r["rank"]) for r in record_risk([0.2, 0.9, 0.5], [0, 1, 1])]
    [(1, 1), (2, 2), (0, 3)]
    """
    scores = np.asarray(scores, dtype=np.float64)
    membership = np.asarray(membership)
    if scores.shape != membership.shape or scores.ndim != 1:
        raise ValueError("record_risk: `scores` and `membership` must be 1-D of one length, "
                         f"got shapes {scores.shape} and {membership.shape}")
    if not np.isfinite(scores).all():
        raise ValueError("record_risk: `scores` must be finite")
    if paths is not None and len(paths) != len(scores):
        raise ValueError(f"record_risk: `paths` must hold one path per record "
                         f"({len(scores)}), got {len(paths)}")
    ranks = rankdata(-scores, method="min").astype(int)
    paths = [""] * len(scores) if paths is None else [str(p) for p in paths]
    return [{"index": int(i), "path": paths[i], "member": int(membership[i]),
             "score": float(scores[i]), "rank": int(ranks[i])}
            for i in np.argsort(ranks, kind="stable")]


def _atomic_write(path, text):
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_risk_csv(rows, path):
    """Write :func:`record_risk` rows (and any extra columns they carry, in the
    first row's order) as CSV, atomically."""
    rows = list(rows)
    fields = list(rows[0]) if rows else ["index", "path", "member", "score", "rank"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    _atomic_write(path, buf.getvalue())


def plot_gallery(images, rows, path, *, k=16, title="Most exposed members"):
    """A PNG grid of the ``k`` highest-ranked *members* of ``rows``, each titled
    with its rank and score.

    ``images[row["index"]]`` is each row's image (uint8 C×H×W).  Returns the
    number of images shown (0: no member, nothing written).
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
    fig, axes = plt.subplots(nrows, cols, figsize=(1.6 * cols, 1.9 * nrows + 0.4),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, r in zip(axes.ravel(), members):
        img = images[r["index"]]
        img = img[0] if img.ndim == 3 and img.shape[0] == 1 else (
            img.transpose(1, 2, 0) if img.ndim == 3 else img)
        vmax = 255 if images.dtype.kind in "biu" else 1.0
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=vmax,
                  interpolation="nearest")
        ax.set_title(f"#{r['rank']} {r['score']:.3g}", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return len(members)
