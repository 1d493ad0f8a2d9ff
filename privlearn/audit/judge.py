"""Stage 4, judge: the paper's findings as classes, with effects, intervals and verdicts.

Each finding the audit writes is a dict::

    {"id", "finding", "kind", "claim", "short_claim", "effect", "ci": [low, high],
     "verdict", "numbers": {...}, "components": ...}

``effect`` is oriented so that a value above 0 supports the paper's claim.  A
difference's verdict is ``"holds"`` only when the interval excludes 0 in the
claimed direction (``"does not hold"`` when it excludes 0 in the other, else
``"inconclusive"``); Talos's finding uses its thresholds instead (below).

**Membership findings are judged at low FPR too.**  Beside ROC AUC (an average over
every threshold) each membership finding judges the TPR at 1% FPR and the TPR at
the lowest FPR its non-members resolve (``max(0.1%, 1/n_non_members)``), each a
component ``{"metric", "effect", "ci", "verdict"}`` of the list
``finding["components"]`` (the first is ``roc_auc``; the finding's ``effect``/``ci``
are ROC AUC's).  The finding **holds** only when the AUC component holds and no
low-FPR component does not hold; when AUC holds and a low-FPR component does not,
the verdict is ``"contradicted at low FPR"`` and ``finding["disagreement"]`` says so
in one sentence (Carlini et al., S&P 2022: the few records an attack exposes at low
FPR are what matters).

Intervals.  With one seed: a percentile bootstrap over the evaluation records
(``n_boot`` resamples, stratified by membership for membership attacks), **paired**:
the same resampled records score both models.  With ``repeats=R >= 2``: every
repeat re-draws the split, the models and the attacks, and the interval is a
Student-t interval over the R per-seed effects.  A one-seed interval resamples the
records only, while a rerun with other training seeds moves the effect further
(measured: ≈1.25× the bootstrap's standard error), so one-seed intervals and their
components are widened by ``seed_inflation`` (default
:data:`privlearn.audit.config.SEED_INFLATION`) around the effect before they are
judged; the bare bootstrap interval is kept as ``record_ci``.

**The blind baseline.**  Before any membership verdict, :func:`judge_blind_baseline`
asks whether the split itself leaks membership: model-free classifiers
(:func:`privlearn.blind.blind_baseline`, on raw pixels and image statistics; the
model is never queried) try to tell each repeat's target members from its
non-members.  When the interval of their ROC AUC lies above 0.5 every membership
finding is marked ``"confounded": True`` with the note :data:`CONFOUNDED_NOTE`
(Das, Zhang & Tramèr 2024, "Blind Baselines Beat Membership Inference Attacks
for Foundation Models"), and the report shows it beside the finding.

Adding a finding is one :class:`Finding` subclass and one entry in
:data:`privlearn.catalogue.FINDINGS` (its ``path``).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from .. import catalogue, stats

__all__ = ["Finding", "MembershipFinding", "StrongestMembershipFinding",
           "EncoderMembershipFinding", "AttributeFinding", "TalosFinding",
           "judge_seed", "combine_seeds", "widen_interval", "widen_for_training",
           "strongest_attack", "findings", "finding_class",
           "low_fpr", "membership_verdict", "CONTRADICTED", "CONFOUNDED_NOTE",
           "blind_baseline_of", "judge_blind_baseline", "mark_confounded", "render_finding"]

#: The verdict of a membership finding whose AUC holds while a low-FPR component
#: does not.
CONTRADICTED = "contradicted at low FPR"


def _title(attack):
    return catalogue.title("attacks", attack)


def _interval(samples, cfg):
    return stats.percentile_ci(samples, cfg.confidence)


def _cfg(cfg):
    """An AuditConfig, or a results.json ``config`` dict, as attributes."""
    return SimpleNamespace(**cfg) if isinstance(cfg, dict) else cfg


def _f(value, digits=3):
    return "–" if value is None or (isinstance(value, float) and np.isnan(value)) \
        else f"{value:.{digits}f}"


def _ci(ci, digits=3):
    return f"[{_f(ci[0], digits)}, {_f(ci[1], digits)}]"


def _level(cfg):
    return f"{cfg.confidence:.0%} interval"


def strongest_attack(by_attack, among=None):
    """The attack with the highest ROC AUC (ties: the first in registry order).

    Only attacks that scored every evaluation record compete: an attack run on a
    small subsample (label-only) has an AUC too noisy to rank; it keeps its own
    per-attack finding.  ``among``: restrict to these attack names.
    """
    if among is not None:
        by_attack = {a: r for a, r in by_attack.items() if a in among}
    if not by_attack:
        return None
    sizes = {a: len(r["records"]) for a, r in by_attack.items()}
    full = [a for a in by_attack if sizes[a] == max(sizes.values())]
    return max(full, key=lambda a: by_attack[a]["report"]["roc_auc"])


# --- low-FPR metrics ---------------------------------------------------------------

def low_fpr(n_non_members):
    """The lowest FPR ``n_non_members`` resolve: ``max(0.001, 1/n)``."""
    return max(0.001, 1.0 / max(int(n_non_members), 1))


def _fpr_name(fpr):
    return f"tpr@{100 * fpr:.3g}%fpr"


def _metric_function(metric):
    if metric == "roc_auc":
        return stats.weighted_roc_auc
    fpr = float(metric[len("tpr@"):-len("%fpr")]) / 100
    return lambda y, s, c: stats.weighted_tpr_at_fpr(y, s, c, fpr)


def _membership_metric(raw, family, attack, metric, counts):
    result = raw["membership"][family][attack]
    ids = result["records"]
    return _metric_function(metric)(result["membership"], result["scores"], counts[:, ids])


def _difference(raw, counts, high, low, attack_high, attack_low, metric, cfg):
    """metric(high family) − metric(low family), on all records and per resample."""
    ones = np.ones((1, counts.shape[1]))
    point = float(_membership_metric(raw, high, attack_high, metric, ones)[0]
                  - _membership_metric(raw, low, attack_low, metric, ones)[0])
    samples = (_membership_metric(raw, high, attack_high, metric, counts)
               - _membership_metric(raw, low, attack_low, metric, counts))
    ci = _interval(samples, cfg)
    return {"metric": metric, "effect": point, "ci": ci, "verdict": stats.verdict(ci)}


def _metrics(raw, attacks):
    """roc_auc, tpr@1%fpr and the lowest resolvable FPR of the scored records."""
    n = min(int((1 - raw["membership"][f][a]["membership"]).sum()) for f, a in attacks)
    names = ["roc_auc", "tpr@1%fpr"]
    lowest = _fpr_name(low_fpr(n))
    return names + ([lowest] if lowest not in names else []), n


def membership_verdict(components):
    """(verdict, disagreement sentence or None) of a membership finding from its
    components (the first is ROC AUC)."""
    auc, low = components[0], components[1:]
    against = [c for c in low if c["verdict"] == "does not hold"]
    supporting = [c for c in low if c["verdict"] == "holds"]
    if auc["verdict"] == "holds" and against:
        where = ", ".join(c["metric"] for c in against)
        return CONTRADICTED, (
            f"AUC supports the claim, but at low FPR ({where}) the attack exposes MORE "
            f"records of the contrastive model: the claim does not hold where it matters")
    if auc["verdict"] == "does not hold" and supporting:
        where = ", ".join(c["metric"] for c in supporting)
        return "does not hold", (
            f"AUC contradicts the claim, although at low FPR ({where}) the attack exposes "
            f"fewer records of the contrastive model")
    if auc["verdict"] == "inconclusive" and against:
        where = ", ".join(c["metric"] for c in against)
        return "inconclusive", (
            f"AUC is inconclusive and at low FPR ({where}) the attack exposes MORE records "
            f"of the contrastive model")
    return auc["verdict"], None


# --- the findings -------------------------------------------------------------------

class Finding:
    """One of the audit's findings: judges one repeat, combines repeats, renders itself.

    Subclasses set :attr:`name` (their catalogue name) and implement :meth:`judge`,
    :meth:`render` and :meth:`short_claim`; :meth:`combine` has a default
    (t-intervals over the per-seed effects and components).

    Examples
    --------
    >>> from privlearn.audit.judge import findings
    >>> [type(f).__name__ for f in findings()][:2]
    ['StrongestMembershipFinding', 'MembershipFinding']
    """

    name = None
    kind = "difference"

    def judge(self, raw, cfg, seed):
        """This finding's dicts (zero or more) on one repeat's raw results."""
        raise NotImplementedError

    def verdict(self, finding, cfg):
        """The verdict of a finding from its (combined) interval and components."""
        return stats.verdict(finding["ci"])

    def combine(self, per_seed, cfg):
        """One list of this finding's dicts from R repeats (``per_seed[r]``: the
        dicts ``judge`` returned for repeat r, the same ids in the same order)."""
        if len(per_seed) == 1:
            factor = cfg.seed_inflation
            for f in per_seed[0]:
                f["interval"] = (f"{cfg.confidence:.0%} paired bootstrap over records "
                                 f"({cfg.n_boot})")
                if factor != 1:
                    widen_for_training(f, factor)
                    f["interval"] += f", widened ×{factor:g} for training randomness"
                    f["verdict"] = self.verdict(f, cfg)
            return per_seed[0]
        combined = []
        for group in zip(*per_seed):
            first = group[0]
            effects = [g["effect"] for g in group]
            finding = dict(first, effect=float(np.mean(effects)),
                           ci=stats.t_interval(effects, cfg.confidence), per_seed=effects,
                           per_seed_ci=[g["ci"] for g in group],
                           seed_spread=seed_spread(effects, [g["ci"] for g in group],
                                                   cfg.confidence),
                           interval=f"{cfg.confidence:.0%} t-interval over {len(group)} seeds")
            components = first.get("components")
            if isinstance(components, list):
                finding["components"] = [
                    self._combine_component(c, [g["components"][i] for g in group], cfg)
                    for i, c in enumerate(components)]
            elif isinstance(components, dict):
                finding["components"] = {
                    name: self._combine_component(c, [g["components"][name] for g in group],
                                                  cfg)
                    for name, c in components.items()}
            finding["verdict"] = self.verdict(finding, cfg)
            combined.append(finding)
        return combined

    @staticmethod
    def _combine_component(first, group, cfg):
        values = [g["effect"] for g in group]
        ci = stats.t_interval(values, cfg.confidence)
        return dict(first, effect=float(np.mean(values)), ci=ci, verdict=stats.verdict(ci),
                    per_seed=values, per_seed_ci=[g.get("ci") for g in group])

    def render(self, finding, cfg):
        """The finding as one Markdown bullet of the report."""
        cfg = _cfg(cfg)
        return (f"- **{finding['verdict']}** — {finding['claim']}: effect "
                f"{finding['effect']:+.3f}, {_level(cfg)} {_ci(finding['ci'])}.")

    def short_claim(self, finding, cfg):
        """The claim in a few words (the README's verdict list)."""
        return finding["id"]


class MembershipFinding(Finding):
    """Finding 1, per attack: membership inference is weaker on the contrastive model
    (ROC AUC, TPR at 1% FPR and at the lowest resolvable FPR; supervised − contrastive)."""

    name = "membership"
    #: The compared families: effect = metric(high) − metric(low).
    families = ("supervised", "contrastive")

    def _applicable(self, raw):
        mia = raw["membership"]
        return all(f in mia for f in self.families) and mia[self.families[0]]

    def _counts(self, raw, seed, cfg):
        m_eval = raw["eval_membership"]
        return stats.bootstrap_counts(len(m_eval), cfg.n_boot, strata=m_eval,
                                      random_state=seed)

    def _compare(self, raw, counts, attack_high, attack_low, cfg):
        high, low = self.families
        metrics, n = _metrics(raw, [(high, attack_high), (low, attack_low)])
        components = [_difference(raw, counts, high, low, attack_high, attack_low, m, cfg)
                      for m in metrics]
        for c in components[1:]:
            fpr = float(c["metric"][len("tpr@"):-len("%fpr")]) / 100
            c["fpr"] = fpr
            c["non_members_at_fpr"] = fpr * n
        auc = components[0]
        verdict, disagreement = membership_verdict(components)
        return {"effect": auc["effect"], "ci": auc["ci"], "verdict": verdict,
                "auc_verdict": auc["verdict"], "disagreement": disagreement,
                "components": components, "n_non_members": n}

    def judge(self, raw, cfg, seed):
        if not self._applicable(raw):
            return []
        mia = raw["membership"]
        counts = self._counts(raw, seed, cfg)
        out = []
        for attack in mia["supervised"]:
            if attack not in mia["contrastive"]:
                continue
            s_rep = mia["supervised"][attack]["report"]
            c_rep = mia["contrastive"][attack]["report"]
            out.append({
                "id": f"membership/{attack}", "finding": self.name, "kind": "difference",
                "attack": attack,
                "claim": f"Membership inference ({_title(attack)} attack) is weaker on the "
                         f"contrastive model than on the supervised one (ROC AUC, supervised − "
                         f"contrastive)",
                **self._compare(raw, counts, attack, attack, cfg),
                "numbers": {"supervised_roc_auc": s_rep["roc_auc"],
                            "contrastive_roc_auc": c_rep["roc_auc"],
                            "supervised_tpr_at_1%_fpr": s_rep["tpr_at_1%_fpr"],
                            "contrastive_tpr_at_1%_fpr": c_rep["tpr_at_1%_fpr"],
                            "n_members": s_rep["n_members"],
                            "n_non_members": s_rep["n_non_members"]}})
        return out

    def verdict(self, finding, cfg):
        verdict, disagreement = membership_verdict(finding["components"])
        finding["auc_verdict"] = finding["components"][0]["verdict"]
        finding["disagreement"] = disagreement
        return verdict

    @staticmethod
    def _components_text(finding):
        parts = []
        for c in finding.get("components", [])[1:]:
            parts.append(f"{c['metric'].replace('tpr@', 'TPR at ').replace('%fpr', '% FPR')} "
                         f"{c['effect']:+.3f} {_ci(c['ci'])} ({c['verdict']})")
        return "; ".join(parts)

    def _line(self, finding, cfg, detail):
        cfg = _cfg(cfg)
        text = (f"- **{finding['verdict']}** — {finding['claim']}: effect "
                f"{finding['effect']:+.3f}, {_level(cfg)} {_ci(finding['ci'])}"
                f" (AUC: {finding.get('auc_verdict', finding['verdict'])}){detail}")
        low = self._components_text(finding)
        if low:
            text += f"; low FPR, supervised − contrastive: {low}"
        if finding.get("disagreement"):
            text += f". **{finding['disagreement']}**"
        return text + "."

    def render(self, finding, cfg):
        n = finding.get("numbers", {})
        return self._line(finding, cfg, f", AUC {_f(n.get('supervised_roc_auc'))} supervised "
                                        f"vs {_f(n.get('contrastive_roc_auc'))} contrastive")

    def short_claim(self, finding, cfg):
        attack = finding["id"].split("/", 1)[1]
        return f"membership weaker on contrastive, {_title(attack)} (AUC, sup. − con.)"


class StrongestMembershipFinding(MembershipFinding):
    """Finding 1, overall: each family attacked by its strongest attack (highest AUC
    among the attacks that scored every evaluation record)."""

    name = "membership_strongest"
    #: Restrict the competing attacks (None: all); see :class:`EncoderMembershipFinding`.
    needs = None
    id = "membership/strongest"
    claim = ("Membership inference is weaker on the contrastive model than on the "
             "supervised one, each attacked by its strongest attack (ROC AUC, "
             "supervised − contrastive)")

    def _among(self, raw):
        if self.needs is None:
            return None
        return [a for a in raw["membership"]["supervised"]
                if self.needs in catalogue.needs("attacks", a)]

    def judge(self, raw, cfg, seed):
        if not self._applicable(raw):
            return []
        mia = raw["membership"]
        among = self._among(raw)
        best_s = strongest_attack(mia["supervised"], among)
        best_c = strongest_attack(mia["contrastive"], among)
        if best_s is None or best_c is None:
            return []
        counts = self._counts(raw, seed, cfg)
        per_attack = MembershipFinding().judge(raw, cfg, seed)
        not_holding = [f["attack"] for f in per_attack if f["verdict"] != "holds"
                       and (among is None or f["attack"] in among)]
        return [{
            "id": self.id, "finding": self.name, "kind": "difference", "claim": self.claim,
            **self._compare(raw, counts, best_s, best_c, cfg),
            "numbers": {"strongest_attack_supervised": best_s,
                        "strongest_attack_contrastive": best_c,
                        "supervised_roc_auc": mia["supervised"][best_s]["report"]["roc_auc"],
                        "contrastive_roc_auc":
                            mia["contrastive"][best_c]["report"]["roc_auc"],
                        "attacks_where_it_does_not_hold": not_holding,
                        **({"competing_attacks": among} if among is not None else {})}}]

    def render(self, finding, cfg):
        n = finding["numbers"]
        failing = n.get("attacks_where_it_does_not_hold") or []
        detail = (f". Strongest attack: {_title(n['strongest_attack_supervised'])} on the "
                  f"supervised model (AUC {_f(n['supervised_roc_auc'])}), "
                  f"{_title(n['strongest_attack_contrastive'])} on the contrastive model "
                  f"(AUC {_f(n['contrastive_roc_auc'])})")
        if "competing_attacks" in n:
            detail += (f", among the encoder attacks "
                       f"{', '.join(_title(a) for a in n['competing_attacks'])}")
        detail += (". It does not hold (or is inconclusive) for: "
                   + ", ".join(_title(a) for a in failing) if failing
                   else ". It holds for every attack")
        return self._line(finding, cfg, detail)

    def short_claim(self, finding, cfg):
        return "membership weaker on contrastive, strongest attacks (AUC, sup. − con.)"


class EncoderMembershipFinding(StrongestMembershipFinding):
    """Encoder-level membership: the strongest of the attacks whose catalogue
    ``needs`` include ``"encoder"`` (EncoderMI today; any encoder attack added to the
    catalogue competes), supervised − contrastive."""

    name = "encoder_membership"
    needs = "encoder"
    id = "membership/encoder"
    claim = ("Membership inference against the encoder is weaker on the contrastive "
             "model than on the supervised one, each attacked by its strongest encoder "
             "attack (ROC AUC, supervised − contrastive)")

    def short_claim(self, finding, cfg):
        return "encoder membership weaker on contrastive, strongest encoder attack (AUC)"


def _baselines(attr, truth, counts):
    """Per resample: the majority baseline, the conditional baseline (if known) and
    the larger of the two (the baseline the findings use)."""
    shares = np.stack([counts @ (truth == v) for v in np.unique(truth)], axis=1)
    majority = shares.max(axis=1) / counts.sum(axis=1)
    guesses = attr.get("conditional_guesses")
    if guesses is None:
        return majority, None, majority
    conditional = stats.weighted_accuracy(np.asarray(guesses) == truth, counts)
    return majority, conditional, np.maximum(majority, conditional)


class AttributeFinding(Finding):
    """Finding 2: attribute inference is stronger on the contrastive model (attack
    accuracy, contrastive − supervised), with the majority and conditional baselines
    (an attacker who knows only the task label) and each family's excess leakage
    above the larger baseline."""

    name = "attribute"

    def judge(self, raw, cfg, seed):
        attr = raw["attribute"]
        if not ("contrastive" in attr and "supervised" in attr):
            return []
        truth, counts = _attribute_counts(raw, cfg, seed)
        result = stats.paired_bootstrap_diff(truth, attr["contrastive"]["predictions"],
                                             attr["supervised"]["predictions"], "accuracy",
                                             counts=counts, confidence=cfg.confidence)
        ones = np.ones((1, len(truth)))
        majority, conditional, baseline = (None if v is None else float(v[0]) for v in
                                           _baselines(attr["contrastive"], truth, ones))
        return [{"id": "attribute", "finding": self.name, "kind": "difference",
                 "claim": "Attribute inference is stronger on the contrastive model than on "
                          "the supervised one (attack accuracy, contrastive − supervised)",
                 "effect": result["effect"], "ci": result["ci"], "verdict": result["verdict"],
                 "numbers": {"contrastive_accuracy": result["a"],
                             "supervised_accuracy": result["b"],
                             "majority_baseline": majority,
                             "conditional_baseline": conditional,
                             "baseline": baseline,
                             "contrastive_excess_leakage": result["a"] - baseline,
                             "supervised_excess_leakage": result["b"] - baseline,
                             "n_victims": result["n"]}}]

    def render(self, finding, cfg):
        n = finding["numbers"]
        text = super().render(finding, cfg)[:-1]
        cond = n.get("conditional_baseline")
        text += (f" (accuracy {_f(n['contrastive_accuracy'])} contrastive vs "
                 f"{_f(n['supervised_accuracy'])} supervised; majority baseline "
                 f"{_f(n['majority_baseline'])}")
        if cond is not None:
            text += (f", conditional baseline (task label known) {_f(cond)}; excess leakage "
                     f"above the larger baseline {_f(n['contrastive_excess_leakage'])} "
                     f"contrastive vs {_f(n['supervised_excess_leakage'])} supervised")
        return text + ")."

    def short_claim(self, finding, cfg):
        return "attribute inference stronger on contrastive (accuracy, con. − sup.)"


def _attribute_counts(raw, cfg, seed):
    truth = raw["attribute"]["contrastive"]["truth"]
    return truth, stats.bootstrap_counts(len(truth), cfg.n_boot, random_state=seed + 1)


class TalosFinding(Finding):
    """Finding 3: Talos removes most of the attribute leakage above the baseline (the
    larger of the majority and the conditional baseline) at a small utility cost,
    without worsening membership privacy; thresholds ``min_fraction_removed`` and
    ``max_utility_cost``."""

    name = "talos"
    kind = "talos"

    def verdict(self, finding, cfg):
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

    def judge(self, raw, cfg, seed):
        attr, util = raw["attribute"], raw["utility"]
        if not ("contrastive" in attr and "talos" in attr):
            return []
        truth, counts = _attribute_counts(raw, cfg, seed)
        ones = np.ones((1, len(truth)))

        def leak(family, c):
            return stats.weighted_accuracy(attr[family]["predictions"] == truth, c)

        def fraction(c):
            return stats.fraction_of_excess_removed(
                leak("contrastive", c), leak("talos", c),
                _baselines(attr["contrastive"], truth, c)[2])

        point = float(fraction(ones)[0])
        ci = _interval(fraction(counts), cfg)
        y_test = raw["test_truth"]
        test_counts = stats.bootstrap_counts(len(y_test), cfg.n_boot, random_state=seed + 2)
        cost = stats.paired_bootstrap_diff(y_test, util["contrastive"]["test_predictions"],
                                           util["talos"]["test_predictions"], "accuracy",
                                           counts=test_counts, confidence=cfg.confidence)
        components = {"utility_cost": {"effect": cost["effect"], "ci": cost["ci"],
                                       "threshold": cfg.max_utility_cost}}
        majority, conditional, baseline = (None if v is None else float(v[0]) for v in
                                           _baselines(attr["contrastive"], truth, ones))
        numbers = {"contrastive_attribute_accuracy": float(leak("contrastive", ones)[0]),
                   "talos_attribute_accuracy": float(leak("talos", ones)[0]),
                   "majority_baseline": majority, "conditional_baseline": conditional,
                   "baseline": baseline,
                   "contrastive_test_accuracy": cost["a"], "talos_test_accuracy": cost["b"],
                   "adversary_weight": cfg.talos_weight,
                   "min_fraction_removed": cfg.min_fraction_removed,
                   "max_utility_cost": cfg.max_utility_cost}
        mia = raw["membership"]
        if mia.get("talos") and mia.get("contrastive"):
            m_eval = raw["eval_membership"]
            m_counts = stats.bootstrap_counts(len(m_eval), cfg.n_boot, strata=m_eval,
                                              random_state=seed)
            best_c = strongest_attack(mia["contrastive"])
            best_t = strongest_attack(mia["talos"])
            kept = _difference(raw, m_counts, "contrastive", "talos", best_c, best_t,
                               "roc_auc", cfg)
            components["membership_privacy_kept"] = kept
            numbers.update(strongest_attack_contrastive=best_c, strongest_attack_talos=best_t)
        which = "conditional" if conditional is not None and conditional > majority \
            else "majority"
        finding = {"id": "talos", "finding": self.name, "kind": "talos",
                   "claim": f"Talos (λ={cfg.talos_weight:g}) removes at least "
                            f"{cfg.min_fraction_removed:.0%} of the attribute leakage above "
                            f"the {which} baseline (fraction_of_excess_removed) at a "
                            f"test-accuracy cost of at most {cfg.max_utility_cost:.2f}, "
                            f"without raising the strongest membership attack's ROC AUC",
                   "effect": point, "ci": ci, "components": components, "numbers": numbers}
        finding["verdict"] = self.verdict(finding, cfg)
        return [finding]

    def render(self, finding, cfg):
        cfg = _cfg(cfg)
        n, cost = finding["numbers"], finding["components"]["utility_cost"]
        baselines = f"majority baseline {_f(n['majority_baseline'])}"
        if n.get("conditional_baseline") is not None:
            baselines += f", conditional baseline {_f(n['conditional_baseline'])}"
        text = (f"- **{finding['verdict']}** — {finding['claim']}. fraction_of_excess_removed "
                f"{finding['effect']:.3f}, {_level(cfg)} {_ci(finding['ci'])} (attribute "
                f"inference {_f(n['contrastive_attribute_accuracy'])} → "
                f"{_f(n['talos_attribute_accuracy'])}, {baselines}); utility cost "
                f"{cost['effect']:+.3f}, {_level(cfg)} {_ci(cost['ci'])} (test accuracy "
                f"{_f(n['contrastive_test_accuracy'])} → {_f(n['talos_test_accuracy'])})")
        kept = finding["components"].get("membership_privacy_kept")
        if kept:
            text += (f"; membership AUC contrastive − Talos {kept['effect']:+.3f}, "
                     f"{_level(cfg)} {_ci(kept['ci'])}")
        text += (f". Thresholds: fraction removed ≥ {cfg.min_fraction_removed:g}, utility "
                 f"cost ≤ {cfg.max_utility_cost:g} (`--min-fraction-removed`, "
                 f"`--max-utility-cost`)")
        return text + "."

    def short_claim(self, finding, cfg):
        cfg = _cfg(cfg)
        share = "half" if cfg.min_fraction_removed == 0.5 else f"{cfg.min_fraction_removed:.0%}"
        return (f"Talos removes ≥ {share} the excess attribute leakage at ≤ "
                f"{cfg.max_utility_cost:g} utility cost (fraction_of_excess_removed)")


# --- the registry ---------------------------------------------------------------------

def widen_interval(ci, effect, factor):
    """``ci`` widened by ``factor`` around ``effect`` (never narrower than ``ci``).

    Examples
    --------
    >>> from privlearn.audit.judge import widen_interval
    >>> widen_interval([0.02, 0.10], 0.06, 1.25)
    [0.01, 0.11]
    """
    low, high = (float(v) for v in ci)
    if not (np.isfinite(low) and np.isfinite(high) and np.isfinite(effect)):
        return [low, high]
    return [round(min(low, effect - factor * (effect - low)), 12),
            round(max(high, effect + factor * (high - effect)), 12)]


def widen_for_training(finding, factor):
    """Widen a one-seed finding's interval and its components' by ``factor`` (in
    place), keeping each bare bootstrap interval as ``record_ci`` and re-deriving
    each component's own verdict; the caller re-derives the finding's.

    Why: a one-seed interval resamples the evaluation records only, while a rerun
    with other training seeds also moves the effect; over a 3-seed audit that
    spread was ≈1.25× the bootstrap's standard error (:func:`seed_spread`).
    """
    finding["record_ci"] = list(finding["ci"])
    finding["ci"] = widen_interval(finding["ci"], finding["effect"], factor)
    components = finding.get("components")
    parts = components if isinstance(components, list) else \
        list(components.values()) if isinstance(components, dict) else []
    for c in parts:
        if c.get("ci") is None:
            continue
        c["record_ci"] = list(c["ci"])
        c["ci"] = widen_interval(c["ci"], c["effect"], factor)
        if "verdict" in c:
            c["verdict"] = stats.verdict(c["ci"])
    return finding


def seed_spread(effects, record_cis, confidence):
    """How the spread of a finding's effect over repeats compares with its
    record-level interval.

    Each repeat re-draws the split and every training seed, so the standard
    deviation of the per-seed effects (``seed_sd``) holds both the evaluation
    records' sampling and training randomness, while each repeat's paired
    bootstrap interval holds only the former: its standard error is read back
    from the interval's half-width (``record_se``, the mean over repeats, assuming
    a normal bootstrap distribution).  ``ratio = seed_sd / record_se`` near 1 says
    the record-level interval of a single run already covers what a rerun with
    other seeds does; well above 1 says it is too narrow.

    Examples
    --------
    >>> from privlearn.audit.judge import seed_spread
    >>> s = seed_spread([0.10, 0.14, 0.12], [[0.06, 0.14], [0.10, 0.18], [0.08, 0.16]], 0.95)
    >>> round(s["ratio"], 2)
    0.98
    """
    from scipy.stats import norm

    effects = np.asarray(effects, dtype=np.float64)
    halves = [(ci[1] - ci[0]) / 2.0 for ci in record_cis
              if ci is not None and np.all(np.isfinite(ci))]
    z = norm.ppf(0.5 + confidence / 2.0)
    sd = float(effects.std(ddof=1)) if len(effects) > 1 else float("nan")
    se = float(np.mean(halves) / z) if halves else float("nan")
    ratio = sd / se if se > 0 else float("nan")
    return {"seed_sd": sd, "record_se": se, "ratio": ratio, "n_seeds": len(effects)}


def findings():
    """One instance of each catalogued finding, in report order (read at call time,
    so a plug-in finding registered in :data:`privlearn.catalogue.FINDINGS` counts)."""
    return [catalogue.load(spec)() for spec in catalogue.FINDINGS.values()]


_BY_ID = {"membership/strongest": "membership_strongest",
          "membership/encoder": "encoder_membership", "attribute": "attribute",
          "talos": "talos"}


def finding_class(finding):
    """The :class:`Finding` that renders a finding dict (by its ``"finding"`` name;
    results.json files written before findings were classes: by its id)."""
    name = finding.get("finding")
    if name is None:
        name = _BY_ID.get(finding["id"], "membership" if finding["id"].startswith(
            "membership/") else None)
    spec = catalogue.FINDINGS.get(name)
    return Finding() if spec is None else catalogue.load(spec)()


def judge_seed(raw, cfg, seed):
    """Every finding on one repeat's results (each dict carries its ``short_claim``)."""
    out = []
    for finding in findings():
        for f in finding.judge(raw, cfg, seed):
            f["short_claim"] = finding.short_claim(f, cfg)
            out.append(f)
    return out


def combine_seeds(per_seed, cfg):
    """One list of findings from R repeats: each finding class combines its own."""
    combined = []
    for finding in findings():
        group = [[f for f in seed_findings if f.get("finding") == finding.name]
                 for seed_findings in per_seed]
        if group and group[0]:
            combined += finding.combine(group, cfg)
    return combined


# --- the blind baseline ----------------------------------------------------------------

#: The note a membership finding carries when the blind baseline beats chance.
CONFOUNDED_NOTE = ("the split itself leaks membership; attack results are confounded "
                   "(Das, Zhang & Tramèr 2024)")


def blind_baseline_of(raw, cfg, seed):
    """The blind baseline of one repeat: model-free classifiers of the target's
    members (``parts.target_train``) against its non-members (``parts.target_test``),
    on raw pixels and image statistics only (the model is never queried).  The
    result of :func:`privlearn.blind.blind_baseline` without its per-record scores."""
    from ..blind import blind_baseline

    cfg = _cfg(cfg)
    parts = raw["parts"]
    members, non_members = parts.target_train.images, parts.target_test.images
    images = np.concatenate([np.asarray(members), np.asarray(non_members)])
    membership = np.r_[np.ones(len(members), int), np.zeros(len(non_members), int)]
    result = blind_baseline(images, membership, n_boot=cfg.n_boot,
                            confidence=cfg.confidence, random_state=seed)
    result.pop("scores")
    return dict(result, seed=int(seed))


def _is_membership(finding):
    name = finding.get("finding")
    spec = catalogue.FINDINGS.get(name) if name else None
    if spec is not None:
        return spec.kind == "membership"
    return str(finding.get("id", "")).startswith("membership/")


def mark_confounded(findings, blind):
    """Mark every membership finding of ``findings`` (in place) as confounded or
    not by the blind baseline ``blind`` (a dict with ``"leaks"``); returns the
    number marked confounded."""
    leaks = bool(blind["leaks"])
    n = 0
    for finding in findings:
        if not _is_membership(finding):
            continue
        finding["confounded"] = leaks
        if leaks:
            finding["confounding"] = CONFOUNDED_NOTE
            n += 1
        else:
            finding.pop("confounding", None)
    return n


def judge_blind_baseline(raws, cfg, findings, seed_list):
    """The blind baseline over the repeats, marking ``findings`` (in place).

    One repeat: its AUC and bootstrap interval.  R >= 2 repeats: the mean AUC and
    a t-interval over the R per-seed AUCs.  The split *leaks* when that interval
    lies above 0.5 or any repeat's own interval does (each repeat's attacks ran on
    its own split).  Returns ``{"auc", "ci", "verdict", "leaks", "interval",
    "features", "per_seed": [...]}`` for results.json.
    """
    cfg = _cfg(cfg)
    per_seed = [blind_baseline_of(raw, cfg, s) for raw, s in zip(raws, seed_list)]
    if len(per_seed) == 1:
        first = per_seed[0]
        auc, ci = first["auc"], list(first["ci"])
        interval = f"{cfg.confidence:.0%} bootstrap over records ({cfg.n_boot})"
    else:
        aucs = [p["auc"] for p in per_seed]
        auc, ci = float(np.mean(aucs)), [float(v) for v in
                                          stats.t_interval(aucs, cfg.confidence)]
        interval = f"{cfg.confidence:.0%} t-interval over {len(per_seed)} seeds"
    leaks = bool(ci[0] > 0.5 or any(p["leaks"] for p in per_seed))
    result = {"auc": auc, "ci": ci, "verdict": "holds" if leaks else
              stats.verdict(ci, threshold=0.5), "leaks": leaks, "interval": interval,
              "features": per_seed[0]["features"], "per_seed": per_seed}
    result["n_confounded"] = mark_confounded(findings, result)
    return result


def render_finding(finding, cfg):
    """A finding's report bullet (its class's :meth:`Finding.render`), with the
    confounding note when the blind baseline beat chance."""
    text = finding_class(finding).render(finding, cfg)
    if finding.get("confounded"):
        text += f" **Confounded: {finding.get('confounding', CONFOUNDED_NOTE)}.**"
    return text


#: Backward compatibility: the finding classes, in report order.
FINDINGS = tuple(catalogue.FINDINGS)
