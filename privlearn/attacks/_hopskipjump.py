"""HopSkipJump (Chen, Jordan & Wainwright, 2020), untargeted, L2, batched.

Estimates how far each record lies from a classifier's decision boundary using only
the predicted labels.  Every stage runs for a whole batch of records at once: the
binary searches, the Monte-Carlo gradient probes and the geometric step-size
search of all records in the batch are stacked into single ``predict`` calls
(chunked only to bound memory), instead of walking one record at a time.

Not taken from a library: ART's implementation attacks one record at a time
(≈ 2 records/s on a 100-tree forest, see DESIGN §5) and would be a heavy
dependency; foolbox needs a differentiable framework model.  The label-only attack
only needs the distance, so this is written for NumPy arrays and any ``predict``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["boundary_distances"]

#: Halvings of the step size tried per iteration before giving up the step.
_MAX_STEP_HALVINGS = 10


class _Oracle:
    """``predict`` in memory-bounded chunks, charging every query to its record."""

    def __init__(self, predict, shape, dtype, n_records, max_elements):
        self.predict = predict
        self.shape = shape
        self.dtype = dtype
        self.rows = max(1, max_elements // max(1, math.prod(shape)))
        self.queries = np.zeros(n_records, dtype=np.int64)

    def __call__(self, flat_points, owners):
        if len(flat_points) == 0:
            return np.empty(0, dtype=object)
        self.queries += np.bincount(owners, minlength=len(self.queries))
        points = flat_points.reshape((-1,) + self.shape).astype(self.dtype, copy=False)
        out = [np.asarray(self.predict(points[i:i + self.rows]))
               for i in range(0, len(points), self.rows)]
        return np.concatenate(out)


def _binary_search(oracle, x0, xa, labels, owners, n_steps):
    """Point on the segment x0 → xa just on xa's (adversarial) side of the boundary."""
    lo = np.zeros(len(x0))
    hi = np.ones(len(x0))
    for _ in range(n_steps):
        mid = (lo + hi) / 2
        adversarial = oracle(x0 + mid[:, None] * (xa - x0), owners) != labels
        hi = np.where(adversarial, mid, hi)
        lo = np.where(adversarial, lo, mid)
    return x0 + hi[:, None] * (xa - x0)


def _gradient_direction(oracle, xb, labels, owners, delta, n_probes, allowance,
                        lo, hi, rng, max_elements):
    """Monte-Carlo estimate of the boundary's normal at ``xb`` (unit vectors).

    Record ``i`` spends ``allowance[i] <= n_probes`` probes.
    """
    n, d = xb.shape
    grad = np.zeros_like(xb)
    chunk = max(1, max_elements // max(1, n_probes * d))
    for s in range(0, n, chunk):
        sl = slice(s, s + chunk)
        u = rng.standard_normal((len(xb[sl]), n_probes, d)).astype(xb.dtype, copy=False)
        u /= np.linalg.norm(u, axis=2, keepdims=True)
        step = delta[sl, None, None]
        probes = np.clip(xb[sl, None, :] + step * u, lo, hi)
        # Directions actually taken after clipping, as in the reference code.
        rv = (probes - xb[sl, None, :]) / step
        rv /= np.maximum(np.linalg.norm(rv, axis=2, keepdims=True), 1e-20)
        valid = np.arange(n_probes)[None, :] < allowance[sl, None]
        phi = np.zeros(valid.shape)
        rows, cols = np.nonzero(valid)
        answers = oracle(probes[rows, cols], owners[sl][rows])
        phi[rows, cols] = np.where(answers != labels[sl][rows], 1.0, -1.0)
        count = np.maximum(valid.sum(axis=1), 1)
        mean = phi.sum(axis=1) / count
        # Baseline subtraction reduces the variance, unless every probe agreed.
        centred = np.where(np.abs(mean)[:, None] == 1.0, phi, phi - mean[:, None]) * valid
        grad[sl] = np.einsum("ne,ned->nd", centred, rv) / count[:, None]
    norm = np.linalg.norm(grad, axis=1, keepdims=True)
    return np.where(norm > 0, grad / np.where(norm > 0, norm, 1.0), 0.0)


def boundary_distances(predict, inputs, labels, *, clip_min, clip_max, max_iter,
                       max_queries, init_eval, batch_size, rng,
                       max_elements=2 ** 24, pool_size=1024):
    """L2 distance from every record to the boundary of ``predict``'s true-label region.

    Parameters
    ----------
    predict : callable
        ``predict(points)`` → predicted labels, ``points`` shaped like ``inputs``.
    inputs : ndarray of shape (n, ...)
        Records, as floats in the units ``predict`` expects.
    labels : ndarray of shape (n,)
        True labels.  Misclassified records get distance 0.
    clip_min, clip_max : float or ndarray broadcastable to ``inputs.shape[1:]``
        Valid range of the inputs; every probe is clipped to it.
    max_iter : int
        HopSkipJump iterations (gradient estimate, step, binary search).
    max_queries : int
        Hard budget of ``predict`` rows per record.
    init_eval : int
        Gradient probes in the first iteration (``init_eval * sqrt(t)`` later).
    batch_size : int
        Records attacked together.
    rng : numpy.random.Generator
    max_elements : int, default=2**24
        Largest number of input values held per probe array or ``predict`` call.
    pool_size : int, default=1024
        Records searched for a starting point.

    Returns
    -------
    distances : ndarray of shape (n,)
        Upper bounds on the distance to the boundary (the closest differently
        labelled point found).  Records for which no differently labelled point
        was found get the diameter of the valid box.
    queries : ndarray of int, shape (n,)
        ``predict`` rows spent on each record.

    Examples
    --------
    >>> import numpy as np
    >>> from privlearn.attacks._hopskipjump import boundary_distances
    >>> x = np.array([[0.2, 0.5], [0.9, 0.5]])
    >>> predict = lambda p: (p.reshape(len(p), -1)[:, 0] > 0.5).astype(int)
    >>> dist, q = boundary_distances(predict, x, np.array([0, 1]), clip_min=0.0,
    ...     clip_max=1.0, max_iter=5, max_queries=1000, init_eval=20, batch_size=8,
    ...     rng=np.random.default_rng(0))
    >>> dist.round(2).tolist()
    [0.3, 0.4]
    """
    n = len(inputs)
    shape = tuple(inputs.shape[1:])
    d = math.prod(shape)
    dtype = inputs.dtype
    flat = inputs.reshape(n, d)
    lo = np.broadcast_to(np.asarray(clip_min, dtype=dtype), shape).reshape(d)
    hi = np.broadcast_to(np.asarray(clip_max, dtype=dtype), shape).reshape(d)
    labels = np.asarray(labels)
    oracle = _Oracle(predict, shape, dtype, n, max_elements)
    everyone = np.arange(n)

    # HopSkipJump's setting for L2: binary-search precision theta = d^-3/2 (at
    # least 2^-10 relative precision, which matters for low-dimensional inputs).
    theta = min(d ** -1.5, 2.0 ** -10)
    n_bisect = max(1, math.ceil(math.log2(1.0 / theta)))
    reserve = _MAX_STEP_HALVINGS + n_bisect
    diameter = float(np.linalg.norm(hi - lo))

    predicted = oracle(flat, everyone)
    distances = np.zeros(n)
    attack = np.flatnonzero(predicted == labels)
    if len(attack) == 0:
        return distances, oracle.queries

    # Starting points: the nearest record the model labels differently costs no
    # query and lies on the data manifold (HopSkipJump itself starts from random
    # noise, used below only where no such record exists).
    pool = rng.permutation(n)[:pool_size]
    pool_sq = np.einsum("nd,nd->n", flat[pool], flat[pool])
    start = np.full(n, -1)
    row_chunk = max(1, max_elements // max(1, len(pool)))
    for s in range(0, len(attack), row_chunk):
        rows = attack[s:s + row_chunk]
        sq = pool_sq[None, :] - 2.0 * flat[rows] @ flat[pool].T
        sq[predicted[pool][None, :] == labels[rows][:, None]] = np.inf
        best = np.argmin(sq, axis=1)
        found = np.isfinite(sq[np.arange(len(rows)), best])
        start[rows[found]] = pool[best[found]]

    # Noise starting points, only for records the pool could not serve.
    missing = attack[start[attack] < 0]
    noise_start = {}
    for _ in range(init_eval):
        affordable = missing[max_queries - oracle.queries[missing] > n_bisect]
        if len(affordable) == 0:
            break
        noise = rng.uniform(lo, hi, size=(len(affordable), d)).astype(dtype)
        hit = oracle(noise, affordable) != labels[affordable]
        noise_start.update(zip(affordable[hit].tolist(), noise[hit]))
        missing = np.setdiff1d(missing, affordable[hit])

    # No differently labelled point found: as far as the valid box allows.
    distances[missing] = diameter
    attack = np.setdiff1d(attack, missing)

    for b in range(0, len(attack), batch_size):
        idx = attack[b:b + batch_size]
        x0, lab = flat[idx], labels[idx]
        xb = flat[np.maximum(start[idx], 0)].astype(dtype, copy=True)
        from_noise = start[idx] < 0
        if from_noise.any():
            xb[from_noise] = np.stack([noise_start[i] for i in idx[from_noise].tolist()])
        can = max_queries - oracle.queries[idx] >= n_bisect
        xb[can] = _binary_search(oracle, x0[can], xb[can], lab[can], idx[can], n_bisect)
        dist = np.linalg.norm(xb - x0, axis=1)
        best = dist.copy()
        for t in range(1, max_iter + 1):
            n_probes = int(init_eval * math.sqrt(t))
            allowance = np.minimum(n_probes, max_queries - oracle.queries[idx] - reserve)
            live = np.flatnonzero((allowance >= 1) & (dist > 0))
            if len(live) == 0:
                break
            if t == 1:
                delta = np.full(len(live), 0.1 * float(np.mean(hi - lo)))
            else:
                delta = math.sqrt(d) * theta * dist[live]
            delta = np.maximum(delta, 1e-12)
            grad = _gradient_direction(oracle, xb[live], lab[live], idx[live], delta,
                                       n_probes, allowance[live], lo, hi, rng,
                                       max_elements)
            # Geometric step-size search from xb along the estimated normal.
            eps = dist[live] / math.sqrt(t)
            moved = np.zeros(len(live), dtype=bool)
            candidate = xb[live].copy()
            searching = np.flatnonzero(np.linalg.norm(grad, axis=1) > 0)
            for _ in range(_MAX_STEP_HALVINGS):
                if len(searching) == 0:
                    break
                trial = np.clip(xb[live][searching]
                                + eps[searching, None] * grad[searching], lo, hi)
                ok = oracle(trial, idx[live][searching]) != lab[live][searching]
                candidate[searching[ok]] = trial[ok]
                moved[searching[ok]] = True
                eps[searching[~ok]] /= 2
                searching = searching[~ok]
            upd = live[moved]
            if len(upd):
                xb[upd] = _binary_search(oracle, x0[upd], candidate[moved], lab[upd],
                                         idx[upd], n_bisect)
                dist[upd] = np.linalg.norm(xb[upd] - x0[upd], axis=1)
                best[upd] = np.minimum(best[upd], dist[upd])
        distances[idx] = best
    return distances, oracle.queries
