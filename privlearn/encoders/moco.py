"""MoCo v2 (He et al., 2020; Chen et al., 2020): a momentum key encoder and a queue."""

from __future__ import annotations

import torch

from ..backbones import SelfSupervisedNet
from ..losses import InfoNCELoss, gather_without_grad
from ._base import _float32
from ._self_supervised import (OBJECTIVES, Objective, SelfSupervisedEncoder,
                               check_positive_int, check_positive_real, check_unit_interval)

__all__ = ["MoCo"]


class MoCoObjective(Objective):
    """InfoNCE of the query encoder's projections against momentum keys and a queue.

    Symmetrised: each view is a query whose key is the other view's momentum
    projection, so both views train the encoder (and both give h).  The
    keys of the second view are enqueued after each training step.
    """

    name = "moco"
    network = SelfSupervisedNet
    criterion = InfoNCELoss
    defaults = {"projection_dim": 128, "temperature": 0.2, "momentum": 0.99,
                "queue_size": 1024}

    def check(self, estimator):
        owner = estimator._owner()
        check_positive_int(owner, "projection_dim", estimator._hyperparameter("projection_dim"))
        check_positive_int(owner, "queue_size", estimator._hyperparameter("queue_size"))
        check_positive_real(owner, "temperature", estimator._hyperparameter("temperature"))
        check_unit_interval(owner, "momentum", estimator._hyperparameter("momentum"))

    def module_kwargs(self, estimator):
        return {"projection_dim": estimator._hyperparameter("projection_dim"),
                "batch_norm": False, "momentum_encoder": True,
                "queue_size": estimator._hyperparameter("queue_size")}

    def criterion_kwargs(self, estimator):
        return {"temperature": estimator._hyperparameter("temperature")}

    def step(self, estimator, views, *, training, **fit_params):
        network = estimator._network()
        h, z = estimator.infer(torch.cat(views), **fit_params)
        with estimator._autocast():
            keys = _float32(network.momentum_forward(torch.cat(views[::-1])))
        # The queue is updated in place below; the loss keeps its own copy.
        loss = estimator.criterion_(z, keys, network.queue.clone())
        if training:
            # Every process enqueues the keys of every process (MoCo's
            # shuffled-BN-free multi-GPU queue), so the queues stay identical.
            network.enqueue(gather_without_grad(keys[:len(keys) // 2]))
        return loss, h, (h, z)

    def after_optimizer_step(self, estimator):
        estimator._network().update_momentum(estimator._hyperparameter("momentum"))


OBJECTIVES["moco"] = MoCoObjective()


class MoCo(SelfSupervisedEncoder):
    """MoCo v2 (He et al., 2020; Chen et al., 2020) as a scikit-learn transformer.

    The query encoder (f and the projection head g) learns to match each
    view's projection with the *key* of the other view, computed by a
    momentum copy of f and g, against a queue of past keys as negatives
    (InfoNCE, :func:`privlearn.losses.info_nce`).  The key encoder follows
    the query encoder by an exponential moving average after every optimizer
    step (one vectorised ``torch._foreach_lerp_``); the queue and the key
    encoder are part of ``module_``'s state, so checkpoints, pickles and warm
    starts resume them.  ``fit(X)`` ignores labels; ``transform(X)`` returns
    h = f(x) of the query encoder.

    Defaults follow MoCo v2 scaled to the small CPU backbone and small data
    sets: temperature 0.2 and a two-layer MLP head without BatchNorm as in the
    paper; momentum 0.99 instead of 0.999 (the paper's 0.999 suits hundreds of
    thousands of steps; a short fit has a few hundred) and a queue of 1024 keys
    instead of 65536 (the paper's queue is 5% of ImageNet; 1024 is a large
    share of digits-sized data, so that every step has many negatives).  The
    loss is symmetrised (each view is a query once), and Adam replaces SGD, as
    for all privlearn encoders.  Single-process training has no shuffled
    BatchNorm (the key encoder's BatchNorm sees the same batch as the query's).

    Parameters
    ----------
    backbone : {"cnn", "resnet18", "resnet50", "mobilenet_v2"}, default="cnn"
    projection_dim : int, default=128
    temperature : float, default=0.2
        InfoNCE temperature τ.
    momentum : float, default=0.99
        m in [0, 1): the key encoder's weights become ``m·key + (1-m)·query``.
    queue_size : int, default=1024
        Number of past keys kept as negatives (K).
    max_epochs, batch_size, lr, optimizer, augment, device, precision, channels_last
        As for :class:`~privlearn.SimCLR`.
    random_state, train_split, warm_start, verbose, callbacks, iterator_*, dataset
        As for :class:`~privlearn.SimCLR`.
    module : nn.Module class or None, default=None
        None: :class:`~privlearn.backbones.SelfSupervisedNet` with a momentum
        copy and a queue; extra arguments with ``module__*``.
    criterion : nn.Module class or None, default=None
        None: :class:`~privlearn.losses.InfoNCELoss`.
    **kwargs
        Other skorch parameters.

    Attributes
    ----------
    module_ : SelfSupervisedNet
        ``backbone`` (f), ``projector`` (g), ``momentum_backbone`` and
        ``momentum_projector`` (the key encoder), ``queue``.
    input_spec_ : InputSpec
    history_ : skorch History

    Examples
    --------
    >>> import privlearn as pl
    >>> images = pl.datasets.load("digits").images[:256]
    >>> moco = pl.MoCo(max_epochs=1, batch_size=128, queue_size=256, random_state=0)
    >>> moco.fit(images).transform(images[:5]).shape
    (5, 128)
    """

    objective_name = "moco"
