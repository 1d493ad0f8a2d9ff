"""privlearn: privacy risks of contrastive learning, as scikit-learn estimators.

Implements He & Zhang, "Quantifying and Mitigating Privacy Risks of Contrastive
Learning" (CCS 2021): SimCLR encoders and a supervised baseline, membership and
attribute inference attacks, and the Talos defense.

Public names are imported lazily, so ``import privlearn`` stays fast and does not
import torch until a model is used.
"""

from importlib import import_module

from . import datasets
from .datasets import membership_set
from .records import Records

__version__ = "0.2.0"

# public name -> module that defines it
_LAZY = {
    "SimCLR": "encoders",
    "SupervisedClassifier": "encoders",
    "MoCo": "encoders",
    "BYOL": "encoders",
    "SimSiam": "encoders",
    "BarlowTwins": "encoders",
    "Talos": "talos",
    "LinearConceptEraser": "erasure",
    "MembershipInference": "attacks.membership",
    "LabelOnlyMembershipInference": "attacks.label_only",
    "AttributeInference": "attacks.attribute",
    "LiRA": "attacks.lira",
    "RMIA": "attacks.rmia",
    "EncoderMembershipInference": "attacks.encoder_membership",
    "attribute_leakage_scorer": "attacks.attribute",
    "privacy_utility_curve": "tradeoff",
    "compare_defenses": "tradeoff",
    "run_audit": "audit",
    "PartCrop": "attacks.partcrop",
    "EncoderLiRA": "attacks.encoder_lira",
    "TorchEncoder": "wrappers",
    "TorchClassifier": "wrappers",
    "audit_model": "own_audit",
    "blind_baseline": "blind",
    "fit_ensemble": "ensemble",
}
_SUBMODULES = ("metrics", "attacks", "audit", "augment", "backbones", "losses",
               "encoders", "talos", "tradeoff", "catalogue", "ensemble",
               "wrappers", "blind", "exposure")

__all__ = ["datasets", "membership_set", "Records", "__version__", *_LAZY, *_SUBMODULES]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'privlearn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
