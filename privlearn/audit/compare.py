"""Compare two audits' ``results.json`` finding by finding.

``python -m privlearn.audit.compare a.json b.json`` (or ``privlearn compare``)
prints, for every finding (and every component of a finding): both verdicts,
whether the verdict changed, the effect's movement, whether the intervals
overlap, and whether a verdict is *borderline*: the end of its interval nearest
0 lies closer to 0 than the rerun moved the effects (the largest movement seen
over all findings, or ``--tolerance``), so a rerun of that size could change
it.  It also lists how the environments differ (:mod:`~.provenance`) and which
model digests differ.

:func:`seed_spread` reports, from a ``--repeats k`` run (or from k single-seed
runs), the between-seed SD of each effect next to the record-level interval
half-width.

Examples
--------
>>> from privlearn.audit.compare import compare
>>> a = {"findings": [{"id": "x", "effect": 0.10, "ci": [0.02, 0.18], "verdict": "holds"}]}
>>> b = {"findings": [{"id": "x", "effect": 0.08, "ci": [-0.01, 0.17],
...                    "verdict": "inconclusive"}]}
>>> row = compare(a, b)["findings"][0]
>>> row["verdict_changed"], round(row["effect_difference"], 3), row["borderline"]
(True, -0.02, True)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

__all__ = ["compare", "to_markdown", "seed_spread", "seed_spread_markdown", "load_results",
           "add_subparser", "main"]


def load_results(path):
    """A results.json file as a dict; ``ValueError`` naming the file otherwise."""
    path = Path(path)
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read results file {str(path)!r}: {exc.strerror or exc}") \
            from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{str(path)!r} is not a JSON results file: {exc}") from None
    _check(results, str(path))
    return results


def _check(results, argument):
    if not isinstance(results, dict) or not isinstance(results.get("findings"), list):
        raise ValueError(f"{argument}: expected an audit's results (a dict with a "
                         "'findings' list, as in results.json)")


def _number(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _ci(value):
    if isinstance(value, (list, tuple)) and len(value) == 2:
        low, high = _number(value[0]), _number(value[1])
        if low is not None and high is not None:
            return [low, high]
    return None


def _entries(finding):
    """``(name, {effect, ci, verdict, ...})``: the finding itself ("") and its
    components, which may be a dict name -> component or a list of components
    each naming itself by ``name`` or ``id``."""
    yield "", finding
    components = finding.get("components") or {}
    if isinstance(components, dict):
        items = components.items()
    elif isinstance(components, list):
        # Named by "name", "metric" or "id"; a component of the same name as
        # another (two low-FPR points) keeps its position too.
        items = ((c.get("name", c.get("metric", c.get("id", str(i))))
                  + (f"@{c['fpr']:g}" if isinstance(c.get("fpr"), (int, float))
                     and "fpr" not in str(c.get("metric", "")) else ""), c)
                 for i, c in enumerate(components) if isinstance(c, dict))
    else:
        items = ()
    for name, component in items:
        if isinstance(component, dict):
            yield str(name), component


def _flatten(results):
    rows = {}
    for finding in results["findings"]:
        if not isinstance(finding, dict) or "id" not in finding:
            continue
        for name, entry in _entries(finding):
            key = finding["id"] if not name else f"{finding['id']} / {name}"
            rows[key] = {"effect": _number(entry.get("effect")), "ci": _ci(entry.get("ci")),
                         "verdict": entry.get("verdict"),
                         "threshold": _number(entry.get("threshold")) or 0.0}
    return rows


def _distance_to_change(row):
    """How far the interval's end nearest the threshold lies from it (0 if it
    straddles or touches it), or None without an interval."""
    if row is None or row["ci"] is None:
        return None
    low, high = row["ci"]
    t = row["threshold"]
    if low > t:
        return low - t
    if high < t:
        return t - high
    return min(t - low, high - t)  # inconclusive: how far from becoming decided


def _flat_dict(value, prefix=""):
    out = {}
    if isinstance(value, dict):
        for key in value:
            out.update(_flat_dict(value[key], f"{prefix}{key}."))
    else:
        out[prefix[:-1]] = value
    return out


def _environment_differences(env_a, env_b):
    from .provenance import FLOATING_POINT_KEYS

    flat_a, flat_b = _flat_dict(env_a or {}), _flat_dict(env_b or {})
    rows = []
    for key in sorted(set(flat_a) | set(flat_b)):
        a, b = flat_a.get(key), flat_b.get(key)
        if a != b:
            decisive = any(key == k or key.startswith(k + ".") for k in FLOATING_POINT_KEYS)
            rows.append({"key": key, "a": a, "b": b, "floating_point": decisive})
    return rows


def compare(results_a, results_b, *, tolerance=None):
    """Compare two audits' results finding by finding.

    Parameters
    ----------
    results_a, results_b : dict
        Two ``results.json`` contents (``findings``: a list of dicts with ``id``,
        ``effect``, ``ci``, ``verdict`` and optionally ``components``, a dict or
        list of entries with the same keys).
    tolerance : float, optional
        The effect movement a rerun may cause.  Default: the largest absolute
        effect difference seen between the two runs, over every finding and
        component.  A verdict is *borderline* when its interval's end nearest
        the threshold (0, or the entry's ``threshold``) is within ``tolerance``
        of it, in either run.

    Returns
    -------
    comparison : dict
        ``findings``: one row per finding and component (``id``, both effects,
        intervals and verdicts, ``verdict_changed``, ``effect_difference``,
        ``intervals_overlap``, ``borderline``, ``only_in`` for ids present in
        one run only); ``tolerance``; ``max_effect_difference``;
        ``verdicts_changed``; ``environment`` (differing keys, those deciding
        the floating-point path flagged); ``model_digests`` (``same``,
        ``different``, ``only_in_a``, ``only_in_b``, or None when a run has none).
    """
    _check(results_a, "results_a")
    _check(results_b, "results_b")
    if tolerance is not None:
        tolerance = _number(tolerance)
        if tolerance is None or tolerance < 0:
            raise ValueError(f"compare: `tolerance` must be a finite number >= 0, got "
                             f"{tolerance!r}")
    rows_a, rows_b = _flatten(results_a), _flatten(results_b)
    keys = list(rows_a) + [k for k in rows_b if k not in rows_a]
    moves = [abs(rows_b[k]["effect"] - rows_a[k]["effect"]) for k in keys
             if k in rows_a and k in rows_b and rows_a[k]["effect"] is not None
             and rows_b[k]["effect"] is not None]
    max_move = max(moves) if moves else None
    tol = tolerance if tolerance is not None else (max_move or 0.0)
    findings = []
    for key in keys:
        a, b = rows_a.get(key), rows_b.get(key)
        row = {"id": key, "only_in": None if a and b else ("a" if a else "b")}
        for side, entry in (("a", a), ("b", b)):
            row[f"effect_{side}"] = entry and entry["effect"]
            row[f"ci_{side}"] = entry and entry["ci"]
            row[f"verdict_{side}"] = entry and entry["verdict"]
        both = a is not None and b is not None
        row["verdict_changed"] = bool(both and a["verdict"] != b["verdict"])
        row["effect_difference"] = (b["effect"] - a["effect"] if both and a["effect"]
                                    is not None and b["effect"] is not None else None)
        row["intervals_overlap"] = (bool(a["ci"][0] <= b["ci"][1] and b["ci"][0] <= a["ci"][1])
                                    if both and a["ci"] and b["ci"] else None)
        distances = [d for d in (_distance_to_change(a), _distance_to_change(b))
                     if d is not None]
        has_verdict = any(e is not None and e["verdict"] for e in (a, b))
        row["distance_to_change"] = min(distances) if distances else None
        row["borderline"] = bool(has_verdict and (row["verdict_changed"] or (
            distances and min(distances) <= tol)))
        findings.append(row)
    digests_a, digests_b = results_a.get("model_digests"), results_b.get("model_digests")
    if isinstance(digests_a, dict) and isinstance(digests_b, dict):
        common = [k for k in digests_a if k in digests_b]
        digests = {"same": sorted(k for k in common if digests_a[k] == digests_b[k]),
                   "different": sorted(k for k in common if digests_a[k] != digests_b[k]),
                   "only_in_a": sorted(set(digests_a) - set(digests_b)),
                   "only_in_b": sorted(set(digests_b) - set(digests_a))}
    else:
        digests = None
    return {"findings": findings, "tolerance": tol, "max_effect_difference": max_move,
            "tolerance_given": tolerance is not None,
            "verdicts_changed": sum(r["verdict_changed"] for r in findings),
            "environment": _environment_differences(results_a.get("environment"),
                                                    results_b.get("environment")),
            "environment_recorded": [bool(results_a.get("environment")),
                                     bool(results_b.get("environment"))],
            "versions": _environment_differences(results_a.get("versions"),
                                                 results_b.get("versions")),
            "model_digests": digests}


def _f(value, digits=3):
    return "—" if value is None else f"{value:+.{digits}f}"


def _interval(ci):
    return "—" if not ci else f"[{ci[0]:+.3f}, {ci[1]:+.3f}]"


def to_markdown(comparison, names=("A", "B")):
    """The comparison as a Markdown report (tables and short lists)."""
    a, b = names
    tol = comparison["tolerance"]
    how = "given" if comparison["tolerance_given"] else "the largest effect movement seen"
    lines = [f"# Comparison of two audits: {a} vs {b}", "",
             f"- Verdicts changed: **{comparison['verdicts_changed']}** of "
             f"{sum(r['only_in'] is None for r in comparison['findings'])} entries "
             "(findings and their components).",
             f"- Largest effect movement: {_f(comparison['max_effect_difference'], 4)}; "
             f"borderline tolerance {tol:.4f} ({how}).", "",
             f"| finding | verdict {a} | verdict {b} | effect {a} | effect {b} | Δ effect | "
             f"interval {a} | interval {b} | overlap | borderline |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in comparison["findings"]:
        verdict_b = r["verdict_b"] or ("(absent)" if r["only_in"] == "a" else "—")
        verdict_a = r["verdict_a"] or ("(absent)" if r["only_in"] == "b" else "—")
        if r["verdict_changed"]:
            verdict_b = f"**{verdict_b}** (changed)"
        overlap = {None: "—", True: "yes", False: "**no**"}[r["intervals_overlap"]]
        lines.append(f"| {r['id']} | {verdict_a} | {verdict_b} | {_f(r['effect_a'])} | "
                     f"{_f(r['effect_b'])} | {_f(r['effect_difference'], 4)} | "
                     f"{_interval(r['ci_a'])} | {_interval(r['ci_b'])} | {overlap} | "
                     f"{'**yes**' if r['borderline'] else 'no'} |")
    lines += ["", "A verdict is *borderline* when it changed, or when an end of its interval "
              f"lies within {tol:.4f} of the threshold (0) in either run: a rerun that moves "
              "effects that far could change it.", "", "## Environment", ""]
    if not all(comparison["environment_recorded"]):
        missing = [n for n, ok in zip(names, comparison["environment_recorded"]) if not ok]
        lines.append(f"- No environment recorded in {', '.join(missing)} (results from "
                     "before privlearn recorded it).")
    if comparison["environment"]:
        lines += [f"| key | {a} | {b} | decides floating point |", "|---|---|---|---|"]
        lines += [f"| {d['key']} | {d['a']} | {d['b']} | {'yes' if d['floating_point'] else ''} |"
                  for d in comparison["environment"]]
    elif all(comparison["environment_recorded"]):
        lines.append("- Same environment.")
    for d in comparison["versions"]:
        lines.append(f"- Version of {d['key']}: {d['a']} vs {d['b']}")
    lines += ["", "## Model digests", ""]
    digests = comparison["model_digests"]
    if digests is None:
        lines.append("- Not recorded in both runs.")
    else:
        lines.append(f"- Identical: {len(digests['same'])}"
                     + (f" ({', '.join(digests['same'])})" if digests["same"] else ""))
        lines.append(f"- Different: {len(digests['different'])}"
                     + (f" ({', '.join(digests['different'])})" if digests["different"] else ""))
        for side, name in (("only_in_a", a), ("only_in_b", b)):
            if digests[side]:
                lines.append(f"- Only in {name}: {', '.join(digests[side])}")
    return "\n".join(lines) + "\n"


def seed_spread(results):
    """Between-seed spread of each effect next to its record-level interval.

    Parameters
    ----------
    results : dict or list of dict
        One ``results.json`` of a ``--repeats k`` run (its findings carry
        ``per_seed`` effects and, where recorded, ``per_seed_ci``, the
        record-level interval of each seed), or a list of k single-seed runs.

    Returns
    -------
    rows : list of dict
        ``id``, ``n_seeds``, ``effects``, ``seed_sd`` (sample SD between seeds),
        ``record_half_width`` (mean half-width of the per-seed record-level
        intervals, None if not recorded) and ``ratio`` (seed SD / half-width).

    Examples
    --------
    >>> from privlearn.audit.compare import seed_spread
    >>> runs = [{"findings": [{"id": "x", "effect": e, "ci": [e - .1, e + .1]}]}
    ...         for e in (0.10, 0.14)]
    >>> row = seed_spread(runs)[0]
    >>> round(row["seed_sd"], 4), round(row["record_half_width"], 3)
    (0.0283, 0.1)
    """
    per_id = {}
    runs = results if isinstance(results, list) else [results]
    for index, run in enumerate(runs):
        _check(run, f"results[{index}]")
        for finding in run["findings"]:
            for name, entry in _entries(finding):
                key = finding["id"] if not name else f"{finding['id']} / {name}"
                slot = per_id.setdefault(key, {"effects": [], "cis": []})
                if len(runs) == 1 and "per_seed" in entry:
                    slot["effects"] += [_number(e) for e in entry["per_seed"]]
                    slot["cis"] += [_ci(c) for c in entry.get("per_seed_ci", [])]
                else:
                    slot["effects"].append(_number(entry.get("effect")))
                    if len(runs) > 1:
                        slot["cis"].append(_ci(entry.get("ci")))
    rows = []
    for key, slot in per_id.items():
        effects = [e for e in slot["effects"] if e is not None]
        cis = [c for c in slot["cis"] if c is not None]
        sd = float(np.std(effects, ddof=1)) if len(effects) >= 2 else None
        half = float(np.mean([(c[1] - c[0]) / 2 for c in cis])) if cis else None
        rows.append({"id": key, "n_seeds": len(effects), "effects": effects, "seed_sd": sd,
                     "record_half_width": half,
                     "ratio": sd / half if sd is not None and half else None})
    return rows


def seed_spread_markdown(rows):
    """:func:`seed_spread`'s rows as a Markdown table."""
    lines = ["| finding | seeds | effects | between-seed SD | record-level half-width | "
             "SD / half-width |", "|---|---|---|---|---|---|"]
    def fmt(value, spec):
        return "—" if value is None else format(value, spec)

    for r in rows:
        effects = ", ".join(f"{e:+.3f}" for e in r["effects"])
        lines.append(f"| {r['id']} | {r['n_seeds']} | {effects} | {fmt(r['seed_sd'], '.4f')} "
                     f"| {fmt(r['record_half_width'], '.4f')} | {fmt(r['ratio'], '.2f')} |")
    return "\n".join(lines) + "\n"


def add_subparser(subparsers):
    """Register ``compare`` on an argparse ``subparsers`` object (the privlearn CLI)."""
    parser = subparsers.add_parser(
        "compare", help="compare two audits' results.json finding by finding",
        description="Compare two audits' results.json: verdicts, effect movement, interval "
                    "overlap, borderline verdicts, environment and model digests. With "
                    "--seed-spread, report between-seed SD against record-level intervals.")
    _arguments(parser)
    parser.set_defaults(func=_run)
    return parser


def _arguments(parser):
    parser.add_argument("results", nargs="+", help="results.json files (two to compare)")
    parser.add_argument("--tolerance", type=float, default=None,
                        help="effect movement a rerun may cause (default: the largest "
                             "movement seen between the two runs)")
    parser.add_argument("--json", action="store_true", help="print JSON, not Markdown")
    parser.add_argument("--seed-spread", action="store_true",
                        help="seed-to-seed spread of one --repeats run, or of several "
                             "single-seed runs")


def _run(args):
    try:
        runs = [load_results(p) for p in args.results]
        if args.seed_spread:
            rows = seed_spread(runs if len(runs) > 1 else runs[0])
            print(json.dumps(rows, indent=1) if args.json else seed_spread_markdown(rows),
                  end="")
            return 0
        if len(runs) != 2:
            raise ValueError(f"compare needs exactly two results files, got {len(runs)}")
        comparison = compare(*runs, tolerance=args.tolerance)
    except ValueError as exc:
        print(f"privlearn compare: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(comparison, indent=1) if args.json
          else to_markdown(comparison, names=tuple(args.results)), end="")
    return 0


def main(argv=None):
    """``python -m privlearn.audit.compare a.json b.json``."""
    parser = argparse.ArgumentParser(prog="python -m privlearn.audit.compare",
                                     description="Compare two audits' results.json.")
    _arguments(parser)
    return _run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
