import numpy as np
import pytest
import torch

from privlearn.blind import blind_baseline, image_statistics


def _digits(n=200, seed=0):
    from sklearn.datasets import load_digits
    d = load_digits()
    idx = np.random.RandomState(seed).permutation(len(d.images))[:n]
    return (d.images[idx] * (255 / 16)).round().astype(np.uint8)[:, None]


def _brighter(images, member, factor):
    out = images.astype(np.float64)
    out[member == 1] = out[member == 1] * factor
    return np.clip(out, 0, 255).round().astype(np.uint8)


def test_brighter_members_are_flagged():
    images = _digits()
    member = np.random.RandomState(1).permutation(np.r_[np.ones(100, int), np.zeros(100, int)])
    r = blind_baseline(_brighter(images, member, 1.25), member, random_state=0, n_boot=300)
    assert r["leaks"] and r["verdict"] == "holds" and r["ci"][0] > 0.5 and r["auc"] > 0.75
    assert r["scores"].shape == (200,) and (r["n_members"], r["n_non_members"]) == (100, 100)


def test_random_split_is_not_flagged():
    images = _digits()
    member = np.random.RandomState(2).permutation(np.r_[np.ones(100, int), np.zeros(100, int)])
    r = blind_baseline(images, member, random_state=0, n_boot=300)
    assert not r["leaks"] and r["verdict"] == "inconclusive"
    assert r["ci"][0] <= 0.5 <= r["ci"][1]


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(5))
def test_random_splits_rarely_flagged(seed):
    """Statistical: over random splits of real digits the flag stays off."""
    images = _digits(300, seed)
    member = np.random.RandomState(seed).permutation(np.r_[np.ones(150, int),
                                                           np.zeros(150, int)])
    assert not blind_baseline(images, member, random_state=seed)["leaks"]


def test_fast_after_torch_threads():
    """sklearn's gradient boosting is not slowed by torch's OpenMP pool."""
    import time
    torch.set_num_threads(2)
    images, member = _digits(), np.arange(200) % 2
    t0 = time.perf_counter()
    blind_baseline(images, member, random_state=0, n_boot=100)
    assert time.perf_counter() - t0 < 15


def test_image_statistics_scale_and_shape():
    x = np.full((2, 3, 4, 4), 255, np.uint8)
    f = image_statistics(x)
    assert f.shape == (2, 3 * 4 + 8 + 1)
    np.testing.assert_allclose(f[:, :3], 1.0)  # uint8 means scaled to [0, 1]
    np.testing.assert_allclose(image_statistics(x / 255.0), f)  # floats taken as [0, 1]
    assert f[0, 12 + 7] == 1.0  # every pixel in the brightest bin


def test_bad_input():
    images = _digits(20)
    with pytest.raises(ValueError, match="membership"):
        blind_baseline(images, np.arange(20))
    with pytest.raises(ValueError, match="at least cv"):
        blind_baseline(images, np.r_[np.ones(2, int), np.zeros(18, int)])
    with pytest.raises(ValueError, match="images"):
        blind_baseline(np.zeros((20, 8)), np.arange(20) % 2)
