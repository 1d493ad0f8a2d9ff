"""SimCLR and SupervisedClassifier: sklearn contract, inputs, reproducibility,
warm start, checkpoints, and that they learn."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from skorch.callbacks import Callback, Checkpoint, LoadInitState
from torch.utils.data import Dataset

import privlearn as pl
from privlearn.datasets import resize_uint8
from privlearn.encoders import InitFromEncoder

FAST = dict(max_epochs=1, batch_size=64, random_state=0)


@pytest.fixture(scope="module")
def digits10():
    return pl.datasets.load("digits", task="digit")


@pytest.fixture(scope="module")
def small(digits10):
    """192 uint8 8×8 digits and their labels."""
    return digits10.images[:192], digits10.target[:192]


@pytest.fixture(scope="module")
def fitted(small):
    return pl.SimCLR(**FAST).fit(small[0])


class FailOnTrainBegin(Callback):
    def on_train_begin(self, net, **kwargs):
        raise AssertionError("training started despite bad input")


class Images(Dataset):
    def __init__(self, images, labels=None):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        image = torch.from_numpy(self.images[i])
        return image if self.labels is None else (image, self.labels[i])


# --- the sklearn contract -------------------------------------------------------
def test_clone_get_params_set_params():
    enc = pl.SimCLR(backbone="cnn", temperature=0.3, projection_dim=32,
                    augment__crop_scale=(0.2, 1.0), optimizer__weight_decay=1e-4)
    params = enc.get_params()
    assert params["temperature"] == 0.3 and params["augment__crop_scale"] == (0.2, 1.0)
    assert params["iterator_train__shuffle"] is True
    twin = clone(enc)
    assert twin.get_params()["augment__crop_scale"] == (0.2, 1.0)
    assert twin.get_params()["optimizer__weight_decay"] == 1e-4
    twin.set_params(temperature=0.7, augment__blur_prob=0.5)
    assert (twin.temperature, twin.augment__blur_prob) == (0.7, 0.5)
    assert enc.temperature == 0.3
    clf = clone(pl.SupervisedClassifier(backbone="resnet18", max_epochs=3))
    assert clf.get_params()["backbone"] == "resnet18" and clf.train_split is None


def test_set_params_on_a_fitted_encoder(fitted, small):
    enc = clone(fitted).fit(small[0])
    enc.set_params(augment__crop_scale=(0.9, 1.0), temperature=0.2)
    assert enc.augment_.crop_scale == (0.9, 1.0)
    enc.partial_fit(small[0])                     # continues with the new temperature
    assert enc.criterion_.temperature == 0.2 and len(enc.history) == 2


def test_pipeline_and_grid_search(small):
    X, y = small
    pipe = make_pipeline(pl.SimCLR(**FAST), LogisticRegression(max_iter=300))
    assert pipe.fit(X, y).predict(X[:7]).shape == (7,)
    search = GridSearchCV(pipe, {"simclr__temperature": [0.2, 0.5]}, cv=2)
    search.fit(X, y)
    assert search.best_params_["simclr__temperature"] in (0.2, 0.5)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_transform_is_the_representation_before_the_head(fitted, small):
    X = small[0]
    H = fitted.transform(X)
    assert H.shape == (len(X), 128) and H.dtype == np.float32
    fitted.set_params(batch_size=10)              # batched inference, same result
    assert np.allclose(fitted.transform(X), H, atol=1e-5)
    fitted.set_params(batch_size=64)
    assert not fitted.module_.training
    h, z = fitted.forward(X[:4])
    assert np.allclose(h.numpy(), H[:4], atol=1e-5) and z.shape == (4, 128)
    assert list(fitted.get_feature_names_out()[:2]) == ["simclr0", "simclr1"]
    assert not hasattr(fitted, "predict_proba")   # a transformer, not a classifier


def test_reproducible_without_touching_the_global_rng(small):
    X = small[0][:128]
    state = torch.random.get_rng_state()
    first = pl.SimCLR(**FAST).fit(X).transform(X)
    second = pl.SimCLR(**FAST).fit(X).transform(X)
    other = pl.SimCLR(**{**FAST, "random_state": 1}).fit(X).transform(X)
    assert np.array_equal(first, second)
    assert not np.allclose(first, other)
    assert torch.equal(torch.random.get_rng_state(), state)
    seeded = [pl.SimCLR(**{**FAST, "random_state": np.random.RandomState(7)}).fit(X)
              .transform(X[:8]) for _ in range(2)]
    assert np.array_equal(*seeded)


def test_fit_ignores_y(small):
    X, y = small
    a = pl.SimCLR(**FAST).fit(X).transform(X[:8])
    b = pl.SimCLR(**FAST).fit(X, y).transform(X[:8])
    assert np.array_equal(a, b)


def test_progress_table_when_verbose(small, capsys):
    pl.SimCLR(**{**FAST, "verbose": 1}).fit(small[0][:64])
    assert "train_loss" in capsys.readouterr().out
    pl.SimCLR(**FAST).fit(small[0][:64])
    assert capsys.readouterr().out == ""


# --- inputs -------------------------------------------------------------------
def test_input_forms_agree(small, fitted):
    X = small[0]
    H = fitted.transform(X)
    assert np.allclose(fitted.transform(X[:, 0]), H, atol=1e-5)              # N×H×W
    assert np.allclose(fitted.transform(X / 255.0), H, atol=1e-4)            # float 0–1
    assert np.allclose(fitted.transform(torch.from_numpy(X)), H, atol=1e-5)  # tensor
    assert np.allclose(fitted.transform(Images(X, small[1])), H, atol=1e-5)  # Dataset
    assert np.allclose(fitted.transform(Images(X[:, 0])), H, atol=1e-5)      # H×W items
    # uint8 and float fits agree too
    a = pl.SimCLR(**FAST).fit(X).transform(X[:16])
    b = pl.SimCLR(**FAST).fit(X.astype(np.float32) / 255).transform(X[:16])
    assert np.allclose(a, b, atol=1e-3)


def test_normalisation_is_fitted(small, fitted):
    X = small[0] / 255.0
    assert np.allclose(fitted.module_.normalize.mean.flatten().numpy(), X.mean(), atol=1e-5)
    assert np.allclose(fitted.module_.normalize.std.flatten().numpy(), X.std(), atol=1e-5)


def test_colour_images(rng):
    X = rng.integers(0, 256, size=(48, 3, 16, 16), dtype=np.uint8)
    enc = pl.SimCLR(max_epochs=1, batch_size=16, projection_dim=8, random_state=0).fit(X)
    assert enc.transform(X).shape == (48, 128)
    assert enc.module_.normalize.mean.shape == (1, 3, 1, 1)


def test_flat_features_are_standardised(rng):
    X = rng.normal(5.0, 3.0, size=(40, 6))                # not images: no [0, 1] rule
    enc = pl.SimCLR(max_epochs=1, batch_size=16, random_state=0).fit(X)
    assert enc.n_features_in_ == 6 and enc.transform(X).shape == (40, 128)
    assert np.allclose(enc.module_.normalize.mean.flatten().numpy(), X.mean(0), atol=1e-4)
    with pytest.raises(ValueError, match="6 features"):
        enc.transform(X[:, :5])


@pytest.mark.parametrize("X, message", [
    (np.zeros(10), "4 dimensions"),
    (np.zeros((2, 1, 1, 8, 8)), "4 dimensions"),
    (np.zeros((0, 1, 8, 8)), "empty"),
    (np.full((4, 1, 8, 8), np.nan), "NaN"),
    (np.full((4, 1, 8, 8), np.inf), "NaN or infinite"),
    (np.linspace(-2, 2, 256).reshape(4, 1, 8, 8), "pre-normalised"),
    (np.linspace(0, 255, 256).reshape(4, 1, 8, 8), "0–255"),
    (np.full((4, 1, 8, 8), 300, dtype=np.int64), "0–255"),
])
def test_bad_input_is_refused_before_training(X, message):
    enc = pl.SimCLR(max_epochs=1, callbacks=[FailOnTrainBegin()])
    with pytest.raises(ValueError, match=message):
        enc.fit(X)
    assert not enc.initialized_


@pytest.mark.parametrize("params, name", [
    (dict(backbone="vgg"), "backbone"), (dict(batch_size=1), "batch_size"),
    (dict(max_epochs=-1), "max_epochs"), (dict(max_epochs=1.5), "max_epochs"),
    (dict(temperature=0), "temperature"), (dict(temperature=-1.0), "temperature"),
    (dict(projection_dim=0), "projection_dim"), (dict(lr=-1), "lr"),
    (dict(random_state=-3), "random_state"),
    (dict(augment__crop_scale=(0.9, 0.1)), "crop_scale"),
])
def test_bad_parameters_are_named_before_training(params, name, small):
    enc = pl.SimCLR(**{**FAST, **params, "callbacks": [FailOnTrainBegin()]})
    with pytest.raises(ValueError, match=name):
        enc.fit(small[0][:32])


def test_type_errors(small):
    with pytest.raises(TypeError, match="numbers"):
        pl.SimCLR().fit(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="backbone"):
        pl.SupervisedClassifier(backbone="nope").fit(*small)


def test_not_fitted():
    with pytest.raises(NotFittedError):
        pl.SimCLR().transform(np.zeros((2, 1, 8, 8)))
    with pytest.raises(NotFittedError):
        pl.SupervisedClassifier().predict(np.zeros((2, 1, 8, 8)))
    with pytest.raises(NotFittedError):
        pl.SupervisedClassifier().predict_proba(np.zeros((2, 1, 8, 8)))


def test_transform_shape_must_match_fit(fitted):
    with pytest.raises(ValueError, match=r"1×16×16.*1×8×8"):
        fitted.transform(np.zeros((3, 1, 16, 16), dtype=np.uint8))


# --- warm start, pre-training, checkpoints ------------------------------------
def test_warm_start_continues_on_another_data_set(small):
    X = small[0]
    bigger = resize_uint8(X, 16)                          # same channels, new size
    enc = pl.SimCLR(**{**FAST, "warm_start": True}).fit(X)
    module, mean = enc.module_, enc.module_.normalize.mean.clone()
    enc.fit(bigger)
    assert enc.module_ is module and len(enc.history) == 2
    assert torch.equal(enc.module_.normalize.mean, mean)  # first fit's normalisation
    assert enc.transform(bigger[:3]).shape == (3, 128)
    with pytest.raises(ValueError, match="channels"):
        enc.fit(np.zeros((8, 3, 8, 8), dtype=np.uint8))
    cold = pl.SimCLR(**FAST).fit(X)
    cold.fit(X)
    assert len(cold.history) == 1                         # re-initialised
    cold.partial_fit(X)
    assert len(cold.history) == 2


def test_init_from_another_encoder(fitted, small):
    X, y = small
    untrained = pl.SimCLR(max_epochs=0, random_state=5, callbacks=[InitFromEncoder(fitted)])
    assert np.allclose(untrained.fit(X).transform(X[:8]), fitted.transform(X[:8]), atol=1e-6)
    clf = pl.SupervisedClassifier(max_epochs=0, callbacks=[InitFromEncoder(fitted)])
    assert np.allclose(clf.fit(X, y).transform(X[:8]), fitted.transform(X[:8]), atol=1e-6)
    twin = clone(clf)                                     # keeps the fitted encoder
    assert twin.callbacks[0].encoder is fitted
    with pytest.raises(ValueError, match="does not fit"):
        pl.SimCLR(max_epochs=0, callbacks=[InitFromEncoder(fitted)]).fit(
            np.zeros((4, 3, 8, 8), dtype=np.uint8))


def test_checkpoint_resume_continues_from_the_saved_epoch(small, tmp_path):
    X = small[0][:128]
    checkpoint = Checkpoint(monitor=None, dirname=str(tmp_path))
    first = pl.SimCLR(**{**FAST, "max_epochs": 2}, callbacks=[checkpoint]).fit(X)
    saved = {k: v.clone() for k, v in first.module_.state_dict().items()}
    checkpoint = Checkpoint(monitor=None, dirname=str(tmp_path))
    resumed = pl.SimCLR(**FAST, callbacks=[checkpoint, LoadInitState(checkpoint)])
    seen = {}

    class Peek(Callback):
        def on_epoch_begin(self, net, **kwargs):
            seen.setdefault("state", {k: v.clone() for k, v in net.module_.state_dict().items()})

    resumed.set_params(callbacks=[checkpoint, LoadInitState(checkpoint), Peek()])
    resumed.fit(X)
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3]
    assert resumed.history[0, "train_loss"] == first.history[0, "train_loss"]
    assert all(torch.equal(seen["state"][k], saved[k]) for k in saved)


# --- supervised baseline -------------------------------------------------------
def test_supervised_classifier_labels_and_outputs(small):
    X, y = small
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven",
                      "eight", "nine"])[y]
    clf = pl.SupervisedClassifier(**FAST).fit(X, names)
    assert list(clf.classes_) == sorted(set(names))
    proba = clf.predict_proba(X[:5])
    assert proba.shape == (5, 10) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert set(clf.predict(X)) <= set(names)
    assert clf.transform(X[:5]).shape == (5, 128)
    with pytest.raises(ValueError, match="not among the classes"):
        clf.partial_fit(X[:4], ["ten"] * 4)
    with pytest.raises(ValueError, match="`y` is required"):
        pl.SupervisedClassifier(**FAST).fit(X)
    with pytest.raises(ValueError, match="2 targets"):
        pl.SupervisedClassifier(**FAST).fit(X, y[:2])
    from_dataset = pl.SupervisedClassifier(**FAST).fit(Images(X, y))
    assert np.array_equal(from_dataset.predict_proba(X), pl.SupervisedClassifier(**FAST)
                          .fit(X, y).predict_proba(X))


def test_supervised_classifier_overfits_and_generalises(digits10):
    X, y = digits10.images, digits10.target
    clf = pl.SupervisedClassifier(max_epochs=30, random_state=0).fit(X[:1200], y[:1200])
    assert clf.score(X[:1200], y[:1200]) > 0.99              # members fit (MIA needs it)
    assert clf.score(X[1200:], y[1200:]) > 0.9


@pytest.mark.slow
def test_simclr_linear_probe_beats_random_features(digits10):
    """Digits, "cnn", 15 epochs on 1,200 images (a few seconds on 2 cores)."""
    X, y = digits10.images, digits10.target
    train, test = slice(0, 1200), slice(1200, None)

    def probe(encoder):
        H = encoder.fit(X[train]).transform(X)
        return LogisticRegression(max_iter=2000).fit(H[train], y[train]).score(H[test], y[test])

    trained = probe(pl.SimCLR(max_epochs=15, random_state=0))
    untrained = probe(pl.SimCLR(max_epochs=0, random_state=0))
    assert trained > 0.9
    assert trained > untrained + 0.03


def test_internal_validation_split_and_pickling(small):
    import pickle

    from skorch.dataset import ValidSplit

    X, y = small
    enc = pl.SimCLR(**FAST, train_split=ValidSplit(4)).fit(X)
    assert np.isfinite(enc.history[-1, "valid_loss"])
    names = np.array(list("abcdefghij"))[y]
    clf = pl.SupervisedClassifier(**{**FAST, "max_epochs": 3},
                                  train_split=ValidSplit(4, stratified=True)).fit(X, names)
    accuracy = clf.history[-1, "valid_acc"]       # scored on the encoded labels
    assert 0.0 <= accuracy <= 1.0 and max(clf.history[:, "valid_acc"]) > 0.1
    for model, method in ((enc, "transform"), (clf, "predict_proba")):
        restored = pickle.loads(pickle.dumps(model))
        assert np.allclose(getattr(restored, method)(X[:8]), getattr(model, method)(X[:8]),
                           atol=1e-6)
