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
    assert rows[0] == "attack,measure,index,path,member,score,rank" and len(rows) == 61
    assert {r.split(",")[0] for r in rows[1:]} == {r_strongest(saved)}
    assert "Blind baseline" in (tmp_path / "report.md").read_text()


def r_strongest(results):
    return results["strongest"]


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


# --- the catalogue decides which attacks run ---------------------------------------

TOY_CALLS = []


def run_toy_norm(ctx):
    """A toy encoder attack: the norm of each record's embedding."""
    TOY_CALLS.append(ctx.family)
    X_eval, m_eval = ctx.sets.eval
    assert ctx.shadow is None and len(X_eval) == len(m_eval)
    z = np.asarray(ctx.encoder.transform(np.asarray(X_eval.inputs)))
    return {"scores": np.linalg.norm(z, axis=1), "records": np.arange(len(m_eval))}


def run_toy_top(ctx):
    """A toy posterior attack: the top posterior."""
    X_eval, m_eval = ctx.sets.eval
    return {"scores": ctx.target.predict_proba(np.asarray(X_eval.inputs)).max(axis=1),
            "records": np.arange(len(m_eval))}


@pytest.fixture
def toy_attacks():
    from privlearn import catalogue
    from privlearn.catalogue import Spec
    specs = [Spec("toy_norm", "Toy embedding norm", f"{__name__}:run_toy_norm", "membership",
                  ("encoder",)),
             Spec("toy_top", "Toy top posterior", f"{__name__}:run_toy_top", "membership",
                  ("posteriors",))]
    for spec in specs:
        catalogue.register("attacks", spec)
    yield
    for spec in specs:
        catalogue.unregister("attacks", spec.name)


def test_attacks_come_from_the_catalogue_by_their_needs(toy_attacks):
    from privlearn import catalogue
    from privlearn.own_audit import planned_attacks
    needs = {n: set(s.needs) for n, s in catalogue.ATTACKS.items()}
    run, skipped = planned_attacks({"encoder"})
    assert [n for n, _ in run] == [n for n in catalogue.ATTACKS if needs[n] == {"encoder"}]
    assert {"encodermi", "partcrop", "attribute", "toy_norm"} <= {n for n, _ in run}
    assert set(skipped) == {n for n in catalogue.ATTACKS if needs[n] == {"encoder", "reference"}}
    run, skipped = planned_attacks({"posteriors", "labels", "reference"})
    assert {n for n, _ in run} == {n for n in catalogue.ATTACKS
                                   if needs[n] <= {"posteriors", "labels", "reference"}}
    assert {"nn", "label_only", "lira", "rmia", "toy_top"} <= {n for n, _ in run}
    assert "encodermi" not in {n for n, _ in run} and not skipped


def test_a_registered_attack_is_run_reported_and_judged(toy_attacks, tmp_path):
    TOY_CALLS.clear()
    data = _data()
    r = audit_model(encoder=TorchEncoder(_net(8)), classifier=TorchClassifier(_net(), classes=[0, 1]),
                    data=data, attacks=["toy_norm", "toy_top", "confidence"], n_boot=100,
                    out=tmp_path)
    assert TOY_CALLS == ["encoder"]
    z = TorchEncoder(_net(8)).transform(data.images)
    from sklearn.metrics import roc_auc_score
    assert r["attacks"]["toy_norm"]["roc_auc"] == pytest.approx(
        roc_auc_score(data.member, np.linalg.norm(z, axis=1)))
    assert r["attacks"]["toy_norm"]["title"] == "Toy embedding norm"
    assert "skipped" not in r["attacks"]["toy_top"], r["attacks"]["toy_top"]
    assert {"membership/toy_norm", "membership/toy_top"} <= {f["id"] for f in r["findings"]}
    assert "Toy top posterior" in (tmp_path / "report.md").read_text()


def test_without_a_recipe_reference_attacks_are_listed_as_skipped():
    r = audit_model(classifier=_net(), data=_data(), attacks=["confidence", "lira"], n_boot=50)
    assert "needs `recipe` and `pool`" in r["attacks"]["lira"]["skipped"]
    with pytest.raises(ValueError, match="needs \\['encoder'\\]"):
        audit_model(classifier=_net(), data=_data(), attacks=["encodermi"])


def test_lira_and_rmia_with_a_recipe_and_pool():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from privlearn.records import Records
    rng = np.random.RandomState(1)
    pool = Records(rng.randint(0, 256, (40, 1, 8, 8)).astype(np.uint8), rng.randint(0, 2, 40))
    recipe = make_pipeline(FunctionTransformer(lambda x: np.asarray(x, float).reshape(len(x), -1)),
                           LogisticRegression(max_iter=200))
    r = audit_model(classifier=_net(), data=_data(), recipe=recipe, pool=pool, n_shadows=4,
                    attacks=["lira", "rmia"], n_boot=50)
    for name in ("lira", "rmia"):
        assert 0 <= r["attacks"][name]["roc_auc"] <= 1 and "skipped" not in r["attacks"][name]


# --- the blind baseline marks confounded findings ----------------------------------

def test_brighter_members_confound_every_membership_finding(tmp_path):
    from privlearn.audit.judge import CONFOUNDED_NOTE
    data = _data(80)
    images = data.images.astype(np.int64)
    images[data.member == 1] = images[data.member == 1] // 2 + 128  # members brighter
    data.images = images.astype(np.uint8)
    r = audit_model(classifier=_net(), data=data, attacks=["confidence", "entropy"],
                    n_boot=100, out=tmp_path)
    assert r["blind_baseline"]["leaks"] and r["findings"][0]["verdict"] == "holds"
    membership = [f for f in r["findings"] if f["id"].startswith("membership/")]
    assert len(membership) == 2 and all(f["confounded"] for f in membership)
    report = (tmp_path / "report.md").read_text()
    assert report.count(f"CONFOUNDED: {CONFOUNDED_NOTE}") == 2
    assert "The split itself leaks membership" in report


def test_random_split_is_not_confounded():
    r = audit_model(classifier=_net(), data=_data(80), attacks=["confidence"], n_boot=100)
    assert not r["blind_baseline"]["leaks"]
    assert r["findings"][1]["confounded"] is False


# --- bad input: a clear error before any work --------------------------------------

@pytest.fixture
def no_work(monkeypatch):
    """Fail loudly if the audit starts working (the blind baseline is its first step)."""
    import privlearn.blind

    def fail(*a, **k):
        raise AssertionError("the audit started work before rejecting the input")
    monkeypatch.setattr(privlearn.blind, "blind_baseline", fail)


def test_broken_modules_refused_before_work(no_work):
    data = _data()
    nan = torch.nn.Sequential(_net(4), torch.nn.Threshold(10.0, float("nan")))
    with pytest.raises(ValueError, match="non-finite"):
        audit_model(encoder=nan, data=data)
    with pytest.raises(ValueError, match="non-finite"):
        audit_model(classifier=torch.nn.Sequential(_net(2),
                                                   torch.nn.Threshold(10.0, float("nan"))),
                    data=data)
    with pytest.raises(ValueError, match="shape"):
        audit_model(classifier=_net(3), data=data)

    class Half(torch.nn.Module):
        def forward(self, x):
            return x[: max(1, len(x) // 2)].flatten(1)
    with pytest.raises(ValueError, match="one row per image"):
        audit_model(encoder=Half(), data=data)
    with pytest.raises(ValueError, match="sensitive"):
        audit_model(encoder=_net(4), data=Bunch(**{**data, "sensitive": np.zeros(3)}))


def test_members_not_in_the_data_refused_before_work(no_work, tmp_path):
    (tmp_path / "m.txt").write_text("0.png\nnot_there.png\n")
    with pytest.raises(ValueError, match="not in the data.*not_there.png"):
        audit_model(classifier=_net(), data=_data(), members=tmp_path / "m.txt")
    with pytest.raises(ValueError, match="does not exist"):
        audit_model(classifier=_net(), data=_data(), members=tmp_path / "none.txt")
    with pytest.raises(ValueError, match="at least 5 members"):
        audit_model(classifier=_net(), data=_data(), members=np.r_[np.ones(3), np.zeros(57)])


def _cli(tmp_path, *args):
    from privlearn import cli
    from PIL import Image
    (tmp_path / "img").mkdir(exist_ok=True)
    rng = np.random.RandomState(0)
    lines = ["path,label,member"]
    for i in range(20):
        Image.fromarray(rng.randint(0, 256, (8, 8)).astype(np.uint8)).save(tmp_path / "img" / f"{i}.png")
        lines.append(f"img/{i}.png,{i % 2},{i % 2}")
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    return cli.main(["audit-model", "--data", str(tmp_path / "m.csv"), "--out",
                     str(tmp_path / "out"), *args])


def test_cli_refuses_bad_model_files_before_work(no_work, tmp_path):
    with pytest.raises(SystemExit, match="does not exist"):
        _cli(tmp_path, "--encoder", str(tmp_path / "missing.pt"), "--arch", "cnn")
    (tmp_path / "corrupt.pt").write_bytes(b"\x80\x02garbage")
    with pytest.raises(SystemExit, match="corrupt.pt"):
        _cli(tmp_path, "--encoder", str(tmp_path / "corrupt.pt"), "--arch", "cnn")
    torch.save(_net(4), tmp_path / "pickled.pt")  # a whole pickled module: code
    with pytest.raises(SystemExit, match="arbitrary unpickling.*refused"):
        _cli(tmp_path, "--encoder", str(tmp_path / "pickled.pt"), "--arch", "cnn")
    (tmp_path / "bad.csv").write_text("path,label,colour\nimg/0.png,0,red\n")
    from privlearn import cli
    with pytest.raises(SystemExit, match="unknown column"):
        cli.main(["audit-model", "--data", str(tmp_path / "bad.csv"), "--encoder",
                  str(tmp_path / "pickled.pt"), "--out", str(tmp_path / "o")])
    (tmp_path / "gone.csv").write_text("path,label\nimg/0.png,0\nimg/nope.png,1\n")
    with pytest.raises(SystemExit, match="nope.png"):
        cli.main(["audit-model", "--data", str(tmp_path / "gone.csv"), "--encoder",
                  str(tmp_path / "pickled.pt"), "--out", str(tmp_path / "o")])
    assert not (tmp_path / "out").exists() and not (tmp_path / "o").exists()


# --- the example, tiny: CLI from files == Python entry ------------------------------

def test_encoder_example_cli_and_python_entry_agree(tmp_path):
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "examples" / "audit_own_encoder.py"
    spec = importlib.util.spec_from_file_location("audit_own_encoder", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    folder = example.save_files(tmp_path, n_members=12, n_non_members=12, steps=2)
    assert (folder / "encoder.pt").is_file() and len(list((folder / "images").glob("*.png"))) == 24
    assert len((folder / "members.txt").read_text().split()) == 12
    options = dict(cv=3, n_boot=50, n_views=2)
    cli = example.audit_cli(folder, tmp_path / "cli", ["--cv", "3", "--n-boot", "50",
                                                       "--n-views", "2"])
    python = example.audit_python(folder, tmp_path / "python", **options)
    assert example.same_numbers(cli, python)
    assert [f["effect"] for f in cli["findings"]] == [f["effect"] for f in python["findings"]]
    report = (tmp_path / "cli" / "report.md").read_text()
    for part in ("## Blind baseline", "| EncoderMI |", "## Attribute inference",
                 "![gallery](gallery.png)"):
        assert part in report, part
    assert (tmp_path / "cli" / "gallery.png").is_file()
