"""The encoders, as skorch estimators with scikit-learn's interface.

- :class:`SimCLR`, :class:`MoCo`, :class:`BYOL`, :class:`SimSiam`,
  :class:`BarlowTwins`: self-supervised encoders (transformers: ``fit(X)``
  trains without labels, ``transform(X)`` returns the representations
  h = f(x)), one objective per module over the shared base in
  :mod:`._self_supervised`.
- :class:`SupervisedClassifier`: the supervised baseline with the same
  backbones (``predict_proba`` gives posteriors, ``transform`` the penultimate
  representation).
- :class:`InitFromEncoder`: a skorch callback that starts a fit from another
  fitted encoder's weights (pre-training).

Every estimator takes raw images (see :mod:`privlearn._images` for the
accepted inputs), fits its input normalisation in ``fit``, and makes every fit
reproducible on CPU through ``random_state`` without touching the caller's
global random state.
"""

from ._base import PRECISIONS, _float32, _ImageEstimatorMixin, _is_int
from ._callbacks import InitFromEncoder
from ._self_supervised import OBJECTIVES, Objective, SelfSupervisedEncoder
from .barlow_twins import BarlowTwins
from .byol import BYOL
from .moco import MoCo
from .simclr import SimCLR
from .simsiam import SimSiam
from .supervised import SupervisedClassifier

__all__ = ["SimCLR", "MoCo", "BYOL", "SimSiam", "BarlowTwins", "SupervisedClassifier",
           "InitFromEncoder", "SelfSupervisedEncoder", "Objective", "OBJECTIVES"]
