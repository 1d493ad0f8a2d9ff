"""Writing the audit's results: Markdown tables, JSON, ROC curves and plots.

Everything here renders a ``results`` dictionary (as returned by
:func:`privlearn.audit.run_audit` and saved in ``results.json``); nothing trains.
:func:`readme_table` renders the README's results table from a committed
``results.json``, and a test checks that the README shows exactly that.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = ["write_report", "summary_table", "markdown_table", "findings_markdown",
           "readme_table", "render_report", "low_fpr_attacks", "blind_baseline_markdown",
           "exposure_markdown", "write_exposure"]

from .. import catalogue

# Titles come from the catalogue (:mod:`privlearn.catalogue`), findings render
# themselves (:mod:`privlearn.audit.judge`); nothing here keeps a list of names.


def markdown_table(header, rows):
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |",
             "| " + " | ".join("---" if i == 0 else "---:" for i in range(len(header))) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _f(value, digits=3):
    return "–" if value is None or (isinstance(value, float) and np.isnan(value)) \
        else f"{value:.{digits}f}"


def _ci(ci, digits=3):
    return f"[{_f(ci[0], digits)}, {_f(ci[1], digits)}]"


def _family(name, results=None):
    if name == "contrastive":
        objective = (results or {}).get("config", {}).get("objective", "simclr")
        return f"Contrastive ({catalogue.title('objectives', objective)})"
    return catalogue.title("families", name)


def _attack(name):
    return catalogue.title("attacks", name)


def _config(results):
    from types import SimpleNamespace

    return SimpleNamespace(**results["config"])


def _membership_rows(results, metric):
    families = list(results["membership"])
    attacks = list(dict.fromkeys(a for f in families for a in results["membership"][f]))
    rows = []
    for family in families:
        row = [_family(family, results)]
        for attack in attacks:
            report = results["membership"][family].get(attack)
            row.append(_f(report[metric]) if report else "–")
        rows.append(row)
    return ["Model"] + [_attack(a) for a in attacks], rows


def summary_table(results):
    """A short plain-text summary for the terminal."""
    lines = []
    header = (f"{'model':<22}{'train acc':>10}{'test acc':>10}{'best MIA':>18}"
              f"{'AUC':>7}{'TPR@1%':>8}{'attr. inf.':>12}")
    lines.append(header)
    lines.append("-" * len(header))
    for family, util in results["utility"].items():
        mia = results["membership"].get(family, {})
        best = results.get("strongest_attack", {}).get(family)
        report = mia.get(best, {})
        attr = results["attribute"].get(family, {}).get("accuracy")
        lines.append(f"{_family(family, results):<22}{_f(util['train_accuracy']):>10}"
                     f"{_f(util['test_accuracy']):>10}{_attack(best) if best else '–':>18}"
                     f"{_f(report.get('roc_auc')):>7}{_f(report.get('tpr_at_1%_fpr')):>8}"
                     f"{_f(attr):>12}")
    lines.append("")
    blind = results.get("blind_baseline")
    if blind:
        lines.append(f"blind baseline (split alone, no model): AUC {_f(blind['auc'])} "
                     f"{_ci(blind['ci'])}" + (" -- THE SPLIT LEAKS MEMBERSHIP: membership "
                                              "findings are confounded" if blind["leaks"]
                                              else ""))
    for finding in results.get("findings", []):
        lines.append(f"{finding['verdict']:>14}: {finding['id']}  effect "
                     f"{finding['effect']:+.3f} {_ci(finding['ci'])}"
                     + ("  [confounded]" if finding.get("confounded") else ""))
    return "\n".join(lines)


def findings_markdown(results):
    """The findings section: each finding with its effect, interval and verdict."""
    findings = results.get("findings", [])
    if not findings:
        return ["No finding could be judged with the attacks and families run."]
    from .judge import CONTRADICTED, render_finding

    cfg = _config(results)
    interval = findings[0].get("interval", f"{cfg.confidence:.0%} interval")
    lines = [f"Effects are oriented so that a value above 0 supports the paper's claim. "
             f"Intervals: {interval}. A finding **holds** only when its interval excludes 0 "
             f"in the claimed direction, **does not hold** when it excludes 0 in the other "
             f"direction, and is **inconclusive** otherwise. A membership finding is judged "
             f"on ROC AUC and at low FPR (TPR at 1% FPR and at the lowest FPR the "
             f"non-members resolve), each with its own interval: it holds only when AUC "
             f"holds and no low-FPR component does not hold, and is **{CONTRADICTED}** "
             f"when AUC holds but a low-FPR component does not. Talos's finding holds only "
             f"when the interval of fraction_of_excess_removed is at or above "
             f"{cfg.min_fraction_removed:g} and the interval of its utility cost at or "
             f"below {cfg.max_utility_cost:g} (`--min-fraction-removed`, "
             f"`--max-utility-cost`).", ""]
    return lines + [render_finding(f, cfg) for f in findings]


def _plot_rocs(curves, out, results=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..metrics import plot_roc

    files = []
    for attack, by_family in curves.items():
        for log in (False, True):
            fig, ax = plt.subplots(figsize=(5, 5))
            plot_roc({_family(f, results): c for f, c in by_family.items()}, ax=ax, log=log)
            if log:  # the low-FPR region the findings judge
                ax.set_xlim(1e-3, 1)
            ax.set_title(f"{_attack(attack)} membership inference"
                         + (" (log scale)" if log else ""))
            ax.set_xlabel("false-positive rate (non-members called members)")
            ax.set_ylabel("true-positive rate (members called members)")
            ax.text(0.02, 0.98, "positive label = member", transform=ax.transAxes,
                    ha="left", va="top", fontsize=8, color="0.3")
            name = f"roc_{attack}{'_log' if log else ''}.png"
            fig.savefig(out / name, dpi=110, bbox_inches="tight")
            plt.close(fig)
            files.append(name)
    return files


def _plot_tradeoff(tradeoff, out):
    """Test accuracy against attribute inference, one labelled point per λ, with the
    majority baseline drawn and the x axis starting at or below it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    xs = np.array([p["attribute_inference"] for p in tradeoff])
    ys = np.array([p["test_accuracy"] for p in tradeoff])
    ax.plot(xs, ys, "-", color="0.6", zorder=1)
    ax.scatter(xs, ys, zorder=2)
    baseline = tradeoff[0].get("majority_baseline")
    if baseline is not None:
        ax.axvline(baseline, color="C3", ls="--", lw=1,
                   label=f"majority baseline {baseline:.3f}")
        ax.set_xlim(min(baseline, xs.min()) - 0.02, 1.0)
    ax.set_ylim(min(0.5, ys.min() - 0.02), 1.0)
    # Labels in a column to the right of the points' order, offset per point so that
    # nearby points never print on top of each other.
    order = np.argsort(ys)
    left = ax.get_xlim()[0]
    for rank, i in enumerate(order):
        p = tradeoff[i]
        # Points near the right edge get their labels on the left, inside the axes.
        right_side = xs[i] < left + 0.7 * (1.0 - left)
        ax.annotate(f"λ={p['adversary_weight']:g}", (xs[i], ys[i]),
                    xytext=(12 if right_side else -12, -24 + 14 * rank),
                    textcoords="offset points", fontsize=8,
                    ha="left" if right_side else "right",
                    arrowprops=dict(arrowstyle="-", color="0.7", lw=0.5))
    ax.set_xlabel("attribute inference accuracy (lower is more private)")
    ax.set_ylabel("task test accuracy")
    ax.set_title("Talos: privacy–utility trade-off")
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.savefig(out / "talos_tradeoff.png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "talos_tradeoff.png"


def _resolution(results):
    n = min((r.get("n_non_members", 0) for by in results["membership"].values()
             for a, r in by.items() if a != "label_only"), default=0)
    n_label = min((r.get("n_non_members", 0) for by in results["membership"].values()
                   for a, r in by.items() if a == "label_only"), default=None)
    text = (f"With n non-members a false-positive rate below 1/n cannot be resolved: here "
            f"n = {n} (resolution {1 / n:.4f})" if n else "")
    if n_label:
        text += f", and n = {n_label} for the label-only subsample"
    if n and n < 1000:
        text += ("; TPR at 0.1% FPR is therefore the TPR at zero false positives, "
                 "not a measurement at 0.1%")
    return text + "." if text else ""


def low_fpr_attacks(results):
    """The attacks whose low-FPR ROC region the report shows: every attack of a
    membership finding whose AUC and low-FPR verdicts disagree, and always the
    strongest attacks."""
    attacks = [a for a in results.get("strongest_attack", {}).values() if a]
    for f in results.get("findings", []):
        if f.get("disagreement"):
            n = f.get("numbers", {})
            attacks += [f["attack"]] if f.get("attack") else [
                n.get("strongest_attack_supervised"), n.get("strongest_attack_contrastive")]
    return [a for a in dict.fromkeys(attacks) if a]


def _low_fpr_section(results):
    findings = [f for f in results.get("findings", []) if isinstance(f.get("components"), list)]
    if not findings:
        return []
    md = ["## Low-FPR regime", "",
          "Membership findings are judged at low FPR as well as on ROC AUC (Carlini et al., "
          "S&P 2022: the few records an attack exposes at a low false-positive rate are "
          "what matters)."]
    # the non-members of the attacks that scored every evaluation record (label-only
    # attacks a subsample; its own resolution is in the membership section)
    n = max(f.get("n_non_members", 0) for f in findings)
    if n:
        at_1 = 0.01 * n
        md[-1] += (f" With {n} non-members, 1% FPR is {at_1:g} non-member records"
                   + (": FEWER THAN 5, so TPR at 1% FPR rests on a handful of records and "
                      "its interval is wide" if at_1 < 5 else "") + ".")
    disagreeing = [f for f in findings if f.get("disagreement")]
    md += [""]
    if disagreeing:
        md += ["AUC and low-FPR verdicts disagree for:", ""]
        md += [f"- `{f['id']}` (**{f['verdict']}**): {f['disagreement']}." for f in disagreeing]
        md += [""]
    else:
        md += ["No membership finding's AUC and low-FPR verdicts disagree.", ""]
    files = set(results.get("files", []))
    md += [f"![{a} at low FPR](roc_{a}_log.png)" for a in low_fpr_attacks(results)
           if f"roc_{a}_log.png" in files]
    return md + [""]


def blind_baseline_markdown(results):
    """The blind-baseline section: can the split alone tell members from non-members?"""
    blind = results.get("blind_baseline")
    if not blind:
        return []
    md = ["## Blind baseline", "",
          f"Before any membership verdict, classifiers that never query a model "
          f"({blind['features']}, the stronger of two; raw pixels and image statistics "
          f"only) try to tell the target's members from its non-members: ROC AUC "
          f"{_f(blind['auc'])}, {blind.get('interval', 'interval')} {_ci(blind['ci'])}."]
    if len(blind.get("per_seed", [])) > 1:
        md[-1] += " Per seed: " + "; ".join(
            f"seed {p['seed']}: {_f(p['auc'])} {_ci(p['ci'])}" for p in blind["per_seed"]) + "."
    md += [""]
    if blind["leaks"]:
        from .judge import CONFOUNDED_NOTE

        md += [f"**The interval lies above 0.5: {CONFOUNDED_NOTE}.** Every membership "
               f"finding above is marked confounded: a distribution shift between members "
               f"and non-members, not the model, may explain what the attacks find.", ""]
    else:
        md += ["The split does not measurably leak membership by itself (the interval "
               "does not lie above 0.5), so the membership findings are not confounded "
               "by it (Das, Zhang & Tramèr 2024).", ""]
    return md


def _eval_images(parts):
    """The evaluation records' images, in ``sets.eval`` order (members first)."""
    return np.concatenate([np.asarray(parts.target_train.images),
                           np.asarray(parts.target_test.images)])


def write_exposure(results, raw, out, *, k=16, top=5):
    """Per-record risk of the first repeat: ``record_risk.csv`` (every scored record's
    score and rank under each family's strongest attack, and any per-record
    ``memorization`` an attack returned), ``gallery_<family>.png`` (the most exposed
    members with their scores) and ``memorized_<family>.png``.  Sets
    ``results["exposure"]``; returns the file names written."""
    from ..exposure import plot_gallery, record_risk, write_risk_csv
    from .judge import strongest_attack

    out = Path(out)
    images = _eval_images(raw["parts"])
    rows, files, summary = [], [], {}
    for family, by_attack in raw["membership"].items():
        best = strongest_attack(by_attack)
        if best is None:
            continue
        measures = [(best, "membership score", by_attack[best]["scores"], "gallery")]
        measures += [(a, "memorization", r["memorization"], "memorized")
                     for a, r in by_attack.items()
                     if r.get("memorization") is not None
                     and len(r["memorization"]) == len(r["records"])]
        entry = {"attack": best}
        for attack, measure, scores, stem in measures:
            result = by_attack[attack]
            ids = np.asarray(result["records"])
            ranked = record_risk(scores, result["membership"])
            for r in ranked:
                r["index"] = int(ids[r["index"]])
            rows += [{"family": family, "attack": attack, "measure": measure, **r}
                     for r in ranked]
            name = f"{stem}_{family}.png"
            what = ("most exposed members" if measure == "membership score"
                    else "most memorized members")
            if plot_gallery(images, ranked, out / name, k=k,
                            title=f"{_family(family, results)}: {what} "
                                  f"({_attack(attack)} {measure})"):
                files.append(name)
                entry["memorization_attack" if stem == "memorized" else "gallery"] = attack
                entry[stem] = name
            entry["top_" + stem] = [{"index": r["index"], "score": r["score"],
                                     "rank": r["rank"]}
                                    for r in ranked if r["member"] == 1][:top]
        summary[family] = entry
    if rows:
        write_risk_csv(rows, out / "record_risk.csv")
        files.insert(0, "record_risk.csv")
    results["exposure"] = summary
    return files


def exposure_markdown(results):
    """The per-record section: each family's most exposed (and most memorized) members."""
    exposure = results.get("exposure")
    if not exposure:
        return []
    md = ["## Most exposed records", "",
          "Each model's strongest membership attack ranks every evaluation record "
          "(rank 1: the record it is surest is a member); `record_risk.csv` holds every "
          "record's score and rank (index: position among the evaluation records, "
          "members first). The galleries show the members ranked highest, with their "
          "rank and score (first seed).", ""]
    for family, e in exposure.items():
        top = ", ".join(f"#{r['rank']} record {r['index']} ({r['score']:.3g})"
                        for r in e.get("top_gallery", []))
        md += [f"- {_family(family, results)}, {_attack(e['attack'])}: {top}."]
        if e.get("memorized"):
            top = ", ".join(f"#{r['rank']} record {r['index']} ({r['score']:.3g})"
                            for r in e.get("top_memorized", []))
            md += [f"  Most memorized training images ({_attack(e['memorization_attack'])} "
                   f"memorization score): {top}."]
    md += [""]
    for family, e in exposure.items():
        for stem in ("gallery", "memorized"):
            if e.get(stem):
                md += [f"![{_family(family, results)} {stem}]({e[stem]})"]
    return md + [""]


def seed_spread_markdown(results):
    """The seed-spread section (runs with ``--repeats`` of 2 or more): per finding,
    the spread of its effect over repeats beside its record-level interval."""
    rows = [(f.get("short_claim") or f["id"], _f(f["seed_spread"]["seed_sd"]),
             _f(f["seed_spread"]["record_se"]), _f(f["seed_spread"]["ratio"], 2))
            for f in results.get("findings", []) if f.get("seed_spread")]
    if not rows:
        return []
    return ["## Seed spread", "",
            "Each repeat re-draws the split and every training seed. *Seed SD* is the "
            "standard deviation of a finding's effect over the repeats; *record SE* is the "
            "standard error of one repeat's paired bootstrap over evaluation records (its "
            "interval's half-width over z, averaged over repeats). A ratio near 1 means a "
            "single run's interval already covers what rerunning with other seeds does; "
            "well above 1 means it is too narrow, and the t-interval over seeds (used for "
            "the findings above) is the one to read.", "",
            markdown_table(["Finding", "Seed SD", "Record SE", "Ratio"], rows), ""]


def render_report(results):
    """``report.md``'s text from a results dictionary."""
    cfg, data = results["config"], results["data"]
    seeds = results.get("seeds", [cfg["seed"]])
    md = [f"# privlearn audit — {data['name']}", "",
          f"{data['description']}", "",
          f"Backbone `{cfg['backbone']}`, {cfg['epochs']} epochs for every model "
          f"(batch {cfg['batch_size']}), {data['n_per_part']} images per part of the "
          f"paper's four-way split (target/shadow × train/test), seed"
          f"{'s ' + ', '.join(map(str, seeds)) if len(seeds) > 1 else ' ' + str(seeds[0])}. "
          f"Configuration: `{results.get('config_summary', '')}`. "
          f"Wall time {results['wall_seconds']:.0f} s.", ""]
    if len(seeds) > 1:
        md += [f"Tables below show the first seed ({seeds[0]}); findings combine all "
               f"{len(seeds)} seeds.", ""]
    md += ["## Findings", ""] + findings_markdown(results) + [""]
    md += blind_baseline_markdown(results)
    md += seed_spread_markdown(results)
    md += ["## Utility", "", markdown_table(
        ["Model", "Train accuracy", "Test accuracy"],
        [[_family(f, results), _f(u["train_accuracy"]), _f(u["test_accuracy"])]
         for f, u in results["utility"].items()]), ""]
    if results["membership"]:
        strongest = results.get("strongest_attack", {})
        md += ["## Membership inference (shadow-model protocol)", "",
               "Attack models are fitted on the shadow model's members and non-members and "
               "evaluated on the target's (balanced: 50% members). The positive label is "
               "*member*. " + _resolution(results), ""]
        if strongest:
            md += ["Strongest attack (highest ROC AUC) per model: " + "; ".join(
                f"{_family(f, results)}: {_attack(a)}" for f, a in strongest.items() if a)
                + ".", ""]
        for metric, title in (("roc_auc", "ROC AUC"), ("tpr_at_1%_fpr", "TPR at 1% FPR"),
                              ("tpr_at_0.1%_fpr", "TPR at 0.1% FPR"),
                              ("accuracy", "Accuracy")):
            header, rows = _membership_rows(results, metric)
            md += [f"### {title}", "", markdown_table(header, rows), ""]
    if results["attribute"]:
        md += ["## Attribute inference", "",
               "An MLP trained on the embeddings of the attacker's auxiliary data (the shadow "
               "parts) predicts the sensitive attribute of the target's training records.", "",
               "The conditional baseline is the accuracy of an attacker who knows only the "
               "victim's task label (the most frequent attribute value of that label in "
               "the auxiliary data); leakage above the larger baseline is the excess the "
               "findings judge.", "",
               markdown_table(["Model", "Attack accuracy", "Majority baseline",
                               "Conditional baseline"],
                              [[_family(f, results), _f(a["accuracy"]),
                                _f(a["majority_baseline"]), _f(a.get("conditional_baseline"))]
                               for f, a in results["attribute"].items()]), ""]
    if results.get("talos_tradeoff"):
        md += ["## Talos privacy–utility trade-off", "",
               "λ = 0 is the contrastive model. The dashed line in the plot is the majority "
               "baseline of attribute inference (what an attacker gets without the model).", "",
               markdown_table(["λ (adversary weight)", "Test accuracy", "Attribute inference"],
                              [[f"{p['adversary_weight']:g}", _f(p["test_accuracy"]),
                                _f(p["attribute_inference"])] for p in results["talos_tradeoff"]]),
               "", "![Talos trade-off](talos_tradeoff.png)", ""]
    if results.get("defenses"):
        md += ["## Defenses against attribute inference", "",
               "Every defense is attacked by the same fresh attribute attacker (an MLP on "
               "the frozen embeddings). fraction_of_excess_removed: the share of the "
               "contrastive model's leakage above the majority baseline that the defense "
               "removes (1: the attacker learns nothing beyond the baseline; 0: no change). "
               "LEACE erases only *linear* information, so an MLP attacker may still "
               "recover the attribute. Point estimates of the first seed.", "",
               markdown_table(["Defense", "Test accuracy", "Utility cost",
                               "Attribute inference", "Majority baseline",
                               "Fraction of excess removed"],
                              [[d["defense"], _f(d["test_accuracy"]), _f(d["utility_cost"]),
                                _f(d["attribute_inference"]), _f(d["majority_baseline"]),
                                _f(d["fraction_of_excess_removed"])]
                               for d in results["defenses"]]), ""]
    md += _low_fpr_section(results)
    md += exposure_markdown(results)
    plots = [p for p in results.get("files", []) if p.startswith("roc_")]
    if plots:
        md += ["## ROC curves", "", "Positive label = member: the true-positive rate is the "
               "share of members the attack calls members, the false-positive rate the share "
               "of non-members it calls members.", ""] + [f"![{p}]({p})" for p in plots] + [""]
    md += ["## Versions", "", ", ".join(f"{k} {v}" for k, v in results["versions"].items()), ""]
    return "\n".join(md)


def readme_table(results):
    """The README's results table (one row per model family) from a results dictionary."""
    rows = []
    strongest = results.get("strongest_attack", {})
    for family, util in results["utility"].items():
        best = strongest.get(family)
        report = results["membership"].get(family, {}).get(best, {})
        attr = results["attribute"].get(family, {})
        rows.append([_family(family, results), _f(util["test_accuracy"]),
                     f"{_attack(best)}: {_f(report.get('roc_auc'))}" if best else "–",
                     _f(report.get("tpr_at_1%_fpr")), _f(attr.get("accuracy"))])
    table = markdown_table(["model", "test acc.", "strongest membership attack: AUC",
                            "its TPR at 1% FPR", "attribute inference"], rows)
    from .judge import finding_class

    cfg = _config(results)
    verdicts = [f"- {f.get('short_claim') or finding_class(f).short_claim(f, cfg)}: "
                f"**{f['verdict']}**, effect {f['effect']:+.3f} {_ci(f['ci'])}"
                for f in results.get("findings", [])]
    return table + "\n\n" + "\n".join(verdicts)


def write_report(results, curves, out, raw=None):
    """Write ``report.md``, ``results.json`` and the plots into ``out`` (atomically).

    ``raw``: the first repeat's raw results; when given, the per-record risk
    (:func:`write_exposure`: ``record_risk.csv`` and the galleries) is written too."""
    from .output import atomic_write_text

    out = Path(out)
    plots = _plot_rocs(curves, out, results) if curves else []
    if results.get("talos_tradeoff"):
        plots.append(_plot_tradeoff(results["talos_tradeoff"], out))
    if raw is not None and raw.get("membership"):
        plots += write_exposure(results, raw, out)
    results["files"] = ["report.md", "results.json", *plots]
    atomic_write_text(out / "results.json", json.dumps(results, indent=2, default=_jsonable))
    atomic_write_text(out / "report.md", render_report(results))
    return out / "report.md"


def _jsonable(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return str(value)
