"""The audit: the paper's whole protocol in one call, with a written report.

:func:`run_audit` runs the protocol in stages, each its own module:

1. :mod:`~privlearn.audit.config` — every option checked before any work;
2. :mod:`~privlearn.audit.split` — the four-way split (target/shadow × train/test)
   and the attack record sets;
3. :mod:`~privlearn.audit.train` — a target and a shadow per model family
   (contrastive, supervised, Talos) and the Talos λ sweep, same budget for every
   family, checkpointed with their training times;
4. :mod:`~privlearn.audit.attack` — a registry of membership attacks, attribute
   inference, utility;
5. :mod:`~privlearn.audit.judge` — the paper's findings with effects, intervals and
   verdicts;
6. :mod:`~privlearn.audit.report` — ``report.md``, ``results.json`` and plots, written atomically.

:mod:`~privlearn.audit.output` locks the output folder for one audit at a time and
refuses to replace another configuration's report.
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict

import numpy as np
from sklearn.utils import Bunch

from .. import catalogue
from .. import datasets as _datasets
from .. import stats
from .attack import encoder_of, reference_encoders, run_attribute, run_erasure, run_membership, utility
from .config import (ATTACKS, BACKBONES, FAMILIES, MEMBERSHIP_ATTACKS, REFERENCE_ATTACKS,
                     SEED_OFFSETS, AuditConfig, build_config, check_config, check_out,
                     seeds)
from .judge import combine_seeds, judge_seed, strongest_attack
from .provenance import environment
from .output import (AuditLockedError, Checkpoints, OutputLock, ReportExistsError,
                     check_existing_report)
from .progress import Progress
from .split import attack_sets, load_data, split
from .train import model_specs, thread_limit, train_models, train_reference

__all__ = ["AuditConfig", "run_audit", "MEMBERSHIP_ATTACKS", "ATTACKS", "BACKBONES",
           "FAMILIES", "AuditLockedError", "ReportExistsError"]


def _versions():
    import sklearn
    import skorch
    import torch
    import torchvision

    from .. import __version__

    return {"privlearn": __version__, "python": platform.python_version(),
            "torch": torch.__version__, "torchvision": torchvision.__version__,
            "scikit-learn": sklearn.__version__, "skorch": skorch.__version__,
            "numpy": np.__version__}


def _public(result):
    """An attack result without its per-record arrays (those stay in checkpoints)."""
    return {k: v for k, v in result.items()
            if k not in ("predictions", "truth", "test_predictions", "conditional_guesses")}


def _baseline(leak):
    """The larger of the majority and the conditional baseline of an attribute result."""
    return max(leak["majority_baseline"], leak.get("conditional_baseline") or 0.0)


def _membership_attacks(cfg):
    """The configuration's membership attacks whose needs can be met (catalogue
    order is the order of ``cfg.attacks``); ``reference`` needs ``reference_models``."""
    return [a for a in cfg.attacks if a in catalogue.ATTACKS
            and catalogue.ATTACKS[a].kind == "membership"
            and not ("reference" in catalogue.needs("attacks", a) and cfg.reference_models == 0)]


def _run_repeat(cfg, data, seed, store, model_store, progress):
    """Split, train, attack for one repeat; the raw per-record results."""
    parts = split(data, cfg, seed)
    has_attribute = data.sensitive is not None
    sets = attack_sets(parts, has_attribute)
    families = [f for f in FAMILIES if f != "talos" or has_attribute]
    sweep = [w for w in cfg.talos_weights if w != cfg.talos_weight] if has_attribute else []
    specs = model_specs(families, sweep, seed)
    models, seconds = train_models(cfg, [(s, parts[s.part]) for s in specs], model_store,
                                   progress)

    def model(family, role="target", weight=None):
        spec = next(s for s in specs if (s.family, s.role, s.weight) == (family, role, weight))
        return models[spec.name]

    membership_attacks = _membership_attacks(cfg)
    run_attr = "attribute" in cfg.attacks and has_attribute
    raw = {"membership": {}, "attribute": {}, "utility": {},
           "eval_membership": sets.eval[1], "test_truth": np.asarray(sets.test[1])}
    pool = sets.shadow[0]  # the attacker's records: the shadow parts
    pool_sensitive = sets.aux[1] if has_attribute else None
    for index, family in enumerate(families):
        progress.stage(f"attacking {family} (seed {seed})")
        target, shadow = model(family), model(family, "shadow")
        raw["utility"][family] = utility(target, sets)

        def reference(family=family, index=index):
            name = f"reference-{family}-seed{seed}"
            if not store.has(name):
                progress.stage(f"training {cfg.reference_models} reference models "
                               f"({family})")
            entry, _ = store.get_or_compute(name, lambda: train_reference(
                cfg, family, pool, pool_sensitive,
                seed + SEED_OFFSETS["reference"] + index))
            seconds[name] = entry["train_seconds"]
            return entry["reference"]

        ctx = Bunch(cfg=cfg, family=family, target=target, shadow=shadow, sets=sets,
                    seed=seed, pool=pool, reference=reference, encoder=encoder_of(target),
                    reference_encoders=lambda reference=reference: reference_encoders(
                        reference()))
        raw["membership"][family] = {
            attack: store.get_or_compute(
                f"attack-{family}-{attack}-seed{seed}",
                lambda attack=attack: run_membership(attack, ctx))[0]
            for attack in membership_attacks}
        if run_attr:
            raw["attribute"][family] = store.get_or_compute(
                f"attribute-{family}-seed{seed}",
                lambda: run_attribute(target, sets, seed))[0]
        if any("reference" in catalogue.needs("attacks", a) for a in membership_attacks):
            reference()  # its training time, also when every attack was resumed
        progress.done()

    tradeoff = []
    if run_attr and "talos" in families:
        points = [(0.0, "contrastive", model("contrastive")),
                  (cfg.talos_weight, "talos", model("talos"))]
        points += [(w, f"talos-{w:g}", model("talos", weight=w)) for w in sweep]
        for weight, key, target in sorted(points, key=lambda p: p[0]):
            acc = (raw["utility"][key]["test_accuracy"] if key in raw["utility"]
                   else utility(target, sets)["test_accuracy"])
            leak = raw["attribute"].get(key) or store.get_or_compute(
                f"attribute-{key}-seed{seed}", lambda: run_attribute(target, sets, seed))[0]
            tradeoff.append({"adversary_weight": weight, "model": key, "test_accuracy": acc,
                             "attribute_inference": leak["accuracy"],
                             "majority_baseline": leak["majority_baseline"],
                             "conditional_baseline": leak.get("conditional_baseline")})
    defenses = []
    if run_attr and "talos" in families:
        defenses = [dict(p, defense="none (contrastive)" if p["model"] == "contrastive"
                         else f"Talos λ={p['adversary_weight']:g} (retrained)")
                    for p in tradeoff]
        erased = store.get_or_compute(f"erasure-contrastive-seed{seed}",
                                      lambda: run_erasure(model("contrastive"), sets, seed))[0]
        defenses.append({"defense": "linear concept erasure (LEACE) on the contrastive "
                                    "encoder, post hoc", "model": "contrastive+leace",
                         "test_accuracy": erased["test_accuracy"],
                         "attribute_inference": erased["accuracy"],
                         "majority_baseline": erased["majority_baseline"],
                         "conditional_baseline": erased.get("conditional_baseline")})
        # The table's relative columns: the one computation compare_defenses uses.
        from ..defenses import summarize_defenses

        summary = summarize_defenses([row["test_accuracy"] for row in defenses],
                                     [row["attribute_inference"] for row in defenses],
                                     _baseline(defenses[0]), reference=0)
        for row, removed, cost in zip(defenses, summary.leakage_removed,
                                      summary.utility_cost):
            row["fraction_of_excess_removed"] = None if np.isnan(removed) else float(removed)
            row["utility_cost"] = float(cost)
    from .provenance import model_digests

    raw.update(parts=parts, tradeoff=tradeoff, defenses=defenses, seconds=seconds,
               model_digests=model_digests(models))
    return raw


def run_audit(dataset=_datasets.DEFAULT_DATASET, *, root=None, backbone="cnn", epochs=None,
              batch_size=128, device="cpu", seed=0, out="audit-report", attacks=None,
              quick=False, n_per_part=None, image_size=None, progress=True, n_jobs=1,
              attribute="auto", repeats=1, overwrite=False, **options):
    """Run the paper's protocol on one data set and write a report.

    Parameters
    ----------
    dataset : str, default="digits"
        A name from :func:`privlearn.datasets.available`.
    root : str, optional
        Folder of the data set's files (user data sets).
    backbone : {"cnn", "resnet18", "resnet50", "mobilenet_v2"}, default="cnn"
    epochs : int, optional
        Training epochs of every model (same for every family).  Default 100, or 15
        with ``quick=True``.
    batch_size, device, seed
        Training batch size, torch device, and the seed of every random choice.
    out : str or Path, default="audit-report"
        Output folder: ``report.md``, ``results.json``, ``roc_*.png``,
        ``talos_tradeoff.png`` and ``checkpoints/``.  One audit at a time per
        folder (a lock file); a folder holding another configuration's report is
        refused unless ``overwrite=True``.
    attacks : list of str, optional
        Subset of :data:`ATTACKS` (default: all).
    quick : bool, default=False
        A small budget for a first look (fewer epochs, fewer samples).
    n_per_part : int, optional
        Samples per part of the split (default: all the data allows).
    image_size : int, optional
        Resize images to ``image_size`` pixels square when loading.
    progress : bool, default=True
        Show a progress bar over the stages and training epochs.
    n_jobs : int, default=1
        Train the models in this many processes (joblib; ``-1``: all cores).
        Every fit uses ``torch_threads`` threads whatever ``n_jobs`` is, so the
        numbers are the same as with ``n_jobs=1``.
    attribute : {"auto", "magnitude", "digit"} or None, default="auto"
        The digits sensitive attribute; ``"auto"``: ``"magnitude"`` for digits
        (independent of the parity task, as race of gender in UTKFace), ``None``
        for other data sets.
    repeats : int, default=1
        Repeat the whole protocol with re-drawn seeds; intervals then span seeds.
    overwrite : bool, default=False
        Replace a different configuration's report in ``out``.
    **options
        Advanced :class:`AuditConfig` fields (``temperature``, ``lr``,
        ``talos_weight``, ``talos_weights``, ``label_only_records``, ``n_boot``,
        ``confidence``, ``min_fraction_removed``, ``max_utility_cost``,
        ``torch_threads``, ...).

    Returns
    -------
    results : dict
        Everything written to ``results.json``; ``results["findings"]`` is the list
        of the paper's findings with effect, interval and verdict.

    Examples
    --------
    >>> from privlearn.audit import run_audit
    >>> results = run_audit(quick=True, out="audit-quick", progress=False)  # doctest: +SKIP
    >>> [f["verdict"] for f in results["findings"]]  # doctest: +SKIP
    """
    cfg = check_config(build_config(
        dataset, root=root, backbone=backbone, epochs=epochs, batch_size=batch_size,
        device=device, seed=seed, attacks=attacks, quick=quick, n_per_part=n_per_part,
        image_size=image_size, n_jobs=n_jobs, attribute=attribute, repeats=repeats,
        **options))
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be True or False, got {overwrite!r}")
    out = check_out(out)
    with OutputLock(out), thread_limit(cfg.torch_threads):
        check_existing_report(out, cfg, overwrite)
        return _run_locked(cfg, out, progress)


def _results(cfg, data, raws, findings, wall_seconds):
    """results.json's dictionary.  One section per key: a new section (e.g.
    ``results["environment"]``, ``results["model_digests"]``) is one more key here,
    computed from ``cfg``, ``data`` or the repeats' ``raws``."""
    first = raws[0]
    membership = {f: {a: r["report"] for a, r in by.items()}
                  for f, by in first["membership"].items()}
    results = {
        "config": asdict(cfg), "config_key": cfg.key(), "model_key": cfg.model_key(),
        "report_key": cfg.report_key(),
        "config_summary": cfg.summary(), "versions": _versions(),
        "data": {"name": data.name, "description": data.description,
                 "n_per_part": len(first["parts"].target_train.target),
                 "image_shape": list(data.images.shape[1:]),
                 "n_classes": len(data.target_names),
                 "sensitive_names": data.get("sensitive_names")},
        "seeds": seeds(cfg),
        "findings": findings,
        "utility": {f: _public(u) for f, u in first["utility"].items()},
        "membership": membership,
        "strongest_attack": {f: strongest_attack(by) for f, by in first["membership"].items()},
        "attribute": {f: _public(a) for f, a in first["attribute"].items()},
        "talos_tradeoff": first["tradeoff"],
        "defenses": first["defenses"],
        "train_seconds": {k: v for raw in raws for k, v in raw["seconds"].items()},
        "wall_seconds": round(wall_seconds, 1),
        # what decides the floating-point path, and a digest of every trained model,
        # so that two runs can be compared (``privlearn compare a.json b.json``)
        "environment": environment(cfg.device),
        "model_digests": {k: v for raw in raws for k, v in raw["model_digests"].items()},
    }
    return results


def _run_locked(cfg, out, progress_enabled):
    data = load_data(cfg)
    has_attribute = data.sensitive is not None
    families = [f for f in FAMILIES if f != "talos" or has_attribute]
    n_sweep = len([w for w in cfg.talos_weights if w != cfg.talos_weight]) \
        if has_attribute else 0
    progress = Progress(range(cfg.repeats * (3 * len(families) + n_sweep)), progress_enabled)
    store, model_store = Checkpoints(out, cfg), Checkpoints(out, cfg, models=True)
    started = time.perf_counter()
    raws = []
    try:
        for seed in seeds(cfg):
            raws.append(_run_repeat(cfg, data, seed, store, model_store, progress))
    finally:
        progress.close()
    findings = combine_seeds([judge_seed(raw, cfg, s) for raw, s in zip(raws, seeds(cfg))],
                             cfg)
    results = _results(cfg, data, raws, findings, time.perf_counter() - started)
    first = raws[0]
    curves = {attack: {f: (r["membership"], r["scores"]) for f, r in
                       ((f, first["membership"][f][attack]) for f in first["membership"])}
              for attack in next(iter(first["membership"].values()), {})}
    # the blind baseline of every repeat's split (pixels only, never a model); it
    # marks the membership findings confounded when the split alone leaks membership
    from .judge import judge_blind_baseline
    from .report import write_report

    results["blind_baseline"] = judge_blind_baseline(raws, cfg, results["findings"],
                                                     seeds(cfg))
    write_report(results, curves, out, raw=first)
    return results
