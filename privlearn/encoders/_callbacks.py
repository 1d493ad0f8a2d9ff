"""skorch callbacks for privlearn's encoders."""

from __future__ import annotations

import copy

from skorch.callbacks import Callback

__all__ = ["InitFromEncoder"]


class InitFromEncoder(Callback):
    """skorch callback: start training from another fitted encoder's weights.

    At the first training start after each (re-)initialisation, copies the base
    encoder f and the input normalisation of ``encoder`` (a fitted
    :class:`SimCLR`, Talos or :class:`SupervisedClassifier` with the same
    backbone and number of input channels) into the net; heads stay freshly
    initialised.  ``clone`` keeps the reference to the fitted ``encoder`` (as
    :class:`sklearn.frozen.FrozenEstimator` does), so the callback survives
    ``GridSearchCV`` and ``cross_val_score``.

    Parameters
    ----------
    encoder : fitted estimator with a ``module_`` holding ``backbone`` and
        ``normalize``

    Examples
    --------
    >>> import privlearn as pl
    >>> from privlearn.encoders import InitFromEncoder
    >>> images = pl.datasets.load("digits").images[:128]
    >>> pretrained = pl.SimCLR(max_epochs=1, random_state=0).fit(images)
    >>> finetuned = pl.SimCLR(max_epochs=1, callbacks=[InitFromEncoder(pretrained)])
    >>> finetuned.fit(images).transform(images[:2]).shape
    (2, 128)
    """

    def __init__(self, encoder):
        self.encoder = encoder

    def __sklearn_clone__(self):
        return type(self)(self.encoder)

    def initialize(self):
        self.done_ = False
        return self

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        if self.done_:
            return
        source = getattr(self.encoder, "module_", None)
        if source is None:
            raise ValueError("InitFromEncoder: `encoder` must be a fitted encoder; "
                             f"{type(self.encoder).__name__} is not fitted.")
        for part in ("backbone", "normalize"):
            state = copy.deepcopy(getattr(source, part).state_dict())
            try:
                getattr(net._network(), part).load_state_dict(state)
            except RuntimeError as exc:
                raise ValueError(f"InitFromEncoder: the encoder's {part} does not fit the "
                                 f"net's (same backbone and input channels needed): {exc}") from exc
        self.done_ = True
