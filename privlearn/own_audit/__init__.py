"""Audit a model trained elsewhere (an encoder or a classifier) on the user's own images.

:func:`audit_model` runs every attack the access given allows -- EncoderMI and
attribute inference on an encoder; the metric, NN and label-only attacks on a
classifier; LiRA and RMIA when a training ``recipe`` and a population ``pool`` are
given -- after a *blind baseline* that tells whether the member/non-member split
itself leaks membership.  It writes ``report.md``, ``results.json`` (findings with
effect, interval and verdict), ROC plots, ``record_risk.csv`` and ``gallery.png``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold, cross_val_predict

__all__ = ["audit_model", "ENCODER_ATTACKS", "CLASSIFIER_ATTACKS"]


# --- the attacks: one entry each, name -> run(target, ctx) -> out-of-fold scores ----
# An encoder attack added to privlearn (PartCrop, EncoderLiRA) is one more entry
# here: a function of the fitted encoder and the audit context returning one
# membership score per record (higher: more likely a member), out of fold.

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


def _reference(classifier, ctx):
    if "reference" not in ctx:
        from ..attacks.lira import LiRA
        lira = LiRA(classifier, ctx["recipe"], n_shadows=ctx["n_shadows"], online=False,
                    random_state=ctx["random_state"]).fit(ctx["pool"])
        ctx["reference"] = lira.reference_
    return ctx["reference"]


def _lira(classifier, ctx):
    from ..attacks.lira import LiRA
    attack = LiRA(classifier, reference=_reference(classifier, ctx), online=False)
    return attack.fit(ctx["pool"]).decision_function(ctx["records"])


def _rmia(classifier, ctx):
    from ..attacks.rmia import RMIA
    attack = RMIA(classifier, reference=_reference(classifier, ctx))
    return attack.fit(ctx["pool"]).decision_function(ctx["records"])


#: Encoder membership attacks: name -> (title, run).
ENCODER_ATTACKS = {"encodermi": ("EncoderMI", _encodermi)}
#: Classifier membership attacks: name -> (title, run, needs a recipe and pool).
CLASSIFIER_ATTACKS = {
    "nn": ("NN-based", _metric("nn"), False),
    "correctness": ("Correctness", _metric("correctness"), False),
    "confidence": ("Confidence", _metric("confidence"), False),
    "entropy": ("Entropy", _metric("entropy"), False),
    "modified_entropy": ("Modified entropy", _metric("modified_entropy"), False),
    "label_only": ("Label-only", _label_only, False),
    "lira": ("LiRA (offline)", _lira, True),
    "rmia": ("RMIA (offline)", _rmia, True),
}


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
        How the classifier was trained (fits ``Records.inputs``/labels), for LiRA/RMIA.
    pool : Records, optional
        Population records the reference models are trained on (with ``recipe``).
    out : str or Path, optional
        Folder for report.md, results.json, roc.png, roc_log.png,
        record_risk.csv and gallery.png.
    attacks : list of str, optional
        Restrict to these attack names (default: every one the access allows).
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
    known = set(ENCODER_ATTACKS) | set(CLASSIFIER_ATTACKS) | {"attribute"}
    if attacks is not None:
        bad = sorted(set(attacks) - known)
        if bad:
            raise ValueError(f"audit_model: unknown attack(s) {bad}; known: {sorted(known)}")
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
    ctx = dict(images=images, membership=membership, random_state=random_state,
               n_views=n_views, n_boot=n_boot, recipe=recipe, pool=pool,
               n_shadows=n_shadows, label_only_iter=label_only_iter,
               label_only_queries=label_only_queries,
               folds=StratifiedKFold(cv, shuffle=True, random_state=random_state))
    from ..blind import blind_baseline
    from ..records import Records
    ctx["records"] = Records(images, labels)
    blind = blind_baseline(images, membership, cv=cv, n_boot=n_boot, random_state=random_state)
    results = {"n_records": int(len(images)), "n_members": int(membership.sum()),
               "blind_baseline": {k: v for k, v in blind.items() if k != "scores"},
               "attacks": {}, "findings": []}
    curves, scores_of = {}, {}

    def wanted(name):
        return attacks is None or name in attacks

    plan = []
    if encoder is not None:
        plan += [(n, t, f, encoder, None) for n, (t, f) in ENCODER_ATTACKS.items()]
    if classifier is not None:
        for n, (t, f, needs_ref) in CLASSIFIER_ATTACKS.items():
            if not wanted(n):
                continue
            if needs_ref and recipe is None:
                results["attacks"][n] = {"title": t, "skipped": "needs `recipe` and `pool`"}
                continue
            subset = None
            if n == "label_only" and label_only_records < len(images):
                # ~hundreds of queries per record: a stratified subset.
                idx = np.concatenate([rng.permutation(np.flatnonzero(membership == c))
                                      [:label_only_records // 2] for c in (0, 1)])
                subset = np.sort(idx)
            plan.append((n, t, f, classifier, subset))
    for name, title, run, target, subset in plan:
        if not wanted(name):
            continue
        t0 = time.perf_counter()
        sub_ctx = ctx
        if subset is not None:
            sub_ctx = dict(ctx, images=images[subset], membership=membership[subset],
                           records=Records(images[subset], labels[subset]))
        m = sub_ctx["membership"]
        s = np.asarray(run(target, sub_ctx), dtype=np.float64)
        from ..metrics import attack_report
        auc_ci = _interval(m, s, ctx)
        from ..stats import verdict
        results["attacks"][name] = {
            "title": title, "roc_auc": attack_report(m, s)["roc_auc"], "roc_auc_ci": auc_ci,
            "report": attack_report(m, s), "n_records": int(len(m)),
            "seconds": round(time.perf_counter() - t0, 2)}
        v = verdict(auc_ci, threshold=0.5)
        results["findings"].append({
            "claim": f"membership attack {title} beats chance (ROC AUC > 0.5)",
            "effect": results["attacks"][name]["roc_auc"], "interval": auc_ci, "verdict": v,
            "confounded": bool(blind["leaks"]) and v == "holds"})
        curves[title] = (m, s)
        if subset is None:
            scores_of[name] = s
    sensitive = data.get("sensitive")
    if encoder is not None and sensitive is not None and wanted("attribute"):
        results["attribute"] = _attribute(encoder, images, np.asarray(sensitive), ctx)
        a = results["attribute"]
        results["findings"].append({
            "claim": "attribute inference beats the majority-class baseline",
            "effect": a["accuracy"] - a["majority"], "interval": a["excess_ci"],
            "verdict": a["verdict"], "confounded": False})
    results["findings"].insert(0, {
        "claim": "the member/non-member split itself leaks membership (blind baseline)",
        "effect": blind["auc"], "interval": blind["ci"],
        "verdict": "holds" if blind["leaks"] else ("does not hold" if blind["ci"][1] < 0.5
                                                   else "inconclusive"),
        "confounded": False})
    if scores_of:
        strongest = max(scores_of, key=lambda k: results["attacks"][k]["roc_auc"])
        results["strongest"] = strongest
    results["seconds"] = round(time.perf_counter() - start, 2)
    if out is not None:
        from .report import write
        results["files"] = write(results, curves, scores_of, data, membership, out,
                                 gallery_size=gallery_size)
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
