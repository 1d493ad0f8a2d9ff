"""Shared fixtures: small real data, made once per session."""

import os

import numpy as np
import pytest
import torch

import privlearn as pl

# Two cores: keep torch from oversubscribing them during tests.
torch.set_num_threads(min(2, os.cpu_count() or 1))

FASHION_AVAILABLE = os.path.isdir("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's digits as a privlearn Bunch (task parity, attribute digit)."""
    return pl.datasets.load("digits")


@pytest.fixture(scope="session")
def digits_parts(digits):
    """The paper's four-way split of digits."""
    return pl.datasets.paper_split(digits, random_state=0)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
