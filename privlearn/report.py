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
           "readme_table", "render_report"]

_ATTACK_NAMES = {
    "nn": "NN-based", "correctness": "Correctness", "confidence": "Confidence",
    "entropy": "Entropy", "modified_entropy": "Modified entropy",
    "label_only": "Label-only", "lira": "LiRA", "rmia": "RMIA", "encodermi": "EncoderMI",
}
_OBJECTIVE_NAMES = {"simclr": "SimCLR", "moco": "MoCo", "byol": "BYOL",
                    "simsiam": "SimSiam", "barlow_twins": "Barlow Twins"}
_FAMILY_NAMES = {"contrastive": "Contrastive (SimCLR)", "supervised": "Supervised",
                 "talos": "Talos"}


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
    if results and name == "contrastive":
        objective = results.get("config", {}).get("objective", "simclr")
        return f"Contrastive ({_OBJECTIVE_NAMES.get(objective, objective)})"
    return _FAMILY_NAMES.get(name, name)


def _attack(name):
    return _ATTACK_NAMES.get(name, name)


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
    for finding in results.get("findings", []):
        lines.append(f"{finding['verdict']:>14}: {finding['id']}  effect "
                     f"{finding['effect']:+.3f} {_ci(finding['ci'])}")
    return "\n".join(lines)


def _finding_line(f):
    text = (f"- **{f['verdict']}** — {f['claim']}: effect {f['effect']:+.3f}, "
            f"95% interval {_ci(f['ci'])}")
    n = f.get("numbers", {})
    if f["id"] == "membership/strongest":
        text += (f". Strongest attack: {_attack(n['strongest_attack_supervised'])} on the "
                 f"supervised model (AUC {_f(n['supervised_roc_auc'])}), "
                 f"{_attack(n['strongest_attack_contrastive'])} on the contrastive model "
                 f"(AUC {_f(n['contrastive_roc_auc'])})")
        failing = n.get("attacks_where_it_does_not_hold") or []
        text += (". It does not hold (or is inconclusive) for: "
                 + ", ".join(_attack(a) for a in failing) if failing
                 else ". It holds for every attack")
    elif f["id"].startswith("membership/"):
        text += (f" (AUC {_f(n['supervised_roc_auc'])} supervised vs "
                 f"{_f(n['contrastive_roc_auc'])} contrastive)")
    elif f["id"] == "attribute":
        text += (f" (accuracy {_f(n['contrastive_accuracy'])} contrastive vs "
                 f"{_f(n['supervised_accuracy'])} supervised; majority baseline "
                 f"{_f(n['majority_baseline'])})")
    elif f["id"] == "talos":
        cost = f["components"]["utility_cost"]
        text = (f"- **{f['verdict']}** — {f['claim']}. fraction_of_excess_removed "
                f"{f['effect']:.3f}, interval {_ci(f['ci'])} (attribute inference "
                f"{_f(n['contrastive_attribute_accuracy'])} → "
                f"{_f(n['talos_attribute_accuracy'])}, majority baseline "
                f"{_f(n['majority_baseline'])}); utility cost {cost['effect']:+.3f}, interval "
                f"{_ci(cost['ci'])} (test accuracy {_f(n['contrastive_test_accuracy'])} → "
                f"{_f(n['talos_test_accuracy'])})")
        kept = f["components"].get("membership_privacy_kept")
        if kept:
            text += (f"; membership AUC contrastive − Talos {kept['effect']:+.3f}, interval "
                     f"{_ci(kept['ci'])}")
    tpr = f.get("components", {}).get("tpr_at_1%_fpr")
    if tpr:
        text += (f"; TPR at 1% FPR, supervised − contrastive {tpr['effect']:+.3f}, "
                 f"interval {_ci(tpr['ci'])} ({tpr['verdict']})")
    return text + "."


def findings_markdown(results):
    """The findings section: each finding with its effect, interval and verdict."""
    findings = results.get("findings", [])
    if not findings:
        return ["No finding could be judged with the attacks and families run."]
    interval = findings[0].get("interval", "95% interval")
    cfg = results["config"]
    lines = [f"Effects are oriented so that a value above 0 supports the paper's claim. "
             f"Intervals: {interval}. A finding **holds** only when its interval excludes 0 "
             f"in the claimed direction, **does not hold** when it excludes 0 in the other "
             f"direction, and is **inconclusive** otherwise. Talos's finding holds only when "
             f"the interval of fraction_of_excess_removed is at or above "
             f"{cfg['min_fraction_removed']:g} and the interval of its utility cost at or "
             f"below {cfg['max_utility_cost']:g} (`--min-fraction-removed`, "
             f"`--max-utility-cost`).", ""]
    return lines + [_finding_line(f) for f in findings]


def _plot_rocs(curves, out, results=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .metrics import plot_roc

    files = []
    for attack, by_family in curves.items():
        for log in (False, True):
            fig, ax = plt.subplots(figsize=(5, 5))
            plot_roc({_family(f, results): c for f, c in by_family.items()}, ax=ax, log=log)
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
               markdown_table(["Model", "Attack accuracy", "Majority baseline"],
                              [[_family(f, results), _f(a["accuracy"]),
                                _f(a["majority_baseline"])]
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
    plots = [p for p in results.get("files", []) if p.startswith("roc_")]
    if plots:
        md += ["## ROC curves", "", "Positive label = member: the true-positive rate is the "
               "share of members the attack calls members, the false-positive rate the share "
               "of non-members it calls members.", ""] + [f"![{p}]({p})" for p in plots] + [""]
    md += ["## Versions", "", ", ".join(f"{k} {v}" for k, v in results["versions"].items()), ""]
    return "\n".join(md)


def _short_claim(finding_id):
    """A finding's claim in a few words, for the README."""
    if finding_id == "membership/strongest":
        return "membership weaker on contrastive, strongest attacks (AUC, sup. − con.)"
    if finding_id.startswith("membership/"):
        return (f"membership weaker on contrastive, {_attack(finding_id.split('/', 1)[1])} "
                f"(AUC, sup. − con.)")
    return {"attribute": "attribute inference stronger on contrastive (accuracy, con. − sup.)",
            "talos": "Talos removes ≥ half the excess attribute leakage at ≤ 0.05 utility "
                     "cost (fraction_of_excess_removed)"}.get(finding_id, finding_id)


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
    verdicts = [f"- {_short_claim(f['id'])}: **{f['verdict']}**, effect "
                f"{f['effect']:+.3f} {_ci(f['ci'])}" for f in results.get("findings", [])]
    return table + "\n\n" + "\n".join(verdicts)


def write_report(results, curves, out):
    """Write ``report.md``, ``results.json`` and the plots into ``out`` (atomically)."""
    from .audit.output import atomic_write_text

    out = Path(out)
    plots = _plot_rocs(curves, out, results) if curves else []
    if results.get("talos_tradeoff"):
        plots.append(_plot_tradeoff(results["talos_tradeoff"], out))
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
