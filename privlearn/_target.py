"""The fitted model under attack: keep it fitted through ``clone``.

``cross_val_score``, ``GridSearchCV`` and :func:`sklearn.base.clone` clone every
estimator parameter, which would hand an attack an *unfitted* copy of the model it
attacks.  Attacks therefore keep their ``target`` by reference when cloned (the
same rule as :class:`sklearn.frozen.FrozenEstimator`), while recipes such as
``shadow`` or ``attack_model`` are cloned as usual.
"""

from __future__ import annotations

from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted


class KeepsTargetOnClone:
    """Mixin: ``clone(attack)`` shares the fitted ``target`` and clones the rest."""

    def __sklearn_clone__(self):
        params = self.get_params(deep=False)
        cloned = {key: (value if key == "target" else clone(value, safe=False))
                  for key, value in params.items()}
        return type(self)(**cloned)


def check_target(target, *, needs=("predict_proba",), argument="target"):
    """Check that ``target`` is a fitted estimator offering the methods ``needs``.

    Raises ``TypeError`` naming the missing method, or sklearn's
    ``NotFittedError``.  ``FrozenEstimator`` wrappers are accepted.
    """
    if target is None:
        raise TypeError(f"`{argument}` must be a fitted estimator, got None")
    for method in needs:
        if not callable(getattr(target, method, None)):
            raise TypeError(
                f"`{argument}` must offer {method}(); {type(target).__name__} does not")
    inner = getattr(target, "estimator", target) if type(target).__name__ == "FrozenEstimator" else target
    try:
        check_is_fitted(inner)
    except NotFittedError as exc:
        raise NotFittedError(
            f"`{argument}` ({type(inner).__name__}) is not fitted: fit the model "
            "under attack before attacking it") from exc
    return target
