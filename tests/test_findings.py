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
        assert [c["metric"] for c in f["components"]][:2] == ["roc_auc", "tpr@1%fpr"]
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


def test_seed_spread_compares_the_spread_over_seeds_with_the_record_level_interval():
    """Seeds that differ only in record noise (what the bootstrap measures) give a ratio
    near 1; seeds whose models differ too (here the supervised separation changes from
    seed to seed, as training randomness would) give a ratio well above 1."""
    from privlearn.audit.report import seed_spread_markdown

    def spread(shifts):
        per_seed = []
        for s, shift in enumerate(shifts):
            paper = dict(PAPER, separation=dict(PAPER["separation"],
                                                supervised=1.5 + shift))
            per_seed.append(judge_seed(make_raw(**paper, seed=s), CFG, s))
        return by_id(combine_seeds(per_seed, CFG))["membership/nn"]["seed_spread"]

    record_noise_only = spread([0.0] * 12)
    assert record_noise_only["n_seeds"] == 12
    assert 0.5 < record_noise_only["ratio"] < 1.6, record_noise_only
    training_noise = spread(np.random.default_rng(1).normal(0, 0.8, 12))
    assert training_noise["ratio"] > 2.0, training_noise
    results = {"findings": combine_seeds(
        [judge_seed(make_raw(**PAPER, seed=s), CFG, s) for s in range(2)], CFG)}
    text = "\n".join(seed_spread_markdown(results))
    assert "## Seed spread" in text and "membership weaker on contrastive" in text
    assert seed_spread_markdown({"findings": judge_seed(make_raw(**PAPER), CFG, 0)}) == []


# --- low-FPR verdicts (issue 23) ------------------------------------------------------

def _low_fpr_raw(seed=0, n=1000):
    """AUC favours the claim (supervised leaks more on average) while a quarter of the
    contrastive model's members are exposed with certainty (TPR at 1% FPR higher)."""
    rng = np.random.default_rng(seed)
    m = np.repeat([1, 0], n // 2)
    sup = m * 1.0 + rng.normal(0, 1, n)
    con = rng.normal(0, 1, n)
    exposed = np.flatnonzero(m == 1)[: n // 8]
    con[exposed] = 10.0
    raw = {"membership": {}, "attribute": {}, "utility": {}, "eval_membership": m,
           "test_truth": np.zeros(3, int)}
    for family, scores in (("supervised", sup), ("contrastive", con)):
        report = attack_report(m, scores)
        report.update(n_members=int(m.sum()), n_non_members=int(len(m) - m.sum()))
        raw["membership"][family] = {"nn": {"scores": scores, "records": np.arange(n),
                                            "membership": m, "report": report}}
    return raw


def test_auc_holding_but_low_fpr_contradicting_is_not_holds_and_says_so():
    from privlearn.audit.judge import CONTRADICTED

    findings = by_id(judge_seed(_low_fpr_raw(), CFG, 0))
    for fid in ("membership/nn", "membership/strongest"):
        f = findings[fid]
        auc, at_1, lowest = f["components"]
        assert auc["metric"] == "roc_auc" and auc["verdict"] == "holds"
        assert auc["effect"] == f["effect"] and auc["ci"] == f["ci"]
        assert at_1["metric"] == "tpr@1%fpr" and at_1["verdict"] == "does not hold"
        assert at_1["effect"] < 0 and at_1["ci"][1] < 0
        assert lowest["metric"] == "tpr@0.2%fpr"     # 1/500 non-members
        assert f["verdict"] == CONTRADICTED != "holds"
        assert "MORE records of the contrastive model" in f["disagreement"]
    # ... across seeds too
    per_seed = [judge_seed(_low_fpr_raw(s), CFG, s) for s in range(3)]
    combined = by_id(combine_seeds(per_seed, CFG))["membership/nn"]
    assert combined["verdict"] == CONTRADICTED and combined["disagreement"]
    assert combined["components"][1]["per_seed"]


def test_report_wording_follows_the_confidence_and_shows_the_disagreement():
    from dataclasses import asdict

    from privlearn.audit.report import findings_markdown, render_report

    cfg = AuditConfig(n_boot=300, confidence=0.9, min_fraction_removed=0.7,
                      max_utility_cost=0.1)
    results = {"config": asdict(cfg),
               "findings": combine_seeds([judge_seed(_low_fpr_raw(), cfg, 0)], cfg)}
    text = "\n".join(findings_markdown(results))
    assert "90% interval" in text and "95%" not in text
    assert "contradicted at low FPR" in text and "MORE records" in text
    talos = by_id(combine_seeds([judge_seed(make_raw(**PAPER), cfg, 0)], cfg))["talos"]
    line = "\n".join(findings_markdown({"config": asdict(cfg), "findings": [talos]}))
    assert "≥ 0.7" in line and "≤ 0.1" in line and "at least 70%" in line


def test_conditional_baseline_is_the_per_label_majority():
    from privlearn.audit.attack import conditional_baseline

    # attribute = label for 90% of the aux records: knowing the label gives it away
    aux_y = np.repeat([0, 1], 50)
    aux_s = aux_y.copy()
    aux_s[:5] = 1
    victims_y = np.array([0, 0, 1, 1, 1])
    victims_s = np.array([0, 1, 1, 1, 0])
    accuracy, guesses = conditional_baseline(aux_y, aux_s, victims_y, victims_s)
    assert guesses.tolist() == [0, 0, 1, 1, 1] and accuracy == pytest.approx(3 / 5)


def test_findings_use_the_larger_baseline():
    raw = make_raw(**PAPER)
    truth = raw["attribute"]["contrastive"]["truth"]
    guesses = truth.copy()
    guesses[:30] = 1 - guesses[:30]  # conditional baseline 0.9 > majority 0.5
    for family in raw["attribute"]:
        raw["attribute"][family]["conditional_guesses"] = guesses
    findings = by_id(judge_seed(raw, CFG, 0))
    n = findings["talos"]["numbers"]
    assert n["conditional_baseline"] == pytest.approx(0.9) and n["baseline"] == n[
        "conditional_baseline"]
    assert findings["talos"]["effect"] == pytest.approx(
        (n["contrastive_attribute_accuracy"] - n["talos_attribute_accuracy"])
        / (n["contrastive_attribute_accuracy"] - 0.9))
    assert "conditional baseline" in findings["talos"]["claim"]
    a = findings["attribute"]["numbers"]
    assert a["contrastive_excess_leakage"] == pytest.approx(a["contrastive_accuracy"] - 0.9)


def test_one_seed_intervals_are_widened_for_training_randomness():
    """With one repeat every interval (and every component's) is the bare bootstrap
    interval widened by ``seed_inflation`` around its effect; the bare one is kept as
    ``record_ci``; ``seed_inflation=1`` is the bare bootstrap; verdicts follow the
    widened intervals; with repeats >= 2 nothing is widened."""
    from privlearn.audit.judge import widen_interval

    raw = make_raw(**PAPER)
    bare = by_id(combine_seeds([judge_seed(raw, AuditConfig(n_boot=300, seed_inflation=1),
                                           0)], AuditConfig(n_boot=300, seed_inflation=1)))
    cfg = AuditConfig(n_boot=300, seed_inflation=2.0)
    wide = by_id(combine_seeds([judge_seed(raw, cfg, 0)], cfg))
    for fid, f in wide.items():
        b = bare[fid]
        assert "record_ci" not in b and f["record_ci"] == b["ci"]
        assert f["ci"] == widen_interval(b["ci"], b["effect"], 2.0)
        lo, hi = b["ci"]
        assert f["ci"][0] <= lo and f["ci"][1] >= hi
        if lo < b["effect"] < hi:
            assert f["ci"][1] - f["ci"][0] == pytest.approx(2 * (hi - lo))
        assert "widened ×2" in f["interval"] and "widened" not in b["interval"]
    nn_w, nn_b = wide["membership/nn"], bare["membership/nn"]
    for cw, cb in zip(nn_w["components"], nn_b["components"]):
        assert cw["record_ci"] == cb["ci"]
        assert cw["verdict"] == ("holds" if cw["ci"][0] > 0 else "does not hold"
                                 if cw["ci"][1] < 0 else "inconclusive")
    # a verdict that the bare interval carries and the widened one does not
    edge = dict(PAPER, separation={"supervised": 0.75, "contrastive": 0.45, "talos": 0.2})
    found = False
    for s in range(12):
        r = make_raw(**edge, seed=s)
        plain = AuditConfig(n_boot=300, seed_inflation=1)
        one = by_id(combine_seeds([judge_seed(r, plain, s)], plain))["membership/nn"]
        big = AuditConfig(n_boot=300, seed_inflation=3.0)
        three = by_id(combine_seeds([judge_seed(r, big, s)], big))["membership/nn"]
        if one["ci"][0] > 0 and three["ci"][0] <= 0:
            assert one["components"][0]["verdict"] == "holds"
            assert three["verdict"] == "inconclusive"
            found = True
            break
    assert found
    per_seed = [judge_seed(make_raw(**PAPER, seed=s), cfg, s) for s in range(2)]
    assert all("record_ci" not in f for f in combine_seeds(per_seed, cfg))


def test_seed_inflation_is_validated_and_a_flag():
    from privlearn.audit.config import check_config
    from privlearn.cli import build_parser

    for bad in (0.5, float("nan"), "2", True, 11):
        with pytest.raises(ValueError, match="seed_inflation"):
            check_config(AuditConfig(seed_inflation=bad))
    args = build_parser().parse_args(["audit", "--seed-inflation", "1"])
    assert args.seed_inflation == 1.0
