"""Comparing two audits' results.json."""

import copy
import json
from pathlib import Path

import pytest

from privlearn.audit import compare as cmp

COMMITTED = Path(__file__).parent.parent / "docs" / "_static" / "audit-default-results.json"


def _finding(fid, effect, ci, verdict, components=None):
    f = {"id": fid, "claim": fid, "effect": effect, "ci": ci, "verdict": verdict}
    if components is not None:
        f["components"] = components
    return f


def test_compare_synthetic_results():
    a = {"findings": [
        _finding("m", 0.10, [0.05, 0.15], "holds",
                 {"tpr": {"effect": 0.01, "ci": [-0.01, 0.03], "verdict": "inconclusive"}}),
        _finding("far", 0.30, [0.20, 0.40], "holds"),
        _finding("gone", 0.0, [-0.1, 0.1], "inconclusive")],
        "environment": {"torch": {"cpu_capability": "AVX2", "num_threads": 1}},
        "model_digests": {"x": "1", "y": "2"}}
    b = {"findings": [
        _finding("m", 0.07, [0.00, 0.14], "inconclusive",
                 [{"name": "tpr", "effect": 0.02, "ci": [0.005, 0.035], "verdict": "holds"}]),
        _finding("far", 0.31, [0.21, 0.41], "holds"),
        _finding("new", 0.5, [0.4, 0.6], "holds")],
        "environment": {"torch": {"cpu_capability": "AVX512", "num_threads": 1}},
        "model_digests": {"x": "1", "y": "3", "z": "4"}}
    c = cmp.compare(a, b)
    rows = {r["id"]: r for r in c["findings"]}
    assert c["max_effect_difference"] == pytest.approx(0.03)
    assert rows["m"]["verdict_changed"] and rows["m"]["borderline"]
    assert rows["m / tpr"]["verdict_changed"]          # list-style components too
    assert rows["far"]["effect_difference"] == pytest.approx(0.01)
    assert not rows["far"]["borderline"] and rows["far"]["intervals_overlap"]
    assert rows["gone"]["only_in"] == "a" and rows["new"]["only_in"] == "b"
    assert c["verdicts_changed"] == 2
    env = {d["key"]: d for d in c["environment"]}
    assert list(env) == ["torch.cpu_capability"] and env["torch.cpu_capability"]["floating_point"]
    assert c["model_digests"] == {"same": ["x"], "different": ["y"], "only_in_a": [],
                                  "only_in_b": ["z"]}
    text = cmp.to_markdown(c)
    assert "**inconclusive** (changed)" in text and "(absent)" in text
    assert "torch.cpu_capability | AVX2 | AVX512 | yes" in text
    # A user tolerance: "far" (0.20 from 0) becomes borderline at 0.25.
    wide = {r["id"]: r for r in cmp.compare(a, b, tolerance=0.25)["findings"]}
    assert wide["far"]["borderline"]
    with pytest.raises(ValueError, match="tolerance"):
        cmp.compare(a, b, tolerance=-1)
    with pytest.raises(ValueError, match="findings"):
        cmp.compare({"x": 1}, b)


def test_compare_committed_results_against_perturbed_copy(tmp_path, capsys):
    committed = json.loads(COMMITTED.read_text())
    moved = copy.deepcopy(committed)
    target = next(f for f in moved["findings"] if f["id"] == "membership/correctness")
    target["effect"] += 0.013
    target["ci"] = [v + 0.013 for v in target["ci"]]
    before = target["verdict"]
    target["verdict"] = after = "holds" if before != "holds" else "inconclusive"
    c = cmp.compare(committed, moved)
    rows = {r["id"]: r for r in c["findings"]}
    assert c["verdicts_changed"] == 1 and c["max_effect_difference"] == pytest.approx(0.013)
    assert rows["membership/correctness"]["borderline"]
    # Far from 0 (interval starts at 0.055): not within 0.013 of changing.
    assert not rows["membership/strongest"]["borderline"]
    assert rows["talos / utility_cost"]["verdict_a"] is None
    # the committed run records its models' digests: the copy has the same models
    assert c["model_digests"]["different"] == [] and c["model_digests"]["same"]
    # The command line, runnable alone.
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(committed))
    b.write_text(json.dumps(moved))
    assert cmp.main([str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert f"| membership/correctness | {before} | **{after}** (changed)" in out
    assert cmp.main([str(a)]) == 2
    assert "exactly two" in capsys.readouterr().err
    assert cmp.main([str(a), str(tmp_path / "missing.json")]) == 2


def test_seed_spread_from_repeats_and_single_runs():
    repeats = {"findings": [{"id": "x", "effect": 0.2, "ci": [0.0, 0.4], "verdict": "holds",
                             "per_seed": [0.1, 0.3],
                             "per_seed_ci": [[0.0, 0.2], [0.2, 0.4]]}]}
    row = cmp.seed_spread(repeats)[0]
    assert row["n_seeds"] == 2 and row["seed_sd"] == pytest.approx(0.1414, abs=1e-4)
    assert row["record_half_width"] == pytest.approx(0.1)
    assert row["ratio"] == pytest.approx(1.414, abs=1e-3)
    singles = [{"findings": [{"id": "x", "effect": e, "ci": [e - 0.05, e + 0.05]}]}
               for e in (0.1, 0.1, 0.1)]
    row = cmp.seed_spread(singles)[0]
    assert row["seed_sd"] == pytest.approx(0, abs=1e-12) and row["record_half_width"] == pytest.approx(0.05)
    assert "| x | 3 |" in cmp.seed_spread_markdown(cmp.seed_spread(singles))
