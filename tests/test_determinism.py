"""Determinism on CPU: with ``random_state`` set, two fits give identical models and
identical attack outputs; another seed gives another model; and neither fitting
nor inference changes the caller's global random state (torch or NumPy)."""

import numpy as np
import pytest
import torch
from sklearn.base import clone

import privlearn as pl

TINY = dict(max_epochs=2, batch_size=32)


@pytest.fixture(scope="module")
def data():
    digits = pl.datasets.load("digits", task="digit")
    return digits.images[:128], digits.target[:128], digits.sensitive[:128]


def _global_states():
    return torch.get_rng_state(), np.random.get_state()


def _assert_global_states_unchanged(before):
    torch_before, numpy_before = before
    torch_after, numpy_after = _global_states()
    assert torch.equal(torch_before, torch_after), "fit changed torch's global RNG"
    assert numpy_before[0] == numpy_after[0]
    np.testing.assert_array_equal(numpy_before[1], numpy_after[1])
    assert numpy_before[2:] == numpy_after[2:], "fit changed NumPy's global RNG"


def _fit_simclr(X, y, s, seed):
    return pl.SimCLR(random_state=seed, **TINY).fit(X)


def _fit_talos(X, y, s, seed):
    return pl.Talos(random_state=seed, adversary__hidden_units=(16,), **TINY).fit(
        X, sensitive_features=s)


def _fit_supervised(X, y, s, seed):
    return pl.SupervisedClassifier(random_state=seed, **TINY).fit(X, y)


ENCODERS = {"simclr": _fit_simclr, "talos": _fit_talos, "supervised": _fit_supervised}


def _outputs(model, X):
    if isinstance(model, pl.SupervisedClassifier):
        return model.predict_proba(X), model.transform(X)
    return (model.transform(X),)


@pytest.mark.parametrize("name", ENCODERS)
def test_same_seed_same_model_other_seed_other_model(name, data):
    fit = ENCODERS[name]
    X = data[0]
    torch.manual_seed(1234)             # the caller's own random state...
    np.random.seed(1234)
    before = _global_states()
    first, second = fit(*data, seed=0), fit(*data, seed=0)
    outputs_first, outputs_second = _outputs(first, X), _outputs(second, X)
    _assert_global_states_unchanged(before)   # ...is untouched by fit and inference
    for a, b in zip(outputs_first, outputs_second):
        np.testing.assert_array_equal(a, b)   # bit-identical, not merely close
    assert first.history[:, "train_loss"] == second.history[:, "train_loss"]
    for a, c in zip(outputs_first, _outputs(fit(*data, seed=1), X)):
        assert not np.allclose(a, c), "another seed gave the same model"


def test_random_state_instances_are_reproducible_too(data):
    X = data[0]
    a = pl.SimCLR(random_state=np.random.RandomState(7), **TINY).fit(X).transform(X)
    b = pl.SimCLR(random_state=np.random.RandomState(7), **TINY).fit(X).transform(X)
    np.testing.assert_array_equal(a, b)


def test_clone_refits_to_the_same_model(data):
    model = _fit_supervised(*data, seed=3)
    again = clone(model).fit(data[0], data[1])
    np.testing.assert_array_equal(model.predict_proba(data[0]), again.predict_proba(data[0]))


def test_inference_is_deterministic_and_leaves_the_global_rng(data):
    model = _fit_simclr(*data, seed=0)
    before = _global_states()
    np.testing.assert_array_equal(model.transform(data[0]), model.transform(data[0]))
    _assert_global_states_unchanged(before)


# --------------------------------------------------------------------------- attacks
@pytest.fixture(scope="module")
def target_and_records(data):
    X, y, s = data
    target = pl.SupervisedClassifier(random_state=0, max_epochs=3, batch_size=32).fit(
        X[:64], y[:64])
    records, membership = pl.membership_set((X[:64], y[:64]), (X[64:], y[64:]))
    return target, records, membership


def _attacks(target):
    for method in ("nn", "correctness", "confidence", "entropy", "modified_entropy"):
        yield method, pl.MembershipInference(target, method=method, random_state=0)
    yield "nn-shadow", pl.MembershipInference(
        target, method="nn", random_state=0,
        shadow=pl.SupervisedClassifier(random_state=0, max_epochs=1, batch_size=32))
    yield "label-only", pl.LabelOnlyMembershipInference(
        target, max_iter=2, init_eval=8, max_queries=200, random_state=0)


def _attack_outputs(attack, records, membership):
    fitted = clone(attack).fit(records, membership)
    return fitted.decision_function(records), fitted.predict_proba(records)


@pytest.mark.parametrize("which", ["nn", "correctness", "confidence", "entropy",
                                   "modified_entropy", "nn-shadow", "label-only"])
def test_membership_attacks_are_reproducible(which, target_and_records):
    target, records, membership = target_and_records
    attack = dict(_attacks(target))[which]
    before = _global_states()
    first = _attack_outputs(attack, records, membership)
    second = _attack_outputs(attack, records, membership)
    _assert_global_states_unchanged(before)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert np.ptp(first[0]) > 0, "a constant attack output proves nothing"


def test_attribute_inference_is_reproducible(data, target_and_records):
    X, _, s = data
    target = target_and_records[0]
    before = _global_states()
    outputs = [pl.AttributeInference(target, random_state=0).fit(X[64:], s[64:])
               .predict_proba(X[:64]) for _ in range(2)]
    _assert_global_states_unchanged(before)
    np.testing.assert_array_equal(*outputs)
    other = pl.AttributeInference(target, random_state=1).fit(X[64:], s[64:])
    assert not np.allclose(outputs[0], other.predict_proba(X[:64]))
