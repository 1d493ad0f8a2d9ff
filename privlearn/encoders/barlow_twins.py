"""Barlow Twins (Zbontar et al., 2021): the views' cross-correlation towards identity."""

from __future__ import annotations

import torch

from ..backbones import SelfSupervisedNet
from ..losses import BarlowTwinsLoss
from ._self_supervised import (OBJECTIVES, Objective, SelfSupervisedEncoder,
                               check_positive_int, check_positive_real)

__all__ = ["BarlowTwins"]


class BarlowTwinsObjective(Objective):
    """Barlow Twins' loss of the cross-correlation of the two views' projections."""

    name = "barlow_twins"
    network = SelfSupervisedNet
    criterion = BarlowTwinsLoss
    defaults = {"projection_dim": 512, "hidden_dim": 512, "offdiag_weight": 0.0051}
    gathers = True      # the cross-correlation of every process's batch

    def check(self, estimator):
        owner = estimator._owner()
        for name in ("projection_dim", "hidden_dim"):
            check_positive_int(owner, name, estimator._hyperparameter(name))
        check_positive_real(owner, "offdiag_weight", estimator._hyperparameter("offdiag_weight"))

    def module_kwargs(self, estimator):
        return {"projection_dim": estimator._hyperparameter("projection_dim"),
                "hidden_dim": estimator._hyperparameter("hidden_dim"),
                "projector_layers": 3}

    def criterion_kwargs(self, estimator):
        return {"offdiag_weight": estimator._hyperparameter("offdiag_weight")}

    def step(self, estimator, views, *, training, **fit_params):
        h, z = estimator.infer(torch.cat(views), **fit_params)
        z1, z2 = z.chunk(2)
        return estimator.criterion_(z1, z2), h, (h, z)


OBJECTIVES["barlow_twins"] = BarlowTwinsObjective()


class BarlowTwins(SelfSupervisedEncoder):
    """Barlow Twins (Zbontar et al., 2021) as a scikit-learn transformer.

    The encoder (f, projection head g) learns to make the cross-correlation
    matrix of the two views' batch-standardised projections close to the
    identity: matching dimensions agree (invariance), different dimensions
    are decorrelated (redundancy reduction, weighted by ``offdiag_weight``
    λ; :func:`privlearn.losses.barlow_twins`).  No negatives, no momentum
    network.  ``fit(X)`` ignores labels; ``transform(X)`` returns h = f(x).

    Defaults follow Barlow Twins scaled to the small CPU backbone: a
    three-layer projector with BatchNorm and ReLU and λ = 0.0051 as in the
    paper, but 512 units per layer instead of 8192, and Adam instead of LARS,
    as for all privlearn encoders.

    Parameters
    ----------
    backbone : {"cnn", "resnet18", "resnet50", "mobilenet_v2"}, default="cnn"
    projection_dim : int, default=512
        Size of the projections whose cross-correlation is computed.
    hidden_dim : int, default=512
        Hidden width of the projection head.
    offdiag_weight : float, default=0.0051
        λ > 0, the weight of the off-diagonal (redundancy-reduction) term.
    max_epochs, batch_size, lr, optimizer, augment, device, precision, channels_last
        As for :class:`~privlearn.SimCLR`.
    random_state, train_split, warm_start, verbose, callbacks, iterator_*, dataset
        As for :class:`~privlearn.SimCLR`.
    module : nn.Module class or None, default=None
        None: :class:`~privlearn.backbones.SelfSupervisedNet`; extra arguments
        with ``module__*``.
    criterion : nn.Module class or None, default=None
        None: :class:`~privlearn.losses.BarlowTwinsLoss`.
    **kwargs
        Other skorch parameters.

    Attributes
    ----------
    module_ : SelfSupervisedNet
        ``backbone`` (f), ``projector`` (g).
    input_spec_ : InputSpec
    history_ : skorch History

    Examples
    --------
    >>> import privlearn as pl
    >>> images = pl.datasets.load("digits").images[:256]
    >>> barlow = pl.BarlowTwins(max_epochs=1, batch_size=128, random_state=0)
    >>> barlow.fit(images).transform(images[:5]).shape
    (5, 128)
    """

    objective_name = "barlow_twins"
