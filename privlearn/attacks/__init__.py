"""Privacy attacks: membership inference (NN, metric-based, label-only, LiRA, RMIA,
EncoderMI, PartCrop, EncoderLiRA) and attribute inference."""

from .._target import StaleTargetError
from ._reference import ReferenceModels, reference_attack_scores
from .encoder_lira import EncoderLiRA
from .encoder_membership import EncoderMembershipInference
from .partcrop import PartCrop
from .lira import LiRA
from .rmia import RMIA

__all__ = ["ReferenceModels", "reference_attack_scores", "LiRA", "RMIA",
           "EncoderMembershipInference", "PartCrop", "EncoderLiRA", "StaleTargetError"]
