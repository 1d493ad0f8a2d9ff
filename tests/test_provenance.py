"""Provenance: the floating-point environment and model digests."""

import json

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from privlearn.audit.provenance import environment, model_digest, model_digests


def test_environment_names_what_decides_floating_point():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        env = environment()
    finally:
        torch.set_num_threads(old)
    json.dumps(env)                                   # JSON-ready
    assert env["torch"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert env["torch"]["num_threads"] == 1
    assert env["torch"]["version"] == torch.__version__
    assert env["device"] == "cpu" and env["cuda"] is None
    assert isinstance(env["cpu"]["flags"], list)
    assert all("filepath" not in pool for pool in env["threadpools"] or [])
    with pytest.raises(TypeError, match="device"):
        environment(device=0)


def test_environment_records_set_variables(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    assert environment()["env"]["OPENBLAS_CORETYPE"] == "Haswell"


def _fit(seed):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.arange(40) % 2
    return make_pipeline(StandardScaler(), LogisticRegression(random_state=seed)).fit(X, y)


def test_model_digest_same_learnt_values_same_digest():
    a, b = _fit(0), _fit(0)
    assert model_digest(a) == model_digest(b)
    b[-1].coef_ = b[-1].coef_ + 1e-12                 # one tiny difference
    assert model_digest(a) != model_digest(b)
    assert len(model_digest(a)) == 64


def test_model_digest_torch_module_ignores_train_flag_and_history():
    torch.manual_seed(0)
    module = torch.nn.Linear(3, 2)
    before = model_digest(module)
    module.eval()
    assert model_digest(module) == before
    with torch.no_grad():
        module.weight[0, 0] += 1.0
    assert model_digest(module) != before
    assert list(model_digests({"z": module, "a": module})) == ["a", "z"]


def test_model_digest_of_two_identical_trainings_matches():
    import privlearn as pl

    torch.set_num_threads(1)
    data = pl.datasets.load("digits")
    X, y = data.images[:96], data.target[:96]

    def fit():
        return pl.SupervisedClassifier(backbone="cnn", max_epochs=1, batch_size=32,
                                       random_state=0, verbose=0).fit(X, y)
    # The history holds wall-clock durations; the digest must not see them.
    assert model_digest(fit()) == model_digest(fit())
