"""The package's import structure: no import circle, no arrow to a floor above.

Every module of privlearn is read with :mod:`ast` (nothing is imported).  A
module's *top-level* imports (module body, class bodies, ``if``/``try`` blocks)
run when it is imported; its *lazy* imports (inside a function) run when the
function is called.

- The top-level imports form no cycle.
- Top-level and lazy imports together form no cycle, apart from the listed
  deprecated aliases.
- No import, top-level or lazy, reaches a floor above the importer's, apart from
  the same aliases.  The floors, lowest first: foundations (data, records,
  statistics, the catalogue, losses, backbones), estimators (encoders, Talos,
  erasure, wrappers), attacks and analyses, defenses (evaluated with the
  attacks), the audit and its report, the command line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import privlearn

ROOT = Path(privlearn.__file__).resolve().parent

#: Module-name prefix -> floor (the longest matching prefix wins).
FLOORS = {
    "privlearn": 0,             # the root package itself: lazy re-exports, __version__
    "privlearn._checks": 0, "privlearn.catalogue": 0, "privlearn.records": 0,
    "privlearn.stats": 0, "privlearn._images": 0, "privlearn._target": 0,
    "privlearn.augment": 0, "privlearn.backbones": 0, "privlearn.losses": 0,
    "privlearn.datasets": 0, "privlearn.metrics": 0,
    "privlearn.encoders": 1, "privlearn.wrappers": 1, "privlearn.erasure": 1,
    "privlearn.talos": 1, "privlearn.distributed": 1, "privlearn.ensemble": 1,
    "privlearn.attacks": 2, "privlearn.blind": 2, "privlearn.exposure": 2,
    "privlearn.defenses": 3, "privlearn.tradeoff": 3,
    "privlearn.audit": 4, "privlearn.own_audit": 4, "privlearn.report": 4,
    "privlearn.cli": 5, "privlearn.__main__": 5,
}

#: Lazy imports allowed to point upward or to close a circle: deprecated aliases
#: kept for old import paths, each to be removed with its alias.
ALLOWED = {
    # privlearn.talos.privacy_utility_curve (deprecated; moved to privlearn.defenses)
    ("privlearn.talos", "privlearn.defenses.tradeoff"),
    # privlearn.attacks._reference.reference_attack_scores: resolved lazily until
    # privlearn/attacks/__init__.py imports it from ._reference_scores.
    ("privlearn.attacks._reference", "privlearn.attacks._reference_scores"),
}


def _modules():
    modules = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        package = parts[-1] == "__init__"
        if package:
            parts = parts[:-1]
        modules[".".join(parts)] = (path, package)
    return modules


MODULES = _modules()


def _targets(module, package, node):
    """The privlearn modules one import statement names."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "privlearn"]
    if node.level:
        base = module if package else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        target = f"{base}.{node.module}" if node.module else base
    else:
        target = node.module or ""
        if target.split(".")[0] != "privlearn":
            return []
    # ``from package import name``: the submodule when ``name`` is one.
    return [f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target
            for a in node.names]


def _imports():
    """``{module: (top-level targets, lazy targets)}``."""
    result = {}
    for module, (path, package) in MODULES.items():
        top, lazy = set(), set()

        def walk(node, in_function):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    (lazy if in_function else top).update(_targets(module, package, child))
                walk(child, in_function or isinstance(
                    child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

        walk(ast.parse(path.read_text(encoding="utf-8")), False)
        result[module] = (top - {module}, lazy - {module})
    return result


IMPORTS = _imports()


def _floor(module):
    prefixes = [p for p in FLOORS if module == p or module.startswith(p + ".")]
    assert prefixes, f"{module} has no floor in tests/test_architecture.py FLOORS"
    return FLOORS[max(prefixes, key=len)]


def _cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_modules_found():
    # The walk sees the package (a wrong root would pass every other test).
    assert {"privlearn.talos", "privlearn.attacks.lira", "privlearn.audit.report",
            "privlearn.catalogue"} <= set(MODULES)
    assert "privlearn.attacks._reference" in IMPORTS["privlearn.attacks.lira"][0]


def test_no_cycle_among_top_level_imports():
    edges = {m: {t for t in top if t in MODULES} for m, (top, _) in IMPORTS.items()}
    assert _cycles(edges) == []


def test_no_cycle_with_lazy_imports():
    edges = {m: {t for t in top | lazy if t in MODULES and (m, t) not in ALLOWED}
             for m, (top, lazy) in IMPORTS.items()}
    assert _cycles(edges) == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_upward_import(module):
    top, lazy = IMPORTS[module]
    floor = _floor(module)
    upward = sorted(t for t in top | lazy
                    if t in MODULES and _floor(t) > floor and (module, t) not in ALLOWED)
    assert upward == [], (f"{module} (floor {floor}) imports from a floor above: "
                          + ", ".join(f"{t} (floor {_floor(t)})" for t in upward))


def test_allowed_exceptions_are_still_needed():
    # A listed exception whose import is gone must leave the list.
    present = {(m, t) for m, (top, lazy) in IMPORTS.items() for t in top | lazy}
    modules_left = {(m, t) for m, t in ALLOWED if m in MODULES and t in MODULES}
    assert modules_left <= present


def test_the_cycle_detector_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
