"""Stage 4, judge: the paper's findings as data, with effect sizes, intervals and verdicts.

Each finding is a dict::

    {"id", "claim", "effect", "ci": [low, high], "verdict", "numbers": {...}}

``effect`` is oriented so that a value above 0 supports the paper's claim, and
``verdict`` is ``"holds"`` only when the interval excludes 0 in the claimed
direction (``"does not hold"`` when it excludes 0 in the other, else
``"inconclusive"``); Talos's finding uses its documented thresholds instead (below).

Intervals.  With one seed: a percentile bootstrap over the evaluation records
(``n_boot`` resamples, stratified by membership for membership attacks), **paired**:
the same resampled records score both models.  With ``repeats=R >= 2``: every
repeat re-draws the split, the models and the attacks, and the interval is a
Student-t interval over the R per-seed effects (it holds both the record and the
training noise; with few repeats it is wide, honestly).

Adding a finding is one function in :data:`FINDINGS`.
"""

from __future__ import annotations

import numpy as np

from .. import stats
from .attack import MEMBERSHIP_REGISTRY

__all__ = ["judge_seed", "combine_seeds", "strongest_attack", "FINDINGS"]


def _title(attack):
    return MEMBERSHIP_REGISTRY[attack].title if attack in MEMBERSHIP_REGISTRY else attack


def _interval(samples, cfg):
    return stats.percentile_ci(samples, cfg.confidence)


def strongest_attack(by_attack):
    """The attack with the highest ROC AUC (ties: the first in registry order).

    Only attacks that scored every evaluation record compete: an attack run on a
    small subsample (label-only) has an AUC too noisy to rank; it keeps its own
    per-attack finding.
    """
    if not by_attack:
        return None
    sizes = {a: len(r["records"]) for a, r in by_attack.items()}
    full = [a for a in by_attack if sizes[a] == max(sizes.values())]
    return max(full, key=lambda a: by_attack[a]["report"]["roc_auc"])


def _membership_metric(raw, family, attack, metric, counts):
    result = raw["membership"][family][attack]
    ids = result["records"]
    function = {"roc_auc": stats.weighted_roc_auc,
                "tpr_at_1%_fpr": lambda y, s, c: stats.weighted_tpr_at_fpr(y, s, c, 0.01),
                "tpr_at_0.1%_fpr": lambda y, s, c: stats.weighted_tpr_at_fpr(y, s, c, 0.001)
                }[metric]
    return function(result["membership"], result["scores"], counts[:, ids])


def _difference(raw, counts, high, low, attack_high, attack_low, metric, cfg):
    """metric(high family) − metric(low family), on all records and per resample."""
    ones = np.ones((1, counts.shape[1]))
    point = float(_membership_metric(raw, high, attack_high, metric, ones)[0]
                  - _membership_metric(raw, low, attack_low, metric, ones)[0])
    samples = (_membership_metric(raw, high, attack_high, metric, counts)
               - _membership_metric(raw, low, attack_low, metric, counts))
    ci = _interval(samples, cfg)
    return {"effect": point, "ci": ci, "verdict": stats.verdict(ci)}


def _finding_membership(raw, cfg, seed):
    """Finding 1: membership inference is weaker on the contrastive model, per attack."""
    mia = raw["membership"]
    if not ("contrastive" in mia and "supervised" in mia) or not mia["supervised"]:
        return []
    m_eval = raw["eval_membership"]
    counts = stats.bootstrap_counts(len(m_eval), cfg.n_boot, strata=m_eval,
                                    random_state=seed)
    findings = []
    for attack in mia["supervised"]:
        auc = _difference(raw, counts, "supervised", "contrastive", attack, attack,
                          "roc_auc", cfg)
        tpr = _difference(raw, counts, "supervised", "contrastive", attack, attack,
                          "tpr_at_1%_fpr", cfg)
        s_rep, c_rep = mia["supervised"][attack]["report"], mia["contrastive"][attack]["report"]
        findings.append({
            "id": f"membership/{attack}", "kind": "difference",
            "claim": f"Membership inference ({_title(attack)} attack) is weaker on the "
                     f"contrastive model than on the supervised one (ROC AUC, supervised − "
                     f"contrastive)",
            **auc,
            "components": {"tpr_at_1%_fpr": tpr},
            "numbers": {"supervised_roc_auc": s_rep["roc_auc"],
                        "contrastive_roc_auc": c_rep["roc_auc"],
                        "supervised_tpr_at_1%_fpr": s_rep["tpr_at_1%_fpr"],
                        "contrastive_tpr_at_1%_fpr": c_rep["tpr_at_1%_fpr"],
                        "n_members": s_rep["n_members"],
                        "n_non_members": s_rep["n_non_members"]}})
    best_s, best_c = strongest_attack(mia["supervised"]), strongest_attack(mia["contrastive"])
    auc = _difference(raw, counts, "supervised", "contrastive", best_s, best_c,
                      "roc_auc", cfg)
    tpr = _difference(raw, counts, "supervised", "contrastive", best_s, best_c,
                      "tpr_at_1%_fpr", cfg)
    not_holding = [f["id"].split("/", 1)[1] for f in findings if f["verdict"] != "holds"]
    findings.insert(0, {
        "id": "membership/strongest", "kind": "difference",
        "claim": "Membership inference is weaker on the contrastive model than on the "
                 "supervised one, each attacked by its strongest attack (ROC AUC, "
                 "supervised − contrastive)",
        **auc, "components": {"tpr_at_1%_fpr": tpr},
        "numbers": {"strongest_attack_supervised": best_s,
                    "strongest_attack_contrastive": best_c,
                    "supervised_roc_auc": mia["supervised"][best_s]["report"]["roc_auc"],
                    "contrastive_roc_auc": mia["contrastive"][best_c]["report"]["roc_auc"],
                    "attacks_where_it_does_not_hold": not_holding}})
    return findings


def _attribute_counts(raw, cfg, seed):
    truth = raw["attribute"]["contrastive"]["truth"]
    return truth, stats.bootstrap_counts(len(truth), cfg.n_boot, random_state=seed + 1)


def _finding_attribute(raw, cfg, seed):
    """Finding 2: attribute inference is stronger on the contrastive model."""
    attr = raw["attribute"]
    if not ("contrastive" in attr and "supervised" in attr):
        return []
    truth, counts = _attribute_counts(raw, cfg, seed)
    result = stats.paired_bootstrap_diff(truth, attr["contrastive"]["predictions"],
                                         attr["supervised"]["predictions"], "accuracy",
                                         counts=counts, confidence=cfg.confidence)
    return [{"id": "attribute", "kind": "difference",
             "claim": "Attribute inference is stronger on the contrastive model than on the "
                      "supervised one (attack accuracy, contrastive − supervised)",
             "effect": result["effect"], "ci": result["ci"], "verdict": result["verdict"],
             "numbers": {"contrastive_accuracy": result["a"],
                         "supervised_accuracy": result["b"],
                         "majority_baseline": attr["contrastive"]["majority_baseline"],
                         "n_victims": result["n"]}}]


def _talos_verdict(finding, cfg):
    fraction, cost = finding["ci"], finding["components"]["utility_cost"]["ci"]
    membership = finding["components"].get("membership_privacy_kept", {}).get("verdict")
    if not all(np.isfinite(fraction)) or not all(np.isfinite(cost)):
        return "inconclusive"
    if fraction[0] >= cfg.min_fraction_removed and cost[1] <= cfg.max_utility_cost \
            and membership != "does not hold":
        return "holds"
    if fraction[1] < cfg.min_fraction_removed or cost[0] > cfg.max_utility_cost \
            or membership == "does not hold":
        return "does not hold"
    return "inconclusive"


def _finding_talos(raw, cfg, seed):
    """Finding 3: Talos removes most of the attribute leakage above the majority
    baseline at a small utility cost, without worsening membership privacy."""
    attr, util = raw["attribute"], raw["utility"]
    if not ("contrastive" in attr and "talos" in attr):
        return []
    truth, counts = _attribute_counts(raw, cfg, seed)
    ones = np.ones((1, len(truth)))

    def leak(family, c):
        return stats.weighted_accuracy(attr[family]["predictions"] == truth, c)

    def baseline(c):
        shares = np.stack([c @ (truth == v) for v in np.unique(truth)], axis=1)
        return shares.max(axis=1) / c.sum(axis=1)

    def fraction(c):
        return stats.fraction_of_excess_removed(leak("contrastive", c), leak("talos", c),
                                                baseline(c))

    point = float(fraction(ones)[0])
    ci = _interval(fraction(counts), cfg)
    y_test = raw["test_truth"]
    test_counts = stats.bootstrap_counts(len(y_test), cfg.n_boot, random_state=seed + 2)
    cost = stats.paired_bootstrap_diff(y_test, util["contrastive"]["test_predictions"],
                                       util["talos"]["test_predictions"], "accuracy",
                                       counts=test_counts, confidence=cfg.confidence)
    components = {"utility_cost": {"effect": cost["effect"], "ci": cost["ci"],
                                   "threshold": cfg.max_utility_cost}}
    numbers = {"contrastive_attribute_accuracy": float(leak("contrastive", ones)[0]),
               "talos_attribute_accuracy": float(leak("talos", ones)[0]),
               "majority_baseline": float(baseline(ones)[0]),
               "contrastive_test_accuracy": cost["a"], "talos_test_accuracy": cost["b"],
               "adversary_weight": cfg.talos_weight,
               "min_fraction_removed": cfg.min_fraction_removed,
               "max_utility_cost": cfg.max_utility_cost}
    mia = raw["membership"]
    if mia.get("talos") and mia.get("contrastive"):
        m_eval = raw["eval_membership"]
        m_counts = stats.bootstrap_counts(len(m_eval), cfg.n_boot, strata=m_eval,
                                          random_state=seed)
        best_c, best_t = strongest_attack(mia["contrastive"]), strongest_attack(mia["talos"])
        kept = _difference(raw, m_counts, "contrastive", "talos", best_c, best_t,
                           "roc_auc", cfg)
        components["membership_privacy_kept"] = kept
        numbers.update(strongest_attack_contrastive=best_c, strongest_attack_talos=best_t)
    finding = {"id": "talos", "kind": "talos",
               "claim": f"Talos (λ={cfg.talos_weight:g}) removes at least "
                        f"{cfg.min_fraction_removed:.0%} of the attribute leakage above the "
                        f"majority baseline (fraction_of_excess_removed) at a test-accuracy "
                        f"cost of at most {cfg.max_utility_cost:.2f}, without raising the "
                        f"strongest membership attack's ROC AUC",
               "effect": point, "ci": ci, "components": components, "numbers": numbers}
    finding["verdict"] = _talos_verdict(finding, cfg)
    return [finding]


#: The findings, in report order.
FINDINGS = (_finding_membership, _finding_attribute, _finding_talos)


def judge_seed(raw, cfg, seed):
    """Every finding on one repeat's results."""
    return [f for finding in FINDINGS for f in finding(raw, cfg, seed)]


def combine_seeds(per_seed, cfg):
    """One list of findings from R repeats: t-intervals over the per-seed effects."""
    if len(per_seed) == 1:
        findings = per_seed[0]
        for f in findings:
            f["interval"] = f"{cfg.confidence:.0%} paired bootstrap over records ({cfg.n_boot})"
        return findings
    combined = []
    for group in zip(*per_seed):
        first = group[0]
        effects = [g["effect"] for g in group]
        finding = dict(first, effect=float(np.mean(effects)),
                       ci=stats.t_interval(effects, cfg.confidence), per_seed=effects,
                       interval=f"{cfg.confidence:.0%} t-interval over {len(group)} seeds")
        finding["components"] = {}
        for name, component in first.get("components", {}).items():
            values = [g["components"][name]["effect"] for g in group]
            ci = stats.t_interval(values, cfg.confidence)
            finding["components"][name] = dict(component, effect=float(np.mean(values)),
                                               ci=ci, verdict=stats.verdict(ci),
                                               per_seed=values)
        finding["verdict"] = (_talos_verdict(finding, cfg) if first["kind"] == "talos"
                              else stats.verdict(finding["ci"]))
        combined.append(finding)
    return combined
