"""PartCrop (Zhu et al., CCS 2024): membership inference from part responses."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.decomposition import PCA
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.validation import check_is_fitted

import privlearn as pl
from privlearn.attacks import PartCrop
from privlearn.attacks.partcrop import crop_parts, part_boxes


from _encoder_fixtures import _flatten

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((30, 1, 8, 8), dtype=np.float32)


@pytest.fixture(scope="module")
def encoder(images):
    return make_pipeline(FunctionTransformer(_flatten), PCA(6, random_state=0)).fit(images[:15])


class MapEncoder(BaseEstimator, TransformerMixin):
    """A fixed random conv feature map (2×2 positions) and its pooled embedding."""

    def fit(self, X, y=None):
        self.weight_ = np.random.default_rng(1).normal(size=(5, 16))
        return self

    def feature_map(self, X):
        check_is_fitted(self)
        x = np.asarray(X, dtype=np.float64).reshape(len(X), 2, 4, 2, 4)
        blocks = x.transpose(0, 1, 3, 2, 4).reshape(len(X), 2, 2, 16)
        return np.einsum("nhwk,ck->nchw", blocks, self.weight_)

    def transform(self, X):
        return self.feature_map(X).mean(axis=(2, 3))


def test_crops_match_bilinear_reference_on_a_ramp():
    """roi_align's crops against the bilinear formula: on an image whose value is
    its column index, every output pixel is the mean of two clipped samples."""
    w = 8
    ramp = np.tile(np.arange(w, dtype=np.float32) / 10, (2, 1, w, 1))   # (2, 1, 8, 8)
    parts = crop_parts(ramp, 5, (0.1, 0.5), torch.Generator().manual_seed(3))
    boxes = part_boxes(2, 5, w, w, (0.1, 0.5), torch.Generator().manual_seed(3)).numpy()
    assert parts.shape == (10, 1, w, w)
    for k, (_, x1, _, x2, _) in enumerate(boxes):
        bin_w = (x2 - x1) / w
        expected = []
        for j in range(w):
            samples = [x1 + (j + (s + 0.5) / 2) * bin_w - 0.5 for s in range(2)]
            expected.append(np.mean(np.clip(samples, 0, w - 1)) / 10)
        np.testing.assert_allclose(parts[k, 0, 3], expected, atol=1e-5)
        assert x2 - x1 <= w and x1 >= 0 and x2 <= w


def test_responses_match_loop_reference(images, encoder):
    att = PartCrop(encoder, n_parts=7, random_state=0)
    center = encoder.transform(images[:15]).mean(axis=0)
    got = att.responses(encoder, images[:4], center=center)
    # Loop reference: the same crops (same seed), one image and one part at a time.
    gen = torch.Generator().manual_seed(att._seed())
    crops = crop_parts(images[:4], 7, att.crop_scale, gen)
    for i in range(4):
        full = encoder.transform(images[i:i + 1])[0] - center
        for j in range(7):
            part = encoder.transform(crops[i * 7 + j:i * 7 + j + 1])[0] - center
            cos = part @ full / np.linalg.norm(part) / np.linalg.norm(full)
            assert got[i, j] == pytest.approx(cos, abs=1e-9)


def test_feature_map_responses_take_the_best_position(images):
    enc = MapEncoder().fit(images)
    att = PartCrop(enc, n_parts=4, response="feature_map", center=False,
                   random_state=0)
    got = att.responses(enc, images[:3])
    gen = torch.Generator().manual_seed(att._seed())
    crops = crop_parts(images[:3], 4, att.crop_scale, gen)
    for i in range(3):
        fmap = enc.feature_map(images[i:i + 1])[0].reshape(5, -1).T      # (4 positions, 5)
        for j in range(4):
            part = enc.feature_map(crops[i * 4 + j:i * 4 + j + 1])[0].mean(axis=(1, 2))
            cos = fmap @ part / np.linalg.norm(fmap, axis=1) / np.linalg.norm(part)
            assert got[i, j] == pytest.approx(cos.max(), abs=1e-9)
    y = np.r_[np.ones(15, int), np.zeros(15, int)]
    assert att.fit(images, y).feature_source_ == "feature_map"


def test_api_clone_pickle_cross_val(images, encoder):
    y = np.r_[np.ones(15, int), np.zeros(15, int)]
    att = PartCrop(encoder, n_parts=8, random_state=0).fit(images, y)
    assert att.feature_source_ == "embedding"
    proba = att.predict_proba(images)
    assert proba.shape == (30, 2) and np.allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(att.predict(images), att.decision_function(images) > 0)
    again = pickle.loads(pickle.dumps(att))
    np.testing.assert_allclose(again.decision_function(images), att.decision_function(images))
    assert clone(att).target is encoder
    scores = cross_val_score(PartCrop(encoder, n_parts=8, random_state=0), images, y,
                             scoring="roc_auc", cv=3)
    assert scores.shape == (3,) and np.isfinite(scores).all()


def test_shadow_mode_trains_a_clone_on_members(images, encoder):
    shadow = make_pipeline(FunctionTransformer(_flatten), PCA(6, random_state=0))
    y = np.r_[np.ones(15, int), np.zeros(15, int)]
    att = PartCrop(encoder, shadow=shadow, n_parts=8, random_state=0).fit(images, y)
    assert att.shadow_ is not shadow
    assert att.decision_function(images).shape == (30,)


@pytest.mark.parametrize("params, match", [
    ({"n_parts": 1}, "n_parts"), ({"crop_scale": (0.5, 0.1)}, "crop_scale"),
    ({"crop_scale": "big"}, "crop_scale"), ({"crop_scale": (0.0, 0.2)}, "crop_scale"),
    ({"part_size": 0.0}, "part_size"), ({"part_size": 1.5}, "part_size"),
    ({"part_size": "half"}, "part_size"), ({"part_size": True}, "part_size"),
    ({"part_size": 0.5}, "part_size.*feature_map")])
def test_bad_parameters(images, encoder, params, match):
    y = np.r_[np.ones(15, int), np.zeros(15, int)]
    with pytest.raises(ValueError, match=match):
        PartCrop(encoder, **params).fit(images, y)


def test_bad_inputs(images, encoder):
    y = np.r_[np.ones(15, int), np.zeros(15, int)]
    with pytest.raises(ValueError, match="images"):
        PartCrop(encoder).fit(images.reshape(30, -1), y)
    att = PartCrop(encoder, n_parts=4, random_state=0).fit(images, y)
    with pytest.raises(ValueError, match="shape"):
        att.decision_function(np.zeros((2, 1, 6, 6), np.float32))
    bad = images.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        PartCrop(encoder).fit(bad, y)


def test_privlearn_encoders_give_partcrop_their_spatial_map():
    """SimCLR's (and every privlearn encoder's) ``feature_map`` is the backbone's
    unpooled output, ``transform`` its mean; PartCrop then uses part-to-position
    responses (``feature_source_ == "feature_map"``)."""
    images = pl.datasets.load("digits").images[:96]
    encoder = pl.SimCLR(max_epochs=1, batch_size=32, random_state=0).fit(images)
    fmap = encoder.feature_map(images[:4])
    assert fmap.shape == (4, 128, 2, 2)
    np.testing.assert_allclose(fmap.mean(axis=(2, 3)), encoder.transform(images[:4]),
                               rtol=1e-5, atol=1e-6)
    y = np.r_[np.ones(48, int), np.zeros(48, int)]
    att = PartCrop(encoder, n_parts=8, response="auto", random_state=0).fit(images, y)
    assert att.feature_source_ == "feature_map"
    assert PartCrop(encoder, n_parts=8, random_state=0).fit(
        images, y).feature_source_ == "embedding"           # the default
    assert np.isfinite(att.decision_function(images[:5])).all()
    flat = pl.SimCLR(max_epochs=1, batch_size=32, random_state=0).fit(
        np.random.default_rng(0).random((64, 10), dtype=np.float32))
    with pytest.raises(ValueError, match="feature_map"):
        flat.feature_map(np.zeros((2, 10), np.float32))


def test_response_source_is_chosen_once_for_fit_and_prediction(images, encoder):
    """``response`` picks the map or the embedding; in shadow mode "auto" takes the map
    only when both encoders offer one (the attack model must see at prediction the
    features it learned from)."""
    y = np.r_[np.ones(len(images) // 2, int), np.zeros(len(images) - len(images) // 2, int)]
    digits = pl.datasets.load("digits").images[:96]
    simclr = pl.SimCLR(max_epochs=1, batch_size=32, random_state=0).fit(digits)
    y96 = np.r_[np.ones(48, int), np.zeros(48, int)]
    assert PartCrop(simclr, n_parts=4, response="embedding", random_state=0).fit(
        digits, y96).feature_source_ == "embedding"
    with pytest.raises(ValueError, match="feature_map"):
        PartCrop(encoder, n_parts=4, response="feature_map").fit(images, y)
    with pytest.raises(ValueError, match="`response`"):
        PartCrop(encoder, n_parts=4, response="map").fit(images, y)
    # shadow without a map, target with one: "auto" uses the embedding for both
    shadow = make_pipeline(FunctionTransformer(lambda x: np.asarray(x).reshape(len(x), -1)),
                           PCA(4))
    att = PartCrop(simclr, shadow=shadow, n_parts=4, response="auto",
                   random_state=0).fit(digits, y96)
    assert att.feature_source_ == "embedding"
    assert np.isfinite(att.decision_function(digits[:3])).all()


@pytest.fixture(scope="module")
def images16():
    """Digits upsampled to 16×16: half-size parts are 8 pixels, the smallest that
    ``part_size="auto"`` keeps at their own scale."""
    digits = pl.datasets.load("digits").images[:64]
    return digits.repeat(2, axis=2).repeat(2, axis=3)


@pytest.fixture(scope="module")
def simclr16(images16):
    return pl.SimCLR(max_epochs=1, batch_size=32, random_state=0).fit(images16)


def test_parts_at_their_own_scale_match_loop_reference(images16, simclr16):
    """``part_size=0.5``: 8×8 crops of the 16×16 images, each embedded as the mean
    of the encoder's map of that crop, against the whole image's embedding."""
    att = PartCrop(simclr16, n_parts=5, part_size=0.5, random_state=0)
    got = att.responses(simclr16, images16[:3])
    gen = torch.Generator().manual_seed(att._seed())
    crops = crop_parts(images16[:3], 5, att.crop_scale, gen, output_size=(8, 8))
    assert crops.shape == (15, 1, 8, 8)
    for i in range(3):
        full = simclr16.transform(images16[i:i + 1])[0]
        for j in range(5):
            part = simclr16.feature_map(crops[i * 5 + j:i * 5 + j + 1])[0].mean(axis=(1, 2))
            cos = part @ full / np.linalg.norm(part) / np.linalg.norm(full)
            assert got[i, j] == pytest.approx(cos, abs=1e-5)
    # The boxes do not depend on the output size: the same parts, resized.
    again = crop_parts(images16[:3], 5, att.crop_scale,
                       torch.Generator().manual_seed(att._seed()))
    assert again.shape == (15, 1, 16, 16)


def test_auto_part_size_keeps_parts_at_their_scale_only_where_it_can(
        images16, simclr16, images, encoder):
    y64 = np.r_[np.ones(32, int), np.zeros(32, int)]
    att = PartCrop(simclr16, n_parts=4, random_state=0).fit(images16, y64)
    assert att.part_size_ == 0.5
    assert np.isfinite(att.decision_function(images16[:3])).all()
    # An encoder with no spatial map (a PCA pipeline): parts at the image's size.
    y = np.r_[np.ones(15, int), np.zeros(15, int)]
    assert PartCrop(encoder, n_parts=4, random_state=0).fit(images, y).part_size_ == "image"
    # 8×8 digits: half-size parts would be 4 pixels, below MIN_PART_SIDE.
    digits = pl.datasets.load("digits").images[:64]
    simclr8 = pl.SimCLR(max_epochs=1, batch_size=32, random_state=0).fit(digits)
    assert PartCrop(simclr8, n_parts=4, random_state=0).fit(digits, y64).part_size_ == "image"
    # Shadow mode: the map must be there on both encoders.
    flat = make_pipeline(FunctionTransformer(_flatten), PCA(4))
    att = PartCrop(simclr16, shadow=flat, n_parts=4, random_state=0).fit(images16, y64)
    assert att.part_size_ == "image"
    assert PartCrop(simclr16, n_parts=4, part_size="image", random_state=0).fit(
        images16, y64).part_size_ == "image"


def test_privlearn_feature_map_takes_images_of_any_size(simclr16, images16):
    """The backbone is convolutional and inputs are standardised per channel, so
    ``feature_map`` takes other heights and widths; ``transform`` stays strict."""
    assert simclr16.feature_map(images16[:2, :, :8, :8]).shape == (2, 128, 2, 2)
    assert simclr16.feature_map(images16[:2, :, :5, :7]).shape == (2, 128, 2, 2)
    with pytest.raises(ValueError, match="shape"):
        simclr16.transform(images16[:2, :, :8, :8])
    with pytest.raises(ValueError, match="3×16×16"):
        simclr16.feature_map(np.zeros((2, 3, 16, 16), np.float32))


def test_part_size_on_a_module_of_one_input_size_is_refused_or_falls_back():
    """A wrapped module with a fixed-size linear layer cannot embed half-size parts:
    an explicit ``part_size`` is refused before any work, naming the argument;
    ``"auto"`` falls back to image-size parts.  A convolutional one takes them."""
    from privlearn.wrappers import TorchEncoder

    X = np.random.default_rng(0).integers(0, 255, (20, 3, 16, 16), dtype=np.uint8)
    y = np.r_[np.ones(10, int), np.zeros(10, int)]
    torch.manual_seed(0)
    fixed = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=2), torch.nn.ReLU(),
                                torch.nn.Conv2d(4, 8, 1),
                                torch.nn.Unflatten(1, (8, 1)), torch.nn.Flatten(2),
                                torch.nn.Linear(49, 49), torch.nn.Unflatten(2, (7, 7)))
    assert TorchEncoder(fixed).feature_map(X[:2]).shape == (2, 8, 7, 7)
    with pytest.raises(ValueError, match=r"part_size=0.5.*8×8 pixels.*part_size='image'"):
        PartCrop(TorchEncoder(fixed), n_parts=4, part_size=0.5).fit(X, y)
    assert PartCrop(TorchEncoder(fixed), n_parts=4, random_state=0).fit(
        X, y).part_size_ == "image"
    conv = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=2), torch.nn.ReLU())
    att = PartCrop(TorchEncoder(conv), n_parts=4, random_state=0).fit(X, y)
    assert att.part_size_ == 0.5
    assert np.isfinite(att.decision_function(X[:3])).all()
