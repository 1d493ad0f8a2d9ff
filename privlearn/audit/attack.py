"""Stage 3, attack: a registry of the audit's attacks.

Adding a membership attack is one entry in :data:`MEMBERSHIP_REGISTRY`: a
:class:`MembershipAttack` with a title and a function
``run(ctx) -> {"scores", "records", ...}`` (``ctx``: see :class:`MembershipAttack`)
where ``records`` indexes the evaluation records (``sets.eval``, members first)
that were scored.  Every result keeps its per-record scores, so the judge can
bootstrap any difference between families on the same records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["MembershipAttack", "MEMBERSHIP_REGISTRY", "run_membership", "run_attribute",
           "utility"]


def _frozen(model):
    from sklearn.frozen import FrozenEstimator

    return FrozenEstimator(model)


def _shadow_protocol(model, X_shadow, m_shadow, X_eval, records):
    model.fit(X_shadow, m_shadow)
    return {"scores": model.predict_proba(X_eval)[:, 1],
            "predictions": model.predict(X_eval), "records": records}


def _metric_attack(method):
    def run(ctx):
        from ..attacks.membership import MembershipInference

        (X_shadow, m_shadow), (X_eval, m_eval) = ctx.sets.shadow, ctx.sets.eval
        model = MembershipInference(target=_frozen(ctx.target), shadow=_frozen(ctx.shadow),
                                    method=method, random_state=ctx.seed)
        return _shadow_protocol(model, X_shadow, m_shadow, X_eval, np.arange(len(m_eval)))
    return run


def _balanced_sample(membership, n_records, rng):
    k = min(n_records // 2, int(membership.sum()), int((1 - membership).sum()))
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(membership == v), k,
                                              replace=False) for v in (1, 0)]))


def _label_only(ctx):
    """HopSkipJump costs many queries per record: attack a balanced subsample (the
    same records for every family, so comparisons stay paired)."""
    from ..attacks.label_only import LabelOnlyMembershipInference

    cfg, seed = ctx.cfg, ctx.seed
    (X_shadow, m_shadow), (X_eval, m_eval) = ctx.sets.shadow, ctx.sets.eval
    rng = np.random.default_rng(seed)
    i_shadow = _balanced_sample(m_shadow, cfg.label_only_records, rng)
    i_eval = _balanced_sample(m_eval, cfg.label_only_records, rng)
    model = LabelOnlyMembershipInference(target=_frozen(ctx.target),
                                         shadow=_frozen(ctx.shadow),
                                         max_iter=cfg.label_only_max_iter,
                                         random_state=seed)
    result = _shadow_protocol(model, X_shadow[i_shadow], m_shadow[i_shadow],
                              X_eval[i_eval], i_eval)
    result["n_queries"] = int(getattr(model, "n_queries_", 0))
    return result


def _reference_attack(kind):
    """LiRA or RMIA, offline: the reference models (trained once per family and
    seed on the attacker's pool, the shadow parts, and shared by both attacks)
    never saw the candidates."""
    def run(ctx):
        from ..attacks.lira import LiRA
        from ..attacks.rmia import RMIA

        reference = ctx.reference()
        cls = LiRA if kind == "lira" else RMIA
        model = cls(target=_frozen(ctx.target), reference=reference, online=False,
                    random_state=ctx.seed)
        model.fit(ctx.pool)
        X_eval, m_eval = ctx.sets.eval
        return {"scores": model.predict_proba(X_eval)[:, 1],
                "predictions": model.predict(X_eval), "records": np.arange(len(m_eval))}
    return run


def encoder_of(model):
    """The encoder (a transformer of images) inside a family's model."""
    first = model.steps[0][1] if hasattr(model, "steps") else model
    return first


def _encoder_mi(ctx):
    """EncoderMI on the family's encoder, in audit mode: the owner's worst case,
    cross-validated (5 folds) on the target's own evaluation records, since a
    shadow encoder would cost another full training per family."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from ..attacks.encoder_membership import EncoderMembershipInference

    X_eval, m_eval = ctx.sets.eval
    attack = EncoderMembershipInference(target=encoder_of(ctx.target), shadow=None,
                                        n_views=ctx.cfg.encodermi_views,
                                        random_state=ctx.seed)
    cv = StratifiedKFold(5, shuffle=True, random_state=ctx.seed)
    images = np.asarray(X_eval.inputs)
    proba = cross_val_predict(attack, images, m_eval, cv=cv, method="predict_proba")
    return {"scores": proba[:, 1], "predictions": (proba[:, 1] >= 0.5).astype(int),
            "records": np.arange(len(m_eval))}


@dataclass(frozen=True)
class MembershipAttack:
    """One membership attack of the audit.

    ``run(ctx)`` gets a context with ``cfg``, ``family``, ``target``, ``shadow``,
    ``sets``, ``seed``, ``pool`` (the attacker's records) and ``reference()`` (the
    family's shared reference models, trained on first use and checkpointed).
    """

    title: str
    run: Callable
    needs_reference: bool = False


#: name -> attack.  The order is the order of the report's columns.
MEMBERSHIP_REGISTRY = {
    "nn": MembershipAttack("NN-based", _metric_attack("nn")),
    "correctness": MembershipAttack("Correctness", _metric_attack("correctness")),
    "confidence": MembershipAttack("Confidence", _metric_attack("confidence")),
    "entropy": MembershipAttack("Entropy", _metric_attack("entropy")),
    "modified_entropy": MembershipAttack("Modified entropy",
                                         _metric_attack("modified_entropy")),
    "label_only": MembershipAttack("Label-only", _label_only),
    "lira": MembershipAttack("LiRA (offline)", _reference_attack("lira"),
                             needs_reference=True),
    "rmia": MembershipAttack("RMIA (offline)", _reference_attack("rmia"),
                             needs_reference=True),
    "encodermi": MembershipAttack("EncoderMI (audit mode)", _encoder_mi),
}


def run_membership(name, ctx):
    """Run one registered attack; add its metric report (on the scored records)."""
    from .. import metrics

    result = MEMBERSHIP_REGISTRY[name].run(ctx)
    membership = ctx.sets.eval[1][result["records"]]
    result["membership"] = membership
    report = metrics.attack_report(membership, result["scores"],
                                   predictions=result.pop("predictions", None))
    report["n_members"] = int(membership.sum())
    report["n_non_members"] = int(len(membership) - membership.sum())
    if "n_queries" in result:
        report["n_queries"] = result.pop("n_queries")
    result["report"] = report
    return result


def run_attribute(target, sets, seed):
    """Attribute inference: an MLP fitted on the auxiliary data's embeddings
    predicts the victims' attribute."""
    from ..attacks.attribute import AttributeInference

    attack = AttributeInference(target=_frozen(target), random_state=seed)
    attack.fit(*sets.aux)
    truth = np.asarray(sets.victims[1])
    predictions = np.asarray(attack.predict(sets.victims[0]))
    counts = np.bincount(truth)
    return {"accuracy": float(np.mean(predictions == truth)),
            "majority_baseline": float(counts.max() / counts.sum()),
            "predictions": predictions, "truth": truth}


def utility(target, sets):
    """Train and test accuracy, with the per-record test predictions."""
    test_pred = np.asarray(target.predict(sets.test[0]))
    train_acc = float(np.mean(target.predict(sets.train[0]) == sets.train[1]))
    return {"train_accuracy": train_acc,
            "test_accuracy": float(np.mean(test_pred == sets.test[1])),
            "test_predictions": test_pred}


def run_erasure(target, sets, seed):
    """A post-hoc defense on the family's frozen encoder: linear concept erasure
    (LEACE, :class:`privlearn.LinearConceptEraser`) fitted by the owner on its
    training records, a new linear probe, and the same fresh attribute attacker."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from ..erasure import LinearConceptEraser

    images, labels = sets.train
    erased = make_pipeline(_frozen(encoder_of(target)), LinearConceptEraser())
    erased.fit(images, labels, linearconcepteraser__sensitive_features=sets.victims[1])
    probe = LogisticRegression(max_iter=1000).fit(erased.transform(images), labels)
    test_accuracy = float(np.mean(probe.predict(erased.transform(sets.test[0]))
                                  == sets.test[1]))
    leak = run_attribute(erased, sets, seed)
    return {"test_accuracy": test_accuracy, **leak}
