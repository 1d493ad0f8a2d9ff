"""SimSiam (Chen & He, 2021): a predictor and a stop-gradient, no momentum network."""

from __future__ import annotations

import torch

from ..backbones import SelfSupervisedNet
from ..losses import NegativeCosineLoss
from ._self_supervised import (OBJECTIVES, Objective, SelfSupervisedEncoder,
                               check_positive_int)

__all__ = ["SimSiam"]


class SimSiamObjective(Objective):
    """Negative cosine between each view's prediction and the other view's
    projection under stop-gradient (symmetrised)."""

    name = "simsiam"
    network = SelfSupervisedNet
    criterion = NegativeCosineLoss
    defaults = {"projection_dim": 128, "hidden_dim": 128, "predictor_hidden_dim": 32}

    def check(self, estimator):
        owner = estimator._owner()
        for name in ("projection_dim", "hidden_dim", "predictor_hidden_dim"):
            check_positive_int(owner, name, estimator._hyperparameter(name))

    def module_kwargs(self, estimator):
        return {"projection_dim": estimator._hyperparameter("projection_dim"),
                "hidden_dim": estimator._hyperparameter("hidden_dim"),
                "predictor_hidden_dim": estimator._hyperparameter("predictor_hidden_dim"),
                "output_batch_norm": True}

    def step(self, estimator, views, *, training, **fit_params):
        h, z, p = estimator.infer(torch.cat(views), **fit_params)
        z1, z2 = z.detach().chunk(2)                 # the stop-gradient
        return estimator.criterion_(p, torch.cat([z2, z1])), h, (h, z)


OBJECTIVES["simsiam"] = SimSiamObjective()


class SimSiam(SelfSupervisedEncoder):
    """SimSiam (Chen & He, 2021) as a scikit-learn transformer.

    The encoder (f, projection head g) and a prediction head q learn to make
    ``q(g(f(view1)))`` point in the direction of ``g(f(view2))``, the latter
    held fixed (stop-gradient), and the reverse (negative cosine,
    :func:`privlearn.losses.negative_cosine`): no negatives and no momentum
    network.  ``fit(X)`` ignores labels; ``transform(X)`` returns h = f(x).

    Defaults follow SimSiam scaled to the small CPU backbone: BatchNorm in the
    heads' hidden layers and on the projector's output (without it, short
    fits on digits barely beat random features) and a bottleneck predictor (hidden width a quarter of
    the output, 512 of 2048 in the paper) as in the paper, but a two-layer
    projector of width 128 instead of three layers of 2048 (the backbone has
    128 features), and Adam instead of SGD, as for all privlearn encoders.

    Parameters
    ----------
    backbone : {"cnn", "resnet18", "resnet50", "mobilenet_v2"}, default="cnn"
    projection_dim : int, default=128
    hidden_dim : int, default=128
        Hidden width of the projection head.
    predictor_hidden_dim : int, default=32
        Hidden (bottleneck) width of the prediction head.
    max_epochs, batch_size, lr, optimizer, augment, device, precision, channels_last
        As for :class:`~privlearn.SimCLR`.
    random_state, train_split, warm_start, verbose, callbacks, iterator_*, dataset
        As for :class:`~privlearn.SimCLR`.
    module : nn.Module class or None, default=None
        None: :class:`~privlearn.backbones.SelfSupervisedNet` with a
        predictor; extra arguments with ``module__*``.
    criterion : nn.Module class or None, default=None
        None: :class:`~privlearn.losses.NegativeCosineLoss`.
    **kwargs
        Other skorch parameters.

    Attributes
    ----------
    module_ : SelfSupervisedNet
        ``backbone`` (f), ``projector`` (g), ``predictor`` (q).
    input_spec_ : InputSpec
    history_ : skorch History

    Examples
    --------
    >>> import privlearn as pl
    >>> images = pl.datasets.load("digits").images[:256]
    >>> simsiam = pl.SimSiam(max_epochs=1, batch_size=128, random_state=0)
    >>> simsiam.fit(images).transform(images[:5]).shape
    (5, 128)
    """

    objective_name = "simsiam"
