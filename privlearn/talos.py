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
:func:`privlearn.defenses.privacy_utility_curve` (kept apart: the estimators
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
from skorch.callbacks import PassthroughScoring
from skorch.dataset import unpack_data
from skorch.utils import TeeGenerator
from torch import nn
from torch.func import functional_call

from ._checks import check_sensitive_attribute, is_int as _is_int
from .encoders import OBJECTIVES, SelfSupervisedEncoder
from .losses import grad_reverse, mmd2

__all__ = ["Talos", "AdversaryNet"]

#: ``adversary__*`` parameters that configure the adversary's optimizer; every
#: other ``adversary__*`` parameter goes to the adversary network's constructor.
_ADVERSARY_OPTIMIZER_PARAMS = ("lr",)
#: Plain parameters whose names start with the "adversary" prefix (skorch would
#: take them for misspelt ``adversary__*`` parameters).
_PLAIN_ADVERSARY_PARAMS = ("adversary_weight", "adversary_steps", "adversary_reset")


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


def _objective_params():
    """Every objective's hyperparameter names, in objective order: the union of
    :data:`privlearn.encoders.OBJECTIVES`' ``defaults`` (Talos's per-objective
    parameters; ``tests/test_talos.py`` checks its signature covers them)."""
    return tuple(dict.fromkeys(name for objective in OBJECTIVES.values()
                               for name in objective.defaults))


def _split_adversary_params(params):
    adversary = {k: v for k, v in params.items()
                 if k == "adversary" or k.startswith("adversary__")}
    rest = {k: v for k, v in params.items() if k not in adversary}
    return adversary, rest


def _check_sensitive_features(X, sensitive_features, *, owner):
    """The shared sensitive-attribute check (:mod:`privlearn._checks`), with the
    hint of how to pass it to a Talos step."""
    return check_sensitive_attribute(
        X, sensitive_features, owner=owner,
        hint=" (e.g. fit(X, sensitive_features=s), or talos__sensitive_features=s "
             "through a Pipeline)")


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
    adversary_steps : int, default=1
        k ≥ 1 adversary updates (on the same batch of views) per encoder update,
        so the encoder faces an adversary closer to its best response.
    n_adversaries : int, default=1
        An ensemble of independently initialised adversaries, each with its own
        optimizer; the encoder's reversed term is the **mean** of their
        cross-entropies, so it must fool all of them.
    adversary_reset : int or None, default=None
        Re-initialise the adversaries (weights and optimizers) at the start of
        every n-th epoch (epochs n+1, 2n+1, ...), so the encoder cannot settle
        on the blind spots of one adversary.  None: never.
    mmd_weight : float, default=0.0
        μ ≥ 0: add ``μ · MMD²(h)`` to the encoder's loss, the squared maximum
        mean discrepancy between the representations of the batch's views with
        different attribute values (:func:`privlearn.losses.mmd2`: Gaussian
        kernel with the median-heuristic width, mean over all pairs of
        attribute values present).  Distribution matching: usable alone
        (``adversary_weight=0``) or with the adversary.
    adversary : nn.Module class, default=AdversaryNet
        The adversary network, built as ``adversary(in_features=dim(h),
        n_classes=#attribute values, **adversary__*)``.  Its parameters:
        ``adversary__hidden_units`` (default ``(128, 64)``), and
        ``adversary__lr`` (its optimizer's learning rate, default ``lr``).  It
        uses the ``optimizer`` class (Adam by default).
    projection_dim, temperature, momentum, queue_size, hidden_dim, predictor_hidden_dim, offdiag_weight : default=None
        The objective's hyperparameters, as for its estimator; None takes
        that estimator's default.  Setting one the objective does not have
        (e.g. ``queue_size`` with ``objective="simclr"``) is an error.  A
        plug-in objective's own hyperparameters (registered in
        ``privlearn.encoders.OBJECTIVES``) are accepted by name the same way.
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
        The trained adversary (the first of ``adversaries_``).
    adversary_optimizer_ : torch optimizer
    adversaries_ : list of nn.Module
        All ``n_adversaries`` adversaries.
    adversary_optimizers_ : list of torch optimizers
    sensitive_classes_ : ndarray
        The attribute values seen in ``fit`` (any labels; encoded internally).
    history_ : skorch History
        Per epoch: ``train_loss`` (the encoder objective L − λ·CE),
        ``objective_loss`` (L; also logged as ``contrastive_loss``, its name
        when L was always NT-Xent), ``adversary_loss`` and ``adversary_acc``
        (the adversary's cross-entropy and accuracy on each batch's views just
        before its update, averaged over the epoch; with several adversaries,
        their mean loss and the best accuracy), ``mmd`` (the unweighted MMD²
        of the views' representations across attribute values, logged at
        every μ), e.g. ``talos.history_[:, "adversary_acc"]``.

    See Also
    --------
    privlearn.defenses.privacy_utility_curve : utility and attribute leakage against λ.
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
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
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
                                  "adversary_", "adversaries_"]
    #: Objective hyperparameters Talos accepts (None: the objective's default),
    #: read from the objectives' ``defaults`` (not a list of its own).
    _OBJECTIVE_PARAMS = property(lambda self: _objective_params())
    # fairlearn-style metadata: requested by default under metadata routing.
    __metadata_request__fit = {"sensitive_features": True}
    __metadata_request__partial_fit = {"classes": UNUSED, "sensitive_features": True}

    def __init__(self, *, objective="simclr", adversary_weight=1.0, adversary=AdversaryNet,
                 adversary_steps=1, n_adversaries=1, adversary_reset=None, mmd_weight=0.0,
                 projection_dim=None, temperature=None, momentum=None, queue_size=None,
                 hidden_dim=None, predictor_hidden_dim=None, offdiag_weight=None, **params):
        # A plug-in objective's hyperparameter (registered in OBJECTIVES after this
        # signature was written) is a plain parameter too, not a skorch keyword.
        plugin = {name: params.pop(name) for name in _objective_params() if name in params}
        super().__init__(**params)
        for name, value in plugin.items():
            setattr(self, name, value)
        self.objective = objective
        self.adversary_weight = adversary_weight
        self.adversary = adversary
        self.adversary_steps = adversary_steps
        self.n_adversaries = n_adversaries
        self.adversary_reset = adversary_reset
        self.mmd_weight = mmd_weight
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
        unused = [name for name in _objective_params()
                  if getattr(self, name, None) is not None
                  and name not in objective.defaults]
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
        for name in ("adversary_steps", "n_adversaries"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"Talos: `{name}` must be an integer >= 1, got {value!r}.")
        reset = self.adversary_reset
        if reset is not None and (not _is_int(reset) or reset < 1):
            raise ValueError("Talos: `adversary_reset` must be None or an integer >= 1 "
                             f"(re-initialise every n epochs), got {reset!r}.")
        mu = self.mmd_weight
        if (not isinstance(mu, numbers.Real) or isinstance(mu, bool) or not math.isfinite(mu)
                or mu < 0):
            raise ValueError(f"Talos: `mmd_weight` must be a finite number >= 0, got {mu!r}.")
        lr = self.get_params_for("adversary").get("lr", self.lr)
        if not isinstance(lr, numbers.Real) or isinstance(lr, bool) or not lr > 0:
            raise ValueError(f"Talos: `adversary__lr` must be a positive number, got {lr!r}.")
        if isinstance(self.adversary, nn.Module):
            raise TypeError("Talos: `adversary` must be an nn.Module class (Talos builds each "
                            "adversary with in_features= and n_classes=), got an instance of "
                            f"{type(self.adversary).__name__}; pass the class and its other "
                            "arguments as adversary__*.")

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

    def _make_adversary(self, index=0):
        # The adversary's weights come from a forked generator seeded by one draw
        # from the current stream, so that building it leaves the random numbers
        # the encoder's training uses exactly as in SimCLR (λ=0 reproduces it);
        # the ensemble's i-th adversary adds i to that seed.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2**31 - 1, (1,))) + 1 + index)
            kwargs = self._adversary_kwargs()
            try:
                adversary = self.adversary(**kwargs)
            except (TypeError, ValueError) as exc:
                raise ValueError("Talos: invalid `adversary` / `adversary__*` parameters: "
                                 f"{exc}") from exc
            if not isinstance(adversary, nn.Module):
                raise TypeError("Talos: `adversary` must build an nn.Module, got "
                                f"{type(adversary).__name__} from {self.adversary!r}.")
            adversary = adversary.to(self._compute_device())
            self._check_adversary_output(adversary, kwargs["in_features"],
                                         kwargs["n_classes"])
        return adversary

    def _check_adversary_output(self, adversary, in_features, n_classes):
        """A custom adversary must answer (N, n_classes) logits for (N, in_features)
        representations: one of another width would train without a word (the loss
        accepts any number of classes above the labels) and attack the wrong thing."""
        was_training = adversary.training
        adversary.eval()
        try:
            with torch.no_grad():
                out = adversary(torch.zeros(2, in_features, device=self._compute_device()))
        except Exception as exc:  # noqa: BLE001 - any failure of user code, named here
            raise ValueError(f"Talos: the adversary failed on a (2, {in_features}) batch of "
                             f"representations: {type(exc).__name__}: {exc}") from exc
        finally:
            adversary.train(was_training)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, n_classes):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"Talos: the adversary must map (N, {in_features}) "
                             f"representations to (N, {n_classes}) logits (one per sensitive "
                             f"value), got {shape} for N=2.")
        if not torch.isfinite(out).all():
            raise ValueError("Talos: the adversary answers non-finite logits (NaN or inf) for "
                             f"a (2, {in_features}) batch of zero representations; it would "
                             "train the encoder on a NaN loss.")

    def _make_adversaries(self):
        # One adversary: exactly the single draw the original Talos made.
        self.adversaries_ = [self._make_adversary(i) for i in range(self.n_adversaries)]
        self.adversary_ = self.adversaries_[0]

    def initialize_module(self):
        super().initialize_module()
        self._make_adversaries()
        return self

    def _make_adversary_optimizer(self, adversary=None):
        lr = self.get_params_for("adversary").get("lr", self.lr)
        adversary = self.adversary_ if adversary is None else adversary
        return self.optimizer(adversary.parameters(), lr=lr)

    def _make_adversary_optimizers(self):
        self.adversary_optimizers_ = [self._make_adversary_optimizer(adversary)
                                      for adversary in self.adversaries_]
        self.adversary_optimizer_ = self.adversary_optimizers_[0]

    def initialize_optimizer(self, *args, **kwargs):
        # The encoder's optimizer covers module_ only (the adversaries are not
        # skorch's registered modules); each adversary has its own.
        super().initialize_optimizer(*args, **kwargs)
        self._make_adversary_optimizers()
        return self

    def _set_training(self, training=True):
        super()._set_training(training)
        for adversary in getattr(self, "adversaries_", ()):
            if isinstance(adversary, nn.Module):
                adversary.train(training)

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_begin(net, dataset_train=dataset_train,
                               dataset_valid=dataset_valid, **kwargs)
        reset, epoch = self.adversary_reset, len(self.history)
        if reset is not None and epoch > 1 and (epoch - 1) % reset == 0:
            self._make_adversaries()
            self._make_adversary_optimizers()

    def get_default_callbacks(self):
        callbacks = list(super().get_default_callbacks())
        # Batch values recorded by train_step, averaged per epoch (no "best" marks:
        # whether a higher adversary loss is better depends on the point of view).
        extra = [(name, PassthroughScoring(name=name, lower_is_better=None, on_train=True))
                 for name in ("objective_loss", "contrastive_loss", "adversary_loss",
                              "adversary_acc", "mmd")]
        at = next((i for i, (name, _) in enumerate(callbacks) if name == "print_log"),
                  len(callbacks))
        return callbacks[:at] + extra + callbacks[at:]

    def set_params(self, **params):
        # Like SimCLR's augment__*: the adversary is rebuilt here (on a fitted
        # model) instead of skorch re-initialising the whole network.
        adversary, rest = _split_adversary_params(params)
        plain = [key for key in _PLAIN_ADVERSARY_PARAMS if key in rest]
        if plain:
            # Plain parameters, though they start with the "adversary" prefix
            # (skorch would take them for misspelt "adversary__*" ones).
            for key in plain:
                setattr(self, key, rest.pop(key))
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
                self._make_adversaries()
            self._make_adversary_optimizers()
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
        encoder's loss (and to ``train_loss``).  Here: ``mmd_weight · MMD²(h)``
        when ``mmd_weight > 0``.
        """
        weight = float(self.mmd_weight)
        if weight > 0:
            return {"mmd": weight * mmd2(h, s)}
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

        # (1) the adversaries learn the attribute from the (detached) views' h,
        # adversary_steps updates each; h is float32 (``infer`` casts autocast
        # outputs), so no loss scaling is needed.  The history keeps the first
        # update's loss and accuracy (before any update on this batch).
        detached = h.detach()
        first = []
        for k in range(self.adversary_steps):
            for adversary, optimizer in zip(self.adversaries_, self.adversary_optimizers_):
                optimizer.zero_grad()
                logits = adversary(detached)
                adversary_loss = F.cross_entropy(logits, s)
                adversary_loss.backward()
                optimizer.step()
                if k == 0:
                    first.append((adversary_loss.detach(), logits.detach()))

        # (2) the encoder: L − λ·CE through the reversal layer, against the
        # updated adversary whose parameters are held fixed (detached copies),
        # plus any extra privacy penalty on h.
        self.optimizer_.zero_grad()
        objective_loss = step["loss"]
        loss, objective = objective_loss, objective_loss.detach()
        weight = float(self.adversary_weight)
        if weight > 0:
            hidden = []
            for adversary in self.adversaries_:
                fixed = {name: p.detach() for name, p in adversary.named_parameters()}
                reversed_logits = functional_call(adversary, fixed,
                                                  (grad_reverse(h, weight),))
                hidden.append(F.cross_entropy(reversed_logits, s))
            # The ensemble's mean cross-entropy (one adversary: its own, unchanged).
            hidden_loss = hidden[0] if len(hidden) == 1 else torch.stack(hidden).mean()
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

        losses = [value for value, _ in first]
        accuracy = max(float((logits.argmax(dim=1) == s).float().mean())
                       for _, logits in first)
        adversary_loss = losses[0] if len(losses) == 1 else torch.stack(losses).mean()
        self.history.record_batch("objective_loss", objective_loss.item())
        self.history.record_batch("contrastive_loss", objective_loss.item())
        self.history.record_batch("adversary_loss", adversary_loss.item())
        self.history.record_batch("adversary_acc", accuracy)
        with torch.no_grad():                   # logged at every μ, μ = 0 included
            self.history.record_batch("mmd", mmd2(h.detach(), s).item())
        return {"loss": objective, "y_pred": step["y_pred"]}


def __getattr__(name):
    # Deprecated aliases: the evaluation helpers live in privlearn.defenses (a floor
    # above the estimators: they use the attacks).  This lazy upward import is the
    # only one left here, listed in tests/test_architecture.py; remove it with the
    # aliases.
    if name in ("privacy_utility_curve", "plot_privacy_utility"):
        import warnings

        warnings.warn(f"privlearn.talos.{name} is deprecated; import it from "
                      f"privlearn.defenses", DeprecationWarning, stacklevel=2)
        from .defenses import tradeoff
        return getattr(tradeoff, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
