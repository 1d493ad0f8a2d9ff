"""The audit's judge: findings from per-record results built here (no training)."""

import numpy as np
import pytest

from privlearn.audit import AuditConfig
from privlearn.audit.judge import combine_seeds, judge_seed, strongest_attack
from privlearn.metrics import attack_report

N = 200  # evaluation records: 100 members first, then 100 non-members
M = np.repeat([1, 0], N // 2)
CFG = AuditConfig(n_boot=300)


def _attack(separation, rng, records=None):
    records = np.arange(N) if records is None else records
    membership = M[records]
    scores = membership * separation + rng.normal(0, 1, len(records))
    report = attack_report(membership, scores)
    report.update(n_members=int(membership.sum()),
                  n_non_members=int(len(membership) - membership.sum()))
    return {"scores": scores, "records": records, "membership": membership, "report": report}


def _attribute(truth, accuracy, rng):
    wrong = rng.random(len(truth)) >= accuracy
    predictions = np.where(wrong, 1 - truth, truth)
    counts = np.bincount(truth)
    return {"predictions": predictions, "truth": truth,
            "accuracy": float(np.mean(predictions == truth)),
            "majority_baseline": float(counts.max() / counts.sum())}


def make_raw(*, separation, attribute_accuracy, test_accuracy, seed=0):
    """separation / attribute_accuracy / test_accuracy: family -> value (label-only on a
    balanced subsample of 40 records, as the audit does)."""
    rng = np.random.default_rng(seed)
    subsample = np.r_[np.arange(20), np.arange(100, 120)]
    truth = np.repeat([0, 1], 150)
    y_test = rng.integers(0, 2, 300)
    raw = {"membership": {}, "attribute": {}, "utility": {}, "eval_membership": M,
           "test_truth": y_test}
    for family, sep in separation.items():
        raw["membership"][family] = {
            "nn": _attack(sep, rng), "confidence": _attack(sep * 0.9, rng),
            "label_only": _attack(sep, rng, subsample)}
        raw["attribute"][family] = _attribute(truth, attribute_accuracy[family], rng)
        wrong = rng.random(300) >= test_accuracy[family]
        raw["utility"][family] = {"test_predictions": np.where(wrong, 1 - y_test, y_test)}
    return raw


def by_id(findings):
    return {f["id"]: f for f in findings}


PAPER = dict(separation={"supervised": 1.5, "contrastive": 0.2, "talos": 0.2},
             attribute_accuracy={"supervised": 0.6, "contrastive": 0.98, "talos": 0.55},
             test_accuracy={"supervised": 0.95, "contrastive": 0.9, "talos": 0.9})


def test_paper_like_results_hold_with_effects_oriented_to_the_claim():
    findings = by_id(judge_seed(make_raw(**PAPER), CFG, 0))
    for attack in ("nn", "confidence", "label_only"):
        f = findings[f"membership/{attack}"]
        assert f["effect"] > 0 and f["ci"][0] > 0 and f["verdict"] == "holds"
        assert f["numbers"]["supervised_roc_auc"] > f["numbers"]["contrastive_roc_auc"]
        assert "tpr_at_1%_fpr" in f["components"]
    strongest = findings["membership/strongest"]
    assert strongest["verdict"] == "holds"
    assert strongest["numbers"]["attacks_where_it_does_not_hold"] == []
    assert findings["attribute"]["verdict"] == "holds"
    assert findings["attribute"]["effect"] == pytest.approx(
        findings["attribute"]["numbers"]["contrastive_accuracy"]
        - findings["attribute"]["numbers"]["supervised_accuracy"])
    talos = findings["talos"]
    n = talos["numbers"]
    assert n["majority_baseline"] == 0.5
    assert talos["effect"] == pytest.approx(
        (n["contrastive_attribute_accuracy"] - n["talos_attribute_accuracy"])
        / (n["contrastive_attribute_accuracy"] - 0.5))
    assert talos["effect"] > 0.8 and talos["verdict"] == "holds"


def test_identical_models_are_never_called_holds():
    raw = make_raw(**PAPER)
    for part in ("membership", "attribute", "utility"):
        raw[part]["contrastive"] = raw[part]["supervised"]
    for f in judge_seed(raw, CFG, 0):
        if f["kind"] == "difference":
            assert f["effect"] == 0 and f["ci"] == [0.0, 0.0]
            assert f["verdict"] == "inconclusive", f["id"]


def test_noise_alone_rarely_holds_and_a_crossing_interval_never_does():
    same = dict(separation={"supervised": 0.5, "contrastive": 0.5, "talos": 0.5},
                attribute_accuracy={"supervised": 0.9, "contrastive": 0.9, "talos": 0.9},
                test_accuracy={"supervised": 0.9, "contrastive": 0.9, "talos": 0.9})
    verdicts = []
    for seed in range(4):
        for f in judge_seed(make_raw(**same, seed=seed), CFG, seed):
            low, high = f["ci"]
            if low <= 0 <= high:
                assert f["verdict"] != "holds"
            verdicts.append(f["verdict"])
    # two-sided 95% intervals: about 2.5% false "holds" per finding
    assert verdicts.count("holds") <= 3


def test_the_attack_where_finding_1_fails_is_named():
    raw = make_raw(**PAPER)
    # the contrastive model leaks more under the confidence attack
    raw["membership"]["contrastive"]["confidence"] = _attack(3.0, np.random.default_rng(5))
    findings = by_id(judge_seed(raw, CFG, 0))
    assert findings["membership/confidence"]["verdict"] == "does not hold"
    assert findings["membership/confidence"]["effect"] < 0
    strongest = findings["membership/strongest"]
    assert strongest["numbers"]["strongest_attack_contrastive"] == "confidence"
    assert "confidence" in strongest["numbers"]["attacks_where_it_does_not_hold"]
    assert strongest["verdict"] == "does not hold"


def test_strongest_attack_ignores_subsampled_attacks():
    raw = make_raw(**PAPER)
    raw["membership"]["supervised"]["label_only"]["report"]["roc_auc"] = 1.0
    assert strongest_attack(raw["membership"]["supervised"]) in ("nn", "confidence")


def test_talos_that_removes_little_leakage_does_not_hold():
    weak = dict(PAPER, attribute_accuracy={**PAPER["attribute_accuracy"], "talos": 0.96})
    talos = by_id(judge_seed(make_raw(**weak), CFG, 0))["talos"]
    assert talos["effect"] < 0.3 and talos["ci"][1] < 0.5
    assert talos["verdict"] == "does not hold"


def test_talos_with_a_large_utility_cost_does_not_hold():
    costly = dict(PAPER, test_accuracy={**PAPER["test_accuracy"], "talos": 0.6})
    talos = by_id(judge_seed(make_raw(**costly), CFG, 0))["talos"]
    assert talos["components"]["utility_cost"]["ci"][0] > 0.05
    assert talos["verdict"] == "does not hold"


def test_talos_thresholds_are_parameters():
    raw = make_raw(**PAPER)
    strict = AuditConfig(n_boot=300, min_fraction_removed=1.0)
    assert by_id(judge_seed(raw, strict, 0))["talos"]["verdict"] != "holds"
    lenient_cost = dict(PAPER, test_accuracy={**PAPER["test_accuracy"], "talos": 0.6})
    lenient = AuditConfig(n_boot=300, max_utility_cost=0.6)
    assert by_id(judge_seed(make_raw(**lenient_cost), lenient, 0))["talos"]["verdict"] == "holds"


def test_seeds_combine_by_a_t_interval_over_per_seed_effects():
    per_seed = [judge_seed(make_raw(**PAPER, seed=s), CFG, s) for s in range(3)]
    combined = by_id(combine_seeds(per_seed, CFG))
    f = combined["membership/nn"]
    effects = [by_id(p)["membership/nn"]["effect"] for p in per_seed]
    assert f["per_seed"] == effects and f["effect"] == pytest.approx(np.mean(effects))
    assert f["ci"][0] < f["effect"] < f["ci"][1]
    assert "t-interval over 3 seeds" in f["interval"]
    assert f["verdict"] == ("holds" if f["ci"][0] > 0 else "inconclusive")
    assert "per_seed" in combined["talos"]["components"]["utility_cost"]
