"""The audit's configuration: every option, its default, and its validation.

:func:`check_config` checks **every** option before any data is loaded or any model
is trained, so a bad value (a seed that overflows once its offsets are added, a
negative λ, a record budget of one) fails in a second, not after an hour.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import catalogue as _catalogue
from .. import datasets as _datasets
from ..datasets._base import check_image_size

__all__ = ["AuditConfig", "MEMBERSHIP_ATTACKS", "ATTACKS", "BACKBONES", "FAMILIES", "OBJECTIVES",
           "build_config", "check_config", "check_out", "seeds", "SEED_OFFSETS",
           "REFERENCE_ATTACKS",
           "DIGITS_ATTRIBUTES"]

# The names below are derived from :mod:`privlearn.catalogue` (the single source) at
# import time and kept for backward compatibility; validation reads the catalogue at
# call time, so a component registered later (a plug-in) is accepted.
#: Membership-inference attacks of the protocol (shadow-model threat model).
MEMBERSHIP_ATTACKS = _catalogue.names("attacks", kind="membership")
#: Attacks that need reference models (``reference_models >= 2``; skipped at 0):
#: those whose catalogue ``needs`` contain ``"reference"``.
REFERENCE_ATTACKS = tuple(a for a, s in _catalogue.ATTACKS.items() if "reference" in s.needs)
#: Every attack name accepted by ``attacks=``.
ATTACKS = _catalogue.names("attacks")
BACKBONES = _catalogue.names("backbones")
#: Self-supervised objectives of the contrastive family (and of Talos): ``--objective``.
OBJECTIVES = _catalogue.names("objectives")
FAMILIES = _catalogue.names("families")
#: The digits attributes the audit accepts (task: parity).
DIGITS_ATTRIBUTES = ("magnitude", "digit")
#: Data sets whose sensitive attribute is chosen by ``attribute``: the accepted
#: values, the first being the default.  Fashion-MNIST coarse: the task is the
#: garment group, the attribute the fine class within it (task does not need it).
DATASET_ATTRIBUTES = {"digits": DIGITS_ATTRIBUTES,
                      "fashion-mnist-coarse": ("fine", "class")}

#: Seed of each trained model = repeat seed + offset (target/shadow of each family,
#: the λ sweep).  Repeat ``r`` uses ``seed + r * REPEAT_STRIDE``.
SEED_OFFSETS = {("contrastive", "target"): 0, ("contrastive", "shadow"): 1,
                ("supervised", "target"): 2, ("supervised", "shadow"): 3,
                ("talos", "target"): 4, ("talos", "shadow"): 5, "sweep": 100,
                "reference": 200}
REPEAT_STRIDE = 1000
_MAX_SEED = 2**32 - 1

# Budgets.  The same budget is used for every model family.
DEFAULT_BUDGET = dict(epochs=100, n_per_part=None, label_only_records=150,
                      label_only_max_iter=5, talos_weights=(0.5, 1.0, 2.0),
                      reference_models=2)
QUICK_BUDGET = dict(epochs=15, n_per_part=300, label_only_records=60,
                    label_only_max_iter=3, talos_weights=(1.0,), reference_models=2)

# Options that decide only *where* or *how fast* models train, or only how the
# findings are judged: not part of the checkpoint key (models and attack results
# are reused), but part of the report key (a report is never silently replaced).
_NOT_IN_CHECKPOINT_KEY = ("device", "n_jobs", "repeats", "n_boot", "confidence",
                          "seed_inflation", "min_fraction_removed", "max_utility_cost")

#: Measured seed-to-seed spread over the record-level bootstrap's standard error
#: (root-mean-square of ``seed_sd / record_se`` over the findings of a 3-seed
#: audit; docs/audit.rst, "Seed spread"): one-seed intervals are widened by it.
SEED_INFLATION = 1.25


# What a trained target/shadow/sweep model depends on (its seed and λ are in its name).
_MODEL_FIELDS = ("dataset", "root", "attribute", "backbone", "objective", "epochs", "batch_size", "seed",
                 "n_per_part", "image_size", "temperature", "lr", "talos_weight",
                 "torch_threads", "extra")


@dataclass
class AuditConfig:
    """Everything that decides the audit's numbers.

    Parameters
    ----------
    dataset, root, backbone, epochs, batch_size, device, seed, attacks, n_per_part,
    image_size, temperature, lr, talos_weight, talos_weights, label_only_records,
    label_only_max_iter, quick, n_jobs
        As in :func:`privlearn.audit.run_audit`.
    objective : {"simclr", "moco", "byol", "simsiam", "barlow_twins"}
        The self-supervised objective of the contrastive family and of Talos
        (``temperature`` applies to SimCLR; the others keep their own defaults).
    reference_models : int
        Reference models per family for LiRA and RMIA (offline), trained once on
        the attacker's pool and shared by both; 0 skips the two attacks.
    encodermi_views : int
        Augmented views per image for EncoderMI.
    attribute : {"magnitude", "digit"} or None
        The digits sensitive attribute (``None`` for other data sets): see
        :func:`privlearn.datasets.offline.load_digits_images`.
    repeats : int
        Independent repetitions of the whole protocol (split, models, attacks) with
        seeds ``seed + r * 1000``; intervals then span training seeds.
    n_boot, confidence
        Bootstrap resamples and the interval's level.
    seed_inflation : float
        With one repeat, each record-level bootstrap interval is widened by this
        factor around its effect, so that it also covers training randomness (the
        spread a rerun with other seeds shows: measured ≈1.25× the bootstrap's
        standard error, :data:`SEED_INFLATION`); 1 keeps the bare bootstrap.  The
        bare interval stays in the finding as ``record_ci``.  Not used with
        ``repeats >= 2`` (the t-interval over seeds holds the spread itself).
    min_fraction_removed, max_utility_cost
        Talos's finding holds only if the interval of the fraction of excess
        attribute leakage removed lies at or above ``min_fraction_removed`` and the
        interval of the test-accuracy cost at or below ``max_utility_cost``.
    torch_threads : int
        torch (and BLAS) threads of every model fit and attack, in the main process
        and in ``n_jobs`` workers alike, so that ``n_jobs`` never changes a number.

    Examples
    --------
    >>> from privlearn.audit import AuditConfig
    >>> AuditConfig(epochs=2).key() == AuditConfig(epochs=2, n_jobs=2).key()
    True
    """

    dataset: str = _datasets.DEFAULT_DATASET
    root: str | None = None
    attribute: str | None = "magnitude"
    backbone: str = "cnn"
    objective: str = "simclr"
    epochs: int = DEFAULT_BUDGET["epochs"]
    batch_size: int = 128
    device: str = "cpu"
    seed: int = 0
    repeats: int = 1
    attacks: tuple = ATTACKS
    n_per_part: int | None = DEFAULT_BUDGET["n_per_part"]
    image_size: int | None = None
    temperature: float = 0.5
    lr: float = 1e-3
    talos_weight: float = 1.0
    talos_weights: tuple = DEFAULT_BUDGET["talos_weights"]
    label_only_records: int = DEFAULT_BUDGET["label_only_records"]
    label_only_max_iter: int = DEFAULT_BUDGET["label_only_max_iter"]
    reference_models: int = DEFAULT_BUDGET["reference_models"]
    encodermi_views: int = 10
    n_boot: int = 1000
    confidence: float = 0.95
    seed_inflation: float = SEED_INFLATION
    min_fraction_removed: float = 0.5
    max_utility_cost: float = 0.05
    torch_threads: int = 1
    quick: bool = False
    n_jobs: int = 1
    extra: dict = field(default_factory=dict)

    def _hash(self, exclude=()):
        payload = {k: v for k, v in asdict(self).items() if k not in exclude}
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def key(self):
        """Hash of what the trained models and attack results depend on (checkpoints)."""
        return self._hash(_NOT_IN_CHECKPOINT_KEY)

    def model_key(self):
        """Hash of what the trained target, shadow and sweep models depend on: they
        are reused by configurations that differ only in attacks or judging."""
        return self._hash(tuple(k for k in asdict(self) if k not in _MODEL_FIELDS))

    def report_key(self):
        """Hash of everything but where it runs: two reports with different report
        keys are different results."""
        return self._hash(("device", "n_jobs"))

    def summary(self):
        """A one-line description of the configuration, in CLI words."""
        parts = [f"--dataset {self.dataset}"]
        if self.objective != "simclr":
            parts.append(f"--objective {self.objective}")
        if self.attribute is not None:
            parts.append(f"--attribute {self.attribute}")
        parts += [f"--epochs {self.epochs}", f"--seed {self.seed}"]
        if self.n_per_part is not None:
            parts.append(f"--n-per-part {self.n_per_part}")
        if self.repeats != 1:
            parts.append(f"--repeats {self.repeats}")
        if self.quick:
            parts.append("--quick")
        return " ".join(parts)


def seeds(cfg):
    """The base seed of each repeat."""
    return [cfg.seed + r * REPEAT_STRIDE for r in range(cfg.repeats)]


def build_config(dataset=_datasets.DEFAULT_DATASET, *, root=None, backbone="cnn",
                 epochs=None, batch_size=128, device="cpu", seed=0, attacks=None,
                 quick=False, n_per_part=None, image_size=None, n_jobs=1, attribute="auto",
                 **options):
    """An :class:`AuditConfig` from :func:`run_audit`'s arguments (budget defaults
    filled in).  Unknown options raise ``TypeError``."""
    if not isinstance(quick, bool):
        raise TypeError(f"quick must be True or False, got {quick!r}")
    budget = QUICK_BUDGET if quick else DEFAULT_BUDGET
    if isinstance(attacks, str):
        attacks = [a.strip() for a in attacks.split(",")]
    if attribute == "auto":
        try:
            accepted = DATASET_ATTRIBUTES.get(_datasets.resolve_name(dataset))
        except (TypeError, ValueError):
            accepted = None
        attribute = accepted[0] if accepted else None
    cfg = AuditConfig(
        dataset=dataset, root=None if root is None else os.fspath(root), backbone=backbone,
        attribute=attribute,
        epochs=budget["epochs"] if epochs is None else epochs, batch_size=batch_size,
        device=device, seed=seed,
        attacks=_catalogue.names("attacks") if attacks is None else tuple(attacks),
        n_per_part=budget["n_per_part"] if n_per_part is None else n_per_part,
        image_size=image_size, quick=quick, n_jobs=n_jobs,
        label_only_records=options.pop("label_only_records", budget["label_only_records"]),
        label_only_max_iter=options.pop("label_only_max_iter", budget["label_only_max_iter"]),
        reference_models=options.pop("reference_models", budget["reference_models"]),
    )
    weights = options.pop("talos_weights", budget["talos_weights"])
    cfg.talos_weights = tuple(weights) if isinstance(weights, (list, tuple)) else weights
    for name, value in options.items():
        if name == "extra" or not hasattr(cfg, name):
            raise TypeError(f"run_audit got an unexpected option {name!r}")
        setattr(cfg, name, value)
    return cfg


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool) \
        and math.isfinite(float(value))


def _positive_int(cfg, name, minimum=1):
    value = getattr(cfg, name)
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_config(cfg: AuditConfig):
    """Validate every option; raise ``ValueError``/``TypeError`` naming it.

    Runs before any data is loaded and before any model is trained.
    """
    try:
        name = _datasets.resolve_name(cfg.dataset)  # the loader's own name folding
    except (TypeError, ValueError):
        raise ValueError(f"unknown dataset {cfg.dataset!r}; valid: "
                         f"{', '.join(_datasets.available())}") from None
    if name in DATASET_ATTRIBUTES:
        if cfg.attribute not in DATASET_ATTRIBUTES[name]:
            raise ValueError(f"attribute must be one of "
                             f"{', '.join(DATASET_ATTRIBUTES[name])} for {name}, got "
                             f"{cfg.attribute!r}")
    elif cfg.attribute is not None:
        raise ValueError(f"attribute is an option of {', '.join(DATASET_ATTRIBUTES)}; "
                         f"{name} defines its own sensitive attribute, got "
                         f"attribute={cfg.attribute!r}")
    objectives, backbones = _catalogue.names("objectives"), _catalogue.names("backbones")
    if cfg.objective not in objectives:
        raise ValueError(f"unknown objective {cfg.objective!r}; valid: {', '.join(objectives)}")
    if cfg.backbone not in backbones:
        raise ValueError(f"unknown backbone {cfg.backbone!r}; valid: {', '.join(backbones)}")
    if not _is_int(cfg.n_jobs) or cfg.n_jobs == 0 or cfg.n_jobs < -1:
        raise ValueError(f"n_jobs must be a positive integer or -1, got {cfg.n_jobs!r}")
    for name_ in ("epochs", "label_only_max_iter", "repeats", "torch_threads"):
        _positive_int(cfg, name_)
    _positive_int(cfg, "batch_size", 2)  # contrastive learning needs negatives
    _positive_int(cfg, "label_only_records", 2)  # one member and one non-member
    _positive_int(cfg, "n_boot", 100)
    _positive_int(cfg, "encodermi_views", 2)
    if not _is_int(cfg.reference_models) or cfg.reference_models < 0 \
            or cfg.reference_models == 1:
        reference = [a for a, s in _catalogue.ATTACKS.items() if "reference" in s.needs]
        raise ValueError(f"reference_models must be 0 (skip {' and '.join(reference)}) "
                         f"or an integer >= 2, got {cfg.reference_models!r}")
    if cfg.n_per_part is not None:
        _positive_int(cfg, "n_per_part", 10)
    # Seeds: every model's seed (base + repeat stride + offset) must be a valid seed.
    if not _is_int(cfg.seed) or cfg.seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {cfg.seed!r}")
    largest = cfg.seed + (cfg.repeats - 1) * REPEAT_STRIDE + max(
        v for v in SEED_OFFSETS.values())
    if largest > _MAX_SEED:
        raise ValueError(f"seed must be at most {_MAX_SEED - largest + cfg.seed} with "
                         f"repeats={cfg.repeats}: the audit derives model seeds up to "
                         f"seed + {largest - cfg.seed}, and seeds must stay below 2**32")
    for name_ in ("lr", "temperature"):
        value = getattr(cfg, name_)
        if not _is_real(value) or value <= 0:
            raise ValueError(f"{name_} must be a finite number > 0, got {value!r}")
    if not _is_real(cfg.talos_weight) or cfg.talos_weight < 0:
        raise ValueError(f"talos_weight must be a finite number >= 0, got {cfg.talos_weight!r}")
    weights = cfg.talos_weights
    if not isinstance(weights, tuple) or not all(_is_real(w) and w >= 0 for w in weights):
        raise ValueError(f"talos_weights must be a sequence of finite numbers >= 0, got "
                         f"{weights!r}")
    if not _is_real(cfg.confidence) or not 0.5 <= cfg.confidence < 1:
        raise ValueError(f"confidence must be in [0.5, 1), got {cfg.confidence!r}")
    if not _is_real(cfg.seed_inflation) or not 1 <= cfg.seed_inflation <= 10:
        raise ValueError(f"seed_inflation must be a number in [1, 10] (1: the bare "
                         f"record-level bootstrap), got {cfg.seed_inflation!r}")
    if not _is_real(cfg.min_fraction_removed) or not 0 < cfg.min_fraction_removed <= 1:
        raise ValueError(f"min_fraction_removed must be in (0, 1], got "
                         f"{cfg.min_fraction_removed!r}")
    if not _is_real(cfg.max_utility_cost) or not 0 <= cfg.max_utility_cost <= 1:
        raise ValueError(f"max_utility_cost must be in [0, 1], got {cfg.max_utility_cost!r}")
    attacks = _catalogue.names("attacks")
    if not isinstance(cfg.attacks, tuple) or not cfg.attacks:
        raise ValueError(f"attacks must name at least one of {', '.join(attacks)}")
    unknown = [a for a in cfg.attacks if a not in attacks]
    if unknown:
        raise ValueError(f"unknown attacks {unknown}; valid: {', '.join(attacks)}")
    check_image_size(cfg.image_size)
    if not isinstance(cfg.device, str) or not cfg.device.startswith(("cpu", "cuda", "mps")):
        raise ValueError(f"device must be 'cpu', 'cuda[:N]' or 'mps', got {cfg.device!r}")
    if cfg.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"device={cfg.device!r} but no CUDA device is available")
    if cfg.root is not None and not Path(cfg.root).is_dir():
        raise ValueError(f"root {cfg.root!r} is not a folder; it must hold the data set's files")
    return cfg


def check_out(out):
    """The output folder as a Path, created and writable; refuse an empty path."""
    if out is None or not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out must be a folder path (str or Path), got {out!r}")
    if not os.fspath(out).strip():
        raise ValueError("out must name a folder, got an empty path")
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"cannot write to out={str(out)!r}: {exc.strerror or exc}") from None
    return out
