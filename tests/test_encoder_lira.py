"""EncoderLiRA: reference-calibrated alignment of an encoder (LiRA × SSLMem)."""

import pickle

import numpy as np
import pytest
import torch
from scipy.stats import norm
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import privlearn as pl
from privlearn.attacks import EncoderLiRA, EncoderMembershipInference, PartCrop, ReferenceModels
from privlearn.metrics import tpr_at_fpr


from _encoder_fixtures import _flatten

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _encoder():
    return make_pipeline(FunctionTransformer(_flatten), PCA(4))


class RecordingAugment:
    """Adds seeded noise; remembers every batch of views it produced."""

    def __init__(self):
        self.outputs = []

    def __call__(self, x, generator=None):
        out = (x + 0.1 * torch.randn(x.shape, generator=generator)).clamp(0, 1)
        self.outputs.append(out.numpy().copy())
        return out


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((24, 1, 8, 8), dtype=np.float32)


@pytest.fixture(scope="module")
def reference(images):
    return ReferenceModels(_encoder(), n_models=4, random_state=0).fit(images)


def _loop_alignment(encoder, views, n_views, center):
    """Reference: one record and one pair at a time."""
    per_record = []
    for i in range(len(views) // (2 * n_views)):
        cosines = []
        for v in range(n_views):
            a = encoder.transform(views[(i * n_views + v) * 2][None])[0] - center
            b = encoder.transform(views[(i * n_views + v) * 2 + 1][None])[0] - center
            cosines.append(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
        per_record.append(np.mean(cosines))
    return np.array(per_record)


@pytest.mark.parametrize("online", [False, True])
def test_matches_loop_reference(images, reference, online):
    target = _encoder().fit(images[:12])
    augment = RecordingAugment()
    att = EncoderLiRA(target, reference=reference, online=online, n_views=3,
                      augment=augment, variance="per_record", random_state=0).fit(images)
    fit_views = augment.outputs[-1]
    got = att.decision_function(images[:6])
    views = augment.outputs[-1]
    models = [target] + list(reference.models_)
    centers = [m.transform(fit_views).mean(axis=0) for m in models]
    cos = [_loop_alignment(m, views, 3, c) for m, c in zip(models, centers)]
    phi = np.arctanh(np.clip(np.array(cos), -1 + 1e-6, 1 - 1e-6))
    seen = reference.in_[:, :6]
    expected = []
    for i in range(6):
        out = phi[1:, i][~seen[:, i]]
        mu, sd = out.mean(), max(out.std(), 1e-3)
        if not online:
            expected.append((phi[0, i] - mu) / sd)
        else:
            inn = phi[1:, i][seen[:, i]]
            mu_in, sd_in = inn.mean(), max(inn.std(), 1e-3)
            expected.append(norm.logpdf(phi[0, i], mu_in, sd_in)
                            - norm.logpdf(phi[0, i], mu, sd))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    # SSLMem: target alignment minus the OUT encoders' mean alignment.
    mem = att.memorization_score(images[:6])
    cos = np.array(cos)
    expected_mem = [cos[0, i] - cos[1:, i][~seen[:, i]].mean() for i in range(6)]
    np.testing.assert_allclose(mem, expected_mem, atol=1e-9)


def test_api_clone_pickle_cross_val(images, reference):
    target = _encoder().fit(images[:12])
    att = EncoderLiRA(target, reference=reference, n_views=2, random_state=0).fit(images)
    assert att.variance_ == "global"
    proba = att.predict_proba(images)
    assert proba.shape == (24, 2) and np.allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(att.predict(images), att.decision_function(images) > 0)
    again = pickle.loads(pickle.dumps(att))
    np.testing.assert_allclose(again.decision_function(images), att.decision_function(images))
    copy = clone(att)
    assert copy.target is target and copy.reference is reference
    y = np.r_[np.ones(12, int), np.zeros(12, int)]
    scores = cross_val_score(att, images, y, scoring="roc_auc", cv=3)
    assert scores.shape == (3,) and np.isfinite(scores).all()


def test_shadow_trains_reference_encoders_and_classifier_pipelines_work(images):
    target = _encoder().fit(images[:12])
    att = EncoderLiRA(target, shadow=_encoder(), n_shadows=3, n_views=2,
                      random_state=0).fit(images)
    assert len(att.reference_.models_) == 3
    # Reference models that are classifier pipelines: their encoder is used.
    X = pl.Records(images, np.arange(24) % 2)
    ref = ReferenceModels(make_pipeline(FunctionTransformer(_flatten), PCA(4),
                                        LogisticRegression()), n_models=2,
                          random_state=0).fit(X)
    scores = EncoderLiRA(target, reference=ref, n_views=2, random_state=0).fit(X) \
        .decision_function(X)
    assert scores.shape == (24,) and np.isfinite(scores).all()


def test_bad_parameters(images, reference):
    target = _encoder().fit(images[:12])
    with pytest.raises(ValueError, match="shadow"):
        EncoderLiRA(target).fit(images)
    with pytest.raises(TypeError, match="ReferenceModels"):
        EncoderLiRA(target, reference="ref").fit(images)
    with pytest.raises(ValueError, match="n_views"):
        EncoderLiRA(target, reference=reference, n_views=0).fit(images)
    with pytest.raises(ValueError, match="variance"):
        EncoderLiRA(target, reference=reference, variance="x").fit(images)
    with pytest.raises(ValueError, match="at least 2"):
        EncoderLiRA(target, shadow=_encoder(), n_shadows=1).fit(images)
    att = EncoderLiRA(target, reference=reference, online=True, n_views=2).fit(images)
    with pytest.raises(ValueError, match="online"):
        att.decision_function(images[:3] + 0.5)
    with pytest.raises(ValueError, match="shape"):
        att.decision_function(np.zeros((2, 1, 6, 6), np.float32))


# --------------------------------------------------------------------------- power
@pytest.mark.slow
def test_new_attacks_against_encodermi_on_a_memorising_encoder():
    """A SimCLR encoder trained 600 epochs on 32 digits; 32 members against 128
    non-members, scored by EncoderMI, PartCrop (both audit mode, 4-fold
    cross-validated) and offline EncoderLiRA (4 reference encoders on 64 other
    digits).  EncoderLiRA beats EncoderMI at AUC and TPR@1%FPR; all three are
    near chance on an encoder that saw neither set."""
    digits = pl.datasets.load("digits").images
    digits = digits[np.random.RandomState(0).permutation(len(digits))]

    def recipe(seed):
        return pl.SimCLR(backbone="cnn", max_epochs=600, batch_size=32, lr=2e-3,
                         random_state=seed)

    members, outside, pool = digits[:32], digits[200:328], digits[600:664]
    X = np.concatenate([members, outside])
    y = np.r_[np.ones(32, int), np.zeros(128, int)]
    target = recipe(0).fit(members)
    null = recipe(1).fit(digits[1000:1032])
    ref = ReferenceModels(recipe(0), n_models=4, random_state=0).fit(pool)
    cv = StratifiedKFold(4, shuffle=True, random_state=0)

    def scores(encoder):
        mi = cross_val_predict(EncoderMembershipInference(encoder, random_state=0), X, y,
                               cv=cv, method="decision_function")
        pc = cross_val_predict(PartCrop(encoder, random_state=0), X, y, cv=cv,
                               method="decision_function")
        lira = EncoderLiRA(encoder, reference=ref, random_state=0).fit(pool) \
            .decision_function(X)
        return {name: (roc_auc_score(y, s), tpr_at_fpr(y, s, 0.01))
                for name, s in (("encodermi", mi), ("partcrop", pc), ("lira", lira))}

    got, chance = scores(target), scores(null)
    assert got["lira"][0] > got["encodermi"][0], got
    assert got["lira"][1] > got["encodermi"][1], got
    for name, (auc, _) in chance.items():
        assert abs(auc - 0.5) <= 0.1, (name, chance)
    # PartCrop is above chance, but one seed's AUC (32 members: standard error ~0.05)
    # moves by more than that across CPUs (0.64 on an AVX2 machine, 0.56 on AVX-512):
    # the mean over three memorising encoders must clear chance by two of its standard
    # errors (0.5 + 2 * 0.05 / sqrt(3) = 0.56).
    partcrop = [got["partcrop"][0]] + [
        roc_auc_score(y, cross_val_predict(PartCrop(recipe(seed).fit(members),
                                                    random_state=0),
                                           X, y, cv=cv, method="decision_function"))
        for seed in (1, 2)]
    assert np.mean(partcrop) > 0.56, partcrop


@pytest.mark.slow
@pytest.mark.xfail(reason="PartCrop does not beat EncoderMI on 8x8 digits "
                          "(3-seed mean AUC 0.66 vs 0.66 on an AVX2 machine, 0.61 vs 0.61 on "
                          "AVX-512). Half-size parts at their own scale (the paper's, "
                          "part_size='auto' on larger images) are 4 pixels here and weaker "
                          "(AUC 0.44-0.50), so 'auto' takes image-size parts on digits. Also "
                          "tried on 3 seeds: crop scales (0.08,0.2), (0.2,0.5), (0.4,1), "
                          "centring, part-to-part, retrieval and reference-calibrated "
                          "responses, norm-ratio features, digits upsampled to 16x16, the "
                          "spatial map's max-cosine and log-softmax/uniform-divergence "
                          "responses: none beats EncoderMI at both AUC and TPR@1%FPR on all "
                          "3 seeds. Nor on 28x28 Fashion-MNIST over nine member sets, with "
                          "parts at their own scale or not (mean AUC 0.541 / 0.542 vs "
                          "EncoderMI 0.566; docs/encoder_attacks.rst)", strict=False)
def test_partcrop_beats_encodermi_on_a_memorising_encoder():
    digits = pl.datasets.load("digits").images
    digits = digits[np.random.RandomState(0).permutation(len(digits))]
    members, outside = digits[:32], digits[200:328]
    X = np.concatenate([members, outside])
    y = np.r_[np.ones(32, int), np.zeros(128, int)]
    target = pl.SimCLR(backbone="cnn", max_epochs=600, batch_size=32, lr=2e-3,
                       random_state=0).fit(members)
    cv = StratifiedKFold(4, shuffle=True, random_state=0)
    mi = cross_val_predict(EncoderMembershipInference(target, random_state=0), X, y, cv=cv,
                           method="decision_function")
    pc = cross_val_predict(PartCrop(target, random_state=0), X, y, cv=cv,
                           method="decision_function")
    assert roc_auc_score(y, pc) > roc_auc_score(y, mi)
    assert tpr_at_fpr(y, pc, 0.01) > tpr_at_fpr(y, mi, 0.01)
