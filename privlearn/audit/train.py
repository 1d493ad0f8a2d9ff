"""Stage 2, train: every model of the protocol, keyed by family, role and seed.

Each finished model is checkpointed together with its training time, so a resumed
run reports the original times.  Every fit runs with ``cfg.torch_threads`` torch
and BLAS threads, in this process (``n_jobs=1``) and in joblib workers alike, so
``n_jobs`` never changes a number.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass

import joblib
import numpy as np
from sklearn.base import BaseEstimator

from .config import SEED_OFFSETS
from .progress import EpochBar

__all__ = ["ModelSpec", "model_specs", "make_model", "train_models", "thread_limit",
           "train_reference", "PoolAttributeFit"]


@dataclass(frozen=True)
class ModelSpec:
    """One model to train: family, role ("target"/"shadow"), seed, Talos weight."""

    family: str
    role: str
    seed: int
    weight: float | None = None

    @property
    def name(self):
        head = self.family if self.weight is None else f"talos-{self.weight:g}"
        return f"{head}-{self.role}-seed{self.seed}"

    @property
    def part(self):
        return f"{self.role}_train"


def model_specs(families, sweep, seed):
    """Every model of one repeat: a target and a shadow per family, the λ sweep."""
    specs = [ModelSpec(f, r, seed + SEED_OFFSETS[(f, r)])
             for f in families for r in ("target", "shadow")]
    specs += [ModelSpec("talos", "target", seed + SEED_OFFSETS["sweep"], w) for w in sweep]
    return specs


@contextmanager
def thread_limit(n):
    """Run torch and BLAS with ``n`` threads inside the block."""
    import torch
    from threadpoolctl import threadpool_limits

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        torch.set_num_threads(old)


def make_model(family, cfg, *, seed, callbacks=None, adversary_weight=None):
    """An unfitted model of one family; every family gets the same budget."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    common = dict(backbone=cfg.backbone, max_epochs=cfg.epochs, batch_size=cfg.batch_size,
                  lr=cfg.lr, device=cfg.device, random_state=seed, verbose=0,
                  callbacks=callbacks)
    probe = dict(max_iter=1000)  # the documented linear probe (DESIGN §1)
    if family == "supervised":
        from ..encoders import SupervisedClassifier

        return SupervisedClassifier(**common)
    # temperature is SimCLR's; the other objectives keep their papers' defaults.
    temperature = cfg.temperature if cfg.objective == "simclr" else None
    if family == "contrastive":
        from .. import catalogue

        # the objective's class from the catalogue (plug-in objectives included)
        cls = catalogue.load(catalogue.OBJECTIVES[cfg.objective])
        extra = {} if temperature is None else {"temperature": temperature}
        return make_pipeline(cls(**extra, **common), LogisticRegression(**probe))
    if family == "talos":
        from ..talos import Talos

        weight = cfg.talos_weight if adversary_weight is None else adversary_weight
        objective = {} if cfg.objective == "simclr" else {"objective": cfg.objective}
        return make_pipeline(Talos(**objective, temperature=temperature,
                                   adversary_weight=weight, **common),
                             LogisticRegression(**probe))
    raise ValueError(f"unknown model family {family!r}")


def _fit(model, family, part, epochs):
    if family == "talos":
        model.fit(part.images, part.target, talos__sensitive_features=part.sensitive)
    else:
        model.fit(part.images, part.target)
    # skorch stops quietly on Ctrl-C; never checkpoint a half-trained model.
    net = model.steps[0][1] if hasattr(model, "steps") else model
    if len(net.history) < epochs:
        raise KeyboardInterrupt(f"training stopped after {len(net.history)} of {epochs} epochs")
    return model


def _train_one(cfg, spec, part, callbacks=None):
    """Train one model; return the checkpoint entry ``{"model", "train_seconds"}``."""
    with thread_limit(cfg.torch_threads):
        started = time.perf_counter()
        model = make_model(spec.family, cfg, seed=spec.seed, callbacks=callbacks,
                           adversary_weight=spec.weight)
        model = _fit(model, spec.family, part, cfg.epochs)
        return {"model": model, "train_seconds": round(time.perf_counter() - started, 2)}


def _train_job(cfg, spec, part, store):
    """A joblib worker: train one model and checkpoint it."""
    store.save(spec.name, _train_one(cfg, spec, part))


def train_models(cfg, jobs, store, progress):
    """Train (or resume) every ``(spec, part)`` job.

    Returns
    -------
    models : dict name -> fitted model
    seconds : dict name -> training seconds (the original ones when resumed)
    """
    missing = [(spec, part) for spec, part in jobs if not store.has(spec.name)]
    if cfg.n_jobs != 1 and len(missing) > 1:
        progress.stage(f"training {len(missing)} models in parallel")
        joblib.Parallel(n_jobs=cfg.n_jobs)(
            joblib.delayed(_train_job)(cfg, spec, part, store) for spec, part in missing)
    models, seconds = {}, {}
    for spec, part in jobs:
        progress.stage(f"training {spec.name}")

        def compute(spec=spec, part=part):
            bar = EpochBar(spec.name, cfg.epochs, progress.enabled)
            return _train_one(cfg, spec, part, callbacks=[bar])

        entry, resumed = store.get_or_compute(spec.name, compute)
        models[spec.name] = entry["model"]
        seconds[spec.name] = entry["train_seconds"]
        progress.done(f"{spec.name}: {'resumed' if resumed else f'{seconds[spec.name]:.0f}s'}")
    return models, seconds


class PoolAttributeFit(BaseEstimator):
    """A Talos recipe that ReferenceModels can fit with ``fit(images, labels)`` only:
    each image's sensitive attribute is looked up in the attacker's pool by its bytes
    (the pool is the attacker's own data, attribute included).

    Hand-written because ReferenceModels routes no metadata to its models.
    """

    def __init__(self, estimator, pool_images=None, pool_sensitive=None):
        self.estimator = estimator
        self.pool_images = pool_images
        self.pool_sensitive = pool_sensitive

    @staticmethod
    def _keys(images):
        flat = np.ascontiguousarray(images).reshape(len(images), -1)
        return flat.view(np.dtype((np.void, flat.dtype.itemsize * flat.shape[1]))).ravel()

    def fit(self, X, y):
        from sklearn.base import clone

        pool_keys = self._keys(self.pool_images)
        order = np.argsort(pool_keys)
        where = order[np.searchsorted(pool_keys[order], self._keys(np.asarray(X)))]
        self.model_ = clone(self.estimator).fit(
            X, y, talos__sensitive_features=np.asarray(self.pool_sensitive)[where])
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)

    def predict(self, X):
        return self.model_.predict(X)


def train_reference(cfg, family, pool, pool_sensitive, seed):
    """The family's reference models on random halves of the attacker's pool,
    trained once and shared by LiRA and RMIA (sequentially, with the audit's
    thread limit, so the numbers do not depend on ``n_jobs``)."""
    from ..attacks import ReferenceModels

    recipe = make_model(family, cfg, seed=seed)
    if family == "talos":
        recipe = PoolAttributeFit(recipe, np.asarray(pool.inputs), pool_sensitive)
    with thread_limit(cfg.torch_threads):
        started = time.perf_counter()
        reference = ReferenceModels(recipe, n_models=cfg.reference_models,
                                    random_state=seed).fit(pool)
        return {"reference": reference,
                "train_seconds": round(time.perf_counter() - started, 2)}
