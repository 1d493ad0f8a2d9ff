"""MoCo, BYOL, SimSiam and Barlow Twins: learning, determinism, state, sklearn contract."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import privlearn as pl
from privlearn.backbones import SelfSupervisedNet

OBJECTIVES = [pl.MoCo, pl.BYOL, pl.SimSiam, pl.BarlowTwins]
MOMENTUM = [pl.MoCo, pl.BYOL]
TINY = dict(max_epochs=1, batch_size=64, random_state=0)
SKORCH_INIT = ("skorch's NeuralNet.__init__ sets history_, initialized_ and virtual_params_ "
               "and stores **kwargs (here iterator_train__shuffle=True) as attributes; "
               "that is how skorch's prefixed parameters work")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits():
    return pl.datasets.load("digits", task="digit")


@pytest.mark.parametrize("cls", [pl.SimCLR, *OBJECTIVES])
def test_estimator_defaults_are_the_objectives_defaults(cls):
    """Each estimator's constructor is generated from its objective's ``defaults`` (the
    one place they are written, also read by Talos(objective=...)): its signature shows
    them as the defaults sklearn's checks and ``help()`` read."""
    import inspect

    signature = inspect.signature(cls.__init__).parameters
    objective = cls(**TINY).objective_
    assert objective.defaults
    for name, value in objective.defaults.items():
        assert signature[name].default == value, (cls.__name__, name)


def _tiny(cls, **params):
    extra = {"queue_size": 96} if cls is pl.MoCo else {}
    return cls(**{**TINY, **extra, **params})


def _state(estimator):
    return {k: v.clone() for k, v in estimator.module_.state_dict().items()}


def _same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------- learning
@pytest.mark.slow
@pytest.mark.parametrize("cls", OBJECTIVES, ids=lambda c: c.__name__)
def test_linear_probe_beats_untrained_encoder(cls, digits):
    """5 epochs on 1,200 digits; a probe on 5 labelled images per class.

    Random conv features are strong on 8×8 digits (a probe on all labels
    reaches ~0.96 untrained), so the probe sees few labels, where the
    representation matters, averaged over 10 label draws.  Measured (seeds 0
    and 1): MoCo +0.051/+0.060, BYOL +0.053/+0.048, SimSiam +0.046/+0.045,
    Barlow Twins +0.068/+0.058 over the untrained encoder (~0.82).
    """
    X, y = digits.images, digits.target
    rng = np.random.RandomState(0)
    order = rng.permutation(len(y))
    train, test = order[:1200], order[1200:]
    labelled = [np.concatenate([rng.choice(train[y[train] == c], 5, replace=False)
                                for c in range(10)]) for _ in range(10)]

    def probe(encoder):
        H = encoder.fit(X[train]).transform(X)
        scores = [make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
                  .fit(H[idx], y[idx]).score(H[test], y[test]) for idx in labelled]
        return np.mean(scores)

    untrained = probe(cls(max_epochs=0, batch_size=128, random_state=0))
    trained = probe(cls(max_epochs=5, batch_size=128, random_state=0))
    assert trained > untrained + 0.025, (trained, untrained)


# --------------------------------------------------------------------------- determinism, state
@pytest.mark.parametrize("cls", OBJECTIVES, ids=lambda c: c.__name__)
def test_refits_are_bit_identical_and_leave_global_rng_alone(cls, digits):
    X = digits.images[:192]
    before = torch.random.get_rng_state()
    a = _tiny(cls).fit(X)
    assert torch.equal(torch.random.get_rng_state(), before)
    b = clone(a).fit(X)
    assert _same_state(_state(a), _state(b))        # momentum copies and queue included
    assert np.array_equal(a.transform(X[:20]), b.transform(X[:20]))
    c = _tiny(cls, random_state=1).fit(X)
    assert not np.array_equal(a.transform(X[:20]), c.transform(X[:20]))


@pytest.mark.parametrize("cls", MOMENTUM, ids=lambda c: c.__name__)
def test_momentum_network_follows_the_online_network(cls, digits):
    model = _tiny(cls).fit(digits.images[:128])
    net = model.module_
    online = torch.cat([p.flatten() for p in [*net.backbone.parameters(),
                                              *net.projector.parameters()]])
    target = torch.cat([p.flatten() for p in [*net.momentum_backbone.parameters(),
                                              *net.momentum_projector.parameters()]])
    assert not torch.equal(online, target)                       # it lags behind
    assert not any(p.requires_grad for p in net.momentum_backbone.parameters())
    optimized = {id(p) for group in model.optimizer_.param_groups for p in group["params"]}
    assert not any(id(p) in optimized for p in net.momentum_projector.parameters())
    # one update is the exponential moving average, for every parameter at once
    expected = 0.9 * target + 0.1 * online
    net.update_momentum(0.9)
    target = torch.cat([p.flatten() for p in [*net.momentum_backbone.parameters(),
                                              *net.momentum_projector.parameters()]])
    assert torch.allclose(target, expected, atol=1e-6)


def test_queue_is_a_ring_buffer():
    net = SelfSupervisedNet("cnn", (1, 8, 8), (1, 1, 1, 1), projection_dim=4, queue_size=5)
    keys = torch.arange(1, 13, dtype=torch.float32).reshape(3, 4)
    net.enqueue(keys)
    net.enqueue(keys)
    assert int(net.queue_position) == 1
    unit = torch.nn.functional.normalize(keys, dim=1)
    assert torch.allclose(net.queue, unit[[2, 1, 2, 0, 1]])     # oldest rows replaced
    net.enqueue(keys[:1])
    assert int(net.queue_position) == 2 and torch.allclose(net.queue[1], unit[0])


def test_moco_enqueues_each_training_batch(digits):
    X = digits.images[:128]
    moco = pl.MoCo(max_epochs=0, queue_size=200, random_state=0).fit(X)
    initial = moco.module_.queue.clone()
    moco.set_params(max_epochs=1, batch_size=64).partial_fit(X)
    assert int(moco.module_.queue_position) == 128          # 2 batches of 64 keys
    assert not torch.equal(moco.module_.queue[:128], initial[:128])
    assert torch.equal(moco.module_.queue[128:], initial[128:])


@pytest.mark.parametrize("cls", OBJECTIVES, ids=lambda c: c.__name__)
def test_pickle_round_trip_resumes_training_exactly(cls, digits):
    X = digits.images[:128]
    model = _tiny(cls).fit(X)
    copy_ = pickle.loads(pickle.dumps(model))
    assert np.array_equal(model.transform(X[:10]), copy_.transform(X[:10]))
    # the momentum network, queue and optimizer state travel with it
    model.partial_fit(X)
    copy_.partial_fit(X)
    assert _same_state(_state(model), _state(copy_))


def test_checkpoint_restores_momentum_and_queue(digits, tmp_path):
    from skorch.callbacks import Checkpoint, LoadInitState

    X = digits.images[:128]
    checkpoint = Checkpoint(dirname=str(tmp_path), monitor=None)
    first = pl.MoCo(queue_size=96, max_epochs=2, batch_size=64, random_state=0,
                    callbacks=[checkpoint]).fit(X)
    resumed = pl.MoCo(queue_size=96, max_epochs=0, batch_size=64, random_state=0,
                      callbacks=[LoadInitState(Checkpoint(dirname=str(tmp_path),
                                                          monitor=None))]).fit(X)
    assert _same_state(_state(first), _state(resumed))


@pytest.mark.parametrize("cls", OBJECTIVES, ids=lambda c: c.__name__)
def test_warm_start_continues_and_clone_keeps_params(cls, digits):
    X = digits.images[:128]
    model = _tiny(cls, augment__blur_prob=0.0)
    params = model.get_params()
    twin = clone(model)
    assert twin.get_params().keys() == params.keys()
    assert twin.get_params()["augment__blur_prob"] == 0.0
    model.fit(X)
    state = _state(model)
    model.set_params(warm_start=True).fit(X)
    assert not _same_state(state, _state(model))
    assert not hasattr(model, "predict_proba")
    assert model.get_feature_names_out()[0] == f"{cls.__name__.lower()}0"


@pytest.mark.parametrize("cls, param, value", [
    (pl.MoCo, "momentum", 1.0), (pl.MoCo, "queue_size", 0), (pl.MoCo, "temperature", -1),
    (pl.BYOL, "momentum", -0.1), (pl.BYOL, "hidden_dim", 0),
    (pl.SimSiam, "predictor_hidden_dim", 2.5), (pl.BarlowTwins, "offdiag_weight", 0),
])
def test_bad_hyperparameters_are_named(cls, param, value, digits):
    with pytest.raises(ValueError, match=f"`{param}`"):
        cls(**{param: value}).fit(digits.images[:16])


# --------------------------------------------------------------------------- sklearn checks


def _check_estimators():
    yield pl.MoCo(projection_dim=8, queue_size=32, **TINY)
    yield pl.BYOL(projection_dim=8, hidden_dim=16, predictor_hidden_dim=8, **TINY)
    yield pl.SimSiam(projection_dim=8, hidden_dim=16, predictor_hidden_dim=4, **TINY)
    yield pl.BarlowTwins(projection_dim=8, hidden_dim=16, **TINY)


@parametrize_with_checks(list(_check_estimators()),
                         expected_failed_checks=lambda e: {
                             "check_no_attributes_set_in_init": SKORCH_INIT})
def test_sklearn_compatible(estimator, check):
    check(estimator)
