"""Fixtures and helpers shared by the encoder-attack tests (EncoderMI, PartCrop, EncoderLiRA)."""

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """Torch on one thread for the test (the machine's cores are shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _flatten(x):
    return np.asarray(x, dtype=np.float64).reshape(len(x), -1)
