"""EncoderMI (Liu et al., CCS 2021): membership inference against an encoder alone."""

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import check_array, check_is_fitted

import privlearn as pl
from privlearn.attacks import EncoderMembershipInference


from _encoder_fixtures import _flatten

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def pca_encoder(images):
    return make_pipeline(FunctionTransformer(_flatten), PCA(8, random_state=0)).fit(images)


@pytest.fixture(scope="module")
def digits():
    images = pl.datasets.load("digits").images
    order = np.random.RandomState(0).permutation(len(images))
    return images[order]


# --------------------------------------------------------------------------- power
@pytest.mark.slow
def test_separates_members_of_a_memorising_encoder_and_not_unseen_sets(digits):
    """An encoder trained 600 epochs on 32 digits: members against 128 non-members
    (AUC well above 0.5); two sets the encoder never saw, one labelled "members"
    (AUC near 0.5)."""
    torch.manual_seed(0)
    members, outside = digits[:32], digits[200:456]
    encoder = pl.SimCLR(backbone="cnn", max_epochs=600, batch_size=32, lr=2e-3,
                        random_state=0).fit(members)
    X = np.concatenate([members, outside[:128]])
    y = np.r_[np.ones(32, int), np.zeros(128, int)]
    attack = EncoderMembershipInference(encoder, method="threshold", n_views=40,
                                        random_state=0)
    auc = roc_auc_score(y, attack.fit(X, y).decision_function(X))
    null_y = np.r_[np.ones(128, int), np.zeros(128, int)]
    null_auc = roc_auc_score(null_y, attack.fit(outside, null_y).decision_function(outside))
    assert auc >= 0.62, auc
    assert abs(null_auc - 0.5) <= 0.08, null_auc
    assert auc - null_auc >= 0.1, (auc, null_auc)


# --------------------------------------------------------------------------- mechanics
class CountingEncoder(BaseEstimator, TransformerMixin):
    """Records the batches it embeds; embeds by flattening."""

    def fit(self, X, y=None):
        self.fitted_on_ = np.asarray(X).copy()
        self.calls_ = []
        return self

    def transform(self, X):
        check_is_fitted(self)
        self.calls_.append(np.shape(X))
        return _flatten(X) / 255.0


def test_views_are_embedded_in_one_batched_call(digits):
    encoder = CountingEncoder().fit(digits[:10])
    attack = EncoderMembershipInference(encoder, n_views=6, random_state=0)
    sims = attack.similarities(encoder, digits[:20])
    assert encoder.calls_ == [(120, 1, 8, 8)]
    assert sims.shape == (20, 15)
    assert ((sims >= -1 - 1e-9) & (sims <= 1 + 1e-9)).all()
    # The same random_state draws the same views.
    assert np.array_equal(sims, attack.similarities(encoder, digits[:20]))
    other = EncoderMembershipInference(encoder, n_views=6, random_state=1)
    assert not np.array_equal(sims, other.similarities(encoder, digits[:20]))


def test_views_keep_the_input_layout_and_dtype(digits):
    encoder = CountingEncoder().fit(digits[:10])
    grey = digits[:5, 0]                          # N×H×W uint8
    EncoderMembershipInference(encoder, n_views=3, random_state=0).similarities(encoder, grey)
    assert encoder.calls_[-1] == (15, 8, 8)
    seen = []

    class Spy(CountingEncoder):
        def transform(self, X):
            seen.append(np.asarray(X).dtype)
            return super().transform(X)

    spy = Spy().fit(grey)
    EncoderMembershipInference(spy, n_views=3, random_state=0).similarities(
        spy, grey.astype(np.float32) / 255)
    EncoderMembershipInference(spy, n_views=3, random_state=0).similarities(spy, grey)
    assert seen == [np.float32, np.uint8]


def test_shadow_protocol_trains_the_shadow_on_members_only(digits):
    target = pca_encoder(digits[:64])
    X, y = digits[:80], np.r_[np.ones(40, int), np.zeros(40, int)]
    attack = EncoderMembershipInference(target, shadow=CountingEncoder(), n_views=4,
                                        random_state=0).fit(X, y)
    assert np.array_equal(attack.shadow_.fitted_on_, X[y == 1])
    assert attack.center_.shape == (8,)           # the target's own centre
    assert attack.decision_function(X).shape == (80,)


@pytest.mark.parametrize("method", ["vector", "set", "threshold"])
def test_cross_val_score_in_audit_mode(method, digits):
    target = pca_encoder(digits[:60])
    X, y = digits[:120], np.r_[np.ones(60, int), np.zeros(60, int)]
    attack = EncoderMembershipInference(target, method=method, n_views=5, random_state=0)
    scores = cross_val_score(attack, X, y, cv=3, scoring="roc_auc")
    assert scores.shape == (3,) and np.isfinite(scores).all()
    assert clone(attack).target is target
    fitted = attack.fit(X, y)
    proba = fitted.predict_proba(X)[:, 1]
    decision = fitted.decision_function(X)
    assert np.array_equal(fitted.predict(X), (decision > 0).astype(int))
    assert np.all(np.diff(proba[np.argsort(decision)]) >= 0)


def test_records_are_accepted(digits):
    target = pca_encoder(digits[:40])
    y = np.r_[np.ones(20, int), np.zeros(20, int)]
    att = EncoderMembershipInference(target, n_views=3, random_state=0)
    a = att.fit(digits[:40], y).decision_function(digits[:40])
    b = att.fit(pl.Records(digits[:40], np.zeros(40)), y).decision_function(digits[:40])
    assert np.array_equal(a, b)


class NoTransform(BaseEstimator):
    def fit(self, X, y=None):
        self.fitted_ = True
        return self


class BrokenEncoder(TransformerMixin, BaseEstimator):
    """A fitted encoder whose answer is wrong: NaN rows, or too few rows."""

    def __init__(self, fault="nan"):
        self.fault = fault

    def fit(self, X, y=None):
        self.fitted_ = True
        return self

    def transform(self, X):
        out = np.ones((len(X), 4))
        if self.fault == "nan":
            out[1] = np.nan
            return out
        return out[:-1]


@pytest.mark.parametrize("fault, match", [("nan", "contain NaN or infinity"),
                                          ("short", "one row per image")])
def test_a_broken_encoder_is_named_not_scored(fault, match, digits):
    att = EncoderMembershipInference(BrokenEncoder(fault).fit(None), n_views=3,
                                     random_state=0)
    with pytest.raises(ValueError, match=rf"{match}.*BrokenEncoder"):
        att.fit(digits[:10], np.r_[np.ones(5, int), np.zeros(5, int)])


@pytest.mark.parametrize("params, X, error, match", [
    (dict(n_views=1), None, ValueError, "n_views"),
    (dict(method="mean"), None, ValueError, "method"),
    (dict(target=NoTransform().fit(None)), None, TypeError, "transform"),
    (dict(augment="flip"), None, TypeError, "augment"),
    (dict(), np.zeros((10, 64)), ValueError, "images"),
    (dict(), np.full((10, 1, 8, 8), np.nan), ValueError, "NaN"),
])
def test_bad_input(params, X, error, match, digits):
    params.setdefault("target", pca_encoder(digits[:20]))
    X = digits[:10] if X is None else X
    with pytest.raises(error, match=match):
        EncoderMembershipInference(**params).fit(X, np.r_[np.ones(5, int), np.zeros(5, int)])


# --------------------------------------------------------------------------- sklearn checks
class AnyWidthEncoder(BaseEstimator, TransformerMixin):
    """A fitted stand-in encoder for check data of any width (tanh of fixed linear
    functions of the row), validating its input as sklearn models do."""

    def fit(self, X, y=None):
        self.fitted_ = True
        return self

    def transform(self, X):
        check_is_fitted(self)
        X = check_array(X, dtype=np.float64)
        weights = np.cos(np.arange(4)[:, None] * (1.0 + np.arange(X.shape[1]))[None, :])
        return np.tanh(X @ weights.T)


def feature_noise(x, generator=None):
    """Gaussian noise on flat features: an augmentation for the checks' 2-D data."""
    return x + 0.1 * torch.randn(x.shape, generator=generator, dtype=x.dtype)


MEMBERSHIP_IS_0_1 = ("membership labels are 1 (member) and 0 (non-member) by definition; "
                     "other binary labels ({1, 2}, strings) are refused rather than guessed")
RANDOM_VIEWS = ("the n_views augmented views of all images are drawn in one batched call "
                "from one seeded generator, so an image's views (and its score) depend on "
                "its position in the batch; reproducible for the same batch and "
                "random_state, but not invariant to reordering or subsetting it")
EXPECTED = {name: MEMBERSHIP_IS_0_1 for name in (
    "check_classifiers_classes", "check_estimators_dtypes",
    "check_classifier_data_not_an_array", "check_fit2d_1feature",
    "check_dtype_object")}
EXPECTED.update({name: RANDOM_VIEWS for name in (
    "check_methods_sample_order_invariance", "check_methods_subset_invariance")})


@parametrize_with_checks(
    [EncoderMembershipInference(AnyWidthEncoder().fit(None), n_views=3,
                                augment=feature_noise, random_state=0)],
    expected_failed_checks=lambda est: EXPECTED)
def test_sklearn_compatible(estimator, check):
    check(estimator)
