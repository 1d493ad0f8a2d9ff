"""SimCLR (Chen et al., 2020): NT-Xent between the two views of every image."""

from __future__ import annotations

import math
import numbers

import torch

from ..backbones import ContrastiveNet
from ..losses import NTXentLoss
from ._base import _is_int
from ._self_supervised import OBJECTIVES, Objective, SelfSupervisedEncoder

__all__ = ["SimCLR"]


class SimCLRObjective(Objective):
    """NT-Xent of the projections of the two views (SimCLR)."""

    name = "simclr"
    network = ContrastiveNet
    criterion = NTXentLoss
    defaults = {"projection_dim": 128, "temperature": 0.5}
    gathers = True      # negatives from every process

    def check(self, estimator):
        owner = estimator._owner()
        t = estimator._hyperparameter("temperature")
        if (not isinstance(t, numbers.Real) or isinstance(t, bool) or not math.isfinite(t)
                or t <= 0):
            raise ValueError(f"{owner}: `temperature` must be a positive number, got {t!r}.")
        dim = estimator._hyperparameter("projection_dim")
        if not _is_int(dim) or dim < 1:
            raise ValueError(f"{owner}: `projection_dim` must be a positive integer, "
                             f"got {dim!r}.")

    def module_kwargs(self, estimator):
        return {"projection_dim": estimator._hyperparameter("projection_dim")}

    def criterion_kwargs(self, estimator):
        return {"temperature": estimator._hyperparameter("temperature")}

    def step(self, estimator, views, *, training, **fit_params):
        # One forward pass over both views: the module returns (h, z).
        y_pred = estimator.infer(torch.cat(views), **fit_params)
        h, z = y_pred
        z1, z2 = z.chunk(2)
        return estimator.criterion_(z1, z2), h, y_pred


OBJECTIVES["simclr"] = SimCLRObjective()


class SimCLR(SelfSupervisedEncoder):
    """SimCLR contrastive encoder (Chen et al., 2020) as a scikit-learn transformer.

    ``fit(X)`` trains a base encoder f and a projection head g so that the two
    augmented views of each image are close under NT-Xent and far from the
    other images' views; labels are ignored.  ``transform(X)`` returns h = f(x),
    the representation before the projection head.

    Parameters
    ----------
    backbone : {"cnn", "resnet18", "resnet50", "mobilenet_v2"}, default="cnn"
        Base encoder; see :func:`privlearn.backbones.make_backbone`.  Images at
        most 64 px on a side get the small-image stem.
    projection_dim : int, default=128
        Output size of the two-layer projection head.
    temperature : float, default=0.5
        NT-Xent temperature τ.
    max_epochs : int, default=100
    batch_size : int, default=256
        Images per step; each step sees ``2 × batch_size`` views.
    lr : float, default=1e-3
    optimizer : torch optimizer class, default=torch.optim.Adam
        Its arguments can be set with ``optimizer__*``.
    augment : nn.Module class, default=SimCLRAugment
        Batched augmentation; set its arguments with ``augment__*``, e.g.
        ``augment__crop_scale=(0.2, 1.0)``, ``augment__blur_prob=0.5``.  Flat
        ``N×d`` feature inputs use :class:`privlearn.augment.FeatureAugment`
        instead of the default image augmentation.
    device : str, default="cpu"
        Where the network, the batches, the augmentation and the loss live,
        e.g. ``"cuda"`` or ``"cuda:1"`` (see :doc:`/scaling`).
    precision : {None, "bf16", "fp16"}, default=None
        Mixed precision: forward passes run under ``torch.autocast`` with this
        dtype (losses in float32); ``"fp16"`` adds a ``torch.amp.GradScaler``.
        ``"bf16"`` suits recent GPUs (and works on CPU); None is float32.
    channels_last : bool, default=False
        Keep the network's weights and the image batches in the
        ``torch.channels_last`` memory format (faster convolutions on GPUs with
        tensor cores, especially with ``precision``).
    random_state : int, RandomState or None, default=None
        Seeds weight initialisation, shuffling and augmentation; with it, two
        fits on CPU give identical models.  The caller's global torch random
        state is not changed.
    train_split : callable or None, default=None
        skorch's internal validation split (None: train on all of X).
    warm_start : bool, default=False
        If True, ``fit`` continues training the current weights (also on
        another data set with the same number of channels, e.g. pre-training on
        one set and continuing on another).  ``partial_fit`` always continues.
    verbose : int, default=0
        1 prints skorch's epoch table.
    callbacks : list or None, default=None
        skorch callbacks, e.g. ``Checkpoint``, ``LoadInitState``, ``ProgressBar``,
        :class:`InitFromEncoder`.
    module, criterion : default=ContrastiveNet, NTXentLoss
        The network and loss classes; set their extra arguments with
        ``module__*`` and ``criterion__*``.
    **kwargs
        Other skorch parameters (``iterator_train__*``, ``iterator_valid__*``,
        ``compile``, ...).  Training batches are shuffled
        (``iterator_train__shuffle=True``) unless told otherwise.

    Attributes
    ----------
    module_ : ContrastiveNet
        The trained network: ``module_.normalize`` (fitted per-channel mean and
        std), ``module_.backbone`` (f), ``module_.projector`` (g).
    input_spec_ : InputSpec
        Kind and per-sample shape of the inputs the model was fitted on.
    history_ : skorch History
        Per-epoch ``train_loss`` and timing.
    grad_scaler_ : torch.amp.GradScaler or None
        The loss scaler when ``precision="fp16"``.

    Notes
    -----
    Inputs: NumPy arrays or tensors of raw images -- ``uint8`` 0–255 or float
    0–1, ``N×C×H×W`` or ``N×H×W`` -- or a torch ``Dataset`` of images or
    ``(image, label)`` pairs.  Float images far outside [0, 1] raise a
    ``ValueError`` (they look pre-normalised): normalisation is fitted here,
    per channel, in ``fit``.  2-D ``N×d`` arrays are flat features, fed to the
    network as ``1×1×d`` images and standardised per feature.  ``uint8``
    arrays stay ``uint8`` in memory and are converted batch by batch on the
    device.  With ``warm_start``, later fits keep the first fit's normalisation
    (the weights were learned with it).

    Pre-training: either fit one encoder with ``warm_start=True`` on one data set
    and then on another, or start a new estimator (SimCLR, Talos or
    SupervisedClassifier) from a fitted one with
    ``callbacks=[InitFromEncoder(fitted)]``.

    Extending (e.g. Talos): a training step is ``train_step_single(batch)`` →
    :meth:`objective_step` → :meth:`prepare_batch` (raw batch → float on the
    device) → :meth:`make_views` (two augmented views) → the objective's
    ``step`` (``infer``: the module's ``forward`` returns ``(h, z)`` for the
    ``2N`` concatenated views; then NT-Xent of ``z``), which returns
    ``{"loss", "h", "y_pred"}``.  Per-sample side information (e.g. sensitive
    attributes) passed as ``targets`` to ``_fit(X, targets, partial=...)``
    arrives as ``yi`` in every batch.  Extra networks go in
    ``initialize_module`` (after ``super().initialize_module()``;
    ``module_.feature_dim`` is the size of h), extra optimizers in
    ``initialize_optimizer``.  Name new attributes with a trailing underscore.
    A subclass that replaces ``train_step`` should call ``self.backward(loss)``,
    ``self.optimizer_step(optimizer)`` and ``self.after_optimizer_step()``
    rather than ``loss.backward()`` and ``optimizer.step()``, so that fp16 loss
    scaling, momentum updates and :mod:`privlearn.distributed`'s accelerate
    backend reach it; forward passes through :meth:`objective_step` already
    run under the chosen precision.

    Examples
    --------
    >>> import privlearn as pl
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> data = pl.datasets.load("digits", task="digit")
    >>> encoder = pl.SimCLR(max_epochs=1, batch_size=128, random_state=0)
    >>> model = make_pipeline(encoder, LogisticRegression(max_iter=200))
    >>> model.fit(data.images[:256], data.target[:256]).predict(data.images[:3]).shape
    (3,)
    >>> encoder.transform(data.images[:5]).shape
    (5, 128)
    """

    objective_name = "simclr"
    #: SimCLR names its network and loss (0.1 API); the others leave them None.
    shared_defaults = {"module": ContrastiveNet, "criterion": NTXentLoss}

    def contrastive_step(self, batch, training=True, **fit_params):
        """Views → ``(h, z)`` → loss for one batch (:meth:`objective_step`)."""
        return self.objective_step(batch, training=training, **fit_params)

    def get_loss(self, y_pred, y_true=None, X=None, training=False):
        """NT-Xent of the projections: ``y_pred = (h, z)`` for views ``[v1; v2]``."""
        _, z = y_pred
        z1, z2 = z.chunk(2)
        return self.criterion_(z1, z2)
