"""Attribute inference: predict a sensitive attribute from a model's embeddings.

The attacker of He & Zhang (CCS 2021, Section 5) holds auxiliary records labelled
with a sensitive attribute (say, race), queries the target model for their
embeddings, and trains an MLP that maps an embedding to the attribute.  Applied to
the target's own records, the MLP reveals an attribute the target was never asked
to learn.  :class:`AttributeInference` is that attacker as a scikit-learn
classifier; :func:`attribute_leakage_scorer` runs it inside model selection, so a
defence's strength (e.g. Talos' ``adversary_weight``) can be chosen by privacy and
utility together.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils.metadata_routing import MetadataRequest
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _num_samples, check_is_fitted

from .._checks import check_sensitive_attribute
from .._target import (KeepsTargetOnClone, check_target, check_target_unchanged,
                       remember_target)

__all__ = ["AttributeInference", "attribute_leakage_scorer"]

_EXPECTED_TARGET = (
    "a fitted model that yields embeddings: an encoder with transform() "
    "(privlearn.SimCLR, SupervisedClassifier, Talos, or any scikit-learn transformer), "
    "a Pipeline whose steps before its final estimator produce the embedding, "
    "or a FrozenEstimator wrapping either"
)


# --------------------------------------------------------------------------- helpers
def default_attack_model(random_state=None):
    """The attack model used when ``attack_model=None``: a standardised MLP.

    The paper trains a multilayer perceptron on the embeddings; this is a
    two-hidden-layer MLP (128 and 64 ReLU units, Adam, no early stopping) behind a
    :class:`~sklearn.preprocessing.StandardScaler`, so embeddings of any scale train
    alike.

    Parameters
    ----------
    random_state : int, RandomState instance or None
        Seeds the MLP's initialisation and batch order.

    Returns
    -------
    Pipeline
        An unfitted ``StandardScaler`` → ``MLPClassifier`` pipeline.

    Examples
    --------
    >>> from privlearn.attacks.attribute import default_attack_model
    >>> default_attack_model(random_state=0).steps[-1][0]
    'mlpclassifier'
    """
    return make_pipeline(
        StandardScaler(),
        MLPClassifier(hidden_layer_sizes=(128, 64), alpha=1e-4, max_iter=400,
                      early_stopping=False, random_state=random_state),
    )


def _embedder(target, *, argument="target"):
    """Return the fitted object whose ``transform`` gives ``target``'s embedding.

    Checks that ``target`` is fitted and offers an embedding; queries nothing.
    """
    inner = target.estimator if isinstance(target, FrozenEstimator) else target
    if inner is None:
        raise TypeError(f"`{argument}` must be {_EXPECTED_TARGET}; got None")
    if callable(getattr(inner, "transform", None)):
        # An encoder, or a Pipeline that ends in a transformer.
        return check_target(target, needs=("transform",), argument=argument)
    if isinstance(inner, Pipeline) and len(inner.steps) >= 2:
        check_target(target, needs=(), argument=argument)
        return inner[:-1]
    raise TypeError(f"`{argument}` must be {_EXPECTED_TARGET}; "
                    f"{type(inner).__name__} has no embedding step")


def _embed(embedder, X, *, argument="target"):
    """Query ``embedder`` for the embeddings of ``X`` as a finite 2-D array."""
    Z = embedder.transform(X)
    if sparse.issparse(Z):
        Z = Z.toarray()
    Z = np.asarray(Z)
    if Z.dtype.kind not in "fiub":
        raise TypeError(f"`{argument}` must return numeric embeddings; transform() "
                        f"returned dtype {Z.dtype}")
    name = type(embedder).__name__
    if Z.ndim == 1 or len(Z) != _num_samples(X):
        raise ValueError(f"`{argument}` returned {Z.shape} embeddings for "
                         f"{_num_samples(X)} images; expected one row per image "
                         f"({name}.transform)")
    Z = Z.reshape(len(Z), -1)  # feature maps (n, c, h, w) become vectors
    if not np.isfinite(Z).all():
        raise ValueError(f"the embeddings `{argument}` returned contain NaN or "
                         f"infinity; the model under attack ({name}) is broken "
                         "(diverged training?) and cannot be attacked")
    return Z


def _n_table_features(X):
    """Number of features of tabular ``X`` (a 2-D array, or a list of flat rows).

    None for images, Records, Datasets and anything else that is not a table.
    """
    shape = getattr(X, "shape", None)
    if shape is not None:
        return shape[1] if len(shape) == 2 else None
    if isinstance(X, (list, tuple)) and len(X) and np.ndim(X[0]) == 1:
        return len(X[0])
    return None


def _check_attribute(X, attribute, *, argument, owner="AttributeInference",
                     require_both=True):
    """The shared sensitive-attribute check (:mod:`privlearn._checks`)."""
    return check_sensitive_attribute(X, attribute, owner=owner, argument=argument,
                                     require_both=require_both)


def _check_attack_model(attack_model, random_state):
    """Return an unfitted copy of the attack recipe (or the default MLP)."""
    if attack_model is None:
        return default_attack_model(random_state)
    for method in ("fit", "predict"):
        if not callable(getattr(attack_model, method, None)):
            raise TypeError(f"`attack_model` must be a classifier with fit() and "
                            f"predict(); {type(attack_model).__name__} has no {method}()")
    return clone(attack_model)


# --------------------------------------------------------------------------- the attack
class AttributeInference(KeepsTargetOnClone, ClassifierMixin, BaseEstimator):
    """Infer a sensitive attribute from the embeddings a target model produces.

    ``fit(X, y)`` queries ``target`` for the embeddings of the attacker's auxiliary
    images ``X`` and trains ``attack_model`` to predict their sensitive attribute
    ``y``; ``predict`` and ``score`` then attack new images (the target's records).
    The target is only queried: it is never refitted, and :func:`~sklearn.base.clone`
    keeps it by reference, so ``cross_val_score(AttributeInference(target), X, y)``
    cross-validates the attack against the one fitted model.

    Parameters
    ----------
    target : fitted estimator
        The model under attack.  Its embedding is taken from, in this order:
        ``target.transform`` (an encoder such as :class:`privlearn.SimCLR`,
        :class:`privlearn.SupervisedClassifier`, :class:`privlearn.Talos`, or any
        scikit-learn transformer), else ``target[:-1].transform`` for a
        :class:`~sklearn.pipeline.Pipeline` ending in a classifier (the steps before
        the final estimator are the encoder).  A
        :class:`~sklearn.frozen.FrozenEstimator` around either is accepted.
    attack_model : classifier or None, default=None
        Recipe for the attack model, cloned before fitting.  ``None`` uses
        :func:`default_attack_model`: ``StandardScaler`` → ``MLPClassifier`` with
        hidden layers (128, 64), as the paper's MLP attacker.
    random_state : int, RandomState instance or None, default=None
        Seeds the default attack model.  A custom ``attack_model`` keeps its own
        seed.

    Attributes
    ----------
    attack_model_ : classifier
        The fitted attack model (input: embeddings; output: attribute).
    classes_ : ndarray of shape (n_attribute_values,)
        The attribute values seen in ``fit``, in sorted order.
    n_embedding_features_ : int
        The dimension of the target's embeddings.

    See Also
    --------
    attribute_leakage_scorer : the attack as a scorer for model selection.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.model_selection import cross_val_score
    >>> from privlearn import AttributeInference
    >>> rng = np.random.default_rng(0)
    >>> attribute = rng.integers(0, 2, 200)
    >>> X = rng.normal(size=(200, 5)) + 3 * attribute[:, None]
    >>> encoder = PCA(n_components=2).fit(X)
    >>> attack = AttributeInference(encoder, random_state=0)
    >>> cross_val_score(attack, X, attribute, cv=3).mean() > 0.9
    np.True_
    """

    def __init__(self, target, attack_model=None, random_state=None):
        self.target = target
        self.attack_model = attack_model
        self.random_state = random_state

    def fit(self, X, y):
        """Query the target on the auxiliary images and train the attack model.

        Parameters
        ----------
        X : array-like or Records of shape (n_samples, ...)
            The attacker's auxiliary images, in the form ``target`` accepts.
        y : array-like of shape (n_samples,)
            Their sensitive attribute (any labels: integers, strings...).

        Returns
        -------
        self : AttributeInference
        """
        # Every check runs before the target is queried or anything is trained.
        y = _check_attribute(X, y, argument="y")
        embedder = _embedder(self.target)
        try:
            check_random_state(self.random_state)
        except ValueError:
            raise ValueError("`random_state` must be None, an integer or a numpy "
                             f"RandomState, got {self.random_state!r}") from None
        attack_model = _check_attack_model(self.attack_model, self.random_state)
        Z = _embed(embedder, X)
        self.attack_model_ = attack_model.fit(Z, y)
        self.classes_ = self.attack_model_.classes_
        self.n_embedding_features_ = Z.shape[1]
        # The attack model reads this embedder's embeddings: refuse a refitted one.
        remember_target(self, embedder)
        n_features = _n_table_features(X)
        if n_features is not None:            # tabular inputs: sklearn's n_features_in_
            self.n_features_in_ = n_features
        elif hasattr(self, "n_features_in_"):
            del self.n_features_in_
        return self

    def _embeddings(self, X):
        check_is_fitted(self)
        n_features, got = getattr(self, "n_features_in_", None), _n_table_features(X)
        if n_features is not None and got != n_features:
            got = (f"X has {got} features" if got is not None
                   else f"X has shape {tuple(np.shape(X))} (Reshape your data to one "
                   "row of features per sample)")
            raise ValueError(f"{got}, but AttributeInference is expecting {n_features} "
                             "features as input (the inputs it was fitted on).")
        embedder = _embedder(self.target)
        # The attack model was trained on the embeddings of the target as it was
        # at fit; a refitted encoder embeds differently (StaleTargetError).
        check_target_unchanged(self, embedder)
        return _embed(embedder, X)

    def predict(self, X):
        """Infer the sensitive attribute of images ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Images in the form ``target`` accepts.

        Returns
        -------
        ndarray of shape (n_samples,)
            The inferred attribute values.
        """
        Z = self._embeddings(X)
        return self.attack_model_.predict(Z)

    def _attack_has(method):
        def check(self):
            model = getattr(self, "attack_model_", None)
            if model is None:
                model = (default_attack_model() if self.attack_model is None
                         else self.attack_model)
            return callable(getattr(model, method, None))
        return check

    def score(self, X, y, sample_weight=None):
        """Accuracy of the inferred attribute on images ``X``.

        ``y`` is checked as in :meth:`fit` (one class label per image, no missing
        values, not continuous), except that one value is enough.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Images in the form ``target`` accepts.
        y : array-like of shape (n_samples,)
            Their true sensitive attribute.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        y = _check_attribute(X, y, argument="y", require_both=False)
        return super().score(X, y, sample_weight=sample_weight)

    @available_if(_attack_has("predict_proba"))
    def predict_proba(self, X):
        """The attack model's probability of each attribute value for images ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Images in the form ``target`` accepts.

        Returns
        -------
        ndarray of shape (n_samples, n_attribute_values)
            Columns follow ``classes_``.
        """
        Z = self._embeddings(X)
        return self.attack_model_.predict_proba(Z)

    del _attack_has


# --------------------------------------------------------------------------- the scorer
class _AttributeLeakageScorer:
    """Scorer: minus the cross-validated attribute-inference accuracy on a fold.

    A plain callable, ``scorer(estimator, X, y, *, sensitive_features)``, that also
    speaks scikit-learn's metadata-routing protocol (``get_metadata_routing`` and
    ``set_score_request``), as :func:`~sklearn.metrics.make_scorer`'s scorers do,
    because the attribute it needs is metadata, not ``y``.  Written by hand because
    a ``make_scorer`` scorer only sees predictions, never the fitted encoder.
    """

    def __init__(self, *, cv, attack_model, random_state):
        self.cv = cv
        self.attack_model = attack_model
        self.random_state = random_state
        self._sensitive_features_alias = True  # requested by default: it is required

    def __repr__(self):
        return (f"attribute_leakage_scorer(cv={self.cv!r}, "
                f"attack_model={self.attack_model!r}, random_state={self.random_state!r})")

    def set_score_request(self, *, sensitive_features=True):
        """Choose how ``sensitive_features`` reaches the scorer under metadata routing.

        Parameters
        ----------
        sensitive_features : bool or str, default=True
            ``True`` (the default): the scorer receives the metadata named
            ``sensitive_features``; a string: it receives the metadata of that name
            instead (an alias); ``False``: it is not requested (the scorer will then
            raise, since it cannot work without it).

        Returns
        -------
        self
        """
        self._sensitive_features_alias = sensitive_features
        return self

    def get_metadata_routing(self):
        """The scorer's metadata request: ``sensitive_features`` for ``score``."""
        request = MetadataRequest(owner=self)
        request.score.add_request(param="sensitive_features",
                                  alias=self._sensitive_features_alias)
        return request

    def __call__(self, estimator, X, y_true=None, *, sensitive_features=None):
        if sensitive_features is None:
            raise ValueError(
                "attribute_leakage_scorer needs `sensitive_features`, the attribute of "
                "each validation image. Enable metadata routing "
                "(sklearn.set_config(enable_metadata_routing=True)) and pass it to the "
                "search: search.fit(X, y, sensitive_features=s)")
        sensitive_features = _check_attribute(X, sensitive_features,
                                              argument="sensitive_features",
                                              owner="attribute_leakage_scorer")
        Z = _embed(_embedder(estimator, argument="estimator"), X, argument="estimator")
        attack_model = _check_attack_model(self.attack_model, self.random_state)
        cv = self.cv
        if isinstance(cv, numbers.Integral):
            cv = StratifiedKFold(n_splits=cv, shuffle=True, random_state=self.random_state)
        # The embeddings are computed once and the attack model is cross-validated on
        # them: the same as cross_val_score(AttributeInference(estimator), ...), which
        # would query the (fixed) encoder again on every inner fold.
        accuracy = cross_val_score(attack_model, Z, sensitive_features, cv=cv,
                                   scoring="accuracy").mean()
        return -float(accuracy)


def attribute_leakage_scorer(cv=3, attack_model=None, random_state=0):
    """A scorer measuring how much of a sensitive attribute a fitted model's embedding leaks.

    On the validation fold, the scorer takes the *fitted* model's embeddings of the
    fold's images (``transform``, or ``[:-1].transform`` for a Pipeline ending in a
    classifier) and cross-validates an attribute-inference attack on them
    (:class:`AttributeInference`'s attack model, ``cv`` inner folds).

    **Sign**: scikit-learn scorers are greater-is-better, so the scorer returns the
    *negative* attack accuracy (like ``neg_log_loss``): values lie in [-1, 0];
    closer to 0 means less leakage (more private); ``-score`` is the attack
    accuracy, comparable with the paper's numbers and with the majority-class rate.

    The attribute is metadata: enable scikit-learn's metadata routing and pass it as
    ``sensitive_features`` to the search's ``fit``; it is sliced per fold.  The
    scorer requests ``sensitive_features`` by default; ``set_score_request``
    renames it.

    Parameters
    ----------
    cv : int or cross-validation splitter, default=3
        Inner folds of the attack on the validation fold (an int means stratified,
        shuffled folds seeded by ``random_state``).
    attack_model : classifier or None, default=None
        Attack recipe, cloned; ``None`` is :func:`default_attack_model`.
    random_state : int, RandomState instance or None, default=0
        Seeds the inner folds and the default attack model.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y, *, sensitive_features)`` → ``-accuracy``.

    Examples
    --------
    >>> import numpy as np, sklearn
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn.pipeline import make_pipeline
    >>> from privlearn import attribute_leakage_scorer
    >>> rng = np.random.default_rng(0)
    >>> s = rng.integers(0, 2, 300)                      # the sensitive attribute
    >>> y = rng.integers(0, 2, 300)                      # the task
    >>> X = rng.normal(size=(300, 6)) + 2 * np.c_[y, s, y, s, y, s]
    >>> with sklearn.config_context(enable_metadata_routing=True):
    ...     search = GridSearchCV(
    ...         make_pipeline(PCA(), LogisticRegression()),
    ...         {"pca__n_components": [1, 6]},
    ...         scoring={"utility": "accuracy", "leak": attribute_leakage_scorer()},
    ...         refit="utility", cv=3).fit(X, y, sensitive_features=s)
    >>> attack_accuracy = -search.cv_results_["mean_test_leak"]
    >>> bool(attack_accuracy[1] > attack_accuracy[0])   # 6 components keep s
    True
    """
    return _AttributeLeakageScorer(cv=cv, attack_model=attack_model,
                                   random_state=random_state)
