"""NT-Xent against a plain-loop reference, and the gradient-reversal layer."""

import math

import pytest
import torch

from privlearn.losses import GradientReversal, NTXentLoss, grad_reverse, nt_xent


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
