"""Property-based tests (hypothesis) of every validation layer.

Each test draws inputs or parameters -- shapes, dtypes, non-finite values, label
types -- and states the contract: either the input is valid by an independent
oracle and is accepted, or it is refused with ``ValueError``/``TypeError`` naming
the argument.  Never a foreign exception, never a silent wrong result, and (for
the estimators) never any training before the refusal: training entry points are
tripwired as in ``tests/test_bad_input.py``.
"""

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from skorch import NeuralNet

import privlearn as pl
from privlearn._images import RANGE_TOLERANCE, as_input, scan_inputs
from privlearn._target import checked_predict_proba
from privlearn.attacks._base import check_membership

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                     HealthCheck.too_slow])


class TrainingStarted(Exception):
    pass


def _tripwire(*args, **kwargs):
    raise TrainingStarted


# ------------------------------------------------------------------ label values
#: Scalars a user may put in a label array: ints, integral and non-integral
#: floats, NaN, infinities, strings, None, booleans.
LABEL_VALUES = st.one_of(
    st.integers(-3, 3), st.sampled_from([0.0, 1.0, 2.0]), st.floats(-5, 5, width=32),
    st.sampled_from([math.nan, math.inf]), st.sampled_from(["a", "b", "c"]), st.none(),
    st.booleans())


def _labels_oracle(values):
    """Is this list a valid set of class labels? (independent of the code)"""
    if any(v is None or (isinstance(v, float) and not math.isfinite(v)) for v in values):
        return False
    kinds = {str if isinstance(v, str) else "number" for v in values}
    if len(kinds) > 1:
        return False
    numbers_ = [v for v in values if not isinstance(v, str)]
    return all(float(v).is_integer() for v in numbers_)


def _as_label_array(values):
    kinds = {type(v) for v in values}
    if kinds <= {int, bool}:
        return np.array(values, dtype=np.int64)
    if kinds <= {int, float, bool}:
        return np.array(values, dtype=np.float64)
    if kinds <= {str}:
        return np.array(values)
    return np.array(values, dtype=object)


@settings(max_examples=150, **SETTINGS)
@given(st.lists(LABEL_VALUES, min_size=1, max_size=12))
def test_records_accept_exactly_the_valid_class_labels(values):
    labels = _as_label_array(values)
    inputs = np.zeros((len(values), 3))
    if _labels_oracle(values):
        records = pl.Records(inputs, labels)
        assert len(records) == len(values)
        part = records[np.arange(len(values))[::2]]
        np.testing.assert_array_equal(part.labels, labels[::2])
        assert part.inputs.shape == (len(labels[::2]), 3)
        assert "n_classes=" in repr(records)
    else:
        with pytest.raises(ValueError, match=r"^Records: `labels`"):
            pl.Records(inputs, labels)


@settings(max_examples=150, **SETTINGS)
@given(st.lists(st.one_of(st.sampled_from([0, 1, 0.0, 1.0, True, False]), LABEL_VALUES),
                min_size=2, max_size=12))
def test_membership_is_0_1_with_both_or_refused(values):
    y = _as_label_array(values)
    valid_values = all(not isinstance(v, str) and v is not None
                       and not (isinstance(v, float) and math.isnan(v)) and v in (0, 1)
                       for v in values)
    both = valid_values and {int(v) for v in values} == {0, 1}
    if both:
        np.testing.assert_array_equal(check_membership(y, len(y)), [int(v) for v in values])
    else:
        with pytest.raises(ValueError, match=r"`y` \(membership\)"):
            check_membership(y, len(y))
    if valid_values:           # score accepts one class
        assert set(check_membership(y, len(y), require_both=False)) <= {0, 1}


# ------------------------------------------------------------------ posteriors
@settings(max_examples=200, **SETTINGS)
@given(st.integers(1, 5), st.integers(2, 4), st.data())
def test_posteriors_are_checked_exactly(n_rows, n_classes, data):
    shape = data.draw(st.sampled_from([(n_rows, n_classes), (n_rows, n_classes + 1),
                                       (n_rows + 1, n_classes), (n_rows,)]))
    kind = data.draw(st.sampled_from(["softmax", "raw"]))
    if kind == "softmax":
        logits = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-30, 30)))
        proba = np.exp(logits - logits.max(axis=-1, keepdims=True))
        proba /= proba.sum(axis=-1, keepdims=True)
    else:
        proba = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-2, 3) | st.sampled_from(
            [0.0, 0.5, 1.0, math.nan, math.inf, -math.inf])))

    class Model:
        classes_ = np.arange(n_classes)

        def predict_proba(self, X):
            return proba

    valid = (proba.shape == (n_rows, n_classes) and np.isfinite(proba).all()
             and proba.min() >= -1e-3 and proba.max() <= 1 + 1e-3
             and np.allclose(proba.sum(axis=1), 1, rtol=0, atol=1e-3))
    if valid:
        out = checked_predict_proba(Model(), None, n_rows)
        assert out.shape == (n_rows, n_classes) and (out >= 0).all() and (out <= 1).all()
    else:
        with pytest.raises(ValueError, match=r"the target \(Model\)'s predict_proba"):
            checked_predict_proba(Model(), None, n_rows)


@pytest.fixture(scope="module")
def tiny_target():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(int)
    return X, y, LogisticRegression().fit(X[:20], y[:20])


@settings(max_examples=40, **SETTINGS)
@given(method=st.sampled_from(["nn", "entropy", "confidence", "modified_entropy",
                               "correctness"]),
       labels=st.lists(st.one_of(st.sampled_from([0, 1]), LABEL_VALUES), min_size=40,
                       max_size=40),
       membership=st.lists(st.one_of(st.sampled_from([0, 1]), LABEL_VALUES), min_size=40,
                           max_size=40))
def test_membership_inference_refuses_bad_labels_before_training(tiny_target, monkeypatch,
                                                                method, labels, membership):
    X, _, target = tiny_target
    monkeypatch.setattr(MLPClassifier, "fit", _tripwire)
    monkeypatch.setattr("privlearn.attacks.membership.fit_class_thresholds", _tripwire)
    labels_ok = _labels_oracle(labels) and {float(v) for v in labels} <= {0.0, 1.0}
    membership_ok = (all(v in (0, 1) and v is not None and not isinstance(v, str)
                         and not (isinstance(v, float) and math.isnan(v))
                         for v in membership)
                     and {int(v) for v in membership} == {0, 1})
    attack = pl.MembershipInference(target, method=method, random_state=0)
    try:
        records = pl.Records(X, _as_label_array(labels))
    except ValueError as error:
        assert not _labels_oracle(labels) and str(error).startswith("Records: `labels`")
        return
    if labels_ok and membership_ok:
        expected = TrainingStarted if method != "correctness" else None
        if expected:
            with pytest.raises(TrainingStarted):
                attack.fit(records, _as_label_array(membership))
        else:
            attack.fit(records, _as_label_array(membership))
            assert np.isfinite(attack.decision_function(records)).all()
    else:
        with pytest.raises(ValueError, match=r"`y` \(membership\)|`X.labels` holds labels"):
            attack.fit(records, _as_label_array(membership))


@settings(max_examples=40, **SETTINGS)
@given(st.lists(st.one_of(st.sampled_from([0, 1, "x", "y"]), LABEL_VALUES),
                min_size=30, max_size=30))
def test_attribute_inference_refuses_bad_attributes_before_training(tiny_target, monkeypatch,
                                                                    values):
    X, _, _ = tiny_target
    monkeypatch.setattr(MLPClassifier, "fit", _tripwire)
    attack = pl.AttributeInference(PCA(1).fit(X), random_state=0)
    valid = _labels_oracle(values) and len({v if isinstance(v, str) else float(v)
                                            for v in values}) >= 2
    if valid:
        with pytest.raises(TrainingStarted):
            attack.fit(X[:30], _as_label_array(values))
    else:
        with pytest.raises(ValueError, match=r"`y`"):
            attack.fit(X[:30], _as_label_array(values))


# ------------------------------------------------------------------ metrics
@settings(max_examples=150, **SETTINGS)
@given(st.integers(2, 30).flatmap(lambda n: st.tuples(
    hnp.arrays(np.float64, n, elements=st.sampled_from([0.0, 1.0, 0.5, 2.0, math.nan])),
    hnp.arrays(np.float64, n, elements=st.floats(allow_nan=True, allow_infinity=True,
                                                 width=32)))))
def test_attack_report_is_valid_or_refused(pair):
    membership, scores = pair
    valid = (np.isin(membership, [0, 1]).all() and len(np.unique(membership)) == 2
             and np.isfinite(scores).all())
    if valid:
        report = pl.metrics.attack_report(membership, scores)
        assert all(0.0 <= value <= 1.0 for value in report.values())
    else:
        with pytest.raises(ValueError, match=r"`membership`|`scores`"):
            pl.metrics.attack_report(membership, scores)


@settings(max_examples=60, **SETTINGS)
@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2, 2),
                 st.none(), st.text(max_size=3), st.booleans()))
def test_fpr_is_a_rate(fpr):
    valid = (isinstance(fpr, (int, float)) and not isinstance(fpr, bool)
             and 0 <= fpr <= 1)
    if valid:
        assert 0 <= pl.metrics.tpr_at_fpr([0, 1, 0, 1], [0.1, 0.9, 0.4, 0.6], fpr=fpr) <= 1
    else:
        with pytest.raises(ValueError, match=r"`fpr` must be a number in \[0, 1\]"):
            pl.metrics.tpr_at_fpr([0, 1], [0.1, 0.9], fpr=fpr)


# ------------------------------------------------------------------ image inputs
DTYPES = ["uint8", "int16", "int64", "float16", "float32", "float64", "bool", "complex64"]


@settings(max_examples=200, **SETTINGS)
@given(dtype=st.sampled_from(DTYPES),
       shape=st.lists(st.integers(0, 5), min_size=1, max_size=5).map(tuple),
       data=st.data())
def test_image_validator_accepts_or_names_the_problem(dtype, shape, data):
    if dtype == "bool":
        elements = st.booleans()
    elif dtype.startswith("complex"):
        elements = st.complex_numbers(max_magnitude=1, width=64)
    elif dtype.startswith("float"):
        elements = st.floats(-2, 300, width=16) | st.sampled_from([math.nan, math.inf])
    else:
        elements = st.integers(-5 if dtype != "uint8" else 0, 300 if dtype != "uint8" else 255)
    X = data.draw(hnp.arrays(np.dtype(dtype), shape, elements=elements))
    rank_ok = X.ndim in (2, 3, 4) and X.size > 0
    numeric = X.dtype.kind in "uif"
    if X.dtype.kind in "ui":       # flat features (2-D) may hold any integers
        values_ok = X.ndim == 2 or X.size == 0 or (X.min() >= 0 and X.max() <= 255)
    elif X.dtype.kind == "f":
        finite = np.isfinite(X).all()
        in_range = X.ndim == 2 or X.size == 0 or (
            finite and X.min() >= -RANGE_TOLERANCE and X.max() <= 1 + RANGE_TOLERANCE)
        values_ok = finite and in_range
    else:
        values_ok = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                    # channel-last hints
        if rank_ok and numeric and values_ok:
            data_, kind = as_input(X)
            scan = scan_inputs(data_, kind, statistics=True)
            assert scan.n_samples == X.shape[0]
            assert np.isfinite(scan.mean).all() and (scan.std > 0).all()
            expected = {2: (1, 1, X.shape[-1]), 3: (1, *X.shape[1:]), 4: X.shape[1:]}
            assert scan.spec.shape == tuple(expected[X.ndim])
        else:
            with pytest.raises((ValueError, TypeError), match=r"^estimator: .*`X`"):
                scan_inputs(*as_input(X))


# ------------------------------------------------------------------ encoders
REAL = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                 st.sampled_from([1e-3, 0.1, 0.0, -1.0]), st.booleans(), st.none(),
                 st.text(max_size=2))


@pytest.fixture(scope="module")
def small_images():
    return pl.datasets.load("digits").images[:16], pl.datasets.load("digits").sensitive[:16]


def _positive_real(value):
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)


@settings(max_examples=60, **SETTINGS)
@given(which=st.sampled_from(["simclr", "supervised", "talos"]),
       name=st.sampled_from(["lr", "optimizer__lr", "optimizer__weight_decay",
                             "adversary__lr", "temperature"]),
       value=REAL)
def test_encoder_real_hyperparameters_without_training(small_images, monkeypatch, which,
                                                       name, value):
    assume(not (name == "adversary__lr" and which != "talos"))
    assume(not (name == "temperature" and which == "supervised"))
    images, sensitive = small_images
    monkeypatch.setattr(NeuralNet, "run_single_epoch", _tripwire)
    params = dict(max_epochs=1, batch_size=8, random_state=0, **{name: value})
    model, fit = {
        "simclr": (pl.SimCLR, lambda m: m.fit(images)),
        "supervised": (pl.SupervisedClassifier, lambda m: m.fit(images, sensitive % 2)),
        "talos": (pl.Talos, lambda m: m.fit(images, sensitive_features=sensitive % 2)),
    }[which]
    if name == "optimizer__weight_decay":     # torch's rule; a bool counts as 0 or 1
        valid = isinstance(value, (int, float)) and math.isfinite(value) and value >= 0
    else:                        # temperature=None: the objective's default
        valid = _positive_real(value) or (name == "temperature" and value is None)
    if valid:
        with pytest.raises(TrainingStarted):
            fit(model(**params))
    elif isinstance(value, (int, float)) and not isinstance(value, bool) \
            and not math.isfinite(value):
        with pytest.raises(ValueError, match=rf"`{name}` must be a (finite|positive) number"):
            fit(model(**params))
    else:
        # Wrong type or out of range: refused by us or by torch's optimizer, but
        # always before the first epoch.
        with pytest.raises((ValueError, TypeError)):
            fit(model(**params))


SKORCH_VALUES = {
    "optimizer": st.sampled_from(["adam", 3, None]),
    "callbacks": st.sampled_from(["progress", 3, ["x"], [("name", "x")]]),
    "train_split": st.sampled_from([0.2, 5, "valid"]),
    "iterator_train": st.sampled_from(["DataLoader", 1]),
    "iterator_valid": st.sampled_from(["DataLoader", 1]),
    "dataset": st.sampled_from(["ds", 2.5]),
    "warm_start": st.sampled_from(["yes", 1.5]),
    "iterator_train__batch_size": st.sampled_from([0, -2, 2.5]),
}


@settings(max_examples=40, **SETTINGS)
@given(which=st.sampled_from(["simclr", "supervised"]),
       name_value=st.sampled_from(sorted(SKORCH_VALUES)).flatmap(
           lambda name: st.tuples(st.just(name), SKORCH_VALUES[name])))
def test_wrong_skorch_parameters_are_named_before_training(small_images, monkeypatch, which,
                                                           name_value):
    images, sensitive = small_images
    name, value = name_value
    monkeypatch.setattr(NeuralNet, "run_single_epoch", _tripwire)
    params = dict(max_epochs=1, batch_size=8, random_state=0, **{name: value})
    model = (pl.SimCLR(**params) if which == "simclr"
             else pl.SupervisedClassifier(**params))
    with pytest.raises((TypeError, ValueError), match=rf"`{name}` must be"):
        model.fit(images) if which == "simclr" else model.fit(images, sensitive % 2)


@settings(max_examples=30, **SETTINGS)
@given(n=st.integers(2, 40), batch_size=st.integers(2, 48), drop_last=st.booleans())
def test_an_epoch_is_never_empty(small_images, monkeypatch, n, batch_size, drop_last):
    images = np.resize(small_images[0], (n, 1, 8, 8))
    monkeypatch.setattr(NeuralNet, "run_single_epoch", _tripwire)
    model = pl.SimCLR(max_epochs=1, batch_size=batch_size, random_state=0,
                      iterator_train__drop_last=drop_last)
    if drop_last and n < batch_size:
        with pytest.raises(ValueError, match=r"would have no batch"):
            model.fit(images)
    else:
        with pytest.raises(TrainingStarted):
            model.fit(images)


# --- privlearn.stats, LiRA and RMIA (issue 18) ----------------------------------------
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.tree import DecisionTreeClassifier  # noqa: E402

from privlearn import stats  # noqa: E402

_scores = hnp.arrays(np.float64, st.integers(4, 40),
                     elements=st.floats(-1e6, 1e6, allow_nan=False))


@st.composite
def _membership_and_scores(draw):
    scores = draw(_scores)
    y = draw(hnp.arrays(np.int64, len(scores), elements=st.integers(0, 1)))
    assume(0 < y.sum() < len(y))
    return y, scores


@settings(max_examples=40, **SETTINGS)
@given(_membership_and_scores(), st.sampled_from([np.exp, np.arctan, lambda s: 3 * s + 7,
                                                  lambda s: np.cbrt(s)]))
def test_weighted_auc_is_sklearns_and_invariant_to_monotone_maps(pair, monotone):
    y, scores = pair
    auc = stats.weighted_roc_auc(y, scores, np.ones(len(y)))[0]
    assert auc == pytest.approx(roc_auc_score(y, scores))
    with np.errstate(over="ignore"):
        mapped = monotone(scores / 1e4)
    assume(np.isfinite(mapped).all() and len(np.unique(mapped)) == len(np.unique(scores)))
    assert stats.weighted_roc_auc(y, mapped, np.ones(len(y)))[0] == pytest.approx(
        stats.weighted_roc_auc(y, scores / 1e4, np.ones(len(y)))[0])


@settings(max_examples=30, **SETTINGS)
@given(_membership_and_scores(), st.integers(0, 2**31 - 1))
def test_paired_interval_is_ordered_and_its_verdict_consistent(pair, seed):
    y, scores = pair
    other = np.random.default_rng(seed).permutation(scores)
    result = stats.paired_bootstrap_diff(y, scores, other, n_boot=50, random_state=seed)
    low, high = result["ci"]
    assert np.isfinite(result["effect"]) and low <= high
    assert result["verdict"] == stats.verdict([low, high])
    # the same model against itself: no effect, whatever the resamples
    same = stats.paired_bootstrap_diff(y, scores, scores, n_boot=20, random_state=seed)
    assert same["effect"] == 0 and same["ci"] == [0.0, 0.0]


@settings(max_examples=30, **SETTINGS)
@given(hnp.arrays(np.float64, st.integers(2, 30), elements=st.floats(-1e3, 1e3)),
       st.floats(0.5, 0.99), st.integers(0, 2**31 - 1))
def test_bootstrap_interval_lies_within_the_sample_and_nests(values, confidence, seed):
    low, high = stats.bootstrap_ci(values, n_boot=200, confidence=confidence,
                                   random_state=seed)
    assert values.min() - 1e-9 <= low <= high <= values.max() + 1e-9
    wide = stats.bootstrap_ci(values, n_boot=200, confidence=0.995, random_state=seed)
    assert wide[0] <= low + 1e-9 and high <= wide[1] + 1e-9


@settings(max_examples=40, **SETTINGS)
@given(hnp.arrays(np.float64, st.integers(1, 20),
                  elements=st.floats(allow_nan=True, allow_infinity=True)),
       st.sampled_from(["auc", "ci", "tpr"]))
# Found by hypothesis on a fresh machine: the mean of values near the float maximum
# overflowed to inf inside the bootstrap (now summed on values scaled by a power of 2).
@example(scores=np.full(8, 2.24711642e+307), which="ci")
@example(scores=np.array([1.7e308, -1.7e308, 1.7e308]), which="ci")
def test_stats_accept_finite_scores_and_name_the_others(scores, which):
    y = np.arange(len(scores)) % 2
    finite = np.isfinite(scores).all()
    calls = {"auc": lambda: stats.weighted_roc_auc(y, scores, np.ones(len(y))),
             "tpr": lambda: stats.weighted_tpr_at_fpr(y, scores, np.ones(len(y)), 0.1),
             "ci": lambda: stats.bootstrap_ci(scores, n_boot=20, random_state=0)}
    if finite and len(scores) >= 2 and (which == "ci" or 0 < y.sum() < len(y)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert np.all(np.isfinite(calls[which]()))
    else:
        with pytest.raises(ValueError, match="`(scores|values|y_true)`"):
            calls[which]()


@pytest.fixture(scope="module")
def reference_setting():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X[:, ::4] / 16.0                      # 16 features: fast reference models
    target = LogisticRegression(max_iter=200).fit(X[:60], y[:60])
    pool = pl.Records(X[:120], y[:120])
    reference = pl.attacks.ReferenceModels(DecisionTreeClassifier(max_depth=3), n_models=4,
                                           random_state=0).fit(pool)
    return X, y, target, pool, reference


@settings(max_examples=15, **SETTINGS)
@given(st.sampled_from(["lira_online", "lira_offline", "rmia"]),
       st.lists(st.integers(0, 119), min_size=1, max_size=30, unique=True),
       st.floats(0.0, 1.0), st.sampled_from(["global", "per_record"]))
def test_lira_rmia_scores_are_finite_and_probabilities(reference_setting, which, rows, a,
                                                       variance):
    X, y, target, pool, reference = reference_setting
    if which == "rmia":
        attack = pl.RMIA(target, reference=reference, offline_a=a)
    else:
        attack = pl.LiRA(target, reference=reference, online=which == "lira_online",
                         variance=variance)
    attack.fit(pool)
    candidates = pool[np.asarray(rows)]
    scores = attack.decision_function(candidates)
    proba = attack.predict_proba(candidates)
    assert scores.shape == (len(rows),) and np.isfinite(scores).all()
    assert proba.shape == (len(rows), 2) and np.isfinite(proba).all()
    assert proba.min() >= 0 and proba.max() <= 1
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    # a record's score does not depend on the other candidates scored with it
    np.testing.assert_allclose(attack.decision_function(candidates[:1]), scores[:1],
                               rtol=1e-9, atol=1e-12)


# --- DP-SGD's and Talos's options (issue 18, round 2) --------------------------------

OPTION_VALUES = st.one_of(REAL, st.integers(-3, 3), st.sampled_from([np.int64(2), 2.0, 1e9]))


def _finite_real(value):
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_)) and math.isfinite(value))


def _int_at_least_one(value):
    return (isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
            and value >= 1)


#: option -> (estimator, whether a value is valid); every other option at its default
#: (DP-SGD on: noise_multiplier = max_grad_norm = 1).
OPTION_RULES = {
    "noise_multiplier": ("dp", lambda v: _finite_real(v) and v > 0),
    "max_grad_norm": ("dp", lambda v: _finite_real(v) and v > 0),
    "target_delta": ("dp", lambda v: _finite_real(v) and 0 < v < 1),
    "mmd_weight": ("talos", lambda v: _finite_real(v) and v >= 0),
    "adversary_weight": ("talos", lambda v: _finite_real(v) and v >= 0),
    "adversary_steps": ("talos", _int_at_least_one),
    "n_adversaries": ("talos", lambda v: _int_at_least_one(v) and v <= 3),
    "adversary_reset": ("talos", lambda v: v is None or _int_at_least_one(v)),
}


@settings(max_examples=80, **SETTINGS)
@given(name=st.sampled_from(sorted(OPTION_RULES)), value=OPTION_VALUES)
def test_dp_and_talos_options_are_checked_before_training(small_images, monkeypatch,
                                                         name, value):
    """Every value of a DP-SGD or Talos option either reaches the first epoch or is
    refused with ValueError/TypeError before it (never a foreign error, never late)."""
    pytest.importorskip("opacus")
    which, valid = OPTION_RULES[name]
    assume(not (name == "n_adversaries" and _int_at_least_one(value) and value > 3))
    images, sensitive = small_images
    monkeypatch.setattr(NeuralNet, "run_single_epoch", _tripwire)
    if which == "dp":
        params = {"noise_multiplier": 1.0, "max_grad_norm": 1.0, name: value}
        model = pl.SupervisedClassifier(max_epochs=1, batch_size=8, random_state=0, **params)
        fit = lambda: model.fit(images, sensitive % 2)  # noqa: E731
    else:
        model = pl.Talos(max_epochs=1, batch_size=8, random_state=0, **{name: value})
        fit = lambda: model.fit(images, sensitive_features=sensitive % 2)  # noqa: E731
    if valid(value):
        with pytest.raises(TrainingStarted):
            fit()
    else:
        with pytest.raises((ValueError, TypeError), match=f"`{name}`"):
            fit()
