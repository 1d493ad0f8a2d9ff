"""privlearn: privacy risks of contrastive learning, as scikit-learn estimators.

Implements He & Zhang, "Quantifying and Mitigating Privacy Risks of Contrastive
Learning" (CCS 2021): SimCLR encoders and a supervised baseline, membership and
attribute inference attacks, and the Talos defense.
"""

from . import datasets
from .datasets import membership_set
from .records import Records

__version__ = "0.1.0"

__all__ = ["datasets", "membership_set", "Records", "__version__"]
