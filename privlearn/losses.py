"""Losses: SimCLR's NT-Xent and a gradient-reversal layer (used by Talos).

Neither exists in torch or torchvision, so both are written here, once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["nt_xent", "NTXentLoss", "grad_reverse", "GradientReversal"]


def nt_xent(z1, z2, temperature=0.5):
    """Normalised-temperature cross-entropy (NT-Xent) of two batches of views.

    ``z1[i]`` and ``z2[i]`` are the projections of two augmentations of image
    *i*.  Over the ``2N`` projections, the cosine-similarity matrix divided by
    ``temperature`` gives, for each projection, logits against the other ``2N-1``
    (itself excluded); the loss is the cross-entropy of picking its partner,
    averaged over all ``2N`` projections.

    Parameters
    ----------
    z1, z2 : torch.Tensor of shape (N, d)
    temperature : float, default=0.5

    Returns
    -------
    loss : torch.Tensor, scalar

    Examples
    --------
    >>> import torch
    >>> from privlearn.losses import nt_xent
    >>> z = torch.eye(4)
    >>> round(float(nt_xent(z, z, temperature=0.5)), 4)    # partners identical
    0.5944
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError("nt_xent: `z1` and `z2` must both have shape (N, d), got "
                         f"{tuple(z1.shape)} and {tuple(z2.shape)}.")
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / temperature
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(logits, partner)


class NTXentLoss(nn.Module):
    """:func:`nt_xent` as a module: ``NTXentLoss(temperature)(z1, z2)``.

    Examples
    --------
    >>> import torch
    >>> from privlearn.losses import NTXentLoss
    >>> loss = NTXentLoss(temperature=0.1)
    >>> float(loss(torch.randn(8, 4), torch.randn(8, 4))) > 0
    True
    """

    def __init__(self, temperature=0.5):
        super().__init__()
        self.temperature = temperature

    def forward(self, z1, z2):
        return nt_xent(z1, z2, self.temperature)

    def extra_repr(self):
        return f"temperature={self.temperature}"


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.scale * grad, None


def grad_reverse(x, scale=1.0):
    """Identity in the forward pass; multiplies the gradient by ``-scale`` backwards.

    Examples
    --------
    >>> import torch
    >>> from privlearn.losses import grad_reverse
    >>> x = torch.ones(3, requires_grad=True)
    >>> grad_reverse(x, 2.0).sum().backward()
    >>> x.grad.tolist()
    [-2.0, -2.0, -2.0]
    """
    return _ReverseGradient.apply(x, float(scale))


class GradientReversal(nn.Module):
    """Gradient-reversal layer (Ganin & Lempitsky, 2015) as a module.

    Put it between an encoder and an adversary: the adversary learns to predict
    an attribute, while the encoder receives ``-scale`` times the adversary's
    gradient and so learns to hide the attribute.

    Parameters
    ----------
    scale : float, default=1.0
        The reversed gradient's weight (Talos's ``adversary_weight``, λ).

    Examples
    --------
    >>> import torch
    >>> from privlearn.losses import GradientReversal
    >>> x = torch.ones(2, requires_grad=True)
    >>> GradientReversal(0.5)(x).sum().backward()
    >>> x.grad.tolist()
    [-0.5, -0.5]
    """

    def __init__(self, scale=1.0):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return grad_reverse(x, self.scale)

    def extra_repr(self):
        return f"scale={self.scale}"
