"""Write the own-model audit: report.md, results.json, ROC plots, record risk CSV, gallery."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..audit.output import OutputLock, atomic_write_text
from ..audit.report import markdown_table
from ..exposure import plot_gallery, record_risk, write_risk_csv


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def findings_lines(results):
    """One line per finding: claim, effect, interval, verdict (and confounding)."""
    from ..audit.judge import CONFOUNDED_NOTE
    lines = []
    for f in results["findings"]:
        lo, hi = f["interval"]
        note = (f" -- CONFOUNDED: {f.get('confounding', CONFOUNDED_NOTE)}"
                if f.get("confounded") else "")
        lines.append(f"- {f['claim']}: effect {f['effect']:.3f}, 95% interval "
                     f"[{lo:.3f}, {hi:.3f}], verdict **{f['verdict']}**{note}")
    return lines


def render(results, files):
    blind = results["blind_baseline"]
    out = ["# Privacy audit of a given model", "",
           f"{results['n_records']} records, {results['n_members']} members; "
           f"{results['seconds']:.1f} s.", "", "## Findings", "", *findings_lines(results), "",
           "## Blind baseline", "",
           f"A classifier that never queries the model ({blind['features']}) tells members "
           f"from non-members with ROC AUC {blind['auc']:.3f} "
           f"[{blind['ci'][0]:.3f}, {blind['ci'][1]:.3f}].", "",
           ("**The split itself leaks membership: the attack results below are confounded "
            "by a distribution shift between members and non-members** (Das, Zhang & "
            "Tramèr 2024); every membership finding is marked CONFOUNDED."
            if blind["leaks"] else
            "The split does not measurably leak membership by itself (the interval does "
            "not lie above 0.5), so the attack results are not confounded by it."), "",
           "## Membership attacks", ""]
    rows = []
    for name, a in results["attacks"].items():
        if "skipped" in a:
            rows.append([a["title"], "skipped: " + a["skipped"], "", "", ""])
            continue
        r = a["report"]
        rows.append([a["title"], f"{a['roc_auc']:.3f}",
                     f"[{a['roc_auc_ci'][0]:.3f}, {a['roc_auc_ci'][1]:.3f}]",
                     f"{r['tpr_at_1%_fpr']:.3f}", a["n_records"]])
    out += [markdown_table(["attack", "ROC AUC", "95% interval", "TPR@1%FPR", "records"], rows), ""]
    if "attribute" in results:
        a = results["attribute"]
        out += ["## Attribute inference", "",
                f"Accuracy {a['accuracy']:.3f} against the majority-class baseline "
                f"{a['majority']:.3f} (excess interval [{a['excess_ci'][0]:.3f}, "
                f"{a['excess_ci'][1]:.3f}]: {a['verdict']}).", ""]
    if "roc.png" in files:
        out += ["## ROC curves", "", "![ROC](roc.png) ![ROC, log scale](roc_log.png)", ""]
    if "gallery.png" in files:
        e = results.get("exposure", {})
        top = ", ".join(f"#{r['rank']} {Path(r['path']).name or 'record ' + str(r['index'])} "
                        f"({r['score']:.3g})" for r in e.get("top_gallery", []))
        out += ["## Most exposed members", "",
                f"By the strongest attack ({results['attacks'][results['strongest']]['title']}); "
                "every record's score and rank are in `record_risk.csv`. Highest-ranked "
                f"members: {top}.", "", "![gallery](gallery.png)", ""]
    if "memorized.png" in files:
        e = results["exposure"]
        top = ", ".join(f"#{r['rank']} {Path(r['path']).name or 'record ' + str(r['index'])} "
                        f"({r['score']:.3g})" for r in e.get("top_memorized", []))
        out += ["## Most memorized training images", "",
                f"By the per-record memorization score of "
                f"{results['attacks'][e['memorization_attack']]['title']}: {top}.", "",
                "![memorized](memorized.png)", ""]
    return "\n".join(out)


def _top(rows, k=5):
    return [{"index": r["index"], "path": r["path"], "score": r["score"], "rank": r["rank"]}
            for r in rows if r["member"] == 1][:k]


def write(results, curves, scores_of, data, membership, out, *, gallery_size=16,
          memorization_of=None):
    """Write report.md, results.json, roc.png/roc_log.png, record_risk.csv (every
    record's score and rank under the strongest attack, and any memorization
    score), gallery.png and memorized.png into ``out``; returns the file names."""
    out = Path(out)
    files = []
    with OutputLock(out):
        if curves:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            from ..metrics import plot_roc
            for log, name in ((False, "roc.png"), (True, "roc_log.png")):
                fig, ax = plt.subplots(figsize=(5, 5))
                plot_roc(curves, ax=ax, log=log)
                ax.set_title("membership inference" + (" (log scale)" if log else ""))
                fig.savefig(out / name, dpi=110, bbox_inches="tight")
                plt.close(fig)
                files.append(name)
        paths = data.get("paths")
        exposure = {}
        if results.get("strongest"):
            best = results["strongest"]
            rows = record_risk(scores_of[best], membership, paths)
            csv_rows = [{"attack": best, "measure": "membership score", **r} for r in rows]
            exposure.update(attack=best, top_gallery=_top(rows))
            if plot_gallery(data["images"], rows, out / "gallery.png", k=gallery_size,
                            title=f"Most exposed members ({results['attacks'][best]['title']})"):
                files.append("gallery.png")
            for name, memo in (memorization_of or {}).items():
                mrows = record_risk(memo, membership, paths)
                csv_rows += [{"attack": name, "measure": "memorization", **r} for r in mrows]
                exposure.update(memorization_attack=name, top_memorized=_top(mrows))
                if plot_gallery(data["images"], mrows, out / "memorized.png", k=gallery_size,
                                title="Most memorized training images "
                                      f"({results['attacks'][name]['title']})"):
                    files.append("memorized.png")
                break  # one memorization gallery (the first attack that gives a score)
            write_risk_csv(csv_rows, out / "record_risk.csv")
            files.insert(0, "record_risk.csv")
        results["exposure"] = exposure
        files += ["report.md", "results.json"]
        atomic_write_text(out / "report.md", render(results, files))
        atomic_write_text(out / "results.json",
                          json.dumps(_jsonable(dict(results, files=files)), indent=2))
    return files
