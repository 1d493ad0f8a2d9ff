"""Talos: λ=0 is SimCLR (and each objective's estimator), alternating adversary,
the privacy-penalty extension point, logging, parameters, routing,
input checks, and that a large λ defeats its own adversary on an easy attribute."""

import pickle

import matplotlib
import numpy as np
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from skorch.callbacks import Callback

import privlearn as pl
from privlearn.datasets.synthetic import add_inversion_attribute
from privlearn.losses import mmd2
from privlearn.talos import AdversaryNet
from privlearn.defenses import plot_privacy_utility, privacy_utility_curve

matplotlib.use("Agg")

FAST = dict(max_epochs=1, batch_size=64, random_state=0, adversary__hidden_units=(16,))


@pytest.fixture(scope="module")
def small(digits):
    """128 digits: images, parity task, digit attribute."""
    return digits.images[:128], digits.target[:128], digits.sensitive[:128]


class FailOnTrainBegin(Callback):
    def on_train_begin(self, net, **kwargs):
        raise AssertionError("training started despite bad input")


FIT_LOG = []


class SpyTalos(pl.Talos):
    """Records what each fit received in FIT_LOG (clones would copy an attribute)."""

    def fit(self, X, y=None, *, sensitive_features=None, **fit_params):
        FIT_LOG.append((np.asarray(X).copy(), np.asarray(sensitive_features).copy()))
        return super().fit(X, y, sensitive_features=sensitive_features, **fit_params)


def _assert_sliced(log, X, s, cv):
    """Every fit got the attribute rows of exactly its training images."""
    folds = [train for train, _ in cv.split(X)] + [np.arange(len(X))]  # + refit
    assert len(log) >= len(folds)
    for images, attribute in log:
        match = [train for train in folds if len(train) == len(images)
                 and np.array_equal(X[train], images)]
        assert match, "a fit received images that are not one fold"
        np.testing.assert_array_equal(attribute, s[match[0]])


# --- λ=0 is SimCLR; the alternating steps ------------------------------------------
def test_zero_weight_reproduces_simclr(small):
    X, _, s = small
    params = dict(max_epochs=2, batch_size=64, random_state=0)
    simclr = pl.SimCLR(**params).fit(X)
    talos = pl.Talos(adversary_weight=0.0, **params).fit(X, sensitive_features=s)
    np.testing.assert_array_equal(talos.transform(X), simclr.transform(X))
    assert talos.history_[:, "train_loss"] == simclr.history_[:, "train_loss"]
    # ... while a positive weight changes the encoder.
    other = pl.Talos(adversary_weight=1.0, **params).fit(X, sensitive_features=s)
    assert not np.allclose(other.transform(X), simclr.transform(X))


@pytest.mark.parametrize("estimator, objective, params", [
    (pl.MoCo, "moco", {"queue_size": 96}),
    (pl.BYOL, "byol", {"hidden_dim": 64}),
    (pl.SimSiam, "simsiam", {}),
    (pl.BarlowTwins, "barlow_twins", {"projection_dim": 64}),
])
def test_every_objective_zero_weight_reproduces_its_estimator(small, estimator, objective,
                                                              params):
    X, _, s = small
    common = dict(max_epochs=2, batch_size=64, random_state=0, **params)
    plain = estimator(**common).fit(X)
    talos = pl.Talos(objective=objective, adversary_weight=0.0,
                     adversary__hidden_units=(16,), **common).fit(X, sensitive_features=s)
    np.testing.assert_array_equal(talos.transform(X), plain.transform(X))
    assert talos.history_[:, "objective_loss"] == plain.history_[:, "train_loss"]
    assert type(talos.module_) is type(plain.module_)
    assert all(0 <= a <= 1 for a in talos.history_[:, "adversary_acc"])
    # a positive weight trains the adversary against the encoder
    other = pl.Talos(objective=objective, adversary_weight=1.0,
                     adversary__hidden_units=(16,), **common).fit(X, sensitive_features=s)
    assert not np.allclose(other.transform(X), plain.transform(X))
    assert other.history_[-1, "train_loss"] < other.history_[-1, "objective_loss"]


class PenalisedTalos(pl.Talos):
    """A privacy penalty through Talos's extension point: the mean squared h."""

    def _privacy_penalty(self, h, s):
        return {"energy": 0.5 * h.pow(2).mean()}


def test_privacy_penalty_extension_point_adds_to_the_encoder_loss(small):
    X, _, s = small
    plain = pl.Talos(**{**FAST, "adversary_weight": 0.0}).fit(X, sensitive_features=s)
    penalised = PenalisedTalos(**{**FAST, "adversary_weight": 0.0}).fit(
        X, sensitive_features=s)
    assert (penalised.history_[-1, "train_loss"]
            > penalised.history_[-1, "objective_loss"])            # the term is counted
    assert not np.allclose(penalised.transform(X), plain.transform(X))   # and trained


def test_objective_choice_is_checked(small):
    X, _, s = small
    with pytest.raises(ValueError, match="`objective` must be one of"):
        pl.Talos(objective="dino", **FAST).fit(X, sensitive_features=s)
    with pytest.raises(ValueError, match="`queue_size`.*simclr"):
        pl.Talos(queue_size=64, **FAST).fit(X, sensitive_features=s)
    with pytest.raises(ValueError, match="`momentum`"):
        pl.Talos(objective="byol", momentum=2.0, **FAST).fit(X, sensitive_features=s)


def test_adversary_is_updated_and_encoder_optimizer_excludes_it(small):
    X, _, s = small
    talos = pl.Talos(**FAST).fit(X, sensitive_features=s)
    encoder_params = {id(p) for g in talos.optimizer_.param_groups for p in g["params"]}
    adversary_params = [p for p in talos.adversary_.parameters()]
    assert not encoder_params & {id(p) for p in adversary_params}
    assert {id(p) for g in talos.adversary_optimizer_.param_groups
            for p in g["params"]} == {id(p) for p in adversary_params}
    fresh = pl.Talos(**{**FAST, "max_epochs": 0}).fit(X, sensitive_features=s)
    assert not all(np.allclose(a.detach(), b.detach()) for a, b in
                   zip(fresh.adversary_.parameters(), adversary_params))


def test_history_logs_adversary_per_epoch(small):
    X, _, s = small
    talos = pl.Talos(**{**FAST, "max_epochs": 3, "adversary_weight": 0.0}).fit(
        X, sensitive_features=s)
    accuracy = talos.history_[:, "adversary_acc"]
    loss = talos.history_[:, "adversary_loss"]
    assert len(accuracy) == len(loss) == 3
    assert all(0.0 <= a <= 1.0 for a in accuracy)
    assert all(v > 0 for v in loss)
    # λ=0: the encoder objective is the contrastive loss alone.
    assert talos.history_[:, "train_loss"] == talos.history_[:, "contrastive_loss"]
    weighted = pl.Talos(**{**FAST, "adversary_weight": 2.0}).fit(X, sensitive_features=s)
    assert weighted.history_[-1, "train_loss"] < weighted.history_[-1, "contrastive_loss"]


def test_fp16_uses_the_encoders_loss_scaling(small):
    X, _, s = small
    talos = pl.Talos(**{**FAST, "max_epochs": 2}, precision="fp16").fit(
        X, sensitive_features=s)
    # the encoder step goes through SimCLR's backward/optimizer_step hooks
    assert talos.grad_scaler_ is not None and talos.grad_scaler_.get_scale() > 0
    assert np.isfinite(talos.transform(X)).all()
    assert np.isfinite(talos.history_[:, "train_loss"]).all()


# --- parameters -------------------------------------------------------------------
def test_adversary_prefix_params_clone_and_set_params(small):
    X, _, s = small
    talos = pl.Talos(adversary_weight=0.5, adversary__hidden_units=(8, 4),
                     adversary__lr=0.01, max_epochs=1, batch_size=64, random_state=0)
    params = talos.get_params()
    assert params["adversary_weight"] == 0.5
    assert params["adversary__hidden_units"] == (8, 4) and params["adversary__lr"] == 0.01
    copy = clone(talos).set_params(adversary_weight=2.0, adversary__hidden_units=(5,))
    assert copy.get_params()["adversary_weight"] == 2.0
    assert talos.get_params()["adversary__hidden_units"] == (8, 4)

    talos.fit(X, sensitive_features=s)
    assert [m.out_features for m in talos.adversary_.net if hasattr(m, "out_features")] \
        == [8, 4, 10]
    assert talos.adversary_optimizer_.param_groups[0]["lr"] == 0.01
    weights = talos.adversary_.net[0].weight.detach().clone()
    talos.set_params(adversary__lr=0.1)               # optimizer only
    assert talos.adversary_optimizer_.param_groups[0]["lr"] == 0.1
    assert np.array_equal(talos.adversary_.net[0].weight.detach(), weights)
    talos.set_params(adversary__hidden_units=(3,))    # rebuilds the adversary
    assert talos.adversary_.net[0].out_features == 3
    talos.set_params(adversary_weight=4.0)
    assert talos.adversary_weight == 4.0
    before = talos.transform(X[:4])
    restored = pickle.loads(pickle.dumps(talos))
    np.testing.assert_allclose(restored.transform(X[:4]), before)


def test_arbitrary_attribute_labels_and_warm_start(small):
    X, _, s = small
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven",
                      "eight", "nine"])[s]
    talos = pl.Talos(**FAST).fit(X, sensitive_features=names)
    assert sorted(talos.sensitive_classes_) == sorted(set(names))
    talos.partial_fit(X, sensitive_features=names[::-1])
    assert len(talos.history_) == 2
    with pytest.raises(ValueError, match="not seen in the first fit"):
        talos.partial_fit(X, sensitive_features=np.where(s == 0, "ten", names))


# --- pipelines, grid search and metadata routing ----------------------------------
def test_pipeline_and_grid_search_without_routing(small):
    X, y, s = small
    log = FIT_LOG
    pipe = make_pipeline(SpyTalos(**FAST), LogisticRegression(max_iter=200))
    pipe.fit(X, y, spytalos__sensitive_features=s)
    assert pipe.predict(X[:3]).shape == (3,)
    log.clear()
    cv = KFold(2)
    search = GridSearchCV(pipe, {"spytalos__adversary_weight": [0.0, 3.0]}, cv=cv)
    search.fit(X, y, spytalos__sensitive_features=s)
    assert len(log) == 2 * 2 + 1
    _assert_sliced(log, X, s, cv)
    assert search.best_estimator_[0].adversary_weight in (0.0, 3.0)


def test_grid_search_with_routing_and_leakage_scorer(small):
    X, y, s = small
    log = FIT_LOG
    log.clear()
    cv = KFold(2)
    with sklearn.config_context(enable_metadata_routing=True):
        # Requested by default: no set_fit_request needed.
        routing = pl.Talos().get_metadata_routing()
        for method in ("fit", "partial_fit"):
            assert routing.consumes(method, ["sensitive_features"]) == {"sensitive_features"}
        pipe = make_pipeline(SpyTalos(**FAST), LogisticRegression(max_iter=200))
        pipe.fit(X, y, sensitive_features=s)
        np.testing.assert_array_equal(log.pop()[1], s)
        scorer = pl.attribute_leakage_scorer(cv=2, attack_model=LogisticRegression())
        search = GridSearchCV(pipe, {"spytalos__adversary_weight": [0.0, 3.0]},
                              scoring={"utility": "accuracy", "leak": scorer},
                              refit="utility", cv=cv)
        search.fit(X, y, sensitive_features=s)
    _assert_sliced(log, X, s, cv)
    leak = search.cv_results_["mean_test_leak"]
    assert np.all((leak <= 0) & (leak >= -1))
    # the digit is far above the majority rate in both embeddings
    assert np.all(-leak > 0.3)


# --- bad input ----------------------------------------------------------------------
@pytest.mark.parametrize("attribute, message", [
    (None, "`sensitive_features` is required"),
    (np.arange(127) % 3, "has 127 values but X has 128 samples"),
    (np.zeros(128, dtype=int), "at least two distinct"),
    (np.where(np.arange(128) == 5, np.nan, np.arange(128) % 2), "missing values"),
    (np.array([None] + ["a", "b"] * 63 + ["a"], dtype=object), "missing values"),
    (np.zeros((128, 2)), "must be 1-D"),
])
def test_bad_sensitive_features_fail_before_training(small, attribute, message):
    X = small[0]
    talos = pl.Talos(**FAST, callbacks=[FailOnTrainBegin()])
    with pytest.raises(ValueError, match=message):
        talos.fit(X, sensitive_features=attribute)
    assert not hasattr(talos, "module_")


@pytest.mark.parametrize("params, message", [
    ({"adversary_weight": -0.5}, "adversary_weight"),
    ({"adversary_weight": "1"}, "adversary_weight"),
    ({"adversary_weight": True}, "adversary_weight"),
    ({"adversary_weight": float("inf")}, "adversary_weight"),
    ({"adversary__lr": 0}, "adversary__lr"),
    ({"adversary__hidden_units": "wide"}, "hidden_units"),
])
def test_bad_hyperparameters(small, params, message):
    X, _, s = small
    with pytest.raises(ValueError, match=message):
        pl.Talos(**{**FAST, **params}, callbacks=[FailOnTrainBegin()]).fit(
            X, sensitive_features=s)


def test_adversary_net_shapes():
    assert AdversaryNet(6, 3, hidden_units=())(torch.zeros(2, 6)).shape == (2, 3)
    assert AdversaryNet(6, 3, hidden_units=4)(torch.zeros(2, 6)).shape == (2, 3)


# --- the defence works against its own adversary --------------------------------------
@pytest.mark.slow
def test_large_weight_defeats_the_adversary_on_an_easy_attribute(digits):
    # Attribute: intensity inversion of a random half, independent of the digit and
    # trivially visible.  λ=0 (SimCLR) lets the adversary learn it; λ=10 makes the
    # encoder fool it.  (A fresh attacker is another matter: see docs/talos.rst.)
    # The adversary's accuracy oscillates under λ=10, so average the last 4 of 8
    # epochs (seeds 0-4 give 0.30-0.59 there, against 0.99 at λ=0).
    data = add_inversion_attribute(digits, random_state=0)
    X, s = data.images[:384], data.sensitive[:384]
    accuracy = {}
    for weight in (0.0, 10.0):
        talos = pl.Talos(adversary_weight=weight, max_epochs=8, batch_size=128,
                         random_state=0).fit(X, sensitive_features=s)
        accuracy[weight] = np.mean(talos.history_[-4:, "adversary_acc"])
    assert accuracy[0.0] > 0.9
    assert accuracy[10.0] < accuracy[0.0] - 0.2


# --- the privacy-utility curve --------------------------------------------------------
def test_privacy_utility_curve_and_plot(digits):
    X, y, s = digits.images[:200], digits.target[:200], digits.sensitive[:200]
    talos = pl.Talos(**FAST)
    curve = privacy_utility_curve(talos, X, y, s, [0.0, 5.0],
                                  attack_model=LogisticRegression(max_iter=500),
                                  random_state=0)
    assert list(curve.adversary_weight) == [0.0, 5.0]
    for key in ("utility", "attack_accuracy", "adversary_accuracy"):
        assert curve[key].shape == (2,)
        assert np.all((curve[key] >= 0) & (curve[key] <= 1))
        assert curve[key + "_splits"].shape == (2, 1)
    assert 0.1 <= curve.attack_baseline < 0.2      # ten digits, roughly balanced
    # a pipeline with a named Talos step and folds
    pipe = make_pipeline(pl.Talos(**FAST), LogisticRegression(max_iter=200))
    folds = privacy_utility_curve(pipe, X, y, s, [1.0], cv=2,
                                  attack_model=LogisticRegression(max_iter=500),
                                  random_state=0)
    assert folds.utility_splits.shape == (1, 2)
    ax = plot_privacy_utility(curve)
    assert len(ax.texts) == 2 and "λ=5" in ax.texts[1].get_text()
    assert len(ax.lines) == 3          # attacker, own adversary, majority rate


@pytest.mark.parametrize("kwargs, error", [
    ({"adversary_weights": []}, ValueError),
    ({"adversary_weights": [0.0, -1.0]}, ValueError),
    ({"estimator": LogisticRegression()}, TypeError),
    ({"sensitive_features": None}, ValueError),
])
def test_privacy_utility_curve_bad_input(small, kwargs, error):
    X, y, s = small
    call = dict(estimator=pl.Talos(**FAST, callbacks=[FailOnTrainBegin()]), X=X, y=y,
                sensitive_features=s, adversary_weights=[0.0])
    call.update(kwargs)
    with pytest.raises(error):
        privacy_utility_curve(**call)


# --- stronger adversary options and distribution matching (MMD) --------------------
def _adam_steps(optimizer):
    return {int(state["step"]) for state in optimizer.state.values()}


def test_default_options_change_nothing(small):
    X, _, s = small
    plain = pl.Talos(**FAST).fit(X, sensitive_features=s)
    explicit = pl.Talos(adversary_steps=1, n_adversaries=1, adversary_reset=None,
                        mmd_weight=0.0, **FAST).fit(X, sensitive_features=s)
    np.testing.assert_array_equal(plain.transform(X), explicit.transform(X))
    assert plain.adversaries_ == [plain.adversary_]
    assert np.isfinite(plain.history_[-1, "mmd"])      # logged at μ=0 too


def test_adversary_steps(small):
    X, _, s = small
    talos = pl.Talos(adversary_steps=3, **FAST).fit(X, sensitive_features=s)
    n_batches = len(talos.history_[-1, "batches"])
    assert _adam_steps(talos.adversary_optimizer_) == {3 * n_batches}
    assert _adam_steps(talos.optimizer_) == {n_batches}


def test_ensemble_of_adversaries(small):
    X, _, s = small
    talos = pl.Talos(n_adversaries=3, **FAST).fit(X, sensitive_features=s)
    assert len(talos.adversaries_) == len(talos.adversary_optimizers_) == 3
    assert talos.adversary_ is talos.adversaries_[0]
    first = [next(a.parameters()).detach().clone() for a in talos.adversaries_]
    assert not torch.equal(first[0], first[1])          # independent initialisations
    n_batches = len(talos.history_[-1, "batches"])
    for optimizer in talos.adversary_optimizers_:
        assert _adam_steps(optimizer) == {n_batches}
    again = pl.Talos(n_adversaries=3, **FAST).fit(X, sensitive_features=s)
    np.testing.assert_array_equal(talos.transform(X), again.transform(X))
    loaded = pickle.loads(pickle.dumps(talos))
    assert len(loaded.adversaries_) == 3 and loaded.adversary_ is loaded.adversaries_[0]


class AdversarySnapshot(Callback):
    def initialize(self):
        self.weights = []
        return self

    def on_epoch_begin(self, net, **kwargs):
        self.weights.append([p.detach().clone() for p in net.adversary_.parameters()])
        self.states = [len(o.state) for o in net.adversary_optimizers_]


def test_adversary_reset(small):
    X, _, s = small
    snap = AdversarySnapshot()
    talos = pl.Talos(adversary_reset=2, callbacks=[snap],
                     **{**FAST, "max_epochs": 3}).fit(X, sensitive_features=s)
    # Epoch 3 starts with fresh adversaries: no optimizer state, new weights that
    # are not where epoch 2 started either.
    assert snap.states == [0]
    assert not torch.equal(snap.weights[1][0], snap.weights[2][0])
    no_reset = AdversarySnapshot()
    pl.Talos(callbacks=[no_reset], **{**FAST, "max_epochs": 3}).fit(
        X, sensitive_features=s)
    assert no_reset.states == [1 * len(list(talos.adversary_.parameters()))]


def test_mmd_alone_reduces_the_discrepancy(digits):
    data = add_inversion_attribute(digits, random_state=0)
    X, s = data.images[:256], data.sensitive[:256]
    params = dict(FAST, max_epochs=3, adversary_weight=0.0)
    plain = pl.Talos(**params).fit(X, sensitive_features=s)
    matched = pl.Talos(mmd_weight=20.0, **params).fit(X, sensitive_features=s)

    def discrepancy(model):
        return float(mmd2(torch.as_tensor(model.transform(X)), torch.as_tensor(s)))

    assert discrepancy(matched) < 0.5 * discrepancy(plain)
    assert matched.history_[-1, "mmd"] < plain.history_[-1, "mmd"]


@pytest.mark.parametrize("params, message", [
    (dict(adversary_steps=0), "adversary_steps"),
    (dict(adversary_steps=1.5), "adversary_steps"),
    (dict(n_adversaries=0), "n_adversaries"),
    (dict(n_adversaries=True), "n_adversaries"),
    (dict(adversary_reset=0), "adversary_reset"),
    (dict(adversary_reset="2"), "adversary_reset"),
    (dict(mmd_weight=-1.0), "mmd_weight"),
    (dict(mmd_weight=float("nan")), "mmd_weight"),
])
def test_bad_options(small, params, message):
    X, _, s = small
    with pytest.raises(ValueError, match=message):
        pl.Talos(**FAST, **params).fit(X, sensitive_features=s)


def test_options_in_set_params_clone_and_grid_search(small):
    X, y, s = small
    talos = pl.Talos(**FAST).set_params(adversary_steps=2, adversary_reset=3,
                                        n_adversaries=2, mmd_weight=1.5)
    params = clone(talos).get_params()
    assert (params["adversary_steps"], params["adversary_reset"], params["n_adversaries"],
            params["mmd_weight"]) == (2, 3, 2, 1.5)
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            make_pipeline(pl.Talos(adversary_weight=0.0, **FAST),
                          LogisticRegression(max_iter=200)),
            {"talos__mmd_weight": [0.0, 5.0], "talos__adversary_steps": [1, 2]},
            scoring={"utility": "accuracy",
                     "leak": pl.attribute_leakage_scorer(
                         cv=2, attack_model=LogisticRegression(max_iter=200))},
            refit="utility", cv=KFold(2))
        search.fit(X, y, sensitive_features=s)
    assert search.cv_results_["mean_test_leak"].shape == (4,)


def test_talos_objective_parameters_come_from_the_objectives():
    """Talos's per-objective hyperparameters are the union of the objectives'
    defaults, each a keyword of its signature defaulting to None."""
    import inspect

    from privlearn.encoders import OBJECTIVES
    from privlearn.talos import _objective_params

    union = {name for objective in OBJECTIVES.values() for name in objective.defaults}
    assert set(_objective_params()) == union
    assert set(pl.Talos()._OBJECTIVE_PARAMS) == union
    signature = inspect.signature(pl.Talos.__init__).parameters
    for name in union:
        assert signature[name].default is None, name
    # A hyperparameter of another objective is refused by name.
    with pytest.raises(ValueError, match="`queue_size`"):
        pl.Talos(objective="simclr", queue_size=8).fit(
            np.zeros((4, 1, 8, 8), np.float32), sensitive_features=[0, 1, 0, 1])
