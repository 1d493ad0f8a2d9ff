import json

import numpy as np
import pytest
import torch
from sklearn.utils import Bunch

from privlearn.own_audit import audit_model
from privlearn.wrappers import TorchClassifier, TorchEncoder

torch.set_num_threads(1)


def _data(n=60, seed=0):
    rng = np.random.RandomState(seed)
    return Bunch(images=rng.randint(0, 256, (n, 1, 8, 8)).astype(np.uint8),
                 target=rng.randint(0, 2, n), sensitive=rng.randint(0, 2, n),
                 member=np.arange(n) % 2, paths=np.array([f"{i}.png" for i in range(n)]),
                 names=np.array([f"{i}.png" for i in range(n)]))


def _net(out=2):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, out))


def test_classifier_audit_writes_report(tmp_path):
    r = audit_model(classifier=TorchClassifier(_net(), classes=[0, 1]), data=_data(),
                    attacks=["confidence", "entropy"], n_boot=100, out=tmp_path)
    assert set(r["attacks"]) == {"confidence", "entropy"}
    for f in ("report.md", "results.json", "roc.png", "roc_log.png", "record_risk.csv",
              "gallery.png"):
        assert (tmp_path / f).is_file(), f
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["findings"][0]["claim"].startswith("the member/non-member split")
    rows = (tmp_path / "record_risk.csv").read_text().splitlines()
    assert rows[0] == "index,path,member,score,rank" and len(rows) == 61
    assert "Blind baseline" in (tmp_path / "report.md").read_text()


def test_encoder_audit_attribute_and_encodermi():
    r = audit_model(encoder=TorchEncoder(_net(8)), data=_data(), n_boot=100, n_views=2, cv=3)
    assert "encodermi" in r["attacks"] and "attribute" in r
    claims = [f["claim"] for f in r["findings"]]
    assert any("attribute inference" in c for c in claims)


def test_bad_input_before_work(tmp_path):
    data = _data()
    with pytest.raises(ValueError, match="encoder"):
        audit_model(data=data)
    (tmp_path / "m.txt").write_text("0.png\nnot_there.png\n")
    with pytest.raises(ValueError, match="not_there.png"):
        audit_model(classifier=_net(), data=data, members=tmp_path / "m.txt")
    with pytest.raises(ValueError, match="0/1"):
        audit_model(classifier=_net(), data=data, members=np.arange(60))
    with pytest.raises(ValueError, match="shape"):
        audit_model(classifier=_net(3), data=data)  # 3 logits for 2 classes
    nan = torch.nn.Sequential(_net(4), torch.nn.Threshold(10.0, float("nan")))
    with pytest.raises(ValueError, match="non-finite"):
        audit_model(encoder=nan, data=data)
    with pytest.raises(ValueError, match="unknown attack"):
        audit_model(classifier=_net(), data=data, attacks=["nope"])
    with pytest.raises(ValueError, match="recipe"):
        audit_model(classifier=_net(), data=data, pool=object())


def test_members_file(tmp_path):
    data = _data()
    (tmp_path / "m.txt").write_text("\n".join(f"{i}.png" for i in range(0, 60, 3)))
    r = audit_model(classifier=_net(), data=data, members=tmp_path / "m.txt",
                    attacks=["confidence"], n_boot=50)
    assert r["n_members"] == 20
