"""The audit: the paper's whole protocol in one call, with a written report.

:func:`run_audit` splits a data set four ways (:func:`~privlearn.datasets.paper_split`),
trains a target and a shadow model for every model family with the same budget —
contrastive (SimCLR + a linear classifier), supervised, and Talos where the data set
has a sensitive attribute — runs every membership-inference attack in the shadow
protocol and attribute inference, and writes ``report.md``, ``results.json`` and ROC
curves under ``out``.  Finished models and attack results are checkpointed under
``out/checkpoints/<configuration hash>/``, so rerunning the same command resumes;
a changed configuration gets a new hash and never reuses stale checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import joblib
import numpy as np
from skorch.callbacks import Callback

from . import datasets as _datasets

__all__ = ["AuditConfig", "run_audit", "MEMBERSHIP_ATTACKS", "ATTACKS", "BACKBONES"]

#: Membership-inference attacks of the protocol (shadow-model threat model).
MEMBERSHIP_ATTACKS = ("nn", "correctness", "confidence", "entropy",
                      "modified_entropy", "label_only")
#: Every attack name accepted by ``attacks=``.
ATTACKS = MEMBERSHIP_ATTACKS + ("attribute",)
BACKBONES = ("cnn", "resnet18", "resnet50", "mobilenet_v2")
FAMILIES = ("contrastive", "supervised", "talos")

# Budgets.  The same budget is used for every model family.
_DEFAULT = dict(epochs=100, n_per_part=None, label_only_records=150,
                label_only_max_iter=5, talos_weights=(0.5, 1.0, 2.0))
_QUICK = dict(epochs=15, n_per_part=300, label_only_records=60,
              label_only_max_iter=3, talos_weights=(1.0,))


@dataclass
class AuditConfig:
    """Everything that decides the audit's numbers (hashed for checkpoints)."""

    dataset: str = _datasets.DEFAULT_DATASET
    root: str | None = None
    backbone: str = "cnn"
    epochs: int = _DEFAULT["epochs"]
    batch_size: int = 128
    device: str = "cpu"
    seed: int = 0
    attacks: tuple = ATTACKS
    n_per_part: int | None = _DEFAULT["n_per_part"]
    image_size: int | None = None
    temperature: float = 0.5
    lr: float = 1e-3
    talos_weight: float = 1.0
    talos_weights: tuple = _DEFAULT["talos_weights"]
    label_only_records: int = _DEFAULT["label_only_records"]
    label_only_max_iter: int = _DEFAULT["label_only_max_iter"]
    quick: bool = False
    n_jobs: int = 1
    extra: dict = field(default_factory=dict)

    def key(self):
        """Short hash of the configuration (device and n_jobs excluded: they do
        not change what is trained, only where)."""
        payload = {k: v for k, v in asdict(self).items() if k not in ("device", "n_jobs")}
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _check_config(cfg: AuditConfig):
    """Validate everything before any work starts; raise ValueError/TypeError."""
    try:
        _datasets.resolve_name(cfg.dataset)  # the loader's own name folding and aliases
    except (TypeError, ValueError):
        raise ValueError(f"unknown dataset {cfg.dataset!r}; valid: "
                         f"{', '.join(_datasets.available())}") from None
    if cfg.backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {cfg.backbone!r}; valid: {', '.join(BACKBONES)}")
    if not isinstance(cfg.n_jobs, (int, np.integer)) or cfg.n_jobs == 0 or cfg.n_jobs < -1:
        raise ValueError(f"n_jobs must be a positive integer or -1, got {cfg.n_jobs!r}")
    for name in ("epochs", "batch_size", "label_only_records", "label_only_max_iter"):
        value = getattr(cfg, name)
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if cfg.batch_size < 2:
        raise ValueError(f"batch_size must be at least 2 (contrastive learning needs "
                         f"negatives), got {cfg.batch_size}")
    unknown = [a for a in cfg.attacks if a not in ATTACKS]
    if unknown or not cfg.attacks:
        raise ValueError(f"unknown attacks {unknown or '(none given)'}; valid: {', '.join(ATTACKS)}")
    if not str(cfg.device).startswith(("cpu", "cuda", "mps")):
        raise ValueError(f"device must be 'cpu', 'cuda[:N]' or 'mps', got {cfg.device!r}")
    if str(cfg.device).startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"device={cfg.device!r} but no CUDA device is available")
    if cfg.root is not None and not Path(cfg.root).is_dir():
        raise ValueError(f"root {cfg.root!r} is not a folder; it must hold the data set's files")


def _check_out(out):
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"cannot write to out={str(out)!r}: {exc.strerror or exc}") from None
    return out


class _Checkpoints:
    """Results stored under ``out/checkpoints/<config key>/``, written atomically."""

    def __init__(self, out: Path, cfg: AuditConfig):
        self.folder = out / "checkpoints" / cfg.key()
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "config.json").write_text(
            json.dumps(asdict(cfg), indent=2, default=str))

    def path(self, name):
        return self.folder / f"{name}.joblib"

    def has(self, name):
        return self.path(name).exists()

    def load(self, name):
        return joblib.load(self.path(name))

    def save(self, name, value):
        tmp = self.path(name).with_suffix(".tmp")
        joblib.dump(value, tmp)
        os.replace(tmp, self.path(name))
        return value

    def get_or_compute(self, name, compute):
        if self.has(name):
            try:
                return self.load(name), True
            except Exception:  # a torn or incompatible file: recompute it
                pass
        return self.save(name, compute()), False


class _Progress:
    """One progress bar over the audit's stages, with ETA, plus epoch bars."""

    def __init__(self, stages, enabled):
        from tqdm.auto import tqdm

        self.enabled = enabled
        self.bar = tqdm(total=len(stages), desc="audit", unit="stage",
                        disable=not enabled, dynamic_ncols=True)

    def stage(self, text):
        self.bar.set_description_str(f"audit: {text}")

    def done(self, text=None):
        self.bar.update(1)
        if text:
            self.bar.set_postfix_str(text)

    def write(self, text):
        if self.enabled:
            self.bar.write(text)

    def close(self):
        self.bar.close()


class _EpochBar(Callback):
    """A skorch callback that shows per-epoch progress under the stage bar."""

    def __init__(self, label, epochs, enabled=True):
        self.label, self.epochs, self.enabled = label, epochs, enabled

    def on_train_begin(self, net, **kwargs):
        from tqdm.auto import tqdm

        self.bar_ = tqdm(total=self.epochs, desc=f"  {self.label}", unit="epoch",
                         leave=False, position=1, disable=not self.enabled,
                         dynamic_ncols=True)

    def on_epoch_end(self, net, **kwargs):
        loss = net.history[-1].get("train_loss")
        if loss is not None:
            self.bar_.set_postfix_str(f"loss {loss:.3f}")
        self.bar_.update(1)

    def on_train_end(self, net, **kwargs):
        self.bar_.close()

    def __getstate__(self):  # the bar is not picklable; checkpoints drop it
        state = dict(self.__dict__)
        state.pop("bar_", None)
        return state


def _make_model(family, cfg, *, seed, callbacks, adversary_weight=None):
    """An unfitted model of one family; every family gets the same budget."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    common = dict(backbone=cfg.backbone, max_epochs=cfg.epochs, batch_size=cfg.batch_size,
                  lr=cfg.lr, device=cfg.device, random_state=seed, verbose=0,
                  callbacks=callbacks)
    # The documented linear probe (DESIGN §1), the same for SimCLR and Talos.
    probe = dict(max_iter=1000)
    if family == "supervised":
        from .encoders import SupervisedClassifier

        return SupervisedClassifier(**common)
    if family == "contrastive":
        from .encoders import SimCLR

        return make_pipeline(SimCLR(temperature=cfg.temperature, **common),
                             LogisticRegression(**probe))
    if family == "talos":
        from .talos import Talos

        return make_pipeline(Talos(temperature=cfg.temperature,
                                   adversary_weight=adversary_weight, **common),
                             LogisticRegression(**probe))
    raise ValueError(family)


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


def _train_job(cfg, family, part, seed, weight, store, name):
    """Train one model in a worker process and checkpoint it (``n_jobs != 1``)."""
    started = time.perf_counter()
    model = _make_model(family, cfg, seed=seed, callbacks=None, adversary_weight=weight)
    store.save(name, _fit(model, family, part, cfg.epochs))
    return round(time.perf_counter() - started, 2)


def _accuracy(model, part):
    return float(np.mean(model.predict(part.images) == part.target))


def _frozen(model):
    from sklearn.frozen import FrozenEstimator

    return FrozenEstimator(model)


def _attack_sets(parts, has_attribute):
    """The records every attack uses, built once from the split.

    Membership: the shadow's records (to fit attacks) and the target's (to evaluate).
    Attribute inference: the attacker's auxiliary data are the shadow parts; the
    victims are the target's training records.
    """
    from sklearn.utils import Bunch

    sets = Bunch(shadow=_datasets.membership_set(parts.shadow_train, parts.shadow_test),
                 eval=_datasets.membership_set(parts.target_train, parts.target_test))
    if has_attribute:
        sets.aux = (np.concatenate([parts.shadow_train.images, parts.shadow_test.images]),
                    np.concatenate([parts.shadow_train.sensitive, parts.shadow_test.sensitive]))
        sets.victims = (parts.target_train.images, parts.target_train.sensitive)
    return sets


def _membership(cfg, attack, target, shadow, sets, rng_seed):
    """Run one membership attack in the shadow protocol; return scores and report."""
    from . import metrics
    from .attacks.label_only import LabelOnlyMembershipInference
    from .attacks.membership import MembershipInference

    (X_shadow, m_shadow), (X_eval, m_eval) = sets.shadow, sets.eval
    if attack == "label_only":
        # HopSkipJump costs many queries per record: attack a balanced subsample.
        rng = np.random.default_rng(rng_seed)

        def sample(m):
            k = min(cfg.label_only_records // 2, int(m.sum()), int((1 - m).sum()))
            return np.concatenate([rng.choice(np.flatnonzero(m == v), k, replace=False)
                                   for v in (1, 0)])

        i_shadow, i_eval = sample(m_shadow), sample(m_eval)
        X_shadow, m_shadow = X_shadow[i_shadow], m_shadow[i_shadow]
        X_eval, m_eval = X_eval[i_eval], m_eval[i_eval]
        model = LabelOnlyMembershipInference(target=_frozen(target), shadow=_frozen(shadow),
                                             max_iter=cfg.label_only_max_iter,
                                             random_state=rng_seed)
    else:
        model = MembershipInference(target=_frozen(target), shadow=_frozen(shadow),
                                    method=attack, random_state=rng_seed)
    model.fit(X_shadow, m_shadow)
    scores = model.predict_proba(X_eval)[:, 1]
    report = metrics.attack_report(m_eval, scores, predictions=model.predict(X_eval))
    if attack == "label_only":
        report["n_queries"] = int(getattr(model, "n_queries_", 0))
    return {"report": report, "membership": m_eval, "scores": scores}


def _attribute(target, sets, seed):
    """Attribute inference: fit on the auxiliary data, score on the victims."""
    from .attacks.attribute import AttributeInference

    attack = AttributeInference(target=_frozen(target), random_state=seed)
    attack.fit(*sets.aux)
    accuracy = float(attack.score(*sets.victims))
    counts = np.bincount(sets.victims[1])
    return {"accuracy": accuracy, "majority_baseline": float(counts.max() / counts.sum())}


def _versions():
    import sklearn
    import skorch
    import torch
    import torchvision

    from . import __version__

    return {"privlearn": __version__, "python": platform.python_version(),
            "torch": torch.__version__, "torchvision": torchvision.__version__,
            "scikit-learn": sklearn.__version__, "skorch": skorch.__version__,
            "numpy": np.__version__}


def run_audit(dataset=_datasets.DEFAULT_DATASET, *, root=None, backbone="cnn", epochs=None,
              batch_size=128, device="cpu", seed=0, out="audit-report", attacks=None,
              quick=False, n_per_part=None, image_size=None, progress=True, n_jobs=1,
              **options):
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
        ``talos_tradeoff.png`` and ``checkpoints/``.
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
        Train the targets, shadows and λ-sweep models in this many processes
        (joblib; ``-1``: all cores).  Seeds are the same as with ``n_jobs=1``, but
        workers run torch with fewer threads, which changes floating-point summation
        order, so numbers can differ slightly.  Only ``n_jobs=1`` shows per-epoch
        bars.  On a 2-core machine with the small default models it is not faster.
    **options
        Advanced :class:`AuditConfig` fields (``temperature``, ``lr``,
        ``talos_weight``, ``talos_weights``, ``label_only_records``, ...).

    Returns
    -------
    results : dict
        Everything written to ``results.json``.

    Examples
    --------
    >>> from privlearn.audit import run_audit
    >>> results = run_audit(quick=True, out="audit-quick", progress=False)  # doctest: +SKIP
    >>> results["membership"]["supervised"]["nn"]["roc_auc"]  # doctest: +SKIP
    """
    budget = _QUICK if quick else _DEFAULT
    cfg = AuditConfig(
        dataset=dataset, root=None if root is None else str(root), backbone=backbone,
        epochs=budget["epochs"] if epochs is None else epochs, batch_size=batch_size,
        device=device, seed=seed,
        attacks=tuple(ATTACKS if attacks is None else attacks),
        n_per_part=budget["n_per_part"] if n_per_part is None else n_per_part,
        image_size=image_size, quick=quick, n_jobs=n_jobs,
        label_only_records=options.pop("label_only_records", budget["label_only_records"]),
        label_only_max_iter=options.pop("label_only_max_iter", budget["label_only_max_iter"]),
        talos_weights=tuple(options.pop("talos_weights", budget["talos_weights"])),
    )
    for name, value in options.items():
        if not hasattr(cfg, name):
            raise TypeError(f"run_audit got an unexpected option {name!r}")
        setattr(cfg, name, value)
    _check_config(cfg)
    out = _check_out(out)

    load_kwargs = {} if image_size is None else {"image_size": image_size}
    data = _datasets.load(cfg.dataset, root=cfg.root, **load_kwargs)
    n_full = int((np.bincount(data.target) // 4).sum())
    parts = _datasets.paper_split(
        data, n_per_part=None if cfg.n_per_part is None else min(cfg.n_per_part, n_full),
        random_state=cfg.seed)
    has_attribute = data.sensitive is not None
    sets = _attack_sets(parts, has_attribute)
    families = [f for f in FAMILIES if f != "talos" or has_attribute]
    membership_attacks = [a for a in cfg.attacks if a in MEMBERSHIP_ATTACKS]
    run_attribute = "attribute" in cfg.attacks and has_attribute
    sweep = [w for w in cfg.talos_weights if w != cfg.talos_weight] if has_attribute else []

    stages = ([(f, r) for f in families for r in ("target", "shadow")]
              + [("attack", f) for f in families]
              + [("sweep", w) for w in sweep])
    progress_ = _Progress(stages, progress)
    store = _Checkpoints(out, cfg)
    started = time.perf_counter()
    models, timings = {}, {}

    def train(family, role, part, seed_offset, weight=None):
        name = label = model_name(family, role, weight)
        progress_.stage(f"training {label}")
        t0 = time.perf_counter()

        def compute():
            model = _make_model(family, cfg, seed=cfg.seed + seed_offset,
                                callbacks=[_EpochBar(label, cfg.epochs, progress_.enabled)],
                                adversary_weight=weight if weight is not None else cfg.talos_weight)
            return _fit(model, family, part, cfg.epochs)

        model, resumed = store.get_or_compute(name, compute)
        timings[name] = parallel_seconds.get(
            name, 0.0 if resumed else round(time.perf_counter() - t0, 2))
        progress_.done(f"{label}: {'resumed' if resumed else f'{timings[name]:.0f}s'}")
        return model

    def model_name(family, role, weight=None):
        return f"{family}-{role}" if weight is None else f"talos-{weight:g}-{role}"

    try:
        if cfg.n_jobs != 1:
            # Independent fits: train the missing ones in parallel, then the
            # sequential pass below finds them checkpointed.
            jobs = [(f, r, parts[f"{r}_train"], 2 * i + (r == "shadow"), None)
                    for i, f in enumerate(families) for r in ("target", "shadow")]
            jobs += [("talos", "target", parts.target_train, 100, w) for w in sweep]
            jobs = [j for j in jobs if not store.has(model_name(j[0], j[1], j[4]))]
            progress_.stage(f"training {len(jobs)} models in parallel")
            seconds = joblib.Parallel(n_jobs=cfg.n_jobs)(
                joblib.delayed(_train_job)(
                    cfg, f, part, cfg.seed + offset,
                    cfg.talos_weight if w is None else w, store, model_name(f, r, w))
                for f, r, part, offset, w in jobs)
            parallel_seconds = {model_name(j[0], j[1], j[4]): t for j, t in zip(jobs, seconds)}
        else:
            parallel_seconds = {}
        for offset, family in enumerate(families):
            models[family] = {
                "target": train(family, "target", parts.target_train, 2 * offset),
                "shadow": train(family, "shadow", parts.shadow_train, 2 * offset + 1),
            }
        utility, membership, attribute, curves = {}, {}, {}, {}
        for family in families:
            progress_.stage(f"attacking {family}")
            target, shadow = models[family]["target"], models[family]["shadow"]
            utility[family] = {"train_accuracy": _accuracy(target, parts.target_train),
                               "test_accuracy": _accuracy(target, parts.target_test)}
            membership[family] = {}
            for attack in membership_attacks:
                result, _ = store.get_or_compute(
                    f"attack-{family}-{attack}",
                    lambda: _membership(cfg, attack, target, shadow, sets, cfg.seed))
                membership[family][attack] = result["report"]
                curves.setdefault(attack, {})[family] = (result["membership"], result["scores"])
            if run_attribute:
                attribute[family], _ = store.get_or_compute(
                    f"attribute-{family}", lambda: _attribute(target, sets, cfg.seed))
            progress_.done()

        tradeoff = []
        if has_attribute and "talos" in models:
            points = [(0.0, "contrastive"), (cfg.talos_weight, "talos")]
            for weight in sweep:
                model = train("talos", "target", parts.target_train, 100, weight=weight)
                key = f"talos-{weight:g}"
                models[key] = {"target": model}
                points.append((weight, key))
            for weight, key in sorted(points):
                target = models[key]["target"]
                acc = utility[key]["test_accuracy"] if key in utility else _accuracy(target, parts.target_test)
                leak, _ = store.get_or_compute(f"attribute-{key}",
                                               lambda: _attribute(target, sets, cfg.seed))
                tradeoff.append({"adversary_weight": weight, "model": key,
                                 "test_accuracy": acc,
                                 "attribute_inference": leak["accuracy"]})
    except KeyboardInterrupt:
        progress_.close()
        raise
    progress_.close()

    from .report import write_report

    results = {
        "config": asdict(cfg), "config_key": cfg.key(), "versions": _versions(),
        "data": {"name": data.name, "description": data.description,
                 "n_per_part": len(parts.target_train.target),
                 "image_shape": list(data.images.shape[1:]),
                 "n_classes": len(data.target_names)},
        "utility": utility, "membership": membership, "attribute": attribute,
        "talos_tradeoff": tradeoff, "train_seconds": timings,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    write_report(results, curves, out)
    return results
