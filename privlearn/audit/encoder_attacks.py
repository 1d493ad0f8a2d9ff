"""Audit adapters of the encoder-level attacks PartCrop and EncoderLiRA.

Each follows the audit's attack contract, ``run(ctx) -> {"scores",
"predictions", "records"}`` with ``records`` indexing ``ctx.sets.eval``.  They
read only the context fields that exist today (``cfg``, ``target``, ``sets``,
``seed``, ``pool``, ``reference()``) and use ``ctx.encoder`` /
``ctx.reference_encoders()`` when the context offers them.
"""

from __future__ import annotations

import copy

import numpy as np

__all__ = ["run_partcrop", "run_encoder_lira"]


def _encoder(ctx):
    encoder = getattr(ctx, "encoder", None)
    if encoder is not None:
        return encoder
    from .attack import encoder_of

    return encoder_of(ctx.target)


def _reference_of_encoders(ctx):
    """The family's fitted ReferenceModels with its members replaced by their
    encoders (a shallow copy: same halves, same ``seen``; no training)."""
    reference = ctx.reference()
    getter = getattr(ctx, "reference_encoders", None)
    if callable(getter):
        encoders = list(getter())
    else:
        from .attack import encoder_of

        encoders = [encoder_of(m) for m in reference.models_]
    view = copy.copy(reference)
    view.models_ = encoders
    return view


def run_partcrop(ctx):
    """PartCrop on the family's encoder in audit mode, cross-validated (5 folds)
    on the evaluation records (as EncoderMI: no shadow encoder to train)."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from ..attacks.partcrop import PartCrop

    X_eval, m_eval = ctx.sets.eval
    attack = PartCrop(_encoder(ctx), random_state=ctx.seed)
    cv = StratifiedKFold(5, shuffle=True, random_state=ctx.seed)
    proba = cross_val_predict(attack, np.asarray(X_eval.inputs), m_eval, cv=cv,
                              method="predict_proba")
    return {"scores": proba[:, 1], "predictions": (proba[:, 1] >= 0.5).astype(int),
            "records": np.arange(len(m_eval))}


def run_encoder_lira(ctx):
    """EncoderLiRA, offline: the family's reference models (trained once on the
    attacker's pool) give their encoders; the candidates are not in the pool.
    The per-record SSLMem memorization score comes with the result."""
    from ..attacks.encoder_lira import EncoderLiRA

    X_eval, m_eval = ctx.sets.eval
    attack = EncoderLiRA(_encoder(ctx), reference=_reference_of_encoders(ctx), online=False,
                         n_views=getattr(ctx.cfg, "encodermi_views", 8),
                         random_state=ctx.seed)
    attack.fit(ctx.pool)
    images = np.asarray(X_eval.inputs)
    proba = attack.predict_proba(images)[:, 1]
    return {"scores": proba, "predictions": (proba > 0.5).astype(int),
            "records": np.arange(len(m_eval)),
            "memorization": attack.memorization_score(images)}
