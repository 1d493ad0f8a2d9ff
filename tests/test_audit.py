"""The audit: protocol end to end on a tiny budget, resume, stale checkpoints, CLI."""

import json

import pytest

from privlearn import cli
from privlearn.audit import AuditConfig, run_audit

TINY = dict(epochs=2, batch_size=32, n_per_part=40, label_only_records=16,
            label_only_max_iter=1, talos_weights=(1.0,), progress=False)


@pytest.fixture(scope="module")
def audit_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("audit")
    results = run_audit(out=out, **TINY)
    return out, results


def test_audit_writes_report_json_and_plots(audit_run):
    out, results = audit_run
    assert set(results["utility"]) == {"contrastive", "supervised", "talos"}
    for family, attacks in results["membership"].items():
        assert set(attacks) == {"nn", "correctness", "confidence", "entropy",
                                "modified_entropy", "label_only"}
        for report in attacks.values():
            assert 0.0 <= report["accuracy"] <= 1.0 and 0.0 <= report["roc_auc"] <= 1.0
    for family, attr in results["attribute"].items():
        assert 0.0 <= attr["accuracy"] <= 1.0
        assert 0.0 < attr["majority_baseline"] < 0.5  # ten digits, stratified
    saved = json.loads((out / "results.json").read_text())
    assert saved["config"]["epochs"] == 2 and saved["versions"]["torch"]
    report = (out / "report.md").read_text()
    for heading in ("## Findings", "## Utility", "### ROC AUC", "### TPR at 1% FPR",
                    "## Attribute inference", "## Talos privacy–utility trade-off"):
        assert heading in report
    assert (out / "roc_nn.png").stat().st_size > 1000
    assert (out / "roc_nn_log.png").exists() and (out / "talos_tradeoff.png").exists()


def test_audit_same_budget_for_every_family(audit_run):
    out, _ = audit_run
    import glob

    import joblib

    folder = glob.glob(str(out / "checkpoints" / "*"))[0]
    for name in ("contrastive-target", "supervised-target", "talos-target"):
        model = joblib.load(f"{folder}/{name}.joblib")
        net = model.steps[0][1] if hasattr(model, "steps") else model
        assert len(net.history) == 2 and net.batch_size == 32


def test_audit_resumes_without_retraining(audit_run, monkeypatch):
    out, first = audit_run
    import privlearn.audit as audit

    def boom(*args, **kwargs):
        raise AssertionError("a checkpointed model was retrained")

    monkeypatch.setattr(audit, "_fit", boom)
    again = run_audit(out=out, **TINY)
    assert all(v == 0.0 for v in again["train_seconds"].values())
    assert again["membership"] == first["membership"]


def test_changed_configuration_gets_new_checkpoints():
    a = AuditConfig(epochs=2)
    assert a.key() == AuditConfig(epochs=2, device="cuda").key()
    assert a.key() != AuditConfig(epochs=3).key()
    assert a.key() != AuditConfig(epochs=2, seed=1).key()


def test_interrupted_training_is_not_checkpointed(tmp_path, monkeypatch):
    import privlearn.audit as audit

    def interrupted(model, family, part, epochs):
        raise KeyboardInterrupt

    monkeypatch.setattr(audit, "_fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_audit(out=tmp_path, attacks=["nn"], **TINY)
    assert not list(tmp_path.glob("checkpoints/*/*.joblib"))


def test_cli_subset_of_attacks_prints_summary(tmp_path, capsys):
    rc = cli.main(["audit", "--dataset", "fashion-mnist", "--root", str(tmp_path),
                   "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "Fashion-MNIST files" in err and "Traceback" not in err


def test_parallel_training_checkpoints_every_model(tmp_path, monkeypatch):
    import privlearn.audit as audit

    results = run_audit(out=tmp_path, attacks=["confidence"], n_jobs=2,
                        **{**TINY, "n_per_part": 24})
    assert set(results["train_seconds"]) == {
        f"{f}-{r}" for f in ("contrastive", "supervised", "talos") for r in ("target", "shadow")}
    assert all(t > 0 for t in results["train_seconds"].values())

    def boom(*args, **kwargs):
        raise AssertionError("a model trained in parallel was retrained")

    monkeypatch.setattr(audit, "_fit", boom)
    again = run_audit(out=tmp_path, attacks=["confidence"], **{**TINY, "n_per_part": 24})
    assert again["membership"] == results["membership"]


def test_bad_n_jobs_is_refused_before_work(tmp_path):
    with pytest.raises(ValueError, match="n_jobs"):
        run_audit(out=tmp_path, n_jobs=0, **TINY)
