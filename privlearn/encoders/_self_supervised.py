"""The shared base of the self-supervised encoders and their objectives.

A self-supervised estimator trains on two augmented views of each image, with
no labels.  Everything but the objective is shared and lives in
:class:`SelfSupervisedEncoder`: the batched on-device augmentation
(``augment__*``), ``fit``/``partial_fit``, the two-view training and validation
steps, and the momentum/queue hook after each optimizer step.

What differs between SimCLR, MoCo, BYOL, SimSiam and Barlow Twins is one
:class:`Objective` each: its network, its loss, its hyperparameters and one
:meth:`Objective.step` that turns a batch of views into ``(loss, h)``.  An
estimator uses its objective through :meth:`SelfSupervisedEncoder.objective_step`;
:class:`~privlearn.Talos` chooses one by name and adds its adversary to the
same step.
"""

from __future__ import annotations

import inspect
import math
import numbers

import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.metaestimators import available_if
from skorch import NeuralNet
from skorch.dataset import unpack_data
from torch.utils.data import DataLoader

from .._images import ImageDataset
from ..augment import FeatureAugment, SimCLRAugment
from ._base import _ImageEstimatorMixin, _is_int

__all__ = ["Objective", "SelfSupervisedEncoder", "OBJECTIVES"]

#: Objective name -> :class:`Objective` instance, filled by each objective's module.
OBJECTIVES = {}


def _split_augment_params(params):
    augment = {k: v for k, v in params.items() if k == "augment" or k.startswith("augment__")}
    rest = {k: v for k, v in params.items() if k not in augment}
    return augment, rest


def _no_predictions(estimator):
    raise AttributeError(
        f"{type(estimator).__name__} is a transformer and makes no predictions: use "
        "transform(X) for the representations, or a pipeline with a classifier.")


def check_positive_int(owner, name, value):
    if not _is_int(value) or value < 1:
        raise ValueError(f"{owner}: `{name}` must be a positive integer, got {value!r}.")


def check_positive_real(owner, name, value, *, upper=None):
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
          and math.isfinite(value) and value > 0 and (upper is None or value < upper))
    if not ok:
        bound = f" and < {upper}" if upper is not None else ""
        raise ValueError(f"{owner}: `{name}` must be a finite number > 0{bound}, got "
                         f"{value!r}.")


def check_unit_interval(owner, name, value):
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
          and math.isfinite(value) and 0 <= value < 1)
    if not ok:
        raise ValueError(f"{owner}: `{name}` must be a number in [0, 1), got {value!r}.")


class Objective:
    """One self-supervised objective: network, loss, hyperparameters and step.

    Stateless: everything trained or updated (weights, momentum copies,
    queues) lives in the estimator's ``module_`` (and so in its checkpoints
    and pickles); the hyperparameters are read from the estimator with
    ``estimator._hyperparameter(name)``.

    Attributes
    ----------
    name : str
        The name :class:`~privlearn.Talos` accepts as ``objective``.
    network : nn.Module class
        The default ``module``.
    criterion : nn.Module class
        The default ``criterion`` (the loss).
    defaults : dict
        Hyperparameter name -> default value (the estimator's defaults).
    gathers : bool
        Whether the loss couples the samples of a batch (NT-Xent's negatives,
        Barlow Twins' cross-correlation), so that data-parallel training must
        gather them across processes: the criterion then has a ``gather``
        switch, which the accelerated estimators turn on with several
        processes.  False for per-sample losses (BYOL, SimSiam: averaging the
        processes' gradients, as DistributedDataParallel does, is exact).
        Cross-process state (MoCo's queue) is the objective's own business
        (its :meth:`step` enqueues every process's keys).
    """

    name = None
    network = None
    criterion = None
    defaults = {}
    gathers = False

    def check(self, estimator):
        """Raise ValueError for invalid hyperparameters (before any work)."""

    def module_kwargs(self, estimator):
        """Keyword arguments of the network, from the hyperparameters."""
        return {}

    def criterion_kwargs(self, estimator):
        """Keyword arguments of the loss, from the hyperparameters."""
        return {}

    def step(self, estimator, views, *, training, **fit_params):
        """``(loss, h, y_pred)`` for the two batches of ``views``.

        ``h`` are the representations of ``torch.cat(views)`` (shape
        ``(2N, feature_dim)``, in the views' order), on which extra terms
        (Talos's adversary) are computed; ``y_pred`` is what skorch records.
        Only update state (queues) when ``training``.
        """
        raise NotImplementedError

    def after_optimizer_step(self, estimator):
        """Update what follows the optimizer step (momentum networks)."""


def _objective_init(cls, objective, shared_defaults):
    """The ``__init__`` of ``cls``, the estimator of one ``objective``.

    Its parameters are written once each: the objective's hyperparameters in
    ``objective.defaults`` and the shared ones in
    :meth:`SelfSupervisedEncoder.__init__` (``shared_defaults`` changes a shared
    default, as SimCLR's ``module``).  The ``__signature__`` lists them all, as a
    hand-written keyword-only ``__init__`` would, for scikit-learn's checks,
    ``help()``, ``inspect`` and the docs.  Hand-written because neither
    scikit-learn nor skorch generates constructors (skorch's own ``NeuralNet``
    takes ``**kwargs`` and loses the signature).
    """
    own = dict(objective.defaults)
    unknown = sorted(set(shared_defaults) - set(_SHARED_PARAMETERS))
    if unknown:
        raise TypeError(f"{cls.__name__}.shared_defaults names no shared parameter: {unknown}")

    def __init__(self, **params):
        values = {name: params.pop(name, default) for name, default in own.items()}
        for name, default in shared_defaults.items():
            params.setdefault(name, default)
        super(cls, self).__init__(**params)
        for name, value in values.items():
            setattr(self, name, value)

    shared = [p.replace(default=shared_defaults.get(p.name, p.default))
              for p in _SHARED_PARAMETERS.values()]
    keyword = inspect.Parameter.KEYWORD_ONLY
    __init__.__signature__ = inspect.Signature([
        inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD), shared[0],
        *(inspect.Parameter(name, keyword, default=value) for name, value in own.items()),
        *shared[1:], inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)])
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    __init__.__module__ = cls.__module__
    __init__.__doc__ = (f"Store the parameters (see :class:`{cls.__name__}`); "
                        "``fit`` checks them.")
    return __init__


class SelfSupervisedEncoder(_ImageEstimatorMixin, ClassNamePrefixFeaturesOutMixin,
                            TransformerMixin, NeuralNet):
    """Base of the estimators trained on two augmented views without labels.

    A subclass for one objective sets ``objective_name`` (a key of
    :data:`OBJECTIVES`) and writes no ``__init__``: its constructor is generated
    from the objective's ``defaults`` and the shared parameters below, so each
    hyperparameter's default is written in one place (``shared_defaults``, a
    dict, overrides a shared default).  A training step is
    ``train_step`` → ``train_step_single`` → :meth:`objective_step`
    (:meth:`prepare_batch` → :meth:`make_views` → ``Objective.step``) →
    ``self.backward`` → optimizer step → :meth:`after_optimizer_step`.
    ``module=None`` and ``criterion=None`` select the objective's network and
    loss.
    """

    prefixes_ = [*NeuralNet.prefixes_, "augment"]
    #: The :data:`OBJECTIVES` key of a one-objective subclass (None here and in
    #: Talos, which picks one by its ``objective`` parameter).
    objective_name = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("objective_name")
        if name is not None and "__init__" not in cls.__dict__:
            if name not in OBJECTIVES:
                raise TypeError(f"{cls.__name__}.objective_name={name!r} is not a registered "
                                f"objective (known: {sorted(OBJECTIVES)})")
            cls.__init__ = _objective_init(cls, OBJECTIVES[name],
                                           cls.__dict__.get("shared_defaults", {}))

    def __init__(self, *, backbone="cnn", max_epochs=100, batch_size=256, lr=1e-3,
                 optimizer=torch.optim.Adam, augment=SimCLRAugment, device="cpu",
                 precision=None, channels_last=False, random_state=None, train_split=None,
                 warm_start=False, verbose=0, callbacks=None, module=None, criterion=None,
                 iterator_train=DataLoader, iterator_valid=DataLoader, dataset=ImageDataset,
                 **kwargs):
        kwargs.setdefault("iterator_train__shuffle", True)
        super().__init__(module, criterion, optimizer=optimizer, lr=lr,
                         max_epochs=max_epochs, batch_size=batch_size,
                         iterator_train=iterator_train, iterator_valid=iterator_valid,
                         dataset=dataset, train_split=train_split, callbacks=callbacks,
                         warm_start=warm_start, verbose=verbose, device=device, **kwargs)
        self.backbone = backbone
        self.augment = augment
        self.precision = precision
        self.channels_last = channels_last
        self.random_state = random_state

    @property
    def objective_(self):
        """The :class:`Objective` trained by this estimator."""
        if self.objective_name is None:
            raise NotImplementedError(f"{type(self).__name__} sets no objective_name")
        return OBJECTIVES[self.objective_name]

    def _hyperparameter(self, name):
        """The value of hyperparameter ``name`` (None: the objective's default)."""
        value = getattr(self, name, None)
        return self.objective_.defaults[name] if value is None else value

    # --- checks and initialisation -----------------------------------------
    def _check_hyperparameters(self):
        super()._check_hyperparameters()
        self.objective_.check(self)

    def _module_kwargs(self):
        return {**super()._module_kwargs(), **self.objective_.module_kwargs(self)}

    def _module_class(self):
        return self.objective_.network if self.module is None else self.module

    def initialize_module(self):
        super().initialize_module()
        self.augment_ = self._make_augment()
        return self

    def _make_augment(self):
        cls, kwargs = self.augment, self.get_params_for("augment")
        if self.input_spec_.kind == "features" and cls is SimCLRAugment:
            cls, kwargs = FeatureAugment, {}
        try:
            augment = self.initialized_instance(cls, kwargs)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{self._owner()}: invalid `augment` / `augment__*` parameters: "
                             f"{exc}") from exc
        return augment.to(self._compute_device())

    def initialize_criterion(self):
        criterion = self.objective_.criterion if self.criterion is None else self.criterion
        kwargs = {**self.objective_.criterion_kwargs(self), **self.get_params_for("criterion")}
        self.criterion_ = self.initialized_instance(criterion, kwargs)
        return self

    def get_all_learnable_params(self):
        # Momentum (target/key) networks are updated by after_optimizer_step,
        # not by the optimizer.
        for name, param in super().get_all_learnable_params():
            if param.requires_grad:
                yield name, param

    def set_params(self, **params):
        # skorch re-initialises only modules and criteria for prefixed
        # parameters; the augmentation has no weights and is rebuilt here.
        augment, rest = _split_augment_params(params)
        for key, value in augment.items():
            setattr(self, key, value)
            if key != "augment":
                self._params_to_validate.add(key)
        if augment and self.initialized_:
            self.augment_ = self._make_augment()
        if rest or not augment:
            super().set_params(**rest)
        return self

    # skorch's generic predict/predict_proba would return projections; hide them
    # so that code asking ``hasattr(model, "predict_proba")`` is told the truth.
    @available_if(_no_predictions)
    def predict(self, X):  # pragma: no cover - never available
        raise NotImplementedError

    @available_if(_no_predictions)
    def predict_proba(self, X):  # pragma: no cover - never available
        raise NotImplementedError

    # --- training -----------------------------------------------------------
    def fit(self, X, y=None, **fit_params):
        """Train the encoder on ``X`` without labels; ``y`` is ignored.

        Re-initialises the network unless ``warm_start=True``.  All inputs and
        parameters are checked before training starts.

        Parameters
        ----------
        X : array-like of shape (N, C, H, W), (N, H, W) or (N, d), or torch Dataset
        y : ignored
        **fit_params
            Passed to the module's ``forward``.

        Returns
        -------
        self
        """
        return self._fit(X, None, **fit_params)

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Continue training on ``X`` for ``max_epochs`` epochs (``y`` ignored)."""
        return self._fit(X, None, partial=True, **fit_params)

    def make_views(self, x):
        """Two independently augmented views of a float batch ``x``.

        Both views come from one call on the doubled batch, so every image in
        it gets its own random parameters.
        """
        views = self.augment_(torch.cat([x, x]))
        return views.chunk(2)

    def objective_step(self, batch, training=True, **fit_params):
        """Views → objective for one batch; returns ``{"loss", "h", "y_pred"}``.

        ``h`` holds the representations of both views, ``[h(v1); h(v2)]``
        (shape ``(2N, feature_dim)``), for terms added on top of the
        objective's loss (Talos).
        """
        Xi, _ = unpack_data(batch)
        x = self.prepare_batch(Xi)
        views = self.make_views(x)
        loss, h, y_pred = self.objective_.step(self, views, training=training, **fit_params)
        return {"loss": loss, "h": h, "y_pred": y_pred}

    def after_optimizer_step(self):
        """Called after every optimizer step (momentum networks' updates)."""
        self.objective_.after_optimizer_step(self)

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        step = self.objective_step(batch, training=True, **fit_params)
        self.backward(step["loss"])
        return step

    def train_step(self, batch, **fit_params):
        step = super().train_step(batch, **fit_params)
        self.after_optimizer_step()
        return step

    def validation_step(self, batch, **fit_params):
        self._set_training(False)
        with torch.no_grad():
            return self.objective_step(batch, training=False, **fit_params)


#: The parameters every self-supervised estimator shares (name -> keyword-only
#: ``inspect.Parameter``), in :meth:`SelfSupervisedEncoder.__init__`'s order.
_SHARED_PARAMETERS = {name: p for name, p in
                      inspect.signature(SelfSupervisedEncoder.__init__).parameters.items()
                      if p.kind is inspect.Parameter.KEYWORD_ONLY}
