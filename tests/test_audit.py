"""The audit: protocol end to end on a tiny budget, resume, options checked before work,
one audit per output folder, no silent overwrite, n_jobs-independent numbers, CLI."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import privlearn as pl
from privlearn import cli
from privlearn.audit import AuditConfig, AuditLockedError, ReportExistsError, run_audit
from privlearn.audit.output import LOCK_NAME, OutputLock

TINY = dict(epochs=2, batch_size=32, n_per_part=40, label_only_records=16,
            label_only_max_iter=1, talos_weights=(1.0,), progress=False, n_boot=200)
ROOT = Path(__file__).resolve().parents[1]


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
                                "modified_entropy", "label_only", "lira", "rmia",
                                "encodermi", "partcrop", "encoder_lira"}
        for report in attacks.values():
            assert 0.0 <= report["accuracy"] <= 1.0 and 0.0 <= report["roc_auc"] <= 1.0
    for family, attr in results["attribute"].items():
        assert 0.0 <= attr["accuracy"] <= 1.0
        assert 0.5 <= attr["majority_baseline"] < 0.6  # magnitude: low/high, stratified
    saved = json.loads((out / "results.json").read_text())
    assert saved["config"]["epochs"] == 2 and saved["versions"]["torch"]
    assert saved["config"]["attribute"] == "magnitude"
    report = (out / "report.md").read_text()
    for heading in ("## Findings", "## Utility", "### ROC AUC", "### TPR at 1% FPR",
                    "## Attribute inference", "## Talos privacy–utility trade-off",
                    "positive label is *member*", "resolution 0.0250",
                    "## Defenses against attribute inference"):
        assert heading in report
    defenses = {d["model"]: d for d in results["defenses"]}
    assert defenses["contrastive"]["fraction_of_excess_removed"] == 0.0
    assert 0.0 <= defenses["contrastive+leace"]["test_accuracy"] <= 1.0
    assert defenses["talos"]["attribute_inference"] == results["attribute"]["talos"]["accuracy"]
    assert (out / "roc_nn.png").stat().st_size > 1000
    assert (out / "roc_nn_log.png").exists() and (out / "talos_tradeoff.png").exists()
    # atomic writes leave no temporary files, and the lock is released
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]
    assert not (out / LOCK_NAME).exists()


def test_findings_are_data_with_intervals_and_verdicts(audit_run):
    out, results = audit_run
    findings = json.loads((out / "results.json").read_text())["findings"]
    ids = [f["id"] for f in findings]
    assert ids[0] == "membership/strongest"
    assert {f"membership/{a}" for a in results["membership"]["supervised"]} <= set(ids)
    assert "attribute" in ids and "talos" in ids
    report = (out / "report.md").read_text()
    for f in findings:
        low, high = f["ci"]
        assert low <= high and f["verdict"] in ("holds", "does not hold", "inconclusive",
                                                "contradicted at low FPR")
        if f["kind"] == "difference" and isinstance(f.get("components"), list):
            # membership: ROC AUC and the low-FPR components, each judged
            assert [c["metric"] for c in f["components"]][:2] == ["roc_auc", "tpr@1%fpr"]
            low_fpr = [c["verdict"] for c in f["components"][1:]]
            assert (f["verdict"] == "holds") == (low > 0 and "does not hold" not in low_fpr)
            assert (f["verdict"] == "contradicted at low FPR") == (
                low > 0 and "does not hold" in low_fpr)
            if f["verdict"] == "contradicted at low FPR":
                assert f["disagreement"] in report
        elif f["kind"] == "difference":
            assert (f["verdict"] == "holds") == (low > 0)
            assert (f["verdict"] == "does not hold") == (high < 0)
        assert f"**{f['verdict']}** — {f['claim']}" in report
    talos = findings[ids.index("talos")]
    n = talos["numbers"]
    expected = ((n["contrastive_attribute_accuracy"] - n["talos_attribute_accuracy"])
                / (n["contrastive_attribute_accuracy"] - n["baseline"]))
    assert n["baseline"] == max(n["majority_baseline"], n["conditional_baseline"])
    assert talos["effect"] == pytest.approx(expected)
    assert "fraction_of_excess_removed" in report


def test_audit_same_budget_for_every_family(audit_run):
    out, _ = audit_run
    import joblib

    folder = next((out / "checkpoints").glob("models-*"))
    for name in ("contrastive-target-seed0", "supervised-target-seed2", "talos-target-seed4"):
        model = joblib.load(folder / f"{name}.joblib")["model"]
        net = model.steps[0][1] if hasattr(model, "steps") else model
        assert len(net.history) == 2 and net.batch_size == 32


def test_audit_resumes_without_retraining_and_keeps_times(audit_run, monkeypatch):
    out, first = audit_run
    import privlearn.audit.train as train

    def boom(*args, **kwargs):
        raise AssertionError("a checkpointed model was retrained")

    monkeypatch.setattr(train, "_fit", boom)
    again = run_audit(out=out, **TINY)
    assert again["train_seconds"] == first["train_seconds"]
    assert all(t > 0 for t in again["train_seconds"].values())
    assert again["membership"] == first["membership"]
    assert again["findings"] == json.loads(json.dumps(first["findings"]))


def test_other_configuration_does_not_overwrite_the_report(audit_run):
    out, _ = audit_run
    before = (out / "report.md").read_text()
    with pytest.raises(ReportExistsError, match=r"--epochs 2 .*--out.*--overwrite"):
        run_audit(out=out, **{**TINY, "epochs": 3})
    assert (out / "report.md").read_text() == before


def test_changed_configuration_gets_new_checkpoints():
    a = AuditConfig(epochs=2)
    assert a.key() == AuditConfig(epochs=2, device="cuda", n_jobs=2, repeats=3).key()
    assert a.key() != AuditConfig(epochs=3).key()
    assert a.key() != AuditConfig(epochs=2, seed=1).key()
    assert a.key() != AuditConfig(epochs=2, attribute="digit").key()
    assert a.key() != AuditConfig(epochs=2, torch_threads=2).key()
    assert a.report_key() != AuditConfig(epochs=2, max_utility_cost=0.1).report_key()
    # trained models are shared by configurations that differ in attacks only
    assert a.model_key() == AuditConfig(epochs=2, attacks=("nn",), reference_models=4,
                                        label_only_records=20).model_key()
    assert a.key() != AuditConfig(epochs=2, reference_models=4).key()
    assert a.model_key() != AuditConfig(epochs=3).model_key()


def test_interrupted_training_is_not_checkpointed(tmp_path, monkeypatch):
    import privlearn.audit.train as train

    def interrupted(model, family, part, epochs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "_fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_audit(out=tmp_path, attacks=["nn"], **TINY)
    assert not list(tmp_path.glob("checkpoints/*/*.joblib"))
    assert not (tmp_path / LOCK_NAME).exists()


def test_n_jobs_does_not_change_the_numbers(tmp_path):
    options = dict(TINY, attacks=["confidence", "attribute"], n_per_part=24)
    one = run_audit(out=tmp_path / "one", n_jobs=1, **options)
    two = run_audit(out=tmp_path / "two", n_jobs=2, **options)
    assert set(two["train_seconds"]) == set(one["train_seconds"])
    for part in ("utility", "membership", "attribute", "findings"):
        # through JSON, so that a NaN (no excess leakage to remove) equals itself
        assert (json.dumps(two[part], sort_keys=True, default=str)
                == json.dumps(one[part], sort_keys=True, default=str)), part


def test_objective_makes_the_contrastive_family_that_objective(tmp_path):
    import joblib

    results = run_audit(out=tmp_path, objective="byol",
                        **{**TINY, "attacks": ["confidence"], "n_per_part": 24})
    folder = next((tmp_path / "checkpoints").glob("models-*"))
    contrastive = joblib.load(folder / "contrastive-target-seed0.joblib")["model"]
    talos = joblib.load(folder / "talos-target-seed4.joblib")["model"]
    assert type(contrastive.steps[0][1]).__name__ == "BYOL"
    assert talos.steps[0][1].objective == "byol"
    assert "Contrastive (BYOL)" in (tmp_path / "report.md").read_text()
    assert results["config_summary"].startswith("--dataset digits --objective byol")


BAD_OPTIONS = [
    (dict(objective="dino"), "unknown objective"),
    (dict(seed=2**32 - 50), "seed must be at most"),
    (dict(seed=2**32 - 1050, repeats=2), "seed must be at most"),
    (dict(seed=-1), "seed"),
    (dict(talos_weights=(1.0, -0.5)), "talos_weights"),
    (dict(talos_weights=(float("nan"),)), "talos_weights"),
    (dict(talos_weight=float("inf")), "talos_weight"),
    (dict(label_only_records=1), "label_only_records"),
    (dict(n_per_part=3), "n_per_part"),
    (dict(attacks=[]), "attacks"),
    (dict(attacks=["lira2"]), "unknown attacks"),
    (dict(repeats=0), "repeats"),
    (dict(n_boot=5), "n_boot"),
    (dict(reference_models=1), "reference_models"),
    (dict(reference_models=-2), "reference_models"),
    (dict(min_fraction_removed=0.0), "min_fraction_removed"),
    (dict(max_utility_cost=-0.1), "max_utility_cost"),
    (dict(lr=float("nan")), "lr"),
    (dict(temperature=0), "temperature"),
    (dict(attribute="colour"), "attribute"),
    (dict(dataset="fashion-mnist", attribute="magnitude"), "attribute"),
    (dict(n_jobs=0), "n_jobs"),
    (dict(epochs=True), "epochs"),
    (dict(out=""), "empty path"),
    (dict(out=None), "out must be a folder path"),
]


@pytest.mark.parametrize("bad, message", BAD_OPTIONS,
                         ids=[next(iter(b)) + str(i) for i, (b, _) in enumerate(BAD_OPTIONS)])
def test_bad_options_are_refused_before_any_work(bad, message, tmp_path, monkeypatch):
    import privlearn.audit as audit

    def no_loading(*args, **kwargs):
        raise AssertionError("data were loaded before the options were checked")

    monkeypatch.setattr(audit, "load_data", no_loading)
    options = {**TINY, "out": tmp_path / "o", **bad}
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        run_audit(**options)


def test_second_audit_on_a_locked_folder_is_refused(tmp_path, monkeypatch):
    import privlearn.audit as audit

    monkeypatch.setattr(audit, "load_data", lambda cfg: pytest.fail("ran under a held lock"))
    with OutputLock(tmp_path):
        with pytest.raises(AuditLockedError, match=rf"{re.escape(str(tmp_path))}.*--out"):
            run_audit(out=tmp_path, **TINY)
    assert not (tmp_path / LOCK_NAME).exists()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path, monkeypatch):
    import socket

    import privlearn.audit as audit

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK_NAME).write_text(json.dumps(
        {"pid": dead.pid, "host": socket.gethostname(), "started": "earlier"}))

    class Loaded(Exception):
        pass

    def loaded(cfg):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
        raise Loaded

    monkeypatch.setattr(audit, "load_data", loaded)
    with pytest.raises(Loaded):
        run_audit(out=tmp_path, **TINY)
    assert not (tmp_path / LOCK_NAME).exists()


def test_cli_errors_use_cli_words_and_name_the_docs(tmp_path, capsys):
    rc = cli.main(["audit", "--dataset", "fashion-mnist", "--root", str(tmp_path),
                   "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "Fashion-MNIST files" in err and "Traceback" not in err
    rc = cli.main(["audit", "--n-per-part", "3", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "--n-per-part must be" in err and "n_per_part" not in err
    assert "docs/audit.rst" in err
    rc = cli.main(["audit", "--out", "", "--quick"])
    err = capsys.readouterr().err
    assert rc == 2 and "--out must name a folder" in err


def test_readme_results_table_is_the_committed_default_run():
    """README's table equals what report.py renders from the committed results.json."""
    from privlearn.audit.report import readme_table

    results = json.loads((ROOT / "docs/_static/audit-default-results.json").read_text())
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- results-table: start -->\n(.*?)\n<!-- results-table: end -->",
                      readme, re.S)
    assert block, "README lacks the generated results table"
    assert block.group(1).strip() == readme_table(results).strip()
    assert results["config"]["quick"] is False and results["config"]["epochs"] == 100
    # ... and that run is today's default configuration of today's version: a change of
    # a default or a release makes this fail until the default audit is rerun.
    from dataclasses import asdict

    from privlearn.audit.config import build_config

    # (n_jobs only decides how many processes train: it changes no number)
    expected = json.loads(json.dumps(asdict(build_config())))
    assert {k: v for k, v in results["config"].items() if k != "n_jobs"} == \
        {k: v for k, v in expected.items() if k != "n_jobs"}
    assert results["versions"]["privlearn"] == pl.__version__


def test_blind_baseline_and_record_risk_in_the_audit(audit_run):
    """The audit runs the blind baseline on each repeat's split (pixels only) and
    writes every record's score and rank, and a gallery per family."""
    import csv

    out, results = audit_run
    blind = results["blind_baseline"]
    assert set(blind) >= {"auc", "ci", "verdict", "leaks", "per_seed"}
    assert blind["ci"][0] <= blind["auc"] <= blind["ci"][1]
    assert blind["per_seed"][0]["n_members"] == blind["per_seed"][0]["n_non_members"] == 40
    saved = json.loads((out / "results.json").read_text())
    assert saved["blind_baseline"]["auc"] == blind["auc"]
    membership = [f for f in saved["findings"] if f["id"].startswith("membership/")]
    assert membership and all(f["confounded"] is blind["leaks"] for f in membership)
    assert all("confounded" not in f for f in saved["findings"]
               if not f["id"].startswith("membership/"))
    report = (out / "report.md").read_text()
    assert "## Blind baseline" in report and "## Most exposed records" in report
    rows = list(csv.DictReader((out / "record_risk.csv").open()))
    for family in results["utility"]:
        mine = [r for r in rows if r["family"] == family and r["measure"] == "membership score"]
        assert len(mine) == 80 and {r["attack"] for r in mine} == {
            results["strongest_attack"][family]}
        assert sorted(int(r["index"]) for r in mine) == list(range(80))
        scores = [float(r["score"]) for r in mine]
        assert scores == sorted(scores, reverse=True) and mine[0]["rank"] == "1"
        assert (out / f"gallery_{family}.png").stat().st_size > 1000
        assert f"(gallery_{family}.png)" in report
    # EncoderLiRA returns a per-record memorization score: its most memorized members
    memorized = [r for r in rows if r["measure"] == "memorization"]
    assert memorized and (out / "memorized_contrastive.png").exists()
    assert "Most memorized training images" in report


def test_a_leaking_split_marks_membership_findings_confounded(audit_run):
    """Members brighter than non-members: the blind baseline flags the split and every
    membership finding is marked confounded, in results and report."""
    import copy

    import numpy as np
    from sklearn.utils import Bunch

    from privlearn.audit.judge import CONFOUNDED_NOTE, judge_blind_baseline
    from privlearn.audit.report import render_report, summary_table

    _, results = audit_run
    results = copy.deepcopy(results)
    data = pl.datasets.load("digits")
    order = np.argsort(data.images.reshape(len(data.images), -1).mean(axis=1))
    parts = Bunch(target_train=Bunch(images=data.images[order[-150:]]),   # brightest
                  target_test=Bunch(images=data.images[order[:150]]))     # darkest
    blind = judge_blind_baseline([{"parts": parts}], AuditConfig(n_boot=200),
                                 results["findings"], [0])
    assert blind["leaks"] and blind["ci"][0] > 0.5 and blind["verdict"] == "holds"
    results["blind_baseline"] = blind
    for f in results["findings"]:
        if f["id"].startswith("membership/"):
            assert f["confounded"] and f["confounding"] == CONFOUNDED_NOTE
        else:
            assert "confounded" not in f
    report = render_report(results)
    assert report.count(f"**Confounded: {CONFOUNDED_NOTE}.**") == sum(
        f["id"].startswith("membership/") for f in results["findings"])
    assert "The interval lies above 0.5" in report
    assert "THE SPLIT LEAKS MEMBERSHIP" in summary_table(results)
