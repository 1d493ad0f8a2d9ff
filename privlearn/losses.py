"""Losses of the self-supervised objectives, and a gradient-reversal layer.

One function per objective -- :func:`nt_xent` (SimCLR), :func:`info_nce`
(MoCo), :func:`normalized_mse` (BYOL), :func:`negative_cosine` (SimSiam),
:func:`barlow_twins` (Barlow Twins) -- each also as a module for an
estimator's ``criterion``, and :func:`grad_reverse` (Talos).  None exists in
torch or torchvision, so they are written here, once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
import torch.distributed as dist

__all__ = ["nt_xent", "NTXentLoss", "info_nce", "InfoNCELoss", "normalized_mse",
           "NormalizedMSELoss", "negative_cosine", "NegativeCosineLoss", "barlow_twins",
           "BarlowTwinsLoss", "grad_reverse", "GradientReversal", "mmd2", "gather_with_grad",
           "gather_without_grad", "nt_xent_across_processes"]


def _world_size():
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


class _AllGather(torch.autograd.Function):
    """All-gather whose backward sums every process's gradient for the local slice.

    ``torch.distributed.nn.functional.all_gather`` does this but is deprecated
    (its replacement is private), so the usual ten lines are written here:
    ``all_gather`` and ``all_reduce`` work on every backend (gloo, NCCL).
    """

    @staticmethod
    def forward(ctx, x):
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return tuple(parts)

    @staticmethod
    def backward(ctx, *grads):
        grad = torch.stack(grads)
        dist.all_reduce(grad)
        return grad[dist.get_rank()]


def gather_with_grad(x):
    """Concatenate ``x`` from every process, gradients flowing to each local slice.

    Each process passes its own ``x`` of shape ``(n_p, ...)`` (``n_p`` may differ
    between processes); every process gets the same ``(sum n_p, ...)`` tensor,
    ranks in order, and the offset of its own rows.  Backwards, the gradient
    each process computes for the gathered tensor is summed over the processes
    and the local slice goes to ``x``: a loss averaged over the processes (as
    DistributedDataParallel averages gradients) gets its exact gradient.
    Without an initialised ``torch.distributed`` process group, or with a single
    process, ``x`` is returned unchanged with offset 0.

    Parameters
    ----------
    x : torch.Tensor of shape (n, ...)

    Returns
    -------
    gathered : torch.Tensor of shape (N, ...)
    offset : int
        Index of this process's first row in ``gathered``.

    Examples
    --------
    >>> import torch
    >>> from privlearn.losses import gather_with_grad
    >>> x = torch.ones(3, 2)
    >>> gathered, offset = gather_with_grad(x)     # one process: the identity
    >>> gathered is x, offset
    (True, 0)
    """
    if _world_size() == 1:
        return x, 0
    size = torch.tensor([len(x)], device=x.device)
    sizes = [torch.empty_like(size) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, size)
    sizes = [int(s) for s in sizes]
    longest = max(sizes)
    if len(x) < longest:      # all_gather needs equal shapes: pad, then drop the padding
        x = torch.cat([x, x.new_zeros(longest - len(x), *x.shape[1:])])
    parts = _AllGather.apply(x)
    gathered = torch.cat([part[:n] for part, n in zip(parts, sizes)])
    return gathered, sum(sizes[:dist.get_rank()])


def _nt_xent_against(z1, z2, keys1, keys2, offset, temperature):
    """NT-Xent of the local views ``(z1, z2)`` against all views ``(keys1, keys2)``.

    ``keys*`` hold every process's normalised projections, this process's at
    rows ``offset .. offset + n``.  Each local view's logits are its cosine
    similarities with all ``2N`` views (itself excluded) over ``temperature``;
    the loss is the cross-entropy of its partner, averaged over the ``2n``
    local views.  With the local views as the keys (offset 0) this is
    :func:`privlearn.losses.nt_xent`.
    """
    n, m = len(z1), len(keys1)
    queries = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = queries @ torch.cat([keys1, keys2]).T / temperature
    local = torch.arange(n, device=z1.device) + offset
    rows = torch.arange(2 * n, device=z1.device)
    self_mask = torch.zeros_like(logits, dtype=torch.bool)
    self_mask[rows, torch.cat([local, local + m])] = True
    logits = logits.masked_fill(self_mask, float("-inf"))
    partner = torch.cat([local + m, local])
    return F.cross_entropy(logits, partner)


def nt_xent_across_processes(z1, z2, temperature=0.5):
    """NT-Xent with the negatives of every process's batch.

    Each process's local views are contrasted with the views of all processes
    (gathered with :func:`gather_with_grad`), so data-parallel training on
    ``P`` processes with ``n`` images each sees ``2Pn - 2`` negatives per view,
    as one process with a batch of ``Pn`` images would; averaged over the
    processes the loss and its gradient are those of :func:`nt_xent` on the
    whole batch.  With a single process it is :func:`nt_xent`.

    Parameters
    ----------
    z1, z2 : torch.Tensor of shape (n, d)
        This process's projections of the two views.
    temperature : float, default=0.5

    Returns
    -------
    loss : torch.Tensor, scalar

    Examples
    --------
    >>> import torch
    >>> from privlearn.losses import nt_xent_across_processes
    >>> from privlearn.losses import nt_xent
    >>> z1, z2 = torch.randn(8, 4), torch.randn(8, 4)
    >>> bool(torch.isclose(nt_xent_across_processes(z1, z2), nt_xent(z1, z2)))
    True
    """
    if _world_size() == 1:
        return nt_xent(z1, z2, temperature)
    if z1.ndim != 2 or z1.shape != z2.shape:
        raise ValueError("nt_xent_across_processes: `z1` and `z2` must both have shape "
                         f"(n, d), got {tuple(z1.shape)} and {tuple(z2.shape)}.")
    keys1, offset = gather_with_grad(F.normalize(z1, dim=1))
    keys2, _ = gather_with_grad(F.normalize(z2, dim=1))
    return _nt_xent_against(z1, z2, keys1, keys2, offset, temperature)


def gather_without_grad(x):
    """Concatenate ``x`` (detached) from every process, ranks in order.

    For state that needs every process's rows but no gradient (MoCo's queue of
    keys).  The identity (detached) on one process.

    Examples
    --------
    >>> import torch
    >>> from privlearn.losses import gather_without_grad
    >>> gather_without_grad(torch.ones(3, 2)).shape
    torch.Size([3, 2])
    """
    x = x.detach()
    if _world_size() == 1:
        return x
    with torch.no_grad():
        return gather_with_grad(x)[0]



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

    def __init__(self, temperature=0.5, gather=False):
        super().__init__()
        self.temperature = temperature
        self.gather = gather

    def forward(self, z1, z2):
        # `gather`: contrast with the views of every process (the accelerated
        # estimators switch it on when they run several processes).
        if self.gather:
            return nt_xent_across_processes(z1, z2, self.temperature)
        return nt_xent(z1, z2, self.temperature)

    def extra_repr(self):
        return f"temperature={self.temperature}"


def _check_pair(name, a, b):
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"{name}: both inputs must have the same shape (N, d), got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}.")


def info_nce(query, key, queue, temperature=0.2):
    """InfoNCE of MoCo (He et al., 2020): each query against its key and a queue.

    For query ``q_i``, the logits are its cosine similarity with its own key
    ``k_i`` (the positive) and with every row of ``queue`` (the negatives),
    divided by ``temperature``; the loss is the cross-entropy of picking the
    positive, averaged over the queries.  No gradient flows into ``key`` or
    ``queue`` when they come from the momentum encoder (they are detached).

    Parameters
    ----------
    query, key : torch.Tensor of shape (N, d)
    queue : torch.Tensor of shape (K, d)
    temperature : float, default=0.2

    Returns
    -------
    loss : torch.Tensor, scalar

    Examples
    --------
    >>> import torch
    >>> from privlearn.losses import info_nce
    >>> q = torch.eye(2, 4)
    >>> round(float(info_nce(q, q, -torch.eye(2, 4), temperature=1.0)), 4)   # log(1+e⁻¹+e⁻²)
    0.4076
    """
    _check_pair("info_nce", query, key)
    if queue.ndim != 2 or queue.shape[1] != query.shape[1]:
        raise ValueError(f"info_nce: `queue` must have shape (K, {query.shape[1]}), got "
                         f"{tuple(queue.shape)}.")
    q = F.normalize(query, dim=1)
    k = F.normalize(key, dim=1)
    positive = (q * k).sum(dim=1, keepdim=True)
    negative = q @ F.normalize(queue, dim=1).T
    logits = torch.cat([positive, negative], dim=1) / temperature
    target = torch.zeros(len(q), dtype=torch.long, device=q.device)
    return F.cross_entropy(logits, target)


class InfoNCELoss(nn.Module):
    """:func:`info_nce` as a module: ``InfoNCELoss(temperature)(q, k, queue)``.

    Examples
    --------
    >>> import torch
    >>> from privlearn.losses import InfoNCELoss
    >>> float(InfoNCELoss(0.2)(torch.randn(4, 8), torch.randn(4, 8), torch.randn(16, 8))) > 0
    True
    """

    def __init__(self, temperature=0.2):
        super().__init__()
        self.temperature = temperature

    def forward(self, query, key, queue):
        return info_nce(query, key, queue, self.temperature)

    def extra_repr(self):
        return f"temperature={self.temperature}"


def normalized_mse(prediction, target):
    """BYOL's loss (Grill et al., 2020): MSE of the L2-normalised vectors.

    ``2 - 2 cos(p_i, t_i)`` averaged over the batch; ``target`` comes from the
    momentum network and is not differentiated through when detached.

    Parameters
    ----------
    prediction, target : torch.Tensor of shape (N, d)

    Returns
    -------
    loss : torch.Tensor, scalar in [0, 4]

    Examples
    --------
    >>> import torch
    >>> from privlearn.losses import normalized_mse
    >>> float(normalized_mse(torch.ones(3, 2), -torch.ones(3, 2)))
    4.0
    """
    _check_pair("normalized_mse", prediction, target)
    cosine = F.cosine_similarity(prediction, target, dim=1)
    return (2 - 2 * cosine).mean()


class NormalizedMSELoss(nn.Module):
    """:func:`normalized_mse` as a module (BYOL's criterion).

    Examples
    --------
    >>> import torch
    >>> from privlearn.losses import NormalizedMSELoss
    >>> round(float(NormalizedMSELoss()(torch.ones(2, 3), torch.ones(2, 3))), 4)
    0.0
    """

    def forward(self, prediction, target):
        return normalized_mse(prediction, target)


def negative_cosine(prediction, target):
    """SimSiam's loss (Chen & He, 2021): minus the mean cosine similarity.

    The stop-gradient on ``target`` is the caller's (SimSiam detaches the
    other view's projection); this is ``-mean_i cos(p_i, z_i)``.

    Parameters
    ----------
    prediction, target : torch.Tensor of shape (N, d)

    Returns
    -------
    loss : torch.Tensor, scalar in [-1, 1]

    Examples
    --------
    >>> import torch
    >>> from privlearn.losses import negative_cosine
    >>> round(float(negative_cosine(torch.ones(3, 2), torch.ones(3, 2))), 4)
    -1.0
    """
    _check_pair("negative_cosine", prediction, target)
    return -F.cosine_similarity(prediction, target, dim=1).mean()


class NegativeCosineLoss(nn.Module):
    """:func:`negative_cosine` as a module (SimSiam's criterion).

    Examples
    --------
    >>> import torch
    >>> from privlearn.losses import NegativeCosineLoss
    >>> round(float(NegativeCosineLoss()(torch.ones(2, 3), -torch.ones(2, 3))), 4)
    1.0
    """

    def forward(self, prediction, target):
        return negative_cosine(prediction, target)


def barlow_twins(z1, z2, offdiag_weight=0.0051, eps=1e-5):
    """Barlow Twins' loss (Zbontar et al., 2021): cross-correlation towards identity.

    Each projection dimension is standardised over the batch; ``C = z1ᵀ z2 / N``
    is the ``d × d`` cross-correlation of the views; the loss is
    ``Σ_i (1 − C_ii)² + λ Σ_{i≠j} C_ij²`` with ``λ = offdiag_weight``.

    Parameters
    ----------
    z1, z2 : torch.Tensor of shape (N, d), N >= 2
    offdiag_weight : float, default=0.0051
        λ, the weight of the redundancy-reduction (off-diagonal) term.
    eps : float, default=1e-5
        Added to the variance when standardising (as BatchNorm does).

    Returns
    -------
    loss : torch.Tensor, scalar

    Examples
    --------
    >>> import torch
    >>> from privlearn.losses import barlow_twins
    >>> z = torch.tensor([[1., -1.], [-1., 1.]])
    >>> round(float(barlow_twins(z, z, offdiag_weight=1.0)), 3)    # C = [[1, -1], [-1, 1]]
    2.0
    """
    _check_pair("barlow_twins", z1, z2)
    n = z1.shape[0]
    if n < 2:
        raise ValueError("barlow_twins: the batch must hold at least 2 samples.")

    def standardise(z):
        return (z - z.mean(dim=0)) / torch.sqrt(z.var(dim=0, unbiased=False) + eps)

    c = standardise(z1).T @ standardise(z2) / n
    diagonal = torch.diagonal(c)
    on_diagonal = (diagonal - 1).pow(2).sum()
    off_diagonal = c.pow(2).sum() - diagonal.pow(2).sum()
    return on_diagonal + offdiag_weight * off_diagonal


class BarlowTwinsLoss(nn.Module):
    """:func:`barlow_twins` as a module: ``BarlowTwinsLoss(offdiag_weight)(z1, z2)``.

    Examples
    --------
    >>> import torch
    >>> from privlearn.losses import BarlowTwinsLoss
    >>> float(BarlowTwinsLoss()(torch.randn(8, 4), torch.randn(8, 4))) > 0
    True
    """

    def __init__(self, offdiag_weight=0.0051, gather=False):
        super().__init__()
        self.offdiag_weight = offdiag_weight
        self.gather = gather

    def forward(self, z1, z2):
        # `gather`: the cross-correlation of the whole batch of every process
        # (each process computes the same loss; gather_with_grad sums the
        # processes' gradients and DDP averages them, giving the whole-batch
        # gradient).  The accelerated estimators switch it on with several
        # processes.
        if self.gather and _world_size() > 1:
            z1, _ = gather_with_grad(z1)
            z2, _ = gather_with_grad(z2)
        return barlow_twins(z1, z2, self.offdiag_weight)

    def extra_repr(self):
        return f"offdiag_weight={self.offdiag_weight}"


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


def mmd2(h, groups, bandwidth=None):
    """Squared maximum mean discrepancy between the groups of a batch (Gaussian kernel).

    For every pair of group values (a, b) present in the batch, the biased
    (V-statistic) estimate

    .. math:: \\mathrm{MMD}^2(a, b) = \\overline{K}_{aa} + \\overline{K}_{bb}
              - 2\\,\\overline{K}_{ab},

    where :math:`\\overline{K}_{ab}` is the mean of the kernel
    :math:`k(u, v) = \\exp(-\\lVert u - v\\rVert^2 / (2\\sigma^2))` over
    :math:`u` in group a and :math:`v` in group b.  The result is the **mean over
    all pairs** of present values (for two values, the MMD² between them).  One
    pairwise-distance matrix per call; the per-group block means come from one
    matrix product with the one-hot group matrix.

    Parameters
    ----------
    h : torch.Tensor of shape (n, d)
        Representations.
    groups : torch.Tensor of shape (n,)
        Integer group codes (e.g. the encoded sensitive attribute).
    bandwidth : float or None, default=None
        The kernel width σ.  ``None``: the median heuristic (Gretton et al.,
        2012), σ = the median distance between distinct rows of the batch,
        computed without gradient.

    Returns
    -------
    mmd2 : torch.Tensor, scalar
        ≥ 0; 0 when fewer than two groups are present.

    Examples
    --------
    >>> import torch
    >>> from privlearn.losses import mmd2
    >>> g = torch.tensor([0, 0, 1, 1])
    >>> float(mmd2(torch.zeros(4, 3), g))               # identical groups
    0.0
    >>> float(mmd2(torch.tensor([[0.], [0.], [5.], [5.]]), g, bandwidth=1.0)) > 1.9
    True
    """
    if h.ndim != 2 or groups.ndim != 1 or len(groups) != len(h):
        raise ValueError("mmd2: `h` must have shape (n, d) and `groups` shape (n,), got "
                         f"{tuple(h.shape)} and {tuple(groups.shape)}.")
    present, codes = torch.unique(groups, return_inverse=True)
    n_groups = len(present)
    if n_groups < 2:
        return h.sum() * 0.0
    sq_norms = (h * h).sum(dim=1)
    sq_dist = (sq_norms[:, None] + sq_norms[None, :] - 2 * h @ h.T).clamp_min(0)
    if bandwidth is None:
        off_diagonal = ~torch.eye(len(h), dtype=torch.bool, device=h.device)
        sigma2 = sq_dist.detach()[off_diagonal].median()
        sigma2 = sigma2.clamp_min(torch.finfo(h.dtype).tiny)
    else:
        sigma2 = torch.as_tensor(float(bandwidth) ** 2, dtype=h.dtype, device=h.device)
    kernel = torch.exp(-sq_dist / (2 * sigma2))
    one_hot = torch.nn.functional.one_hot(codes, n_groups).to(h.dtype)    # (n, G)
    counts = one_hot.sum(dim=0)
    block_means = one_hot.T @ kernel @ one_hot / (counts[:, None] * counts[None, :])
    within = torch.diagonal(block_means)
    pairwise = within[:, None] + within[None, :] - 2 * block_means         # (G, G)
    upper = torch.triu(torch.ones_like(pairwise, dtype=torch.bool), diagonal=1)
    return pairwise[upper].mean()
