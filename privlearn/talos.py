"""Talos: a self-supervised encoder trained to hide a sensitive attribute.

He & Zhang (CCS 2021, Section 6) defend contrastive models against attribute
inference by adversarial training: next to SimCLR's encoder f and projection head
g, an *adversary* (an MLP) learns to predict the sensitive attribute from the
representations h = f(x) of the augmented views, and the encoder is trained to
make that prediction fail while still solving the contrastive task.  Here the
task may be any of privlearn's self-supervised objectives (``objective=``).  The encoder
receives the adversary's gradient through a gradient-reversal layer scaled by the
``adversary_weight`` λ; encoder and adversary are updated alternately.

- :class:`Talos`: the estimator (over any objective of
  :data:`privlearn.encoders.OBJECTIVES`).
- :class:`AdversaryNet`: the default adversary network.

How much utility and attribute privacy each λ gives is measured by
:func:`privlearn.tradeoff.privacy_utility_curve` (kept apart: the estimators
never import the attacks).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.metadata_routing import UNUSED
from sklearn.utils.validation import _num_samples
from skorch.callbacks import PassthroughScoring
from skorch.dataset import unpack_data
from skorch.utils import TeeGenerator
from torch import nn
from torch.func import functional_call

from .encoders import OBJECTIVES, SelfSupervisedEncoder, _is_int
from .losses import grad_reverse

__all__ = ["Talos", "AdversaryNet"]

#: ``adversary__*`` parameters that configure the adversary's optimizer; every
#: other ``adversary__*`` parameter goes to the adversary network's constructor.
_ADVERSARY_OPTIMIZER_PARAMS = ("lr",)


class AdversaryNet(nn.Module):
    """Talos's default adversary: an MLP from a representation to attribute logits.

    Parameters
    ----------
    in_features : int
        Size of the representation h (set by :class:`Talos`).
    n_classes : int
        Number of sensitive-attribute values (set by :class:`Talos`).
    hidden_units : int or sequence of int, default=(128, 64)
        Sizes of the ReLU hidden layers (the same shape as the default
        attribute-inference attacker's MLP); ``()`` gives a linear adversary.

    Examples
    --------
    >>> import torch
    >>> from privlearn.talos import AdversaryNet
    >>> AdversaryNet(16, 3, hidden_units=(8,))(torch.zeros(5, 16)).shape
    torch.Size([5, 3])
    """

    def __init__(self, in_features, n_classes, hidden_units=(128, 64)):
        super().__init__()
        if _is_int(hidden_units):
            hidden_units = (hidden_units,)
        if (not isinstance(hidden_units, Sequence)
                or not all(_is_int(u) and u >= 1 for u in hidden_units)):
            raise ValueError("`hidden_units` must be a positive integer or a sequence of "
                             f"positive integers, got {hidden_units!r}")
        layers, width = [], in_features
        for units in hidden_units:
            layers += [nn.Linear(width, units), nn.ReLU()]
            width = units
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, h):
        return self.net(h)


def _split_adversary_params(params):
    adversary = {k: v for k, v in params.items()
                 if k == "adversary" or k.startswith("adversary__")}
    rest = {k: v for k, v in params.items() if k not in adversary}
    return adversary, rest


def _check_sensitive_features(X, sensitive_features, *, owner):
    """Validate the attribute before any work: present, 1-D, one per sample,
    no missing values, at least two values.  Returns it as a 1-D array."""
    if sensitive_features is None:
        raise ValueError(
            f"{owner}: `sensitive_features` is required: the sensitive attribute of each "
            "image, one value per sample (e.g. fit(X, sensitive_features=s), or "
            "talos__sensitive_features=s through a Pipeline).")
    s = np.asarray(sensitive_features)
    if s.ndim == 2 and s.shape[1] == 1:
        s = s.ravel()
    if s.ndim != 1:
        raise ValueError(f"{owner}: `sensitive_features` must be 1-D (one attribute value "
                         f"per image), got shape {s.shape}.")
    n_samples = _num_samples(X)
    if len(s) != n_samples:
        raise ValueError(f"{owner}: `sensitive_features` has {len(s)} values but X has "
                         f"{n_samples} samples; give one attribute value per sample.")
    if s.dtype.kind == "f":
        missing = np.isnan(s)
    elif s.dtype.kind == "O":
        missing = np.array([v is None or (isinstance(v, float) and math.isnan(v))
                            for v in s], dtype=bool)
    else:
        missing = np.zeros(len(s), dtype=bool)
    if missing.any():
        raise ValueError(f"{owner}: `sensitive_features` contains {int(missing.sum())} "
                         "missing values (NaN/None); every image needs its attribute.")
    values = np.unique(s)
    if len(values) < 2:
        raise ValueError(f"{owner}: `sensitive_features` must hold at least two distinct "
                         f"values to hide, got only one class, {values.tolist()}.")
    return s


class Talos(SelfSupervisedEncoder):
    """A self-supervised encoder with an adversary that removes a sensitive attribute.

    He & Zhang's defence (CCS 2021), for any objective: the loss of
    :class:`SimCLR` (default), :class:`MoCo`, :class:`BYOL`, :class:`SimSiam` or
    :class:`BarlowTwins` (``objective``) plus
    an adversarial classifier that predicts the sensitive attribute from the
    representations h of the augmented views, connected to the encoder through a
    gradient-reversal layer scaled by ``adversary_weight`` (λ).  Every training
    step alternates two updates on the same batch of views:

    1. **adversary**: with h detached, one optimizer step of the adversary on the
       cross-entropy of the attribute (its own optimizer, ``adversary__lr``);
    2. **encoder**: one optimizer step of f and g on
       ``L(views) − λ · CE(adversary(h), s)`` (L: the objective's loss, e.g.
       NT-Xent), computed as ``L + CE(adversary(GradReverse_λ(h)), s)`` with
       the just-updated adversary held fixed (its parameters get no
       gradient), plus any :meth:`_privacy_penalty` terms; then the
       objective's momentum update, if it has one.

    Both views of an image carry its attribute.  With ``adversary_weight=0`` the
    encoder update is the objective's exactly (same ``random_state``, same
    embeddings as :class:`SimCLR` for ``objective="simclr"``); the adversary
    still trains, so its accuracy shows what the plain objective leaks.

    Parameters
    ----------
    objective : {"simclr", "moco", "byol", "simsiam", "barlow_twins"}, default="simclr"
        The self-supervised objective the encoder solves.
    adversary_weight : float, default=1.0
        λ ≥ 0, the weight of the reversed adversary gradient.
    adversary : nn.Module class, default=AdversaryNet
        The adversary network, built as ``adversary(in_features=dim(h),
        n_classes=#attribute values, **adversary__*)``.  Its parameters:
        ``adversary__hidden_units`` (default ``(128, 64)``), and
        ``adversary__lr`` (its optimizer's learning rate, default ``lr``).  It
        uses the ``optimizer`` class (Adam by default).
    projection_dim, temperature, momentum, queue_size, hidden_dim, predictor_hidden_dim, offdiag_weight : default=None
        The objective's hyperparameters, as for its estimator; None takes
        that estimator's default.  Setting one the objective does not have
        (e.g. ``queue_size`` with ``objective="simclr"``) is an error.
    **params
        Every other :class:`SimCLR` parameter (``backbone``, ``max_epochs``,
        ``batch_size``, ``lr``, ``augment__*``, ``random_state``, ...), with
        the same defaults; ``module=None`` and ``criterion=None`` take the
        objective's network and loss.

    Attributes
    ----------
    module_ : nn.Module
        The objective's network: the encoder f, its heads (and momentum
        copies).
    adversary_ : nn.Module
        The trained adversary.
    adversary_optimizer_ : torch optimizer
    sensitive_classes_ : ndarray
        The attribute values seen in ``fit`` (any labels; encoded internally).
    history_ : skorch History
        Per epoch: ``train_loss`` (the encoder objective L − λ·CE),
        ``objective_loss`` (L; also logged as ``contrastive_loss``, its name
        when L was always NT-Xent), ``adversary_loss`` and ``adversary_acc``
        (the adversary's cross-entropy and accuracy on each batch's views just
        before its update, averaged over the epoch), e.g.
        ``talos.history_[:, "adversary_acc"]``.

    See Also
    --------
    privlearn.tradeoff.privacy_utility_curve : utility and attribute leakage against λ.
    privlearn.attribute_leakage_scorer : choose λ with ``GridSearchCV``.

    Notes
    -----
    ``fit(X, y=None, *, sensitive_features)`` follows fairlearn's convention.  In
    a :class:`~sklearn.pipeline.Pipeline` pass ``talos__sensitive_features=s``;
    with metadata routing enabled (``sklearn.set_config(
    enable_metadata_routing=True)``) Talos requests ``sensitive_features`` for
    ``fit`` and ``partial_fit`` by default, so ``search.fit(X, y,
    sensitive_features=s)`` reaches it (sliced per fold) without
    ``set_fit_request``.  The adversary's optimizer step happens inside
    ``train_step``, which is overridden: closure-based optimizers that evaluate
    the loss several times per step (LBFGS) are not supported.

    Examples
    --------
    >>> import privlearn as pl
    >>>     >>> from sklearn.pipeline import make_pipeline
    >>> data = pl.datasets.load("digits")            # task parity, attribute digit
    >>> talos = pl.Talos(adversary_weight=1.0, max_epochs=1, batch_size=128,
    ...                  adversary__hidden_units=(32,), random_state=0)
    >>> model = make_pipeline(talos, LogisticRegression(max_iter=200))
    >>> model.fit(data.images[:256], data.target[:256],
    ...           talos__sensitive_features=data.sensitive[:256]).predict(
    ...     data.images[:3]).shape
    (3,)
    >>> sorted(talos.history_[-1])[:3]     # logged per epoch
    ['adversary_acc', 'adversary_loss', 'batches']
    """

    prefixes_ = [*SelfSupervisedEncoder.prefixes_, "adversary"]
    cuda_dependent_attributes_ = [*SelfSupervisedEncoder.cuda_dependent_attributes_,
                                  "adversary_"]
    #: Objective hyperparameters Talos accepts (None: the objective's default).
    _OBJECTIVE_PARAMS = ("projection_dim", "temperature", "momentum", "queue_size",
                         "hidden_dim", "predictor_hidden_dim", "offdiag_weight")
    # fairlearn-style metadata: requested by default under metadata routing.
    __metadata_request__fit = {"sensitive_features": True}
    __metadata_request__partial_fit = {"classes": UNUSED, "sensitive_features": True}

    def __init__(self, *, objective="simclr", adversary_weight=1.0, adversary=AdversaryNet,
                 projection_dim=None, temperature=None, momentum=None, queue_size=None,
                 hidden_dim=None, predictor_hidden_dim=None, offdiag_weight=None, **params):
        super().__init__(**params)
        self.objective = objective
        self.adversary_weight = adversary_weight
        self.adversary = adversary
        self.projection_dim = projection_dim
        self.temperature = temperature
        self.momentum = momentum
        self.queue_size = queue_size
        self.hidden_dim = hidden_dim
        self.predictor_hidden_dim = predictor_hidden_dim
        self.offdiag_weight = offdiag_weight

    @property
    def objective_(self):
        """The :class:`~privlearn.encoders.Objective` named by ``objective``."""
        if not isinstance(self.objective, str) or self.objective not in OBJECTIVES:
            raise ValueError(f"Talos: `objective` must be one of "
                             f"{', '.join(map(repr, OBJECTIVES))}, got {self.objective!r}.")
        return OBJECTIVES[self.objective]

    # --- checks ---------------------------------------------------------------
    def _check_hyperparameters(self):
        objective = self.objective_
        unused = [name for name in self._OBJECTIVE_PARAMS
                  if getattr(self, name) is not None and name not in objective.defaults]
        if unused:
            raise ValueError(f"Talos: {', '.join(f'`{name}`' for name in unused)} do(es) not "
                             f"apply to objective={self.objective!r}; its hyperparameters "
                             f"are {', '.join(map(repr, objective.defaults))}.")
        super()._check_hyperparameters()
        w = self.adversary_weight
        if (not isinstance(w, numbers.Real) or isinstance(w, bool) or not math.isfinite(w)
                or w < 0):
            raise ValueError("Talos: `adversary_weight` must be a finite number >= 0, "
                             f"got {w!r}.")
        lr = self.get_params_for("adversary").get("lr", self.lr)
        if not isinstance(lr, numbers.Real) or isinstance(lr, bool) or not lr > 0:
            raise ValueError(f"Talos: `adversary__lr` must be a positive number, got {lr!r}.")

    def _encode_sensitive(self, X, sensitive_features, *, refit):
        s = _check_sensitive_features(X, sensitive_features, owner="Talos")
        if refit:
            encoder = LabelEncoder().fit(s)
        else:
            encoder = self.sensitive_encoder_
            unknown = np.setdiff1d(s, encoder.classes_)
            if unknown.size:
                raise ValueError(
                    f"Talos: `sensitive_features` holds values {unknown.tolist()[:5]} not "
                    f"seen in the first fit ({encoder.classes_.tolist()}); the adversary "
                    "cannot continue with new attribute values.")
        self.sensitive_encoder_ = encoder
        return encoder.transform(s).astype(np.int64)

    @property
    def sensitive_classes_(self):
        """The sensitive-attribute values seen in ``fit``."""
        return self.sensitive_encoder_.classes_

    # --- initialisation ---------------------------------------------------------
    def _adversary_kwargs(self):
        params = self.get_params_for("adversary")
        for key in _ADVERSARY_OPTIMIZER_PARAMS:
            params.pop(key, None)
        return {"in_features": self._network().feature_dim,
                "n_classes": len(self.sensitive_classes_), **params}

    def _make_adversary(self):
        # The adversary's weights come from a forked generator seeded by one draw
        # from the current stream, so that building it leaves the random numbers
        # the encoder's training uses exactly as in SimCLR (λ=0 reproduces it).
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2**31 - 1, (1,))) + 1)
            try:
                adversary = self.adversary(**self._adversary_kwargs())
            except (TypeError, ValueError) as exc:
                raise ValueError("Talos: invalid `adversary` / `adversary__*` parameters: "
                                 f"{exc}") from exc
        return adversary.to(self._compute_device())

    def initialize_module(self):
        super().initialize_module()
        self.adversary_ = self._make_adversary()
        return self

    def _make_adversary_optimizer(self):
        lr = self.get_params_for("adversary").get("lr", self.lr)
        return self.optimizer(self.adversary_.parameters(), lr=lr)

    def initialize_optimizer(self, *args, **kwargs):
        # The encoder's optimizer covers module_ only (the adversary is not one of
        # skorch's registered modules); the adversary has its own.
        super().initialize_optimizer(*args, **kwargs)
        self.adversary_optimizer_ = self._make_adversary_optimizer()
        return self

    def _set_training(self, training=True):
        super()._set_training(training)
        adversary = getattr(self, "adversary_", None)
        if isinstance(adversary, nn.Module):
            adversary.train(training)

    def get_default_callbacks(self):
        callbacks = list(super().get_default_callbacks())
        # Batch values recorded by train_step, averaged per epoch (no "best" marks:
        # whether a higher adversary loss is better depends on the point of view).
        extra = [(name, PassthroughScoring(name=name, lower_is_better=None, on_train=True))
                 for name in ("objective_loss", "contrastive_loss", "adversary_loss",
                              "adversary_acc")]
        at = next((i for i, (name, _) in enumerate(callbacks) if name == "print_log"),
                  len(callbacks))
        return callbacks[:at] + extra + callbacks[at:]

    def set_params(self, **params):
        # Like SimCLR's augment__*: the adversary is rebuilt here (on a fitted
        # model) instead of skorch re-initialising the whole network.
        adversary, rest = _split_adversary_params(params)
        if "adversary_weight" in rest:
            # A plain parameter, though it starts with the "adversary" prefix
            # (skorch would take it for a misspelt "adversary__weight").
            self.adversary_weight = rest.pop("adversary_weight")
            if not rest and not adversary:
                return self
        for key, value in adversary.items():
            setattr(self, key, value)
            if key != "adversary":
                self._params_to_validate.add(key)
        if adversary and self.initialized_ and hasattr(self, "sensitive_encoder_"):
            optimizer_only = all(key.split("__", 1)[-1] in _ADVERSARY_OPTIMIZER_PARAMS
                                 for key in adversary if key != "adversary")
            if not optimizer_only or "adversary" in adversary:
                self.adversary_ = self._make_adversary()
            self.adversary_optimizer_ = self._make_adversary_optimizer()
        if rest or not adversary:
            super().set_params(**rest)
        return self

    # --- training -----------------------------------------------------------------
    def fit(self, X, y=None, *, sensitive_features=None, **fit_params):
        """Train the encoder and the adversary on ``X`` with its sensitive attribute.

        Parameters
        ----------
        X : array-like of shape (N, C, H, W), (N, H, W) or (N, d), or torch Dataset
        y : ignored
            The task labels are not used (a following classifier in a
            Pipeline uses them).
        sensitive_features : array-like of shape (N,)
            The attribute to hide, any labels (ints, strings...), at least two
            values, no missing values.  Required.
        **fit_params
            Passed to the module's ``forward``.

        Returns
        -------
        self
        """
        return self._fit_sensitive(X, sensitive_features, partial=False, **fit_params)

    def partial_fit(self, X, y=None, classes=None, *, sensitive_features=None,
                    **fit_params):
        """Continue training for ``max_epochs`` epochs (attribute values as in fit)."""
        return self._fit_sensitive(X, sensitive_features, partial=True, **fit_params)

    def _fit_sensitive(self, X, sensitive_features, *, partial, **fit_params):
        # Every check runs before the input pass and training.
        self._check_hyperparameters()
        refit = not self.initialized_ or not (partial or self.warm_start)
        targets = self._encode_sensitive(X, sensitive_features, refit=refit)
        return self._fit(X, targets, partial=partial, **fit_params)

    def _privacy_penalty(self, h, s):
        """Extra terms of the encoder's loss computed on the views' representations.

        The extension point for privacy penalties beyond the adversary (e.g. a
        distribution-matching term): ``h`` is ``(2N, feature_dim)``, the
        representations ``[h(v1); h(v2)]`` of the batch's views (with
        gradient), ``s`` the encoded attribute of each view (``(2N,)`` int64).
        Returns a dict ``name -> scalar tensor``; every term is added to the
        encoder's loss (and to ``train_loss``).  None by default.
        """
        return {}

    def train_step(self, batch, **fit_params):
        """One alternating step: adversary update, then encoder update.

        Replaces skorch's closure-based ``train_step`` because the two
        optimizers step at different points of the same step.
        """
        self._set_training(True)
        _, si = unpack_data(batch)
        s = torch.as_tensor(si, device=self._compute_device()).long().repeat(2)  # 2 views
        step = self.objective_step(batch, training=True, **fit_params)
        h = step["h"]

        # (1) the adversary learns the attribute from the (detached) views' h; h is
        # float32 (``infer`` casts autocast outputs), so no loss scaling is needed.
        self.adversary_optimizer_.zero_grad()
        logits = self.adversary_(h.detach())
        adversary_loss = F.cross_entropy(logits, s)
        adversary_loss.backward()
        self.adversary_optimizer_.step()

        # (2) the encoder: L − λ·CE through the reversal layer, against the
        # updated adversary whose parameters are held fixed (detached copies),
        # plus any extra privacy penalty on h.
        self.optimizer_.zero_grad()
        objective_loss = step["loss"]
        loss, objective = objective_loss, objective_loss.detach()
        weight = float(self.adversary_weight)
        if weight > 0:
            fixed = {name: p.detach() for name, p in self.adversary_.named_parameters()}
            reversed_logits = functional_call(self.adversary_, fixed,
                                              (grad_reverse(h, weight),))
            hidden_loss = F.cross_entropy(reversed_logits, s)
            loss = objective_loss + hidden_loss
            objective = objective_loss.detach() - weight * hidden_loss.detach()
        for term in self._privacy_penalty(h, s).values():
            loss = loss + term
            objective = objective + term.detach()
        self.backward(loss)                     # the encoders' hooks: fp16 loss scaling
        self.notify("on_grad_computed",
                    named_parameters=TeeGenerator(self.get_all_learnable_params()),
                    batch=batch, training=True)
        self.optimizer_step(self.optimizer_)
        self.after_optimizer_step()             # the objective's momentum update, if any

        accuracy = (logits.detach().argmax(dim=1) == s).float().mean()
        self.history.record_batch("objective_loss", objective_loss.item())
        self.history.record_batch("contrastive_loss", objective_loss.item())
        self.history.record_batch("adversary_loss", adversary_loss.item())
        self.history.record_batch("adversary_acc", accuracy.item())
        return {"loss": objective, "y_pred": step["y_pred"]}


def __getattr__(name):
    # The evaluation helpers moved to privlearn.tradeoff; old imports still work.
    if name in ("privacy_utility_curve", "plot_privacy_utility"):
        from . import tradeoff
        return getattr(tradeoff, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
