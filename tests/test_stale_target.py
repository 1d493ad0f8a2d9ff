"""Attacks fitted against a target refuse it once it has been refitted (issue 18).

Every attack whose fitted state was learned from the target's answers records a
digest of the target (:func:`privlearn._target.model_state`) at ``fit`` and raises
:class:`privlearn._target.StaleTargetError` at prediction once the target's fitted
state differs.  Attacks whose state does not come from the target (the shadow
protocol, LiRA's reference Gaussians) keep working and give what a fresh fit gives.
"""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import privlearn as pl
from privlearn._target import StaleTargetError, model_state
from privlearn.attacks import RMIA, EncoderMembershipInference, LiRA, ReferenceModels

STALE = r"refitted or replaced.*Refit the attack"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(return_X_y=True)
    X = X[:240] / 16.0
    y = y[:240]
    records, membership = pl.membership_set((X[:60], y[:60]), (X[60:120], y[60:120]))
    return X, y, records, membership


def _forest(seed=0):
    return RandomForestClassifier(n_estimators=10, random_state=seed)


def _targets():
    """Kinds of target, each as (fresh fitted target, refit-in-place)."""
    def forest(X, y):
        model = _forest().fit(X[:60], y[:60])
        return model, lambda: model.set_params(random_state=1).fit(X[:60], y[:60])

    def pipeline(X, y):
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
        model.fit(X[:60], y[:60])
        return model, lambda: model.set_params(logisticregression__C=0.01).fit(X[:60], y[:60])

    def frozen(X, y):
        inner = _forest().fit(X[:60], y[:60])
        return FrozenEstimator(inner), lambda: inner.set_params(random_state=2).fit(
            X[:60], y[:60])

    def skorch(X, y):
        from skorch import NeuralNetClassifier
        torch.manual_seed(0)
        net = NeuralNetClassifier(torch.nn.Sequential(torch.nn.Linear(64, 10)),
                                  criterion=torch.nn.CrossEntropyLoss, max_epochs=2, lr=0.1,
                                  train_split=None, verbose=0)
        xs, ys = X[:60].astype(np.float32), y[:60].astype(np.int64)
        net.fit(xs, ys)
        return net, lambda: net.partial_fit(xs, ys)

    return {"forest": forest, "pipeline": pipeline, "frozen": frozen, "skorch": skorch}


def _float_records(records, kind):
    if kind == "skorch":
        return pl.Records(records.inputs.astype(np.float32), records.labels)
    return records


@pytest.mark.parametrize("kind", ["forest", "pipeline", "frozen", "skorch"])
@pytest.mark.parametrize("method", ["confidence", "nn"])
def test_membership_attack_refuses_a_refitted_target(data, kind, method):
    X, y, records, membership = data
    target, refit = _targets()[kind](X, y)
    records = _float_records(records, kind)
    attack = pl.MembershipInference(target, method=method).fit(records, membership)
    before = attack.decision_function(records)
    np.testing.assert_array_equal(attack.decision_function(records), before)  # no false alarm
    refit()
    for method_name in ("predict", "predict_proba", "decision_function"):
        with pytest.raises(StaleTargetError, match="MembershipInference.*" + STALE):
            getattr(attack, method_name)(records)
    with pytest.raises(ValueError, match=STALE):      # a ValueError, for sklearn callers
        attack.score(records, membership)
    # Refitting the attack on the new target is the cure.
    attack.fit(records, membership)
    assert attack.decision_function(records).shape == (len(records),)


def test_membership_attack_with_a_replaced_target_is_stale(data):
    X, y, records, membership = data
    attack = pl.MembershipInference(_forest().fit(X[:60], y[:60])).fit(records, membership)
    attack.set_params(target=_forest(5).fit(X[:60], y[:60]))
    with pytest.raises(StaleTargetError):
        attack.predict(records)


def test_shadow_protocol_does_not_depend_on_the_target(data):
    X, y, records, membership = data
    target = _forest().fit(X[:60], y[:60])
    attack = pl.MembershipInference(target, method="confidence",
                                    shadow=_forest(3)).fit(records, membership)
    target.set_params(random_state=1).fit(X[:60], y[:60])
    fresh = pl.MembershipInference(target, method="confidence",
                                   shadow=_forest(3)).fit(records, membership)
    np.testing.assert_allclose(attack.decision_function(records),
                               fresh.decision_function(records))


def test_label_only_refuses_its_old_threshold_but_measures_the_new_target(data):
    X, y, records, membership = data
    target = _forest().fit(X[:60], y[:60])
    few, m = records[::6], membership[::6]
    attack = pl.LabelOnlyMembershipInference(target, max_iter=1, init_eval=5,
                                             random_state=0).fit(few, m)
    attack.predict(few)
    target.set_params(random_state=1).fit(X[:60], y[:60])
    for method_name in ("predict", "predict_proba", "decision_function"):
        with pytest.raises(StaleTargetError, match="LabelOnlyMembershipInference"):
            getattr(attack, method_name)(few)
    # The distances need no threshold: the refitted target is measured afresh.
    assert attack.boundary_distance(few).shape == (len(few),)


@pytest.mark.parametrize("kind", ["forest", "pipeline", "frozen", "skorch"])
def test_pickle_clone_and_cross_val_score_raise_no_false_alarm(data, kind):
    X, y, records, membership = data
    target, _ = _targets()[kind](X, y)
    records = _float_records(records, kind)
    attack = pl.MembershipInference(target, method="confidence").fit(records, membership)
    restored = pickle.loads(pickle.dumps(attack))
    np.testing.assert_allclose(restored.decision_function(records),
                               attack.decision_function(records))
    assert model_state(restored.target) == model_state(target)
    scores = cross_val_score(clone(attack), records, membership, cv=3)
    assert scores.shape == (3,) and np.isfinite(scores).all()


@pytest.fixture(scope="module")
def reference(data):
    X, y, _, _ = data
    return ReferenceModels(LogisticRegression(max_iter=200), n_models=4,
                           random_state=0).fit(pl.Records(X[:120], y[:120]))


def test_rmia_refuses_a_refitted_target(data, reference):
    X, y, _, _ = data
    pool = pl.Records(X[:120], y[:120])
    target = LogisticRegression(max_iter=200).fit(X[:60], y[:60])
    attack = RMIA(target, reference=reference).fit(pool)
    attack.score_samples(pool)
    target.set_params(C=0.01).fit(X[:60], y[:60])
    for method_name in ("score_samples", "predict", "predict_proba", "decision_function"):
        with pytest.raises(StaleTargetError, match="RMIA"):
            getattr(attack, method_name)(pool)


def test_lira_has_no_state_about_the_target_and_scores_a_refit_as_a_fresh_fit(data, reference):
    """LiRA's Gaussians come from the reference models alone (its fit reads the
    target only to check it answers), so a refitted target is scored exactly as a
    LiRA fitted afresh would score it."""
    X, y, _, _ = data
    pool = pl.Records(X[:120], y[:120])
    target = LogisticRegression(max_iter=200).fit(X[:60], y[:60])
    for online in (True, False):
        attack = LiRA(target, reference=reference, online=online).fit(pool)
        target.set_params(C=0.01 if online else 1.0).fit(X[:60], y[:60])
        fresh = LiRA(target, reference=reference, online=online).fit(pool)
        np.testing.assert_allclose(attack.decision_function(pool),
                                   fresh.decision_function(pool))


def _flatten(x):
    return np.asarray(x, dtype=np.float64).reshape(len(x), -1)


@pytest.mark.parametrize("shadow", [False, True])
def test_encoder_mi_refuses_a_refitted_encoder(shadow):
    images = pl.datasets.load("digits").images[:80]
    y = np.r_[np.ones(40, int), np.zeros(40, int)]
    encoder = make_pipeline(FunctionTransformer(_flatten), PCA(4, random_state=0)).fit(images)
    recipe = (make_pipeline(FunctionTransformer(_flatten), PCA(4, random_state=0))
              if shadow else None)
    attack = EncoderMembershipInference(encoder, shadow=recipe, method="threshold",
                                        n_views=3, random_state=0).fit(images, y)
    attack.decision_function(images[:5])
    encoder.fit(images[40:])                          # the encoder refitted in place
    with pytest.raises(StaleTargetError, match="EncoderMembershipInference"):
        attack.predict(images[:5])
    if shadow:                                        # no target state without centring
        attack = EncoderMembershipInference(encoder, shadow=recipe, method="threshold",
                                            n_views=3, center=False,
                                            random_state=0).fit(images, y)
        encoder.fit(images)
        assert attack.predict(images[:5]).shape == (5,)


def test_attribute_inference_refuses_a_refitted_encoder(data):
    X, y, _, _ = data
    encoder = make_pipeline(StandardScaler(), PCA(6, random_state=0)).fit(X[:100])
    attack = pl.AttributeInference(
        encoder, attack_model=LogisticRegression(max_iter=300)).fit(X[100:200], y[100:200])
    attack.predict(X[:10])
    encoder.fit(X[100:])
    with pytest.raises(StaleTargetError, match="AttributeInference"):
        attack.predict(X[:10])
    with pytest.raises(StaleTargetError):
        attack.score(X[:10], y[:10])


def test_attribute_inference_pipeline_target_digests_only_the_embedding(data):
    """A classifier pipeline is attacked through ``target[:-1]``: refitting the
    final classifier alone leaves the embedding, and the attack, valid."""
    X, y, _, _ = data
    target = make_pipeline(StandardScaler(), PCA(6, random_state=0),
                           LogisticRegression(max_iter=300)).fit(X[:100], y[:100])
    attack = pl.AttributeInference(
        target, attack_model=LogisticRegression(max_iter=300)).fit(X[100:200], y[100:200])
    before = attack.predict(X[:10])
    target[-1].set_params(C=0.01).fit(target[:-1].transform(X[:100]), y[:100])
    np.testing.assert_array_equal(attack.predict(X[:10]), before)
