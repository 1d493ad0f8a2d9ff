"""LiRA (Carlini et al., S&P 2022) and the shared reference models.

The statistical tests use one overfitting tabular target: an MLP trained on a
random half of a 1,000-record digits pool (the 64 pixel features); the attacker
holds the whole pool.  The 16 reference models are trained once per module.
"""

import pickle

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_score
from sklearn.utils.estimator_checks import parametrize_with_checks

import privlearn as pl
from _reference_checks import (EXPECTED, N_POOL, LiRAOnChecks, best_metric_tpr,
                               overfit_setup, stand_in_target)
from privlearn.attacks import LiRA
from privlearn.metrics import tpr_at_fpr

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def overfit():
    """Pool, membership, the fitted target and 16 reference models on the pool."""
    return overfit_setup(n_models=16, random_state=0)


def reference_lira(target, reference, pool):
    """A straightforward LiRA, record by record: plain loops, no privlearn code.

    Online, fixed (global) variance, as in Carlini et al.'s few-shadow variant.
    """
    def phi(model, x, label):
        p = model.predict_proba(x[None, :])[0]
        column = list(model.classes_).index(label) if label in model.classes_ else None
        p_y = p[column] if column is not None else 0.0
        rest = p.sum() - p_y
        return np.log(max(p_y, 1e-12)) - np.log(max(rest, 1e-12))

    n = len(pool)
    proba = [m.predict_proba(pool.inputs) for m in reference.models_]   # cache per model
    ins, outs = [], []
    for i in range(n):
        in_vals, out_vals = [], []
        for k, model in enumerate(reference.models_):
            p = proba[k][i]
            label = pool.labels[i]
            p_y = p[list(model.classes_).index(label)] if label in model.classes_ else 0.0
            value = np.log(max(p_y, 1e-12)) - np.log(max(p.sum() - p_y, 1e-12))
            (in_vals if reference.in_[k, i] else out_vals).append(value)
        ins.append(np.array(in_vals))
        outs.append(np.array(out_vals))
    std_in = np.std(np.concatenate([v - v.mean() for v in ins]))
    std_out = np.std(np.concatenate([v - v.mean() for v in outs]))
    scores = []
    for i in range(n):
        t = phi(target, pool.inputs[i], pool.labels[i])
        scores.append(norm.logpdf(t, ins[i].mean(), std_in)
                      - norm.logpdf(t, outs[i].mean(), std_out))
    return np.array(scores)


# --------------------------------------------------------------------------- power
@pytest.mark.slow
def test_lira_beats_metric_attack_and_matches_reference_lira(overfit):
    pool, member, target, reference = overfit
    lira = LiRA(target, reference=reference).fit(pool)
    scores = lira.decision_function(pool)
    n_members = int(member.sum())
    lira_tpr = tpr_at_fpr(member, scores, 0.01)
    metric_tpr = best_metric_tpr(target, pool, member, 0.01)
    # At least 1.5x the best metric attack, and never less than 1.5 members' worth.
    assert lira_tpr >= 1.5 * max(metric_tpr, 1 / n_members), (lira_tpr, metric_tpr)
    auc = roc_auc_score(member, scores)
    expected = roc_auc_score(member, reference_lira(target, reference, pool))
    assert abs(auc - expected) <= 0.03, (auc, expected)
    assert auc > 0.55


def test_every_record_is_in_for_half_the_reference_models(overfit):
    pool, _, _, reference = overfit
    assert (reference.in_.sum(axis=0) == 8).all()
    seen, in_pool = reference.seen(pool[[5, 7]])
    assert in_pool.all() and (seen == reference.in_[:, [5, 7]]).all()
    # Each model trained on its half: exactly those records, about half the pool.
    sizes = reference.in_.sum(axis=1)
    assert (abs(sizes - N_POOL / 2) < 60).all()


def test_variants_rank_members_higher(overfit):
    pool, member, target, reference = overfit
    for params in (dict(online=False), dict(variance="per_record"),
                   dict(online=False, variance="per_record")):
        scores = LiRA(target, reference=reference, **params).fit(pool).decision_function(pool)
        assert roc_auc_score(member, scores) > 0.55, params


def test_offline_scores_records_outside_the_pool(overfit):
    pool, member, target, reference = overfit
    X, y = load_digits(return_X_y=True)
    outside = pl.Records(X[-5:] / 16.0 + 1e-3, y[-5:])
    offline = LiRA(target, reference=reference, online=False).fit(pool)
    assert np.isfinite(offline.decision_function(outside)).all()
    online = LiRA(target, reference=reference).fit(pool)
    with pytest.raises(ValueError, match="online=False"):
        online.decision_function(outside)


def test_augmented_queries_average_per_query_scores(overfit):
    pool, member, target, reference = overfit
    shift = lambda x: np.roll(x, 1, axis=1)        # noqa: E731 (a toy augmentation)
    lira = LiRA(target, reference=reference, augment=shift).fit(pool)
    both = lira.decision_function(pool[:50])
    assert lira.global_std_.shape == (2, 2)
    plain = LiRA(target, reference=reference).fit(pool).decision_function(pool[:50])
    assert not np.allclose(both, plain)


def test_predict_and_proba_follow_the_score(overfit):
    pool, member, target, reference = overfit
    lira = LiRA(target, reference=reference).fit(pool)
    scores = lira.decision_function(pool)
    proba = lira.predict_proba(pool)[:, 1]
    assert np.array_equal(lira.predict(pool), (scores > 0).astype(int))
    assert np.all(np.diff(proba[np.argsort(scores)]) >= 0)


# --------------------------------------------------------------------------- reuse
def test_reference_models_persist_and_are_shared_not_cloned(overfit, tmp_path):
    pool, member, target, reference = overfit
    path = tmp_path / "reference.pkl"
    path.write_bytes(pickle.dumps(reference))
    loaded = pickle.loads(path.read_bytes())
    a = LiRA(target, reference=reference).fit(pool).decision_function(pool[:40])
    b = LiRA(target, reference=loaded).fit(pool).decision_function(pool[:40])
    assert np.array_equal(a, b)
    cloned = clone(LiRA(target, reference=reference))
    assert cloned.reference is reference and cloned.target is target


def test_random_state_repeats_and_seeds_differ():
    X, y = load_digits(return_X_y=True)
    pool = pl.Records(X[:200] / 16, y[:200])
    tree = pl.Records(X[:200] / 16, y[:200])
    from sklearn.tree import DecisionTreeClassifier
    target = DecisionTreeClassifier(random_state=0).fit(X[:100] / 16, y[:100])
    a = LiRA(target, DecisionTreeClassifier(), n_shadows=4, random_state=0).fit(pool)
    b = LiRA(target, DecisionTreeClassifier(), n_shadows=4, random_state=0).fit(pool)
    assert np.array_equal(a.decision_function(tree), b.decision_function(tree))
    seeds = {m.random_state for m in a.reference_.models_}
    assert len(seeds) == 4
    c = LiRA(target, DecisionTreeClassifier(), n_shadows=4, random_state=1).fit(pool)
    assert not np.array_equal(a.reference_.in_, c.reference_.in_)


def test_cross_val_score_keeps_the_target(overfit):
    """LiRA inside cross_val_score: y (membership) is ignored by fit, used by scoring;
    offline, so the held-out fold (outside each fold's pool) can be scored."""
    pool, member, target, _ = overfit
    from sklearn.tree import DecisionTreeClassifier
    att = LiRA(target, DecisionTreeClassifier(max_depth=8), n_shadows=4, online=False,
               random_state=0)
    scores = cross_val_score(att, pool[:300], member[:300], cv=3, scoring="roc_auc")
    assert scores.shape == (3,) and np.isfinite(scores).all()


# --------------------------------------------------------------------------- bad input
def _small():
    X, y = load_digits(return_X_y=True)
    target = LogisticRegression(max_iter=50).fit(X[:100], y[:100])
    return pl.Records(X[:100], y[:100]), target


class _NoProba(BaseEstimator):
    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self


class _NaNProba(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), np.nan)


class _Tripwire(LogisticRegression):
    def fit(self, X, y):
        raise AssertionError("a reference model was trained before the input was checked")


@pytest.mark.parametrize("case, error, match", [
    ("pool_too_small", ValueError, "too small for n_shadows"),
    ("one_shadow", ValueError, "at least 2 reference models"),
    ("no_proba", TypeError, "predict_proba"),
    ("unknown_label", ValueError, "not among the target's classes"),
    ("not_records", TypeError, "privlearn.Records"),
    ("no_shadow", ValueError, "give `shadow`"),
    ("bad_variance", ValueError, "`variance`"),
    ("bad_reference", TypeError, "`reference`"),
])
def test_bad_input_fails_before_training(case, error, match):
    pool, target = _small()
    params = dict(shadow=_Tripwire(), n_shadows=4)
    X = pool
    if case == "pool_too_small":
        X = pool[:3]
        params["n_shadows"] = 16
    elif case == "one_shadow":
        params["n_shadows"] = 1
    elif case == "no_proba":
        target = _NoProba().fit(pool.inputs, pool.labels)
    elif case == "unknown_label":
        X = pl.Records(pool.inputs, pool.labels + 100)
    elif case == "not_records":
        X = pool.inputs
    elif case == "no_shadow":
        params["shadow"] = None
    elif case == "bad_variance":
        params["variance"] = "pooled"
    elif case == "bad_reference":
        params["reference"] = object()
    with pytest.raises(error, match=match):
        LiRA(target, **params).fit(X)


def test_unfitted_target_and_nonfinite_posteriors():
    pool, _ = _small()
    with pytest.raises(NotFittedError):
        LiRA(LogisticRegression(), LogisticRegression()).fit(pool)
    nan_target = _NaNProba().fit(pool.inputs, pool.labels)
    lira = LiRA(nan_target, LogisticRegression(max_iter=50), n_shadows=2, random_state=0)
    with pytest.raises(ValueError, match="target .*non-finite"):
        lira.fit(pool)


def test_progress_bar_reports_every_reference_model(capsys):
    pool, target = _small()
    LiRA(target, LogisticRegression(max_iter=20), n_shadows=2, random_state=0,
         verbose=True).fit(pool)
    assert "2/2" in capsys.readouterr().err


# --------------------------------------------------------------------------- dask
@pytest.mark.slow
def test_dask_backend_gives_the_sequential_scores():
    distributed = pytest.importorskip("dask.distributed")
    import joblib
    X, y = load_digits(return_X_y=True)
    pool = pl.Records(X[:300] / 16, y[:300])
    target = LogisticRegression(max_iter=300).fit(X[:150] / 16, y[:150])
    recipe = LogisticRegression(max_iter=300)
    sequential = LiRA(target, recipe, n_shadows=4, random_state=0, n_jobs=1).fit(pool)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client, \
            joblib.parallel_config(backend="dask"):
        spread = LiRA(target, recipe, n_shadows=4, random_state=0, n_jobs=2).fit(pool)
        assert len(client.scheduler_info()["workers"]) == 2
    assert np.array_equal(sequential.decision_function(pool), spread.decision_function(pool))


# --------------------------------------------------------------------------- sklearn checks
@parametrize_with_checks(
    [LiRAOnChecks(stand_in_target(), LogisticRegression(max_iter=100), n_shadows=2,
                  online=False, random_state=0)],
    expected_failed_checks=lambda est: EXPECTED)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_privlearn_pipeline_on_images_with_flipped_queries():
    """Reference models can be SimCLR pipelines; images, flips, seeds per model."""
    import torch
    from sklearn.pipeline import make_pipeline

    torch.set_num_threads(1)
    data = pl.datasets.load("digits", task="digit")
    images, labels = data.images[:160], data.target[:160]
    recipe = make_pipeline(pl.SimCLR(backbone="cnn", max_epochs=1, batch_size=64),
                           LogisticRegression(max_iter=200))
    target = clone(recipe).fit(images[:80], labels[:80])
    pool = pl.Records(images, labels)
    lira = LiRA(target, recipe, n_shadows=2, augment="flip", random_state=0).fit(pool)
    seeds = [m.get_params()["simclr__random_state"] for m in lira.reference_.models_]
    assert len(set(seeds)) == 2 and None not in seeds
    scores = lira.decision_function(pool)
    assert scores.shape == (160,) and np.isfinite(scores).all()
    rmia = pl.RMIA(target, reference=lira.reference_, augment="flip").fit(pool)
    assert np.isfinite(rmia.decision_function(pool)).all()
