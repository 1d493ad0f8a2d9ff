"""Stage 3, attack: the audit's attacks, one module-level function each.

The registry is :data:`privlearn.catalogue.ATTACKS`: a membership attack is one
function ``run_<name>(ctx) -> {"scores", "records", ...}`` here (or in any module)
plus one :class:`privlearn.catalogue.Spec` whose ``path`` names it, with
``kind="membership"`` and its ``needs``.  ``records`` indexes the evaluation
records (``sets.eval``, members first) that were scored; ``"predictions"`` (0/1 per
scored record) is optional.  Every result keeps its per-record scores, so the judge
can bootstrap any difference between families on the same records.

The context ``ctx`` an attack gets (a :class:`sklearn.utils.Bunch`; this contract
is stable, plug-in attacks rely on it):

``cfg``
    The :class:`~privlearn.audit.AuditConfig`.
``family``
    The model family attacked (``"contrastive"``, ``"supervised"``, ``"talos"``).
``target``, ``shadow``
    The family's fitted target and shadow models (image classifiers).
``sets``
    The attack record sets (:func:`privlearn.audit.split.attack_sets`): ``eval``
    (target's members first, then non-members: ``(records, membership)``),
    ``shadow`` (the same for the shadow model), ``aux``, ``victims``, ``train``,
    ``test``.
``seed``
    The repeat's seed (use it as ``random_state``).
``pool``
    The attacker's own records (the shadow parts).
``reference()``
    The family's reference models (:class:`privlearn.attacks.ReferenceModels` on
    the pool), trained on first use, checkpointed and shared by every attack whose
    ``needs`` contain ``"reference"``; an attack that calls it must declare that need.
``encoder``
    The family's encoder (``encoder_of(target)``: a fitted transformer of images).
``reference_encoders()``
    The encoders inside the family's reference models (same training as
    ``reference()``, no extra cost): a list of fitted transformers.

An attack whose needs cannot be met is skipped (``reference`` with
``reference_models=0``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import catalogue

__all__ = ["MembershipAttack", "MEMBERSHIP_REGISTRY", "run_membership", "run_attribute",
           "utility", "encoder_of", "reference_encoders", "run_nn", "run_correctness",
           "run_confidence", "run_entropy", "run_modified_entropy", "run_label_only",
           "run_lira", "run_rmia", "run_encodermi", "conditional_baseline"]


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


run_nn = _metric_attack("nn")
run_correctness = _metric_attack("correctness")
run_confidence = _metric_attack("confidence")
run_entropy = _metric_attack("entropy")
run_modified_entropy = _metric_attack("modified_entropy")
for _name, _run in (("nn", run_nn), ("correctness", run_correctness),
                    ("confidence", run_confidence), ("entropy", run_entropy),
                    ("modified_entropy", run_modified_entropy)):
    _run.__name__ = _run.__qualname__ = f"run_{_name}"
    _run.__doc__ = (f"The {_name} metric attack (shadow-model protocol) on "
                    f"``ctx.target``.")


def _balanced_sample(membership, n_records, rng):
    k = min(n_records // 2, int(membership.sum()), int((1 - membership).sum()))
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(membership == v), k,
                                              replace=False) for v in (1, 0)]))


def run_label_only(ctx):
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


run_lira = _reference_attack("lira")
run_rmia = _reference_attack("rmia")
run_lira.__name__ = run_lira.__qualname__ = "run_lira"
run_rmia.__name__ = run_rmia.__qualname__ = "run_rmia"


def encoder_of(model):
    """The encoder (a transformer of images) inside a family's model."""
    model = getattr(model, "model_", model)  # PoolAttributeFit (Talos references)
    first = model.steps[0][1] if hasattr(model, "steps") else model
    return first


def reference_encoders(reference):
    """The encoders inside fitted reference models (:class:`ReferenceModels`)."""
    return [encoder_of(m) for m in reference.models_]


def run_encodermi(ctx):
    """EncoderMI on the family's encoder, in audit mode: the owner's worst case,
    cross-validated (5 folds) on the target's own evaluation records, since a
    shadow encoder would cost another full training per family."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from ..attacks.encoder_membership import EncoderMembershipInference

    X_eval, m_eval = ctx.sets.eval
    attack = EncoderMembershipInference(target=ctx.encoder, shadow=None,
                                        n_views=ctx.cfg.encodermi_views,
                                        random_state=ctx.seed)
    cv = StratifiedKFold(5, shuffle=True, random_state=ctx.seed)
    images = np.asarray(X_eval.inputs)
    proba = cross_val_predict(attack, images, m_eval, cv=cv, method="predict_proba")
    return {"scores": proba[:, 1], "predictions": (proba[:, 1] >= 0.5).astype(int),
            "records": np.arange(len(m_eval))}


@dataclass(frozen=True)
class MembershipAttack:
    """One membership attack as the audit sees it (a view of its catalogue entry).

    ``run(ctx)`` gets the context documented in this module's docstring.
    """

    title: str
    run: Callable
    needs_reference: bool = False


class _Registry(Mapping):
    """name -> :class:`MembershipAttack`, read live from
    :data:`privlearn.catalogue.ATTACKS` (plug-ins included); kept for backward
    compatibility."""

    def _specs(self):
        return {n: s for n, s in catalogue.ATTACKS.items() if s.kind == "membership"}

    def __getitem__(self, name):
        spec = self._specs()[name]
        return MembershipAttack(spec.title, catalogue.load(spec), "reference" in spec.needs)

    def __iter__(self):
        return iter(self._specs())

    def __len__(self):
        return len(self._specs())


#: name -> attack, in catalogue order (the order of the report's columns).
MEMBERSHIP_REGISTRY = _Registry()


def run_membership(name, ctx):
    """Run one registered attack; add its metric report (on the scored records)."""
    from .. import metrics

    spec = catalogue.ATTACKS[name]
    result = catalogue.load(spec)(ctx)
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


def conditional_baseline(aux_labels, aux_attribute, victim_labels, victim_attribute):
    """Accuracy of an attacker who knows only the task label: it guesses, for each
    victim, the attribute value most frequent among the auxiliary records of the
    victim's label (the overall most frequent value for a label absent from aux)."""
    aux_labels, aux_attribute = np.asarray(aux_labels), np.asarray(aux_attribute)
    victim_labels, victim_attribute = np.asarray(victim_labels), np.asarray(victim_attribute)
    values = np.unique(np.concatenate([aux_attribute, victim_attribute]))
    overall = values[np.argmax([(aux_attribute == v).sum() for v in values])]
    labels = np.unique(victim_labels)
    # label x value counts in one vectorised comparison (few labels, few values)
    counts = ((aux_labels[:, None, None] == labels[None, :, None])
              & (aux_attribute[:, None, None] == values[None, None, :])).sum(axis=0)
    guess_per_label = np.where(counts.sum(axis=1) > 0, values[counts.argmax(axis=1)],
                               overall)
    guesses = guess_per_label[np.searchsorted(labels, victim_labels)]
    return float(np.mean(guesses == victim_attribute)), guesses


def run_attribute(target, sets, seed):
    """Attribute inference: an MLP fitted on the auxiliary data's embeddings
    predicts the victims' attribute.  Beside the majority baseline, the
    conditional baseline: the accuracy of an attacker who knows only the victims'
    task labels (:func:`conditional_baseline`, from the auxiliary frequencies)."""
    from ..attacks.attribute import AttributeInference

    attack = AttributeInference(target=_frozen(target), random_state=seed)
    attack.fit(*sets.aux)
    truth = np.asarray(sets.victims[1])
    predictions = np.asarray(attack.predict(sets.victims[0]))
    counts = np.bincount(truth)
    result = {"accuracy": float(np.mean(predictions == truth)),
              "majority_baseline": float(counts.max() / counts.sum()),
              "predictions": predictions, "truth": truth}
    labels = sets.get("aux_labels"), sets.get("victim_labels")
    if labels[0] is not None and labels[1] is not None:
        result["conditional_baseline"], result["conditional_guesses"] = conditional_baseline(
            labels[0], sets.aux[1], labels[1], truth)
    return result


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
