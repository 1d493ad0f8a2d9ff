"""Persistence and interruption.

- pickle and joblib round trips of every fitted estimator give identical outputs;
- skorch's ``save_params`` / ``load_params`` restore SimCLR, SupervisedClassifier
  and Talos encoders;
- nothing in privlearn calls ``torch.load`` without ``weights_only=True``, and the
  estimators keep skorch's safe default for their own loads;
- a ``KeyboardInterrupt`` during ``fit`` leaves a usable model (skorch's
  behaviour), and ``Checkpoint`` + ``LoadInitState`` resume training from the
  saved epoch.
"""

import ast
import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from skorch.callbacks import Callback, Checkpoint, LoadInitState

import privlearn as pl

PACKAGE = Path(pl.__file__).parent
TINY = dict(max_epochs=1, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def data():
    digits = pl.datasets.load("digits", task="digit")
    return digits.images[:64], digits.target[:64], digits.sensitive[:64]


@pytest.fixture(scope="module")
def fitted(data):
    """Every public estimator, fitted, with a function giving its outputs."""
    X, y, s = data
    simclr = pl.SimCLR(**TINY).fit(X)
    supervised = pl.SupervisedClassifier(**TINY).fit(X, y)
    talos = pl.Talos(adversary__hidden_units=(8,), **TINY).fit(X, sensitive_features=s)
    records, membership = pl.membership_set((X[:32], y[:32]), (X[32:], y[32:]))
    models = {
        "simclr": (simclr, lambda m: [m.transform(X)]),
        "supervised": (supervised, lambda m: [m.predict_proba(X), m.transform(X)]),
        "talos": (talos, lambda m: [m.transform(X), m.adversary_(torch.as_tensor(
            m.transform(X))).detach().numpy()]),
        "aia": (pl.AttributeInference(simclr, random_state=0).fit(X[:32], s[:32]),
                lambda m: [m.predict_proba(X[32:])]),
        "label-only": (pl.LabelOnlyMembershipInference(
            supervised, max_iter=1, init_eval=5, max_queries=100, random_state=0)
            .fit(records, membership), lambda m: [m.decision_function(records)]),
    }
    for method in ("nn", "entropy"):
        attack = pl.MembershipInference(supervised, method=method, random_state=0)
        models[f"mia-{method}"] = (attack.fit(records, membership),
                                   lambda m: [m.predict_proba(records),
                                              m.decision_function(records)])
    return models


def _assert_same_outputs(original, restored, outputs):
    for a, b in zip(outputs(original), outputs(restored), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["simclr", "supervised", "talos", "aia", "label-only",
                                  "mia-nn", "mia-entropy"])
@pytest.mark.parametrize("how", ["pickle", "joblib"])
def test_round_trip_gives_identical_outputs(name, how, fitted, tmp_path):
    model, outputs = fitted[name]
    if how == "pickle":
        restored = pickle.loads(pickle.dumps(model))
    else:
        joblib.dump(model, tmp_path / "model.joblib")
        restored = joblib.load(tmp_path / "model.joblib")
    assert restored is not model
    _assert_same_outputs(model, restored, outputs)


@pytest.mark.parametrize("name", ["simclr", "supervised", "talos"])
def test_save_params_load_params(name, fitted, data, tmp_path):
    """skorch's parameter files restore the network and its input normalisation.

    The new estimator is initialised (``max_epochs=0``) on *other* images, so
    identical outputs show the normalisation came from the files too.
    """
    model, _ = fitted[name]
    X, y, s = data
    files = dict(f_params=tmp_path / "params.pt", f_optimizer=tmp_path / "optimizer.pt",
                 f_history=tmp_path / "history.json")
    model.save_params(**files)
    other = 255 - X[:40]
    fresh = type(model)(**{**model.get_params(), "max_epochs": 0})
    if name == "supervised":
        fresh.fit(other, y[:40])
    elif name == "talos":
        fresh.fit(other, sensitive_features=s[:40])
    else:
        fresh.fit(other)
    assert not np.allclose(fresh.transform(X), model.transform(X))
    fresh.load_params(**files)
    np.testing.assert_array_equal(fresh.transform(X), model.transform(X))
    assert fresh.history[:, "train_loss"] == model.history[:, "train_loss"]
    if name == "supervised":
        np.testing.assert_array_equal(fresh.predict_proba(X), model.predict_proba(X))


def _torch_load_calls(tree):
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "load" and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "torch"):
            yield node


def test_no_torch_load_without_weights_only():
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 10
    unsafe = []
    for path in sources:
        text = path.read_text()
        tree = ast.parse(text)
        calls = list(_torch_load_calls(tree))
        # Also catch aliases such as `from torch import load`.
        assert "from torch import load" not in text, path
        for call in calls:
            safe = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant)
                       and k.value.value is True for k in call.keywords)
            if not safe:
                unsafe.append(f"{path.relative_to(PACKAGE)}:{call.lineno}")
        assert text.count("torch.load(") == len(calls), path
    assert not unsafe, f"torch.load without weights_only=True: {unsafe}"


@pytest.mark.parametrize("name", ["simclr", "supervised", "talos"])
def test_estimators_keep_skorchs_safe_loading(name, fitted):
    """skorch loads with weights_only=True unless torch_load_kwargs says otherwise."""
    kwargs = fitted[name][0].get_params()["torch_load_kwargs"]
    assert kwargs is None or kwargs.get("weights_only") is True


# --------------------------------------------------------------------------- interruption
class InterruptAtEpoch(Callback):
    """Raise KeyboardInterrupt (as Ctrl-C would) when epoch ``epoch`` begins."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_begin(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt


def _fit(name, data, **params):
    X, y, s = data
    if name == "simclr":
        return pl.SimCLR(**params).fit(X)
    if name == "supervised":
        return pl.SupervisedClassifier(**params).fit(X, y)
    return pl.Talos(adversary__hidden_units=(8,), **params).fit(X, sensitive_features=s)


@pytest.mark.parametrize("name", ["simclr", "supervised", "talos"])
def test_keyboard_interrupt_leaves_a_usable_model(name, data):
    model = _fit(name, data, max_epochs=5, batch_size=32, random_state=0,
                 callbacks=[InterruptAtEpoch(2)])
    assert len(model.history) == 2            # epoch 2 began, then the interrupt
    complete = [row for row in model.history if "train_loss" in row]
    assert len(complete) == 1                 # one full epoch was trained
    embedding = model.transform(data[0])
    assert embedding.shape[0] == len(data[0]) and np.isfinite(embedding).all()
    # The interrupted model equals a model trained for that one epoch.
    one_epoch = _fit(name, data, max_epochs=1, batch_size=32, random_state=0)
    np.testing.assert_array_equal(embedding, one_epoch.transform(data[0]))


@pytest.mark.parametrize("name", ["simclr", "supervised", "talos"])
def test_checkpoint_and_load_init_state_resume_after_an_interrupt(name, data, tmp_path):
    def checkpoint():
        return Checkpoint(monitor=None, dirname=str(tmp_path))

    interrupted = _fit(name, data, max_epochs=5, batch_size=32, random_state=0,
                       callbacks=[checkpoint(), InterruptAtEpoch(3)])
    saved = {k: v.clone() for k, v in interrupted.module_.state_dict().items()}
    seen = {}

    class Peek(Callback):
        def on_epoch_begin(self, net, **kwargs):
            seen.setdefault("epoch", len(net.history))
            seen.setdefault("state", {k: v.clone() for k, v in net.module_.state_dict().items()})

    ckpt = checkpoint()
    resumed = _fit(name, data, max_epochs=2, batch_size=32, random_state=0,
                   callbacks=[ckpt, LoadInitState(ckpt), Peek()])
    # Resumed from the last saved epoch (2): the first epoch trained is epoch 3.
    assert seen["epoch"] == 3
    assert all(torch.equal(seen["state"][k], saved[k]) for k in saved)
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3, 4]
    assert resumed.history[:2, "train_loss"] == interrupted.history[:2, "train_loss"]
    assert np.isfinite(resumed.transform(data[0])).all()
