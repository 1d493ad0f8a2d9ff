"""Writing the audit's results: Markdown tables, JSON, ROC curves and plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = ["write_report", "summary_table", "markdown_table"]

_ATTACK_NAMES = {
    "nn": "NN-based", "correctness": "Correctness", "confidence": "Confidence",
    "entropy": "Entropy", "modified_entropy": "Modified entropy",
    "label_only": "Label-only",
}
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


def _membership_rows(results, metric):
    families = list(results["membership"])
    attacks = [a for a in _ATTACK_NAMES if any(a in results["membership"][f] for f in families)]
    rows = []
    for family in families:
        row = [_FAMILY_NAMES.get(family, family)]
        for attack in attacks:
            report = results["membership"][family].get(attack)
            row.append(_f(report[metric]) if report else "–")
        rows.append(row)
    return ["Model"] + [_ATTACK_NAMES[a] for a in attacks], rows


def summary_table(results):
    """A short plain-text summary for the terminal."""
    lines = []
    header = f"{'model':<22}{'train acc':>10}{'test acc':>10}{'MIA (NN)':>10}{'MIA best AUC':>14}{'attr. inf.':>12}"
    lines.append(header)
    lines.append("-" * len(header))
    for family, util in results["utility"].items():
        mia = results["membership"].get(family, {})
        nn = mia.get("nn", {}).get("accuracy")
        best_auc = max((r["roc_auc"] for r in mia.values()), default=None)
        attr = results["attribute"].get(family, {}).get("accuracy")
        lines.append(f"{_FAMILY_NAMES.get(family, family):<22}{_f(util['train_accuracy']):>10}"
                     f"{_f(util['test_accuracy']):>10}{_f(nn):>10}{_f(best_auc):>14}{_f(attr):>12}")
    return "\n".join(lines)


def _findings(results):
    """The paper's three findings, checked on these numbers (never forced)."""
    out = []
    mia = results["membership"]
    if "contrastive" in mia and "supervised" in mia:
        def mean_acc(family):
            values = [r["accuracy"] for r in mia[family].values()]
            return float(np.mean(values)) if values else float("nan")

        c, s = mean_acc("contrastive"), mean_acc("supervised")
        verdict = "holds" if s > c else "does NOT hold at this budget"
        out.append(f"- Membership inference is weaker on the contrastive model: mean attack "
                   f"accuracy {_f(c)} (contrastive) vs {_f(s)} (supervised) — **{verdict}**.")
    attr = results["attribute"]
    if "contrastive" in attr and "supervised" in attr:
        c, s = attr["contrastive"]["accuracy"], attr["supervised"]["accuracy"]
        verdict = "holds" if c > s else "does NOT hold at this budget"
        out.append(f"- Attribute inference is stronger on the contrastive model: {_f(c)} vs "
                   f"{_f(s)} (supervised) — **{verdict}**.")
    if "talos" in attr and "contrastive" in attr:
        ca, ta = attr["contrastive"]["accuracy"], attr["talos"]["accuracy"]
        cu = results["utility"]["contrastive"]["test_accuracy"]
        tu = results["utility"]["talos"]["test_accuracy"]
        c_mia = mia.get("contrastive", {}).get("nn", {}).get("accuracy")
        t_mia = mia.get("talos", {}).get("nn", {}).get("accuracy")
        verdict = "holds" if ta < ca else "does NOT hold at this budget"
        text = (f"- Talos lowers attribute inference: {_f(ca)} → {_f(ta)} (a change of "
                f"{_f(ta - ca)} against a fresh MLP attacker) — **{verdict}**; "
                f"utility {_f(cu)} → {_f(tu)}")
        if c_mia is not None and t_mia is not None:
            text += f"; NN membership inference {_f(c_mia)} → {_f(t_mia)}"
        out.append(text + ".")
    return out


def _plot_rocs(curves, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .metrics import plot_roc

    files = []
    for attack, by_family in curves.items():
        for log in (False, True):
            fig, ax = plt.subplots(figsize=(5, 5))
            plot_roc({_FAMILY_NAMES.get(f, f): c for f, c in by_family.items()}, ax=ax, log=log)
            ax.set_title(f"{_ATTACK_NAMES.get(attack, attack)} membership inference"
                         + (" (log scale)" if log else ""))
            name = f"roc_{attack}{'_log' if log else ''}.png"
            fig.savefig(out / name, dpi=110, bbox_inches="tight")
            plt.close(fig)
            files.append(name)
    return files


def _plot_tradeoff(tradeoff, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    xs = [p["attribute_inference"] for p in tradeoff]
    ys = [p["test_accuracy"] for p in tradeoff]
    ax.plot(xs, ys, "o-")
    for p in tradeoff:
        ax.annotate(f"λ={p['adversary_weight']:g}", (p["attribute_inference"], p["test_accuracy"]),
                    textcoords="offset points", xytext=(5, 5))
    ax.set_xlabel("attribute inference accuracy (lower is more private)")
    ax.set_ylabel("task test accuracy")
    ax.set_title("Talos: privacy–utility trade-off")
    ax.grid(alpha=0.3)
    fig.savefig(out / "talos_tradeoff.png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "talos_tradeoff.png"


def write_report(results, curves, out):
    """Write ``report.md``, ``results.json`` and the plots into ``out``."""
    out = Path(out)
    plots = _plot_rocs(curves, out) if curves else []
    if results.get("talos_tradeoff"):
        plots.append(_plot_tradeoff(results["talos_tradeoff"], out))
    results["files"] = ["report.md", "results.json", *plots]
    (out / "results.json").write_text(json.dumps(results, indent=2, default=_jsonable))

    cfg, data = results["config"], results["data"]
    md = [f"# privlearn audit — {data['name']}", "",
          f"{data['description']}", "",
          f"Backbone `{cfg['backbone']}`, {cfg['epochs']} epochs for every model "
          f"(batch {cfg['batch_size']}, seed {cfg['seed']}), {data['n_per_part']} images per "
          f"part of the paper's four-way split (target/shadow × train/test). "
          f"Wall time {results['wall_seconds']:.0f} s.", ""]
    md += ["## Findings", ""] + _findings(results) + [""]
    md += ["## Utility", "", markdown_table(
        ["Model", "Train accuracy", "Test accuracy"],
        [[_FAMILY_NAMES.get(f, f), _f(u["train_accuracy"]), _f(u["test_accuracy"])]
         for f, u in results["utility"].items()]), ""]
    if results["membership"]:
        md += ["## Membership inference (shadow-model protocol)", "",
               "Attack models are fitted on the shadow model's members and non-members and "
               "evaluated on the target's (balanced: 50% members). With n non-members, "
               "a false-positive rate below 1/n cannot be resolved: TPR at 0.1% FPR is "
               "only meaningful with at least 1,000 non-members.", ""]
        for metric, title in (("accuracy", "Accuracy"), ("roc_auc", "ROC AUC"),
                              ("tpr_at_1%_fpr", "TPR at 1% FPR"),
                              ("tpr_at_0.1%_fpr", "TPR at 0.1% FPR")):
            header, rows = _membership_rows(results, metric)
            md += [f"### {title}", "", markdown_table(header, rows), ""]
    if results["attribute"]:
        md += ["## Attribute inference", "",
               "An MLP trained on the embeddings of the attacker's auxiliary data (the shadow "
               "parts) predicts the sensitive attribute of the target's training records.", "",
               markdown_table(["Model", "Attack accuracy", "Majority baseline"],
                              [[_FAMILY_NAMES.get(f, f), _f(a["accuracy"]),
                                _f(a["majority_baseline"])]
                               for f, a in results["attribute"].items()]), ""]
    if results.get("talos_tradeoff"):
        md += ["## Talos privacy–utility trade-off", "",
               markdown_table(["λ (adversary weight)", "Test accuracy", "Attribute inference"],
                              [[f"{p['adversary_weight']:g}", _f(p["test_accuracy"]),
                                _f(p["attribute_inference"])] for p in results["talos_tradeoff"]]),
               "", "![Talos trade-off](talos_tradeoff.png)", ""]
    if plots:
        md += ["## ROC curves", ""] + [f"![{p}]({p})" for p in plots if p.startswith("roc_")] + [""]
    md += ["## Versions", "", ", ".join(f"{k} {v}" for k, v in results["versions"].items()), ""]
    (out / "report.md").write_text("\n".join(md))
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
