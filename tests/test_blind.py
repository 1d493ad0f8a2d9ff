import numpy as np

from privlearn.blind import blind_baseline


def _images(n, seed):
    return np.random.RandomState(seed).randint(0, 200, (n, 1, 8, 8)).astype(np.uint8)


def test_shifted_split_is_flagged():
    images = _images(160, 0)
    member = np.r_[np.ones(80, int), np.zeros(80, int)]
    images[member == 1] += 40  # members brighter than non-members
    r = blind_baseline(images, member, random_state=0, n_boot=300)
    assert r["leaks"] and r["ci"][0] > 0.5 and r["auc"] > 0.8


def test_random_split_is_not_flagged():
    images = _images(160, 1)
    member = np.random.RandomState(2).permutation(np.r_[np.ones(80, int), np.zeros(80, int)])
    r = blind_baseline(images, member, random_state=0, n_boot=300)
    assert not r["leaks"] and r["ci"][0] <= 0.5 <= r["ci"][1]


def test_bad_input():
    import pytest
    with pytest.raises(ValueError, match="membership"):
        blind_baseline(_images(20, 0), np.arange(20))
    with pytest.raises(ValueError, match="at least cv"):
        blind_baseline(_images(20, 0), np.r_[np.ones(2, int), np.zeros(18, int)])
