"""Hardening (issue 14): the instances found by trying privlearn as a hostile user.

Three classes, each fixed at one validation layer:

1. **Silent wrong results**: posteriors that are not probabilities
   (:func:`privlearn._target.checked_predict_proba`), cached attack work after a
   refit (:func:`privlearn._target.model_state`), ``score`` taking membership
   labels that ``fit`` refuses (:func:`privlearn.attacks._base.check_membership`),
   continuous values taken as classes (:func:`privlearn.records.check_class_labels`),
   channel-last images (:class:`privlearn._images.ChannelsLastWarning`).
2. **Late errors**: a target's ``predict`` of the wrong length
   (:func:`privlearn._target.checked_predict`), options checked only after work.
3. **Foreign tracebacks**: pandas missing values, mixed-type labels, unsupported
   Dataset items, corrupt or truncated data files
   (:class:`privlearn.datasets._base.CorruptFileError` names the file).

Each row is ``(id, entry point, exception, message regex)``; the tripwires of
``tests/test_bad_input.py`` prove that the errors come before any training.
"""

import gzip
import pickle
import re
import shutil
import threading
import warnings
import weakref
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from torch.utils.data import Dataset

import privlearn as pl
from privlearn._images import ChannelsLastWarning, as_input, scan_inputs
from privlearn._target import model_state
from privlearn.datasets._base import CorruptFileError
from privlearn.datasets.offline import DEBIAN_FASHION_MNIST
from privlearn.datasets.synthetic import add_inversion_attribute

pd = pytest.importorskip("pandas")


class TrainingStarted(Exception):
    """Raised by a tripwire: the entry point got as far as training."""


def _tripwire(*args, **kwargs):
    raise TrainingStarted("training started before the bad input was refused")


class Broken(ClassifierMixin, BaseEstimator):
    """A fitted model whose answers are damaged in one way (``mode``)."""

    def __init__(self, model=None, mode="nan"):
        self.model = model
        self.mode = mode

    def fit(self, X, y):
        raise AssertionError("the target under attack must not be refitted")

    def __sklearn_is_fitted__(self):
        return True

    @property
    def classes_(self):
        return self.model.classes_

    def predict_proba(self, X):
        p = self.model.predict_proba(X)
        damage = {
            "nan": lambda p: np.where(np.arange(len(p))[:, None] == 3, np.nan, p),
            "inf": lambda p: np.where(np.arange(len(p))[:, None] == 3, np.inf, p),
            "negative": lambda p: p - 0.5,
            "logits": lambda p: np.log(p + 1e-12),
            "unnormalised": lambda p: 3 * p,
            "short": lambda p: p[:-1],
            "one-column": lambda p: p[:, 0],
            "strings": lambda p: p.astype(str),
        }[self.mode]
        return damage(p)

    def predict(self, X):
        labels = self.model.predict(X)
        return {"short": labels[:-1], "2d": np.c_[labels, labels]}.get(self.mode, labels)


class DuckTarget:
    """A fitted model outside scikit-learn's estimator API (no tags, no params)."""

    def __init__(self, model):
        self.model = model
        self.classes_ = model.classes_

    def predict_proba(self, X):
        return self.model.predict_proba(X)


class Items(Dataset):
    """A Dataset that yields the same item four times."""

    def __init__(self, item):
        self.item = item

    def __len__(self):
        return 4

    def __getitem__(self, index):
        return self.item


@pytest.fixture(scope="module")
def ctx():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    target = LogisticRegression(max_iter=300).fit(X[:100], y[:100])
    records, membership = pl.membership_set((X[:100], y[:100]), (X[100:200], y[100:200]))
    members = np.flatnonzero(membership == 1)[:10]
    others = np.flatnonzero(membership == 0)[:10]
    few = np.r_[members, others]
    return SimpleNamespace(X=X, y=y, target=target, records=records, membership=membership,
                           few_records=records[few], few_membership=membership[few],
                           pca=PCA(3).fit(X), images=pl.datasets.load("digits").images[:40])


@pytest.fixture
def tripwires(monkeypatch):
    monkeypatch.setattr(MLPClassifier, "fit", _tripwire)
    monkeypatch.setattr("privlearn.attacks.membership.fit_class_thresholds", _tripwire)
    monkeypatch.setattr("privlearn.attacks.label_only.boundary_distances", _tripwire)


def _mia(target, method="entropy"):
    return pl.MembershipInference(target, method=method, random_state=0)


def _na_series(values, at=3, dtype=None):
    series = pd.Series(values, dtype=dtype)
    return series.where(np.arange(len(series)) != at)


# ------------------------------------------------------ class 1 and 2: attacks
ATTACK_CASES = [
    # posteriors that are not probabilities: named, before any attack model trains
    *[(f"posteriors-{mode}-{method}",
       lambda c, mode=mode, method=method: _mia(Broken(c.target, mode), method).fit(
           c.records, c.membership),
       ValueError, message)
      for mode, message in [
          ("nan", r"target \(Broken\)'s predict_proba returned non-finite posteriors "
                  r"\(NaN or infinite\) for 1 of 200 records \(first: record 3\)"),
          ("inf", r"non-finite posteriors \(NaN or infinite\)"),
          ("negative", r"posteriors must lie in \[0, 1\]"),
          ("logits", r"posteriors must lie in \[0, 1\].*logits"),
          ("unnormalised", r"values from .* to 2\.\d+; posteriors must lie in \[0, 1\]"),
          ("short", r"predict_proba returned shape \(199, 10\); expected \(200, 10\)"),
          ("one-column", r"predict_proba returned shape \(200,\)"),
          ("strings", r"predict_proba returned dtype <U"),
      ]
      for method in ("nn", "entropy", "correctness")],
    ("posteriors-rows-not-summing-to-1",
     lambda c: _mia(Broken(c.target, "unnormalised")).fit(
         pl.Records(c.X[:200] * 0, c.y[:200]), c.membership),
     ValueError, r"posteriors must lie in \[0, 1\]|do not sum to 1"),
    # options checked before work
    ("mia-random-state-string",
     lambda c: pl.MembershipInference(c.target, random_state="seed").fit(c.records,
                                                                       c.membership),
     ValueError, r"`random_state` must be None, an integer"),
    ("label-only-random-state-string",
     lambda c: pl.LabelOnlyMembershipInference(c.target, random_state="seed").fit(
         c.few_records, c.few_membership),
     ValueError, r"`random_state` must be None, an integer"),
    ("label-only-clip-values-nan",
     lambda c: pl.LabelOnlyMembershipInference(c.target, clip_values=(np.nan, 1)).fit(
         c.few_records, c.few_membership),
     ValueError, r"`clip_values` must be finite"),
    ("label-only-clip-values-inf",
     lambda c: pl.LabelOnlyMembershipInference(c.target, clip_values=(0, np.inf)).fit(
         c.few_records, c.few_membership),
     ValueError, r"`clip_values` must be finite"),
    ("aia-random-state-string",
     lambda c: pl.AttributeInference(c.pca, random_state="seed").fit(c.X[:40],
                                                                     np.arange(40) % 2),
     ValueError, r"`random_state` must be None, an integer"),
    # labels: continuous, missing, mixed types
    ("records-continuous-labels", lambda c: pl.Records(c.X[:10], np.linspace(0, 1, 10)),
     ValueError, r"Records: `labels` must hold class labels.*continuous values such as "
                 r"0\.111111"),
    ("records-nan-label", lambda c: pl.Records(c.X[:4], [1, np.nan, 2, 3]),
     ValueError, r"`labels` contains 1 missing value\(s\).*position 1"),
    ("records-mixed-labels", lambda c: pl.Records(c.X[:4], np.array([1, "a", 2, "b"],
                                                                    dtype=object)),
     ValueError, r"class labels of one type.*\['number', 'string'\]"),
    ("records-scalar-inputs", lambda c: pl.Records(3, [1]),
     TypeError, r"`inputs` must be an array-like with one entry per record"),
    ("records-pandas-na-label",
     lambda c: pl.Records(c.X[:6], _na_series([0, 1, 2, 3, 4, 5], dtype="Int64")),
     ValueError, r"`labels` contains 1 missing value.*position 3"),
    ("records-pandas-string-na-label",
     lambda c: pl.Records(c.X[:6], _na_series(list("abcdef"))),
     ValueError, r"`labels` contains 1 missing value"),
    ("mia-membership-nan",
     lambda c: _mia(c.target).fit(c.records, np.where(c.membership == 1, 1.0, np.nan)),
     ValueError, r"`y` \(membership\) contains 100 missing value"),
    ("mia-membership-pandas-na",
     lambda c: _mia(c.target).fit(c.records, _na_series(c.membership, dtype="Int64")),
     ValueError, r"`y` \(membership\) contains 1 missing value"),
    ("mia-membership-mixed",
     lambda c: _mia(c.target).fit(c.records, np.array(
         [1 if m else "out" for m in c.membership], dtype=object)),
     ValueError, r"`y` \(membership\) must hold 1 for members and 0"),
    ("aia-continuous-attribute",
     lambda c: pl.AttributeInference(c.pca).fit(c.X[:300], np.random.default_rng(0)
                                                .random(300)),
     ValueError, r"`y` must hold class labels.*Unknown label type: continuous"),
    ("aia-nan-attribute",
     lambda c: pl.AttributeInference(c.pca).fit(c.X[:4], [1, np.nan, 0, 1]),
     ValueError, r"`y` contains 1 missing value"),
    ("aia-pandas-na-attribute",
     lambda c: pl.AttributeInference(c.pca).fit(c.X[:8], _na_series(list("abababab"))),
     ValueError, r"`y` contains 1 missing value"),
    ("aia-mixed-attribute",
     lambda c: pl.AttributeInference(c.pca).fit(c.X[:4], np.array([1, "a", 0, "b"],
                                                                  dtype=object)),
     ValueError, r"`y` must hold class labels of one type"),
]


@pytest.mark.parametrize("entry, error, message", [case[1:] for case in ATTACK_CASES],
                         ids=[case[0] for case in ATTACK_CASES])
def test_attack_inputs_are_refused_before_work(entry, error, message, ctx, tripwires):
    with pytest.raises(error, match=message):
        entry(ctx)


@pytest.mark.parametrize("mode, message", [
    ("short", r"target \(Broken\)'s predict returned shape \(19,\) for 20 inputs"),
    ("2d", r"predict returned shape \(20, 2\) for 20 inputs; expected \(20,\)"),
])
def test_label_only_checks_every_answer_of_predict(mode, message, ctx):
    """Checked at the first query (the records themselves), not deep in the search."""
    attack = pl.LabelOnlyMembershipInference(Broken(ctx.target, mode), max_iter=1,
                                             init_eval=5)
    with pytest.raises(ValueError, match=message):
        attack.fit(ctx.few_records, ctx.few_membership)


def test_duck_typed_target_is_attacked(ctx):
    """A model outside sklearn's API (no __sklearn_tags__) is trusted to be fitted."""
    attack = _mia(DuckTarget(ctx.target)).fit(ctx.records, ctx.membership)
    assert 0.5 <= attack.score(ctx.records, ctx.membership) <= 1


@pytest.mark.parametrize("method", ["nn", "entropy"])
def test_score_refuses_membership_that_fit_refuses(method, ctx):
    attack = _mia(ctx.target, method).fit(ctx.records, ctx.membership)
    for bad, message in [(ctx.membership * 2, r"must hold 1 for members and 0"),
                         (ctx.membership + 0.5, r"must hold 1 for members and 0"),
                         (np.where(ctx.membership == 1, "in", "out"), r"must hold 1 for"),
                         (ctx.membership[:5], r"holds 200 records but `y`"),
                         (np.where(ctx.membership == 1, 1.0, np.nan), r"missing value")]:
        with pytest.raises(ValueError, match=message):
            attack.score(ctx.records, bad)
    # A test set of members only is valid for score (not for fit).
    members = ctx.membership == 1
    assert attack.score(ctx.records[members], ctx.membership[members]) == pytest.approx(
        np.mean(attack.predict(ctx.records[members]) == 1))


def test_attribute_score_checks_its_labels(ctx):
    attack = pl.AttributeInference(ctx.pca, attack_model=LogisticRegression()).fit(
        ctx.X[:60], np.arange(60) % 2)
    with pytest.raises(ValueError, match=r"`y` has 30 values but X has 60"):
        attack.score(ctx.X[:60], np.arange(30) % 2)
    with pytest.raises(ValueError, match=r"Unknown label type: continuous"):
        attack.score(ctx.X[:60], np.linspace(0, 1, 60))
    assert 0 <= attack.score(ctx.X[:60], np.zeros(60, int)) <= 1   # one class is fine


class Flippable(ClassifierMixin, BaseEstimator):
    """A target refitted in place; its query count lives outside its state."""

    _counts = weakref.WeakKeyDictionary()

    def __init__(self, flip=False):
        self.flip = flip

    def fit(self, X, y):
        self.model_ = LogisticRegression(max_iter=300).fit(X, (9 - y) if self.flip else y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        self._counts[self] = self._counts.get(self, 0) + len(X)
        return self.model_.predict(X)


def test_label_only_cache_does_not_survive_a_refit(ctx):
    target = Flippable().fit(ctx.X[:100], ctx.y[:100])
    attack = pl.LabelOnlyMembershipInference(target, max_iter=1, init_eval=5,
                                             random_state=0)
    attack.fit(ctx.few_records, ctx.few_membership)
    before = attack.boundary_distance(ctx.few_records)
    queries = Flippable._counts[target]
    attack.boundary_distance(ctx.few_records)
    assert Flippable._counts[target] == queries             # unchanged model: cached
    target.set_params(flip=True).fit(ctx.X[:100], ctx.y[:100])   # same object, new model
    after = attack.boundary_distance(ctx.few_records)
    assert Flippable._counts[target] > queries              # queried again
    assert not np.array_equal(before, after)


def test_model_state_follows_the_fitted_state_not_the_object(ctx):
    model = LogisticRegression(max_iter=300).fit(ctx.X[:100], ctx.y[:100])
    first = model_state(model)
    model.predict_proba(ctx.X[:5])
    assert model_state(model) == first
    model.fit(ctx.X[100:200], ctx.y[100:200])
    assert model_state(model) != first
    assert model_state(threading.Lock()) is None      # unpicklable: nothing cached
    # A lambda is digested by its code and closure (users' FunctionTransformers hold them).
    assert model_state(lambda x: x) == model_state(lambda x: x)
    assert model_state(lambda x: x) != model_state(lambda x: x + 1)


def test_skorch_model_state_ignores_the_eval_flag_of_predict(digits):
    model = pl.SupervisedClassifier(max_epochs=1, batch_size=64, random_state=0).fit(
        digits.images[:64], digits.target[:64])
    first = model_state(model)
    model.predict(digits.images[:8])                  # flips module_.training
    assert model_state(model) == first
    model.partial_fit(digits.images[:64], digits.target[:64])
    assert model_state(model) != first


# ------------------------------------------------------------------- metrics
METRIC_CASES = [
    ("report-membership-with-none",
     lambda: pl.metrics.attack_report(np.array([1, 0, None], dtype=object), [0.1, 0.2, 0.3]),
     ValueError, r"`membership` contains 1 missing value"),
    ("report-membership-pandas-na",
     lambda: pl.metrics.attack_report(_na_series([1, 0, 1, 0, 1], dtype="Int64"),
                                      [0.1, 0.2, 0.3, 0.4, 0.5]),
     ValueError, r"`membership` contains 1 missing value"),
    ("report-scores-pandas-na",
     lambda: pl.metrics.attack_report([1, 0, 1, 0, 1], _na_series([.1, .2, .3, .4, .5],
                                                                  dtype="Float64")),
     ValueError, r"`scores` must be finite"),
    ("report-scores-strings", lambda: pl.metrics.attack_report([1, 0], ["a", "b"]),
     TypeError, r"`scores` must hold numbers"),
    ("report-threshold-nan",
     lambda: pl.metrics.attack_report([1, 0], [0.1, 0.2], threshold=np.nan),
     ValueError, r"`threshold` must be a finite number"),
    ("report-predictions-strings",
     lambda: pl.metrics.attack_report([1, 0], [0.1, 0.2], predictions=["1", "0"]),
     ValueError, r"`predictions` must hold 0/1"),
    ("tpr-fpr-string", lambda: pl.metrics.tpr_at_fpr([1, 0], [0.1, 0.2], fpr="a"),
     ValueError, r"`fpr` must be a number in \[0, 1\], got 'a'"),
    ("tpr-fpr-none", lambda: pl.metrics.tpr_at_fpr([1, 0], [0.1, 0.2], fpr=None),
     ValueError, r"`fpr` must be a number in \[0, 1\], got None"),
    ("scorer-fpr-nan", lambda: pl.metrics.make_tpr_at_fpr_scorer(np.nan),
     ValueError, r"`fpr` must be a number in \[0, 1\]"),
]


@pytest.mark.parametrize("entry, error, message", [case[1:] for case in METRIC_CASES],
                         ids=[case[0] for case in METRIC_CASES])
def test_metrics_refuse_with_our_message(entry, error, message):
    with pytest.raises(error, match=message):
        entry()


# ------------------------------------------------------------------- images
def test_channel_last_images_warn_once_at_fit():
    hwc = np.zeros((6, 8, 8, 3), np.uint8)
    with pytest.warns(ChannelsLastWarning, match=r"look channel-last.*transpose\(0, 3, 1, 2\)"):
        scan_inputs(*as_input(hwc))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scan_inputs(*as_input(hwc.transpose(0, 3, 1, 2)))            # C×H×W: silent
        scan_inputs(*as_input(np.zeros((6, 3, 5, 3), np.uint8)))     # ambiguous: silent
    with pytest.warns(ChannelsLastWarning):
        scan_inputs(*as_input(Items(np.zeros((8, 8, 3), np.uint8))))


def test_channel_last_warning_reaches_the_estimator(digits):
    hwc = np.ascontiguousarray(digits.images[:32].transpose(0, 2, 3, 1))
    with pytest.warns(ChannelsLastWarning, match=r"SimCLR|estimator"):
        pl.SimCLR(backbone="cnn", max_epochs=1, batch_size=16, random_state=0).fit(hwc)


IMAGE_CASES = [
    ("none", lambda: as_input(None), TypeError, r"`X` must be a NumPy array.*got None"),
    ("dict", lambda: as_input({"a": 1}), TypeError, r"`X` must be a NumPy array.*got dict"),
    ("generator", lambda: as_input(i for i in range(3)), TypeError, r"got generator"),
    ("pandas-object-na", lambda: as_input(pd.DataFrame({"a": [1, None, 2]}, dtype=object)),
     ValueError, r"`X` contains 1 missing value\(s\) \(None or pandas NA\)"),
    ("pandas-nullable-na",
     lambda: scan_inputs(*as_input(pd.DataFrame({"a": [1.0, None, 2.0]}).astype("Float64"))),
     ValueError, r"`X` contains NaN"),
    *[(f"dataset-item-{name}", lambda item=item: scan_inputs(*as_input(Items(item))),
       error, message)
      for name, item, error, message in [
          ("str", "abc", TypeError, r"`X` yields items holding str; expected an image"),
          ("dict", {"image": np.zeros((1, 8, 8))}, TypeError, r"items holding dict"),
          ("none", None, TypeError, r"items holding NoneType"),
          ("empty-tuple", (), TypeError, r"yields an empty tuple as an item"),
          ("int", 3, TypeError, r"items holding int"),
          ("object-array", np.array([[1, None]], dtype=object), TypeError,
           r"must hold numbers \(uint8 or float\), got dtype object"),
          ("bool-array", np.zeros((8, 8), bool), TypeError, r"got dtype bool"),
      ]],
]


@pytest.mark.parametrize("entry, error, message", [case[1:] for case in IMAGE_CASES],
                         ids=[case[0] for case in IMAGE_CASES])
def test_image_inputs_refused_with_our_message(entry, error, message):
    with pytest.raises(error, match=message):
        entry()


def test_complex_and_bool_tensors_in_datasets_are_refused():
    torch = pytest.importorskip("torch")
    for dtype in (torch.complex64, torch.bool):
        with pytest.raises(TypeError, match=rf"got dtype {re.escape(str(dtype))}"):
            scan_inputs(*as_input(Items(torch.zeros(1, 8, 8, dtype=dtype))))


def test_pandas_inputs_are_indexed_by_position(ctx):
    frame = pd.DataFrame(ctx.X[:200], index=np.arange(200)[::-1] * 7)
    labels = pd.Series(ctx.y[:200], index=np.arange(200) + 1000)
    records = pl.Records(frame, labels)
    np.testing.assert_array_equal(records[[0, 5]].inputs, ctx.X[[0, 5]])
    attack = _mia(ctx.target).fit(records, ctx.membership)
    plain = _mia(ctx.target).fit(ctx.records, ctx.membership)
    np.testing.assert_allclose(attack.decision_function(records),
                               plain.decision_function(ctx.records), rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------- data sets
DATA_OPTION_CASES = [
    ("load-unknown-option", lambda: pl.datasets.load("digits", tsk="parity"),
     TypeError, r"load\('digits'\): unknown option\(s\) \['tsk'\]; its options are "
                r"\['task', 'attribute', 'image_size'\]"),
    ("load-root-for-bundled", lambda: pl.datasets.load("digits", root="/tmp"),
     TypeError, r"load\('digits'\) takes no root"),
    ("load-root-not-a-path", lambda: pl.datasets.load("cifar10", root=3),
     TypeError, r"`root` must be a folder path"),
    ("split-not-a-bunch", lambda: pl.datasets.paper_split(np.zeros((8, 1, 2, 2))),
     TypeError, r"paper_split: `data` must be a Bunch"),
    ("split-continuous-target",
     lambda: pl.datasets.paper_split({"images": np.zeros((40, 1, 2, 2)),
                                      "target": np.linspace(0, 1, 40)}),
     ValueError, r"paper_split: `data.target` must hold class labels"),
    ("split-mixed-target",
     lambda: pl.datasets.paper_split({"images": np.zeros((4, 1, 2, 2)),
                                      "target": np.array([1, "a", 1, "a"], dtype=object)}),
     ValueError, r"`data.target` must hold class labels of one type"),
    ("split-random-state-string",
     lambda: pl.datasets.paper_split(pl.datasets.load("digits"), random_state="x"),
     ValueError, r"paper_split: `random_state` must be None"),
    ("inversion-not-a-bunch",
     lambda: add_inversion_attribute(np.zeros((4, 1, 2, 2))),
     TypeError, r"`data` must be a Bunch"),
    ("inversion-fraction-string",
     lambda: add_inversion_attribute(pl.datasets.load("digits"),
                                                           fraction="half"),
     TypeError, r"`fraction` must be a number in \(0, 1\)"),
    ("membership-set-scalars", lambda: pl.membership_set((3, 1), (np.zeros((2, 2)), [0, 1])),
     ValueError, r"`members` must hold an array of inputs and a 1-D array of labels"),
    ("digits-unknown-attribute", lambda: pl.datasets.load("digits", attribute="colour"),
     ValueError, r"attribute must be one of \['digit', 'magnitude'\].*'colour'"),
    ("digits-attribute-equals-task",
     lambda: pl.datasets.load("digits", task="digit", attribute="digit"),
     ValueError, r"attribute must be one of \['parity', 'magnitude'\]"),
]


@pytest.mark.parametrize("entry, error, message", [case[1:] for case in DATA_OPTION_CASES],
                         ids=[case[0] for case in DATA_OPTION_CASES])
def test_data_set_options_refused_with_our_message(entry, error, message):
    with pytest.raises(error, match=message):
        entry()


@pytest.mark.parametrize("task, attribute, names", [
    ("parity", None, [str(d) for d in range(10)]),
    ("parity", "digit", [str(d) for d in range(10)]),
    ("parity", "magnitude", ["low (0-4)", "high (5-9)"]),
    ("digit", None, ["even", "odd"]),
    ("digit", "parity", ["even", "odd"]),
    ("digit", "magnitude", ["low (0-4)", "high (5-9)"]),
])
def test_digits_attribute_option(task, attribute, names):
    data = pl.datasets.load("digits", task=task, attribute=attribute)
    digit = load_digits().target
    assert data.sensitive_names == names
    expected = {"digit": digit, "parity": digit % 2, "magnitude": (digit >= 5)}
    chosen = attribute or ("digit" if task == "parity" else "parity")
    np.testing.assert_array_equal(data.sensitive, expected[chosen].astype(int))
    np.testing.assert_array_equal(data.target, expected[task].astype(int))
    if task == "parity" and attribute == "magnitude":   # independent of the task
        for value in np.unique(data.target):
            assert set(data.sensitive[data.target == value]) == {0, 1}


FASHION = DEBIAN_FASHION_MNIST


def _damage(path, how):
    raw = path.read_bytes()
    data = gzip.decompress(raw) if path.suffix == ".gz" else raw
    damaged = {
        "truncated": lambda: gzip.compress(data[:1000]),
        "not-gzip": lambda: b"hello world" * 10,
        "empty": lambda: b"",
        "gzip-cut": lambda: raw[:len(raw) // 2],
        "header-dims": lambda: gzip.compress(data[:3] + bytes([9]) + data[4:]),
        "extra-bytes": lambda: gzip.compress(data + b"\0\0"),
    }[how]()
    path.write_bytes(damaged)


@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian's dataset-fashion-mnist missing")
@pytest.mark.parametrize("how", ["truncated", "not-gzip", "empty", "gzip-cut",
                                 "header-dims", "extra-bytes"])
def test_corrupt_fashion_mnist_file_is_named(how, tmp_path):
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(FASHION / name, tmp_path / name)
    victim = tmp_path / "t10k-labels-idx1-ubyte.gz"       # small: quick to damage
    _damage(victim, how)
    with pytest.raises(CorruptFileError, match=rf"Fashion-MNIST: cannot read "
                                               rf"{re.escape(str(victim))}: the file is"):
        pl.datasets.load("fashion-mnist", root=tmp_path, split="test")


def test_fashion_mnist_images_and_labels_that_do_not_fit(tmp_path):
    header = bytes([0, 0, 8, 1]) + (5).to_bytes(4, "big")
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(header + bytes(5))
    images = bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in (4, 28, 28))
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(images + bytes(4 * 28 * 28))
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte \(shape \(4, 28, 28\)\) "
                                         r"and .*t10k-labels-idx1-ubyte \(shape \(5,\)\) "
                                         r"do not fit together"):
        pl.datasets.load("fashion-mnist", root=tmp_path, split="test")


# ------------------------------------------------------------------- encoders
def test_last_batch_of_one_is_dropped_for_batchnorm_with_a_warning():
    """Without the fix, BatchNorm fails mid-epoch ("Expected more than 1 value per
    channel"): 33 one-feature samples in batches of 32 leave 1 sample over."""
    rng = np.random.default_rng(0)
    X, y = rng.random((33, 1)).astype(np.float32), np.arange(33) % 2
    model = pl.SupervisedClassifier(max_epochs=2, batch_size=32, random_state=0)
    with pytest.warns(UserWarning, match=r"last batch of each epoch would hold 1 of the 33 "
                                         r"training samples.*dropped"):
        model.fit(X, y)
    assert len(model.history) == 2 and np.isfinite(model.history[-1, "train_loss"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")                    # 34 samples: no warning
        pl.SupervisedClassifier(max_epochs=1, batch_size=32, random_state=0).fit(
            rng.random((34, 1)).astype(np.float32), np.arange(34) % 2)


def test_diverged_training_is_reported(digits):
    model = pl.SupervisedClassifier(max_epochs=1, batch_size=32, lr=1e30, random_state=0)
    with pytest.warns(RuntimeWarning, match=r"training diverged: the train loss of epoch 1 "
                                            r"is nan.*Lower `lr` \(now 1e\+30\)"):
        model.fit(digits.images[:64], digits.target[:64])
    target = pl.MembershipInference(model, method="entropy")
    records, membership = pl.membership_set((digits.images[:32], digits.target[:32]),
                                            (digits.images[32:64], digits.target[32:64]))
    with pytest.raises(ValueError, match=r"non-finite posteriors \(NaN or infinite\)"):
        target.fit(records, membership)                  # and no attack runs on it


@pytest.mark.parametrize("attribute, message", [
    (np.array([1, "a"] * 20, dtype=object), r"`sensitive_features` must hold class labels "
                                            r"of one type"),
    (np.linspace(0, 1, 40), r"`sensitive_features` must hold class labels.*continuous"),
    (pd.Series(["a", "b"] * 20).where(np.arange(40) != 5), r"1 missing value"),
])
def test_talos_attribute_uses_the_shared_label_check(attribute, message, ctx, monkeypatch):
    from skorch import NeuralNet

    monkeypatch.setattr(NeuralNet, "run_single_epoch", _tripwire)
    with pytest.raises(ValueError, match=message):
        pl.Talos(max_epochs=1, batch_size=16, random_state=0).fit(
            ctx.images, sensitive_features=attribute)
