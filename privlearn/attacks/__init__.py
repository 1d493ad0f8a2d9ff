"""Privacy attacks: membership inference (NN, metric-based, label-only, LiRA, RMIA,
EncoderMI) and attribute inference."""

from ._reference import ReferenceModels, reference_attack_scores
from .encoder_membership import EncoderMembershipInference
from .lira import LiRA
from .rmia import RMIA

__all__ = ["ReferenceModels", "reference_attack_scores", "LiRA", "RMIA",
           "EncoderMembershipInference"]
