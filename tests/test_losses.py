"""Each objective's loss against a plain-loop reference, and the gradient-reversal layer."""

import math

import pytest
import torch

from privlearn.losses import (BarlowTwinsLoss, GradientReversal, InfoNCELoss,
                              NegativeCosineLoss, NormalizedMSELoss, NTXentLoss, barlow_twins,
                              grad_reverse, info_nce, negative_cosine, normalized_mse, nt_xent)


def nt_xent_reference(z1, z2, temperature):
    """SimCLR's loss written out term by term, as in the paper's Algorithm 1."""
    z = [v / v.norm() for v in torch.cat([z1, z2]).double()]
    n = len(z1)

    def sim(i, j):
        return float(z[i] @ z[j]) / temperature

    total = 0.0
    for i in range(2 * n):
        partner = (i + n) % (2 * n)
        denominator = sum(math.exp(sim(i, k)) for k in range(2 * n) if k != i)
        total += -math.log(math.exp(sim(i, partner)) / denominator)
    return total / (2 * n)


@pytest.mark.parametrize("n, d, temperature", [(2, 3, 0.5), (5, 8, 0.1), (7, 4, 1.0)])
def test_nt_xent_matches_loop_reference(n, d, temperature):
    gen = torch.Generator().manual_seed(n * d)
    z1, z2 = torch.randn(n, d, generator=gen), torch.randn(n, d, generator=gen)
    assert float(nt_xent(z1, z2, temperature)) == pytest.approx(
        nt_xent_reference(z1, z2, temperature), rel=1e-5)


def test_nt_xent_properties():
    gen = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 5, generator=gen), torch.randn(6, 5, generator=gen)
    loss = nt_xent(z1, z2, 0.5)
    # cosine similarity: invariant to positive rescaling of each projection
    assert float(nt_xent(3 * z1, 0.2 * z2, 0.5)) == pytest.approx(float(loss), rel=1e-5)
    # symmetric in the two views
    assert float(nt_xent(z2, z1, 0.5)) == pytest.approx(float(loss), rel=1e-6)
    # matching views score better than unrelated ones
    assert float(nt_xent(z1, z1 + 0.01 * z2, 0.5)) < float(loss)
    # the module is the function
    assert float(NTXentLoss(0.5)(z1, z2)) == pytest.approx(float(loss))
    # gradients flow to both views
    a, b = z1.clone().requires_grad_(), z2.clone().requires_grad_()
    nt_xent(a, b, 0.5).backward()
    assert a.grad.abs().sum() > 0 and b.grad.abs().sum() > 0


def test_nt_xent_rejects_mismatched_views():
    with pytest.raises(ValueError, match="z1.*z2"):
        nt_xent(torch.zeros(4, 3), torch.zeros(5, 3))


@pytest.mark.parametrize("scale", [0.0, 0.5, 2.0])
def test_gradient_reversal_backward_is_minus_scale_times_grad(scale):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(4, 3, generator=gen, requires_grad=True)
    upstream = torch.randn(4, 3, generator=gen)
    layer = GradientReversal(scale)
    out = layer(x)
    assert torch.equal(out, x)                                # identity forward
    out.backward(upstream)
    assert torch.allclose(x.grad, -scale * upstream)
    y = torch.randn(3, generator=gen, requires_grad=True)
    (grad_reverse(y, scale) * 2).sum().backward()
    assert torch.allclose(y.grad, torch.full((3,), -2.0 * scale))


# --------------------------------------------------------------------------- other objectives
# Each loss against a reference written term by term, as the papers define it.
def _unit(v):
    return v / v.norm()


def info_nce_reference(q, k, queue, temperature):
    """MoCo's Algorithm 1: one positive logit and K negatives per query."""
    total = 0.0
    for qi, ki in zip(q.double(), k.double()):
        positive = float(_unit(qi) @ _unit(ki)) / temperature
        negatives = [float(_unit(qi) @ _unit(r)) / temperature for r in queue.double()]
        denominator = math.exp(positive) + sum(math.exp(n) for n in negatives)
        total += -math.log(math.exp(positive) / denominator)
    return total / len(q)


def normalized_mse_reference(p, t):
    """BYOL's ``||p/||p|| - t/||t||||²`` per sample, averaged."""
    return sum(float(((_unit(a) - _unit(b)) ** 2).sum())
               for a, b in zip(p.double(), t.double())) / len(p)


def negative_cosine_reference(p, z):
    """SimSiam's ``D(p, z) = -(p/||p||)·(z/||z||)``, averaged."""
    return -sum(float(_unit(a) @ _unit(b)) for a, b in zip(p.double(), z.double())) / len(p)


def barlow_twins_reference(z1, z2, offdiag_weight, eps=1e-5):
    """Barlow Twins' Algorithm 1, one matrix entry at a time."""
    z1, z2 = z1.double(), z2.double()
    n, d = z1.shape

    def standardise(column):
        mean = sum(column) / n
        var = sum((x - mean) ** 2 for x in column) / n
        return [(x - mean) / math.sqrt(var + eps) for x in column]

    a = [standardise(z1[:, i].tolist()) for i in range(d)]
    b = [standardise(z2[:, j].tolist()) for j in range(d)]
    total = 0.0
    for i in range(d):
        for j in range(d):
            c = sum(a[i][s] * b[j][s] for s in range(n)) / n
            total += (1 - c) ** 2 if i == j else offdiag_weight * c ** 2
    return total


@pytest.mark.parametrize("n, d, k, temperature", [(2, 3, 4, 0.2), (5, 8, 16, 0.07),
                                                  (3, 4, 1, 1.0)])
def test_info_nce_matches_loop_reference(n, d, k, temperature):
    gen = torch.Generator().manual_seed(n * d + k)
    q, key = torch.randn(n, d, generator=gen), torch.randn(n, d, generator=gen)
    queue = torch.randn(k, d, generator=gen)
    assert float(info_nce(q, key, queue, temperature)) == pytest.approx(
        info_nce_reference(q, key, queue, temperature), rel=1e-5)
    assert float(InfoNCELoss(temperature)(q, key, queue)) == pytest.approx(
        float(info_nce(q, key, queue, temperature)))
    with pytest.raises(ValueError, match="queue"):
        info_nce(q, key, torch.zeros(k, d + 1))


@pytest.mark.parametrize("n, d", [(2, 3), (6, 5)])
def test_normalized_mse_and_negative_cosine_match_references(n, d):
    gen = torch.Generator().manual_seed(n + d)
    p, z = torch.randn(n, d, generator=gen), torch.randn(n, d, generator=gen)
    assert float(normalized_mse(p, z)) == pytest.approx(normalized_mse_reference(p, z),
                                                        rel=1e-5)
    assert float(negative_cosine(p, z)) == pytest.approx(negative_cosine_reference(p, z),
                                                         rel=1e-5, abs=1e-7)
    assert float(NormalizedMSELoss()(p, z)) == pytest.approx(float(normalized_mse(p, z)))
    assert float(NegativeCosineLoss()(p, z)) == pytest.approx(float(negative_cosine(p, z)))
    # BYOL's loss is 2 + 2 × SimSiam's (both are the cosine, differently scaled)
    assert float(normalized_mse(p, z)) == pytest.approx(2 + 2 * float(negative_cosine(p, z)),
                                                        rel=1e-5)
    with pytest.raises(ValueError, match="same shape"):
        negative_cosine(p, z[:-1])


@pytest.mark.parametrize("n, d, offdiag_weight", [(4, 3, 0.0051), (8, 5, 0.5), (3, 2, 1.0)])
def test_barlow_twins_matches_loop_reference(n, d, offdiag_weight):
    gen = torch.Generator().manual_seed(n * d)
    z1, z2 = torch.randn(n, d, generator=gen), torch.randn(n, d, generator=gen)
    assert float(barlow_twins(z1, z2, offdiag_weight)) == pytest.approx(
        barlow_twins_reference(z1, z2, offdiag_weight), rel=1e-5)
    assert float(BarlowTwinsLoss(offdiag_weight)(z1, z2)) == pytest.approx(
        float(barlow_twins(z1, z2, offdiag_weight)))
    # invariant to per-dimension affine rescaling (batch standardisation)
    assert float(barlow_twins(3 * z1 + 1, z2, offdiag_weight)) == pytest.approx(
        float(barlow_twins(z1, z2, offdiag_weight)), rel=1e-4)
    with pytest.raises(ValueError, match="at least 2"):
        barlow_twins(z1[:1], z2[:1])


# --- MMD² (distribution matching) ------------------------------------------------------
def mmd2_reference(h, groups, bandwidth=None):
    """MMD² written out pair by pair: mean over pairs of groups of the biased
    estimate mean k(a,a') + mean k(b,b') - 2 mean k(a,b); the median heuristic is
    the (lower) median of the squared distances between distinct rows."""
    import itertools

    rows = [[float(v) for v in row] for row in h.double()]
    labels = [int(g) for g in groups]

    def sq_dist(u, v):
        return sum((a - b) ** 2 for a, b in zip(u, v))

    n = len(rows)
    if bandwidth is None:
        distances = sorted(sq_dist(rows[i], rows[j])
                           for i in range(n) for j in range(n) if i != j)
        sigma2 = distances[(len(distances) - 1) // 2]
    else:
        sigma2 = bandwidth ** 2

    def mean_kernel(a, b):
        group_a = [r for r, g in zip(rows, labels) if g == a]
        group_b = [r for r, g in zip(rows, labels) if g == b]
        return sum(math.exp(-sq_dist(u, v) / (2 * sigma2))
                   for u in group_a for v in group_b) / (len(group_a) * len(group_b))

    pairs = list(itertools.combinations(sorted(set(labels)), 2))
    return sum(mean_kernel(a, a) + mean_kernel(b, b) - 2 * mean_kernel(a, b)
               for a, b in pairs) / len(pairs)


@pytest.mark.parametrize("n, d, n_groups, bandwidth",
                         [(6, 3, 2, None), (9, 4, 3, None), (12, 2, 4, 0.7), (5, 5, 2, 2.0)])
def test_mmd2_matches_loop_reference(n, d, n_groups, bandwidth):
    from privlearn.losses import mmd2

    gen = torch.Generator().manual_seed(n * d)
    h = torch.randn(n, d, generator=gen, dtype=torch.float64)
    groups = torch.arange(n) % n_groups
    assert float(mmd2(h, groups, bandwidth)) == pytest.approx(
        mmd2_reference(h, groups, bandwidth), rel=1e-10)


def test_mmd2_properties():
    from privlearn.losses import mmd2

    gen = torch.Generator().manual_seed(0)
    h = torch.randn(40, 3, generator=gen)
    groups = torch.arange(40) % 2
    assert float(mmd2(h, torch.zeros(40, dtype=torch.long))) == 0.0   # one group
    assert float(mmd2(h, groups)) >= 0
    shifted = h + 3.0 * groups[:, None]                               # separated groups
    assert float(mmd2(shifted, groups)) > 5 * float(mmd2(h, groups))
    h.requires_grad_(True)
    mmd2(h + 3.0 * groups[:, None], groups).backward()
    assert torch.isfinite(h.grad).all() and h.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="mmd2"):
        mmd2(h, groups[:-1])
