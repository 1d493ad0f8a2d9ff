"""BYOL (Grill et al., 2020): an online predictor regressing a momentum target."""

from __future__ import annotations

import torch

from ..backbones import SelfSupervisedNet
from ..losses import NormalizedMSELoss
from ._base import _float32
from ._self_supervised import (OBJECTIVES, Objective, SelfSupervisedEncoder,
                               check_positive_int, check_unit_interval)

__all__ = ["BYOL"]


class BYOLObjective(Objective):
    """Normalised MSE between the online prediction of each view and the target
    network's projection of the other view (symmetrised)."""

    name = "byol"
    network = SelfSupervisedNet
    criterion = NormalizedMSELoss
    defaults = {"projection_dim": 128, "hidden_dim": 512, "predictor_hidden_dim": 512,
                "momentum": 0.99}

    def check(self, estimator):
        owner = estimator._owner()
        for name in ("projection_dim", "hidden_dim", "predictor_hidden_dim"):
            check_positive_int(owner, name, estimator._hyperparameter(name))
        check_unit_interval(owner, "momentum", estimator._hyperparameter("momentum"))

    def module_kwargs(self, estimator):
        return {"projection_dim": estimator._hyperparameter("projection_dim"),
                "hidden_dim": estimator._hyperparameter("hidden_dim"),
                "predictor_hidden_dim": estimator._hyperparameter("predictor_hidden_dim"),
                "momentum_encoder": True}

    def step(self, estimator, views, *, training, **fit_params):
        network = estimator._network()
        h, z, p = estimator.infer(torch.cat(views), **fit_params)
        with estimator._autocast():
            targets = _float32(network.momentum_forward(torch.cat(views[::-1])))
        return estimator.criterion_(p, targets), h, (h, z)

    def after_optimizer_step(self, estimator):
        estimator._network().update_momentum(estimator._hyperparameter("momentum"))


OBJECTIVES["byol"] = BYOLObjective()


class BYOL(SelfSupervisedEncoder):
    """BYOL (Grill et al., 2020) as a scikit-learn transformer.

    The online network (f, projection head g, prediction head q) learns to
    predict the *target* network's projection of the other view of each
    image (normalised MSE, :func:`privlearn.losses.normalized_mse`), with no
    negatives.  The target is a momentum copy of f and g, updated by an
    exponential moving average after every optimizer step (one vectorised
    ``torch._foreach_lerp_``) and saved with ``module_`` (checkpoints,
    pickles, warm starts).  ``fit(X)`` ignores labels; ``transform(X)``
    returns h = f(x) of the online network.

    Defaults follow BYOL scaled to the small CPU backbone: heads with one
    BatchNorm+ReLU hidden layer as in the paper, but 512 hidden units instead
    of 4096 and 128 outputs instead of 256 (the backbone has 128 features);
    a constant momentum of 0.99 instead of 0.996 raised to 1 by a cosine
    schedule (that schedule spans 1000 epochs; a short fit needs a target that
    moves).  The loss is averaged over both directions (the paper sums them)
    and Adam replaces LARS, as for all privlearn encoders.

    Parameters
    ----------
    backbone : {"cnn", "resnet18", "resnet50", "mobilenet_v2"}, default="cnn"
    projection_dim : int, default=128
    hidden_dim : int, default=512
        Hidden width of the projection head.
    predictor_hidden_dim : int, default=512
        Hidden width of the prediction head.
    momentum : float, default=0.99
        τ in [0, 1): the target's weights become ``τ·target + (1-τ)·online``.
    max_epochs, batch_size, lr, optimizer, augment, device, precision, channels_last
        As for :class:`~privlearn.SimCLR`.
    random_state, train_split, warm_start, verbose, callbacks, iterator_*, dataset
        As for :class:`~privlearn.SimCLR`.
    module : nn.Module class or None, default=None
        None: :class:`~privlearn.backbones.SelfSupervisedNet` with a predictor
        and a momentum copy; extra arguments with ``module__*``.
    criterion : nn.Module class or None, default=None
        None: :class:`~privlearn.losses.NormalizedMSELoss`.
    **kwargs
        Other skorch parameters.

    Attributes
    ----------
    module_ : SelfSupervisedNet
        ``backbone`` (f), ``projector`` (g), ``predictor`` (q),
        ``momentum_backbone`` and ``momentum_projector`` (the target).
    input_spec_ : InputSpec
    history_ : skorch History

    Examples
    --------
    >>> import privlearn as pl
    >>> images = pl.datasets.load("digits").images[:256]
    >>> byol = pl.BYOL(max_epochs=1, batch_size=128, random_state=0)
    >>> byol.fit(images).transform(images[:5]).shape
    (5, 128)
    """

    objective_name = "byol"
