"""Audit a model trained elsewhere (an encoder or a classifier) on the user's own images.

:func:`audit_model` runs every attack of :data:`privlearn.catalogue.ATTACKS` whose
``needs`` the access given satisfies -- an encoder gives ``"encoder"`` (EncoderMI,
PartCrop, any plug-in encoder attack, and attribute inference); a classifier gives
``"posteriors"`` and ``"labels"`` (the metric, NN and label-only attacks); a training
``recipe`` with a population ``pool`` gives ``"reference"`` (LiRA, RMIA, and
EncoderLiRA on an encoder) -- after a *blind baseline* that tells whether the
member/non-member split itself leaks membership.  It writes ``report.md``,
``results.json`` (findings with effect, interval and verdict), ROC plots,
``record_risk.csv`` and ``gallery.png``.

The built-in attacks that the audit trains on a shadow model run here in *audit
mode* (the owner knows the membership; cross-validated on it, no shadow model):
:data:`AUDIT_MODE` holds their runners.  Every other catalogued attack (a plug-in
registered with :func:`privlearn.catalogue.register`) is called through its own
``run(ctx)`` with the context of :mod:`privlearn.audit.attack`, where
``ctx.sets.eval`` holds the user's records and membership, ``ctx.shadow`` is None,
``ctx.target`` is the encoder (for an attack that needs ``"encoder"``) or the
classifier, and ``ctx.reference()`` the reference models of the recipe.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.utils import Bunch

from .. import catalogue

__all__ = ["audit_model", "planned_attacks", "access_of", "AUDIT_MODE"]


# --- the attacks: audit-mode runners, name -> run(target, ctx) -> scores ------------

def _oof(attack, X, membership, ctx, method="decision_function"):
    scores = cross_val_predict(attack, X, membership, cv=ctx["folds"], method=method)
    return scores[:, 1] if scores.ndim == 2 else scores


def _encodermi(encoder, ctx):
    from ..attacks.encoder_membership import EncoderMembershipInference
    attack = EncoderMembershipInference(encoder, method="threshold", n_views=ctx["n_views"],
                                        random_state=ctx["random_state"])
    return _oof(attack, ctx["images"], ctx["membership"], ctx)


def _metric(method):
    def run(classifier, ctx):
        from ..attacks.membership import MembershipInference
        attack = MembershipInference(classifier, method=method,
                                     random_state=ctx["random_state"])
        return _oof(attack, ctx["records"], ctx["membership"], ctx, "predict_proba")
    return run


def _label_only(classifier, ctx):
    from ..attacks.label_only import LabelOnlyMembershipInference
    attack = LabelOnlyMembershipInference(classifier, max_iter=ctx["label_only_iter"],
                                          max_queries=ctx["label_only_queries"],
                                          random_state=ctx["random_state"])
    return _oof(attack, ctx["records"], ctx["membership"], ctx, "predict_proba")


def _reference(ctx):
    """The recipe's reference models on the pool: trained once, shared by every
    attack that needs ``"reference"``."""
    if "reference_models" not in ctx:
        from ..attacks import ReferenceModels
        ctx["reference_models"] = ReferenceModels(
            ctx["recipe"], n_models=ctx["n_shadows"],
            random_state=ctx["random_state"]).fit(ctx["pool"])
    return ctx["reference_models"]


def _lira(classifier, ctx):
    from ..attacks.lira import LiRA
    attack = LiRA(classifier, reference=_reference(ctx), online=False)
    return attack.fit(ctx["pool"]).decision_function(ctx["records"])


def _rmia(classifier, ctx):
    from ..attacks.rmia import RMIA
    attack = RMIA(classifier, reference=_reference(ctx))
    return attack.fit(ctx["pool"]).decision_function(ctx["records"])


#: Audit-mode runners of the built-in attacks the audit runs with a shadow model:
#: name -> ``run(target, ctx) -> one score per record`` (cross-validated on the
#: given membership, or offline against the recipe's reference models).
AUDIT_MODE = {
    "nn": _metric("nn"), "correctness": _metric("correctness"),
    "confidence": _metric("confidence"), "entropy": _metric("entropy"),
    "modified_entropy": _metric("modified_entropy"), "label_only": _label_only,
    "lira": _lira, "rmia": _rmia, "encodermi": _encodermi,
}
#: Titles of attacks whose audit-mode protocol differs from the catalogue's.
_TITLES = {"lira": "LiRA (offline)", "rmia": "RMIA (offline)"}


def _catalogue_runner(spec):
    """Run a catalogued attack through its own ``run(ctx)`` on the user's records."""
    def run(target, ctx):
        from ..audit.attack import encoder_of
        from ..records import Records

        records = Records(ctx["images"], ctx["labels"])
        reference = (lambda: _reference(ctx)) if ctx["recipe"] is not None else None
        actx = Bunch(
            cfg=SimpleNamespace(encodermi_views=ctx["n_views"], n_boot=ctx["n_boot"],
                                label_only_records=len(records),
                                label_only_max_iter=ctx["label_only_iter"],
                                reference_models=ctx["n_shadows"], confidence=0.95),
            family="encoder" if "encoder" in spec.needs else "classifier",
            target=target, shadow=None,
            sets=Bunch(eval=(records, ctx["membership"])),
            seed=ctx["random_state"], pool=ctx["pool"], reference=reference,
            encoder=ctx["encoder"],
            reference_encoders=lambda: [encoder_of(m) for m in _reference(ctx).models_])
        result = catalogue.load(spec)(actx)
        scores = np.asarray(result["scores"], dtype=np.float64)
        ids = np.asarray(result.get("records", np.arange(len(scores))))
        if scores.shape != ids.shape:
            raise ValueError(f"attack {spec.name!r} returned {scores.shape[0]} scores for "
                             f"{ids.shape[0]} records")
        if ids.shape[0] != len(records) or len(np.unique(ids)) != len(records):
            raise ValueError(f"attack {spec.name!r} scored {len(np.unique(ids))} of "
                             f"{len(records)} records; the own-model audit needs every one")
        full = np.empty(len(records))
        full[ids] = scores
        extra = {}
        if result.get("memorization") is not None:
            m = np.empty(len(records))
            m[ids] = np.asarray(result["memorization"], dtype=np.float64)
            extra["memorization"] = m
        return full, extra
    return run


def access_of(encoder=None, classifier=None, recipe=None, pool=None):
    """What the audit can give an attack: ``"encoder"`` (an encoder),
    ``"posteriors"`` and ``"labels"`` (a classifier), ``"reference"`` (a recipe
    and a pool)."""
    access = set()
    if encoder is not None:
        access.add("encoder")
    if classifier is not None:
        access |= {"posteriors", "labels"}
    if recipe is not None and pool is not None:
        access.add("reference")
    return access


def planned_attacks(access, attacks=None):
    """The catalogued attacks an audit with ``access`` runs, and those it skips.

    Returns ``(run, skipped)``: ``run`` lists ``(name, spec)`` of every membership
    or attribute attack in :data:`privlearn.catalogue.ATTACKS` whose ``needs`` are
    a subset of ``access`` (read at call time: a plug-in registered later counts);
    ``skipped`` maps the attacks that only lack ``"reference"`` to the reason.
    ``attacks`` restricts both to these names.

    Examples
    --------
    >>> from privlearn.own_audit import planned_attacks
    >>> run, skipped = planned_attacks({"posteriors", "labels"})
    >>> [name for name, _ in run][:3], sorted(skipped)[:2]
    (['nn', 'correctness', 'confidence'], ['lira', 'rmia'])
    """
    run, skipped = [], {}
    for name, spec in catalogue.ATTACKS.items():
        if spec.kind not in ("membership", "attribute"):
            continue
        if attacks is not None and name not in attacks:
            continue
        needs = set(spec.needs)
        if needs <= access:
            run.append((name, spec))
        elif needs - access == {"reference"}:
            skipped[name] = "needs `recipe` and `pool` (reference models)"
    return run, skipped


# --- validation ---------------------------------------------------------------------

def _as_target(model, kind, classes=None):
    from ..wrappers import TorchClassifier, TorchEncoder
    if model is None:
        return None
    if isinstance(model, torch.nn.Module):
        if kind == "classifier":
            return TorchClassifier(model, classes=classes)
        return TorchEncoder(model)
    needs = "transform" if kind == "encoder" else "predict_proba"
    if not callable(getattr(model, needs, None)):
        raise TypeError(f"audit_model: `{kind}` must be a torch.nn.Module or a fitted "
                        f"estimator with {needs}(), got {type(model).__name__}")
    return model


def _membership(members, data):
    n = len(data["images"])
    if members is None or (isinstance(members, str) and members == "member"):
        if data.get("member") is None:
            raise ValueError("audit_model: `members` not given and the data have no "
                             "'member' column")
        membership = np.asarray(data["member"])
    elif isinstance(members, (str, Path)):
        path = Path(members)
        if not path.is_file():
            raise ValueError(f"audit_model: `members` file {path} does not exist")
        wanted = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        names = {str(v): i for i, v in enumerate(data.get("names", []))}
        paths = {str(v): i for i, v in enumerate(data.get("paths", []))}
        unknown = [w for w in wanted if w not in names and w not in paths]
        if unknown:
            raise ValueError(f"audit_model: {len(unknown)} member(s) listed in {path} are "
                             f"not in the data, first: {unknown[0]!r} (give file names or "
                             "paths as load_images reports them)")
        membership = np.zeros(n, dtype=np.int64)
        membership[[names.get(w, paths.get(w)) for w in wanted]] = 1
    else:
        membership = np.asarray(members)
        if membership.dtype == bool:
            membership = membership.astype(np.int64)
    if membership.shape != (n,) or not np.isin(membership, [0, 1]).all():
        raise ValueError(f"audit_model: `members` must be 0/1 per image ({n} images), a "
                         "file listing the members, or 'member' (the manifest column); got "
                         f"shape {membership.shape}")
    counts = np.bincount(membership.astype(int), minlength=2)
    if counts.min() < 5:
        raise ValueError(f"audit_model: need at least 5 members and 5 non-members, got "
                         f"{counts[1]} members and {counts[0]} non-members")
    return membership.astype(np.int64)


def _interval(membership, scores, ctx):
    from ..stats import bootstrap_counts, percentile_ci, weighted_roc_auc
    counts = bootstrap_counts(len(scores), ctx["n_boot"], strata=membership,
                              random_state=ctx["random_state"])
    return percentile_ci(weighted_roc_auc(membership, scores, counts))


# --- the audit ----------------------------------------------------------------------

def audit_model(encoder=None, classifier=None, data=None, members=None, *, recipe=None,
                pool=None, out=None, attacks=None, cv=5, n_boot=1000, n_views=10,
                label_only_records=100, label_only_iter=5, label_only_queries=500,
                n_shadows=8, gallery_size=16, random_state=0):
    """Audit a trained encoder and/or classifier on the user's images.

    Parameters
    ----------
    encoder : torch.nn.Module, TorchEncoder or fitted transformer, optional
    classifier : torch.nn.Module, TorchClassifier or fitted classifier, optional
        At least one of the two.  A bare classifier module is wrapped with the
        data's classes.
    data : Bunch or str
        :func:`privlearn.datasets.images.load_images` output (or its argument):
        ``images``, ``target``, optional ``sensitive`` (for attribute inference),
        ``member``, ``paths``, ``names``.
    members : array-like of 0/1, str or Path, optional
        Membership per image; a file listing member file names or paths, one per
        line; or None / ``"member"`` for the data's ``member`` column.
    recipe : unfitted estimator, optional
        How the model was trained (fits ``Records.inputs``/labels): with ``pool``
        it trains ``n_shadows`` reference models (:class:`privlearn.attacks.ReferenceModels`)
        for the attacks that need ``"reference"`` -- LiRA/RMIA on the classifier,
        EncoderLiRA on the encoder (the first step of a Pipeline recipe, or the
        recipe itself when it is a transformer).
    pool : Records, optional
        Population records the reference models are trained on (with ``recipe``);
        keep the audited records out of it (the attacks run offline).
    out : str or Path, optional
        Folder for report.md, results.json, roc.png, roc_log.png,
        record_risk.csv and gallery.png.
    attacks : list of str, optional
        Restrict to these catalogue names (default: every attack of
        :data:`privlearn.catalogue.ATTACKS` whose ``needs`` the access satisfies;
        see :func:`planned_attacks`).
    cv, n_boot, n_views, label_only_records, label_only_iter, label_only_queries, n_shadows
        Cross-validation folds of the audit-mode attacks, bootstrap resamples,
        EncoderMI views, records (and HopSkipJump budget) of the label-only
        attack, reference models of LiRA/RMIA.
    random_state : int, default=0

    Returns
    -------
    results : dict
        ``blind_baseline``, ``attacks`` (name -> AUC, interval, report),
        ``attribute`` (if ``sensitive``), ``findings``, ``strongest``, ``files``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn.utils import Bunch
    >>> from privlearn.own_audit import audit_model
    >>> rng = np.random.RandomState(0)
    >>> data = Bunch(images=rng.randint(0, 255, (40, 1, 8, 8)).astype(np.uint8),
    ...              target=rng.randint(0, 2, 40))
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
    >>> r = audit_model(classifier=net, data=data, members=np.arange(40) % 2,
    ...                 attacks=["confidence"], n_boot=100)
    >>> sorted(r["attacks"])
    ['confidence']
    """
    start = time.perf_counter()
    # Everything is checked before any attack runs.
    if data is None:
        raise ValueError("audit_model: `data` is required (load_images output or its path)")
    if isinstance(data, (str, Path)):
        from ..datasets.images import load_images
        data = load_images(data)
    if "images" not in data or "target" not in data:
        raise ValueError("audit_model: `data` must hold 'images' and 'target'")
    images = np.asarray(data["images"])
    labels = np.asarray(data["target"])
    if images.ndim != 4 or images.dtype != np.uint8:
        raise ValueError(f"audit_model: data images must be uint8 N×C×H×W, got "
                         f"{images.dtype} {images.shape}")
    if labels.shape != (len(images),):
        raise ValueError("audit_model: data target must hold one label per image")
    if encoder is None and classifier is None:
        raise ValueError("audit_model: give an `encoder`, a `classifier`, or both")
    membership = _membership(members, data)
    encoder = _as_target(encoder, "encoder")
    classifier = _as_target(classifier, "classifier", classes=np.unique(labels))
    from ..wrappers import _TorchModel
    for model in (encoder, classifier):
        if isinstance(model, _TorchModel):
            model.fit()  # validates its parameters
    if (recipe is None) != (pool is None):
        raise ValueError("audit_model: LiRA/RMIA need both `recipe` and `pool`")
    if recipe is not None and not callable(getattr(recipe, "fit", None)):
        raise TypeError(f"audit_model: `recipe` must be an unfitted estimator with fit(), "
                        f"got {type(recipe).__name__}")
    access = access_of(encoder, classifier, recipe, pool)
    known = set(catalogue.names("attacks"))
    if attacks is not None:
        if isinstance(attacks, str):
            attacks = [attacks]
        bad = sorted(set(attacks) - known)
        if bad:
            raise ValueError(f"audit_model: unknown attack(s) {bad}; known: {sorted(known)}")
        for name in attacks:
            unmet = set(catalogue.needs("attacks", name)) - access - {"reference"}
            if unmet:
                raise ValueError(f"audit_model: attack {name!r} needs {sorted(unmet)}: "
                                 "give an `encoder` for 'encoder', a `classifier` for "
                                 "'posteriors'/'labels'")
    plan, skipped = planned_attacks(access, attacks)
    sensitive = data.get("sensitive")
    if sensitive is not None and np.asarray(sensitive).shape != (len(images),):
        raise ValueError(f"audit_model: data 'sensitive' must hold one value per image "
                         f"({len(images)}), got shape {np.asarray(sensitive).shape}")
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
    # Probe each model once on two images so a wrong shape or NaN fails now.
    probe = images[:2]
    if encoder is not None:
        from ..attacks.attribute import _embed, _embedder
        _embed(_embedder(encoder, argument="encoder"), probe, argument="encoder")
    if classifier is not None:
        from .._target import checked_predict_proba
        checked_predict_proba(classifier, probe, 2, whose="classifier")

    rng = np.random.RandomState(random_state)
    from ..records import Records
    ctx = dict(images=images, labels=labels, membership=membership,
               random_state=random_state, n_views=n_views, n_boot=n_boot, recipe=recipe,
               pool=pool, n_shadows=n_shadows, label_only_iter=label_only_iter,
               label_only_queries=label_only_queries, encoder=encoder,
               records=Records(images, labels),
               folds=StratifiedKFold(cv, shuffle=True, random_state=random_state))
    from ..blind import blind_baseline
    blind = blind_baseline(images, membership, cv=cv, n_boot=n_boot, random_state=random_state)
    results = {"n_records": int(len(images)), "n_members": int(membership.sum()),
               "access": sorted(access),
               "blind_baseline": {k: v for k, v in blind.items() if k != "scores"},
               "attacks": {}, "findings": []}
    curves, scores_of, memorization_of = {}, {}, {}
    from ..metrics import attack_report
    from ..stats import verdict

    for name, spec in plan:
        if spec.kind != "membership":
            continue
        title = _TITLES.get(name, spec.title)
        target = encoder if "encoder" in spec.needs else classifier
        t0 = time.perf_counter()
        sub_ctx, subset = ctx, None
        if name == "label_only" and label_only_records < len(images):
            # ~hundreds of queries per record: a stratified subset.
            subset = np.sort(np.concatenate([
                rng.permutation(np.flatnonzero(membership == c))[:label_only_records // 2]
                for c in (0, 1)]))
            sub_ctx = dict(ctx, images=images[subset], labels=labels[subset],
                           membership=membership[subset],
                           records=Records(images[subset], labels[subset]))
        if name in AUDIT_MODE:
            out_ = AUDIT_MODE[name](target, sub_ctx)
        else:
            # A catalogued attack may need what this model lacks (PartCrop: a
            # spatial feature map); it is reported as not run, the audit goes on.
            try:
                out_ = _catalogue_runner(spec)(target, sub_ctx)
            except (ValueError, TypeError) as exc:
                results["attacks"][name] = {"title": title, "needs": list(spec.needs),
                                            "skipped": f"not run on this model: {exc}"}
                continue
        s, extra = out_ if isinstance(out_, tuple) else (out_, {})
        s = np.asarray(s, dtype=np.float64)
        m = sub_ctx["membership"]
        if s.shape != m.shape or not np.isfinite(s).all():
            raise ValueError(f"audit_model: attack {name!r} returned scores of shape "
                             f"{s.shape} (finite: {bool(np.isfinite(s).all())}); expected "
                             f"{m.shape[0]} finite scores")
        auc_ci = _interval(m, s, ctx)
        report = attack_report(m, s)
        results["attacks"][name] = {
            "title": title, "needs": list(spec.needs), "roc_auc": report["roc_auc"],
            "roc_auc_ci": auc_ci, "report": report, "n_records": int(len(m)),
            "seconds": round(time.perf_counter() - t0, 2)}
        results["findings"].append({
            "id": f"membership/{name}", "attack": name,
            "claim": f"membership attack {title} beats chance (ROC AUC > 0.5)",
            "effect": report["roc_auc"], "interval": auc_ci,
            "verdict": verdict(auc_ci, threshold=0.5)})
        curves[title] = (m, s)
        if subset is None:
            scores_of[name] = s
            memo = extra.get("memorization")
            if memo is not None and np.isfinite(memo).all():
                memorization_of[name] = memo
    for name, reason in skipped.items():
        results["attacks"][name] = {"title": _TITLES.get(name, catalogue.title("attacks", name)),
                                    "skipped": reason}
    if any(name == "attribute" for name, _ in plan) and sensitive is not None:
        results["attribute"] = _attribute(encoder, images, np.asarray(sensitive), ctx)
        a = results["attribute"]
        results["findings"].append({
            "id": "attribute",
            "claim": "attribute inference beats the majority-class baseline",
            "effect": a["accuracy"] - a["majority"], "interval": a["excess_ci"],
            "verdict": a["verdict"]})
    results["findings"].insert(0, {
        "id": "blind_baseline",
        "claim": "the member/non-member split itself leaks membership (blind baseline)",
        "effect": blind["auc"], "interval": blind["ci"], "verdict": blind["verdict"]})
    from ..audit.judge import mark_confounded
    mark_confounded(results["findings"], blind)
    if scores_of:
        results["strongest"] = max(scores_of, key=lambda k: results["attacks"][k]["roc_auc"])
    results["seconds"] = round(time.perf_counter() - start, 2)
    if out is not None:
        from .report import write
        results["files"] = write(results, curves, scores_of, data, membership, out,
                                 gallery_size=gallery_size, memorization_of=memorization_of)
    return results


def _attribute(encoder, images, sensitive, ctx):
    from ..attacks.attribute import AttributeInference
    from ..stats import bootstrap_ci, verdict
    if sensitive.shape != (len(images),):
        raise ValueError("audit_model: `sensitive` must hold one value per image")
    attack = AttributeInference(encoder, random_state=ctx["random_state"])
    pred = cross_val_predict(attack, images, sensitive, cv=ctx["folds"])
    correct = (pred == sensitive).astype(np.float64)
    values, counts = np.unique(sensitive, return_counts=True)
    majority = float(counts.max() / counts.sum())
    ci = bootstrap_ci(correct - majority, n_boot=ctx["n_boot"],
                      random_state=ctx["random_state"])
    return {"accuracy": float(correct.mean()), "majority": majority, "excess_ci": ci,
            "verdict": verdict(ci, threshold=0.0), "n_records": int(len(images))}
