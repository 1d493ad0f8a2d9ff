import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils.validation import check_is_fitted

from privlearn.backbones import make_backbone
from privlearn.wrappers import TorchClassifier, TorchEncoder, load_module

torch.set_num_threads(1)
rng = np.random.RandomState(0)
X = rng.randint(0, 256, (20, 1, 8, 8)).astype(np.uint8)
y = rng.randint(0, 2, 20)


def linear(out=4):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, out))


class Const(torch.nn.Module):
    def __init__(self, value, shape):
        super().__init__()
        self.value, self.shape = value, shape

    def forward(self, x):
        return torch.full((len(x), *self.shape), self.value)


def test_encoder_transform_batched_eval_no_grad():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Dropout(0.9), torch.nn.Linear(64, 4))
    enc = TorchEncoder(net, batch_size=7)
    check_is_fitted(enc)
    Z = enc.transform(X)
    assert Z.shape == (20, 4) and np.array_equal(Z, enc.transform(X))  # eval: no dropout
    assert net.training  # mode restored
    np.testing.assert_allclose(Z, net.eval()(torch.from_numpy(X).float() / 255).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_encoder_pools_spatial_map_and_exposes_it():
    net = torch.nn.Conv2d(1, 3, 3, padding=1)
    enc = TorchEncoder(net)
    fmap = enc.feature_map(X)
    assert fmap.shape == (20, 3, 8, 8)
    np.testing.assert_allclose(enc.transform(X), fmap.mean(axis=(2, 3)))


@pytest.mark.parametrize("value,shape,match", [(float("nan"), (4,), "non-finite"),
                                               (1.0, (4,), None)])
def test_encoder_output_checked(value, shape, match):
    enc = TorchEncoder(Const(value, shape))
    if match:
        with pytest.raises(ValueError, match=match):
            enc.transform(X)
    else:
        assert enc.transform(X).shape == (20, 4)


def test_wrong_row_count_refused():
    class Half(torch.nn.Module):
        def forward(self, x):
            return x[: len(x) // 2].flatten(1)
    with pytest.raises(ValueError, match="one row per image"):
        TorchEncoder(Half()).transform(X)


def test_bad_params():
    with pytest.raises(TypeError, match="module"):
        TorchEncoder("net").fit()
    with pytest.raises(ValueError, match="batch_size"):
        TorchEncoder(linear(), batch_size=0).transform(X)


def test_clone_pickle_pipeline():
    enc = TorchEncoder(linear())
    c = clone(enc)
    assert c.module is not enc.module
    np.testing.assert_allclose(c.transform(X), enc.transform(X))
    np.testing.assert_allclose(pickle.loads(pickle.dumps(enc)).transform(X), enc.transform(X))
    pipe = make_pipeline(TorchEncoder(linear()), LogisticRegression()).fit(X, y)
    assert pipe.predict_proba(X).shape == (20, 2)


def test_encoder_as_attack_target():
    from privlearn.attacks.attribute import AttributeInference
    att = AttributeInference(TorchEncoder(linear()), random_state=0).fit(X, y)
    assert att.predict(X).shape == (20,)


def test_classifier():
    clf = TorchClassifier(linear(3), classes=["a", "b", "c"])
    check_is_fitted(clf)
    p = clf.predict_proba(X)
    np.testing.assert_allclose(p.sum(1), 1, rtol=1e-6)
    assert set(clf.predict(X)) <= {"a", "b", "c"}
    with pytest.raises(ValueError, match="expected \\(n_images, 2\\)"):
        TorchClassifier(linear(3), classes=[0, 1]).predict_proba(X)
    from privlearn.attacks.membership import MembershipInference
    from privlearn.records import Records
    clf = TorchClassifier(linear(2), classes=[0, 1])
    att = MembershipInference(clf, method="confidence").fit(Records(X, y), np.arange(20) % 2)
    assert att.predict_proba(Records(X, y)).shape == (20, 2)


def test_load_state_dict_torchscript_factory(tmp_path, monkeypatch):
    net, _ = make_backbone("cnn", in_channels=1, image_size=8)
    torch.save(net.state_dict(), tmp_path / "sd.pt")
    loaded = load_module(tmp_path / "sd.pt", arch="cnn", in_channels=1, image_size=8)
    x = torch.rand(2, 1, 8, 8)
    net.eval()
    torch.testing.assert_close(loaded(x), net(x))
    torch.jit.script(net).save(str(tmp_path / "ts.pt"))
    torch.testing.assert_close(load_module(tmp_path / "ts.pt")(x), net(x))
    import torchvision
    r = torchvision.models.resnet18(num_classes=3)
    torch.save(r.state_dict(), tmp_path / "r.pt")
    assert load_module(tmp_path / "r.pt", arch="resnet18", num_classes=3).fc.out_features == 3
    torch.save(linear().state_dict(), tmp_path / "lin.pt")
    import types
    monkeypatch.setitem(__import__("sys").modules, "user_models",
                        types.SimpleNamespace(linear=linear))
    assert isinstance(load_module(tmp_path / "lin.pt", factory="user_models:linear"),
                      torch.nn.Sequential)


def test_load_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_module(tmp_path / "nope.pt", arch="cnn")
    (tmp_path / "bad.pt").write_bytes(b"garbage\x00\x01")
    with pytest.raises(ValueError, match="bad.pt"):
        load_module(tmp_path / "bad.pt", arch="cnn")
    torch.save(linear(), tmp_path / "whole.pt")  # a pickled module: arbitrary unpickling
    with pytest.raises(ValueError, match="untrusted"):
        load_module(tmp_path / "whole.pt", arch="cnn")
    torch.save(linear().state_dict(), tmp_path / "lin.pt")
    with pytest.raises(ValueError, match="missing key"):
        load_module(tmp_path / "lin.pt", arch="cnn", in_channels=1)
    with pytest.raises(ValueError, match="arch"):
        load_module(tmp_path / "lin.pt")
    with pytest.raises(ValueError, match="unknown architecture"):
        load_module(tmp_path / "lin.pt", arch="no_such_net")
