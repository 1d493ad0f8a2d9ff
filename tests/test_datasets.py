"""Offline data sets, the paper split and membership records."""

import numpy as np
import pytest
from sklearn.model_selection import KFold, train_test_split

import privlearn as pl
from privlearn.datasets.offline import _read_idx
from conftest import FASHION_AVAILABLE


def test_digits_layout(digits):
    assert digits.images.shape == (1797, 1, 8, 8)
    assert digits.images.dtype == np.uint8
    assert digits.images.max() == 255 and digits.images.min() == 0
    np.testing.assert_array_equal(digits.target, digits.sensitive % 2)
    assert digits.target_names == ["even", "odd"]
    assert len(digits.sensitive_names) == 10


def test_digits_digit_task_and_resize():
    data = pl.datasets.load("digits", task="digit", image_size=16)
    assert data.images.shape == (1797, 1, 16, 16)
    assert set(np.unique(data.target)) == set(range(10))
    np.testing.assert_array_equal(data.sensitive, data.target % 2)


def test_paper_split_is_disjoint_equal_and_stratified(digits):
    parts = pl.datasets.paper_split(digits, random_state=0)
    sizes = {len(parts[p].target) for p in pl.datasets.PARTS}
    assert sizes == {448}
    counts = [np.bincount(parts[p].sensitive, minlength=10) for p in pl.datasets.PARTS]
    target_counts = [np.bincount(parts[p].target) for p in pl.datasets.PARTS]
    assert all((c == target_counts[0]).all() for c in target_counts)
    assert all(c.sum() == 448 for c in counts)


def test_paper_split_indices_disjoint():
    # A data set whose images encode their own index proves disjointness exactly.
    n = 400
    images = np.arange(n, dtype=np.int64).reshape(n, 1, 1, 1)
    data = pl.datasets.make_bunch(images.astype(np.uint16), np.arange(n) % 4,
                                  target_names=list("abcd"))
    parts = pl.datasets.paper_split(data, random_state=1)
    ids = [parts[p].images.ravel() for p in pl.datasets.PARTS]
    assert len(np.unique(np.concatenate(ids))) == 400
    again = pl.datasets.paper_split(data, random_state=1)
    np.testing.assert_array_equal(again.shadow_test.images, parts.shadow_test.images)


def test_paper_split_n_per_part(digits):
    parts = pl.datasets.paper_split(digits, n_per_part=100, random_state=0)
    for p in pl.datasets.PARTS:
        assert len(parts[p].target) == 100
        assert abs(parts[p].target.mean() - digits.target.mean()) < 0.05


def test_paper_split_too_few_per_class():
    data = pl.datasets.make_bunch(np.zeros((9, 1, 2, 2), np.uint8),
                                  [0] * 6 + [1] * 3, target_names=["a", "b"])
    with pytest.raises(ValueError, match="at least 4 samples of every class"):
        pl.datasets.paper_split(data)


def test_membership_set_and_sklearn_splitters(digits_parts):
    X, m = pl.membership_set(digits_parts.target_train, digits_parts.target_test)
    assert len(X) == len(m) == 896
    assert m[:448].all() and not m[448:].any()
    np.testing.assert_array_equal(X.labels[:448], digits_parts.target_train.target)
    Xa, Xb, ma, mb = train_test_split(X, m, test_size=0.25, random_state=0, stratify=m)
    assert isinstance(Xa, pl.Records) and len(Xa) == len(ma) == 672
    for train, test in KFold(3).split(X, m):
        sub = X[train]
        np.testing.assert_array_equal(sub.inputs, X.inputs[train])


def test_membership_set_shape_mismatch(digits_parts):
    small = (np.zeros((5, 1, 4, 4), np.uint8), np.zeros(5, int))
    with pytest.raises(ValueError, match=r"members .*\(448, 1, 8, 8\).*non_members .*\(5, 1, 4, 4\)"):
        pl.membership_set(digits_parts.target_train, small)


def test_load_unknown_name_lists_known():
    with pytest.raises(ValueError, match="known data sets are digits, fashion-mnist"):
        pl.datasets.load("mnist-ish")


def test_load_needs_root_for_user_datasets():
    with pytest.raises(ValueError, match="needs root"):
        pl.datasets.load("cifar10")


def test_fashion_missing_folder_names_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)) as info:
        pl.datasets.load("fashion-mnist", root=tmp_path)
    assert "apt-get install dataset-fashion-mnist" in str(info.value)


def _write_idx(path, array):
    import gzip
    header = bytes([0, 0, 8, array.ndim]) + np.asarray(array.shape, ">i4").tobytes()
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def test_fashion_from_fixture_idx(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 30), ("t10k", 10)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    data = pl.datasets.load("fashion-mnist", root=tmp_path, task="coarse",
                            attribute="class")
    assert data.images.shape == (40, 1, 28, 28)
    assert data.sensitive.tolist()[:10] == list(range(10))
    assert data.target.tolist()[:10] == [0, 1, 0, 1, 0, 2, 0, 2, 2, 2]
    fine = pl.datasets.load("fashion-mnist-coarse", root=tmp_path)
    np.testing.assert_array_equal(fine.target, data.target)
    assert fine.sensitive.tolist()[:10] == [0, 0, 1, 1, 2, 0, 3, 1, 3, 2]
    assert fine.name == "fashion-mnist-coarse" and len(fine.sensitive_names) == 4
    test_only = pl.datasets.load("fashion-mnist", root=tmp_path, split="test")
    assert len(test_only.target) == 10 and test_only.sensitive is None
    np.testing.assert_array_equal(_read_idx(tmp_path / "t10k-labels-idx1-ubyte.gz"),
                                  np.arange(10) % 10)


@pytest.mark.skipif(not FASHION_AVAILABLE, reason="Debian's dataset-fashion-mnist not installed")
def test_fashion_debian_files():
    data = pl.datasets.load("fashion-mnist", split="test")
    assert data.images.shape == (10000, 1, 28, 28)
    assert np.bincount(data.target).tolist() == [1000] * 10


def test_fashion_coarse_grouping_is_a_paper_like_setting():
    from privlearn.datasets.offline import FASHION_COARSE, fashion_coarse_labels

    members = sorted(m for group in FASHION_COARSE.values() for m in group)
    assert members == list(range(10)) and len(FASHION_COARSE) == 3
    assert all(len(group) >= 2 for group in FASHION_COARSE.values())
    task, attribute, _, _ = fashion_coarse_labels(np.arange(10))
    pairs = set(zip(task.tolist(), attribute.tolist()))
    # Every (task, attribute) pair is one fine class: the labels lose nothing.
    assert len(pairs) == 10
    # Neither determines the other: every task value holds >= 2 attribute values
    # and attribute values 0 and 1 occur in every group.
    for t in range(3):
        assert len({a for tt, a in pairs if tt == t}) >= 2
    for a in (0, 1):
        assert {tt for tt, aa in pairs if aa == a} == {0, 1, 2}


def test_fashion_coarse_options_are_checked(tmp_path):
    with pytest.raises(ValueError, match="attribute must be one of"):
        pl.datasets.load("fashion-mnist-coarse", root=tmp_path, attribute="colour")
    with pytest.raises(ValueError, match="task='coarse' only"):
        pl.datasets.load("fashion-mnist", root=tmp_path, attribute="fine")
    from privlearn.datasets.offline import fashion_coarse_labels
    with pytest.raises(ValueError, match="0..9"):
        fashion_coarse_labels([3, 12])


def test_conditional_baseline_beats_majority_when_task_tells():
    task = np.array([0] * 6 + [1] * 4)
    attribute = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2, 1])
    assert pl.datasets.majority_baseline(attribute) == 0.4
    assert pl.datasets.conditional_baseline(task, attribute) == pytest.approx(0.7)
    # Learnt on one set, scored on another; an unseen task value gets the majority.
    score = pl.datasets.conditional_baseline(task, attribute, [0, 1, 7], [0, 2, 0])
    assert score == pytest.approx(1.0)
    np.testing.assert_array_equal(pl.datasets.conditional_guess(task, attribute, [1, 7]),
                                  [2, 0])
    # Independent attribute: knowing the task does not help.
    rng = np.random.default_rng(0)
    t, a = rng.integers(0, 3, 3000), rng.integers(0, 4, 3000)
    assert abs(pl.datasets.conditional_baseline(t, a[::-1], t, a)
               - pl.datasets.majority_baseline(a)) < 0.03


def test_conditional_baseline_bad_input():
    with pytest.raises(ValueError, match="differ in length"):
        pl.datasets.conditional_baseline([0, 1], [0])
    with pytest.raises(TypeError, match="both"):
        pl.datasets.conditional_baseline([0, 1], [0, 1], task_eval=[0])
    with pytest.raises(TypeError, match="integer labels"):
        pl.datasets.conditional_baseline([0.5, 1.0], [0, 1])
    with pytest.raises(ValueError, match="empty"):
        pl.datasets.majority_baseline([])


@pytest.mark.skipif(not FASHION_AVAILABLE, reason="Debian's dataset-fashion-mnist not installed")
def test_fashion_coarse_debian_baselines():
    data = pl.datasets.load("fashion-mnist-coarse", split="test")
    assert data.images.shape == (10000, 1, 28, 28)
    assert np.bincount(data.target).tolist() == [4000, 2000, 4000]
    # Balanced classes, shared attribute values: the task label does not help.
    assert pl.datasets.majority_baseline(data.sensitive) == pytest.approx(0.3)
    assert pl.datasets.conditional_baseline(data.target, data.sensitive) == pytest.approx(0.3)
    as_class = pl.datasets.load("fashion-mnist", task="coarse", attribute="class", split="test")
    assert pl.datasets.majority_baseline(as_class.sensitive) == pytest.approx(0.1)
    assert pl.datasets.conditional_baseline(as_class.target, as_class.sensitive) == \
        pytest.approx(0.3)
    parts = pl.datasets.paper_split(data, n_per_part=120, random_state=0)
    assert np.bincount(parts.target_train.target).tolist() == [48, 24, 48]
