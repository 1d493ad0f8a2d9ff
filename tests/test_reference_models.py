"""ReferenceModels: classifier and encoder recipes, hostile inputs, clone/pickle."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.tree import DecisionTreeClassifier

import privlearn as pl
from privlearn.attacks import ReferenceModels


def _flatten(x):
    return np.asarray(x, dtype=np.float64).reshape(len(x), -1)


def _encoder():
    return make_pipeline(FunctionTransformer(_flatten), PCA(3))


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((24, 1, 8, 8), dtype=np.float32)


def test_encoder_recipe_trains_on_images_without_labels(images):
    ref = ReferenceModels(_encoder(), n_models=4, random_state=0).fit(images)
    assert len(ref.models_) == 4
    assert (ref.in_.sum(axis=0) == 2).all()
    for model, mask in zip(ref.models_, ref.in_):
        # Each encoder was fitted exactly on the images of its half.
        expected = PCA(3).fit(_flatten(images[mask]))
        np.testing.assert_allclose(np.abs(model[-1].components_),
                                   np.abs(expected.components_), atol=1e-6)
    in_, in_pool = ref.seen(images[:5])
    np.testing.assert_array_equal(in_, ref.in_[:, :5])
    assert in_pool.all()
    # Records works too, labels ignored by the encoder.
    ref2 = ReferenceModels(_encoder(), n_models=4, random_state=0).fit(
        pl.Records(images, np.zeros(24, int)))
    np.testing.assert_array_equal(ref2.in_, ref.in_)


def test_mismatched_image_shape_or_channels_is_not_in_pool(images):
    ref = ReferenceModels(_encoder(), n_models=2, random_state=0).fit(images)
    for other in (np.zeros((3, 3, 8, 8), np.float32), np.zeros((3, 1, 6, 6), np.float32),
                  images[:3].reshape(3, 8, 8)):
        in_, in_pool = ref.seen(other)
        assert in_.shape == (2, 3) and not in_.any() and not in_pool.any()


def test_pool_too_small(images):
    with pytest.raises(ValueError, match="at least 2"):
        ReferenceModels(_encoder(), n_models=2).fit(images[:1])
    with pytest.raises(ValueError, match="too small"):
        # 2 records, 8 models: each model trains on one record at most.
        ReferenceModels(_encoder(), n_models=8, random_state=0).fit(images[:2])
    X = pl.Records(images.reshape(24, -1), np.zeros(24, int))
    with pytest.raises(ValueError, match="one class"):
        ReferenceModels(LogisticRegression()).fit(X)


@pytest.mark.parametrize("n_jobs", [0, 1.5, True, "2"])
def test_bad_n_jobs(images, n_jobs):
    with pytest.raises(ValueError, match="n_jobs"):
        ReferenceModels(_encoder(), n_models=2, n_jobs=n_jobs).fit(images)


def test_bad_recipe(images):
    with pytest.raises(TypeError, match="predict_proba|transform"):
        ReferenceModels(object(), n_models=2).fit(images)


def test_n_jobs_gives_the_same_models():
    rng = np.random.default_rng(0)
    X = pl.Records(rng.normal(size=(60, 4)), rng.integers(0, 3, 60))
    one = ReferenceModels(DecisionTreeClassifier(), n_models=3, random_state=0).fit(X)
    two = ReferenceModels(DecisionTreeClassifier(), n_models=3, random_state=0,
                          n_jobs=2).fit(X)
    np.testing.assert_array_equal(one.in_, two.in_)
    np.testing.assert_allclose(one.label_probabilities(X)[0], two.label_probabilities(X)[0])


def test_clone_and_pickle(images):
    ref = ReferenceModels(_encoder(), n_models=2, random_state=0)
    assert clone(ref).get_params()["n_models"] == 2
    fitted = ref.fit(images)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.seen(images)[0], fitted.seen(images)[0])
    np.testing.assert_allclose(again.models_[0].transform(images),
                               fitted.models_[0].transform(images))


# --- batched training (issue 22) -------------------------------------------------------
def _digits_pool(n=160):
    data = pl.datasets.load("digits", task="digit")
    return pl.Records(data.images[:n], data.target[:n])


def test_batched_reference_models_train_each_on_its_own_half():
    pool = _digits_pool()
    recipe = pl.SupervisedClassifier(max_epochs=3, batch_size=32, random_state=0)
    batched = ReferenceModels(recipe, n_models=4, random_state=0, batched=True).fit(pool)
    alone = ReferenceModels(recipe, n_models=4, random_state=0, batched=False).fit(pool)
    assert batched.batched_ and not alone.batched_
    np.testing.assert_array_equal(batched.in_, alone.in_)      # same halves, same seeds
    for model, mask in zip(batched.models_, batched.in_):
        proba = model.predict_proba(pool.inputs[:5])
        assert proba.shape == (5, 10) and np.isfinite(proba).all()
        assert len(model.history) == 3
    # different seeds and halves give different models
    a, b = (m.predict_proba(pool.inputs[:20]) for m in batched.models_[:2])
    assert not np.allclose(a, b)
    # the batched reference models serve LiRA like ones trained alone
    lira = pl.LiRA(target=alone.models_[0], reference=batched, online=False)
    scores = lira.fit(pool).decision_function(pool)
    assert scores.shape == (len(pool),) and np.isfinite(scores).all()
    pickle.loads(pickle.dumps(batched))


def test_batched_auto_uses_joblib_on_cpu_and_true_refuses_an_unbatchable_recipe():
    pool = _digits_pool(40)
    recipe = pl.SupervisedClassifier(max_epochs=1, batch_size=16, random_state=0)
    assert not ReferenceModels(recipe, n_models=2, random_state=0).fit(pool).batched_
    with pytest.raises(ValueError, match="batched"):
        ReferenceModels(LogisticRegression(), n_models=2, batched=True).fit(pool)
    with pytest.raises(ValueError, match="batched"):
        ReferenceModels(recipe, n_models=2, batched="yes").fit(pool)
    assert clone(ReferenceModels(recipe, batched=True)).batched is True
