"""Helpers shared by the encoder-attack tests (EncoderMI, PartCrop, EncoderLiRA)."""

import numpy as np


def _flatten(x):
    return np.asarray(x, dtype=np.float64).reshape(len(x), -1)
