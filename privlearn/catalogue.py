"""One catalogue of the protocol's parts, each declared once.

The audit's configuration, its command line, training, judging and the report
read their names, titles and options from here; nothing else keeps a list of
objectives, backbones, attacks, model families, defenses or findings.  This
module imports no torch (and nothing heavy): an entry names the object that
implements it by a lazy ``"package.module:attribute"`` path, resolved by
:func:`load` only when it is used.

Adding a component is one module plus one :func:`register` call (or one entry
here, for the built-in ones)::

    >>> from privlearn import catalogue
    >>> catalogue.OBJECTIVES["byol"].title
    'BYOL'
    >>> catalogue.names("attacks", kind="membership")[:3]
    ('nn', 'correctness', 'confidence')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module

__all__ = ["Spec", "OBJECTIVES", "BACKBONES", "ATTACKS", "FAMILIES", "DEFENSES",
           "FINDINGS", "register", "unregister", "load", "names",
           "section", "needs", "title"]


@dataclass(frozen=True)
class Spec:
    """One component of the protocol.

    Parameters
    ----------
    name : str
        The identifier used in options, results.json and the command line.
    title : str
        What the report prints.
    path : str, optional
        ``"package.module:attribute"`` of the object that implements it (a class,
        or a function with the section's contract); imported only by :func:`load`.
    kind : str, optional
        A sub-kind inside the section (attacks: ``"membership"`` or ``"attribute"``).
    needs : tuple of str
        What it needs from the audit (attacks: ``"posteriors"``, ``"labels"``,
        ``"encoder"``, ``"reference"``; an attack whose needs are not available is
        skipped, and the report says why).
    options : dict
        Section-specific facts (e.g. an objective's loss path or its defaults).
    doc : str
        One line for the command line's help.
    """

    name: str
    title: str
    path: str | None = None
    kind: str | None = None
    needs: tuple = ()
    options: dict = field(default_factory=dict)
    doc: str = ""


def _section(*specs):
    return {s.name: s for s in specs}


#: Self-supervised objectives (of the contrastive family and of Talos).
OBJECTIVES = _section(
    Spec("simclr", "SimCLR", "privlearn.encoders.simclr:SimCLR",
         doc="NT-Xent over two views (Chen et al. 2020), the paper's objective"),
    Spec("moco", "MoCo", "privlearn.encoders.moco:MoCo",
         doc="MoCo v2: momentum encoder and a queue of negatives"),
    Spec("byol", "BYOL", "privlearn.encoders.byol:BYOL",
         doc="BYOL: online predictor against a momentum target, no negatives"),
    Spec("simsiam", "SimSiam", "privlearn.encoders.simsiam:SimSiam",
         doc="SimSiam: stop-gradient siamese network"),
    Spec("barlow_twins", "Barlow Twins", "privlearn.encoders.barlow_twins:BarlowTwins",
         doc="Barlow Twins: redundancy reduction of the cross-correlation"),
)

#: Encoder networks (:func:`privlearn.backbones.make_backbone`).
BACKBONES = _section(
    Spec("cnn", "small CNN", doc="a 3-conv CNN with BatchNorm, for CPU work"),
    Spec("resnet18", "ResNet-18", doc="torchvision ResNet-18 (CIFAR stem on small images)"),
    Spec("resnet50", "ResNet-50", doc="torchvision ResNet-50 (CIFAR stem on small images)"),
    Spec("mobilenet_v2", "MobileNetV2", doc="torchvision MobileNetV2"),
)

#: The audit's attacks.  A membership attack's ``path`` is a function
#: ``run(ctx) -> {"scores", "records", ...}`` (see :mod:`privlearn.audit.attack`).
ATTACKS = _section(
    Spec("nn", "NN-based", "privlearn.audit.attack:run_nn", "membership", ("posteriors",),
         doc="MLP on the top-k sorted posteriors and the correctness bit"),
    Spec("correctness", "Correctness", "privlearn.audit.attack:run_correctness",
         "membership", ("posteriors",), doc="was the prediction right"),
    Spec("confidence", "Confidence", "privlearn.audit.attack:run_confidence",
         "membership", ("posteriors",), doc="the posterior of the true class"),
    Spec("entropy", "Entropy", "privlearn.audit.attack:run_entropy", "membership",
         ("posteriors",), doc="the posterior's entropy"),
    Spec("modified_entropy", "Modified entropy",
         "privlearn.audit.attack:run_modified_entropy", "membership", ("posteriors",),
         doc="Song & Mittal's modified entropy"),
    Spec("label_only", "Label-only", "privlearn.audit.attack:run_label_only",
         "membership", ("labels",), doc="HopSkipJump distance to the decision boundary"),
    Spec("lira", "LiRA", "privlearn.audit.attack:run_lira", "membership",
         ("posteriors", "reference"), doc="likelihood-ratio attack, offline"),
    Spec("rmia", "RMIA", "privlearn.audit.attack:run_rmia", "membership",
         ("posteriors", "reference"), doc="relative membership inference, offline"),
    Spec("encodermi", "EncoderMI", "privlearn.audit.attack:run_encodermi", "membership",
         ("encoder",), doc="similarity of augmented views' embeddings (audit mode)"),
    Spec("partcrop", "PartCrop", "privlearn.audit.encoder_attacks:run_partcrop", "membership",
         ("encoder",), doc="part crops' responses to the whole image (audit mode)"),
    Spec("encoder_lira", "EncoderLiRA", "privlearn.audit.encoder_attacks:run_encoder_lira",
         "membership", ("encoder", "reference"),
         doc="alignment of augmented views calibrated by reference encoders, offline"),
    Spec("attribute", "Attribute inference", None, "attribute", ("encoder",),
         doc="MLP on embeddings predicts the sensitive attribute"),
)

#: Model families the audit trains and compares.
FAMILIES = _section(
    Spec("contrastive", "Contrastive", doc="a self-supervised encoder + linear probe"),
    Spec("supervised", "Supervised", doc="the same backbone trained with cross-entropy"),
    Spec("talos", "Talos", needs=("attribute",),
         doc="the contrastive objective with an adversarial attribute classifier"),
)

#: Defenses against attribute inference, compared against a fresh attacker.
#: ``options["use"]`` says how the estimator is switched to the defense; all are
#: re-exported by :mod:`privlearn.defenses` and evaluated by its
#: :func:`~privlearn.defenses.evaluate_defense`.
DEFENSES = _section(
    Spec("talos", "Talos", "privlearn.talos:Talos", "retrained",
         options={"use": "Talos(adversary_weight=λ)"},
         doc="adversarial attribute classifier through gradient reversal"),
    Spec("mmd", "Distribution matching (MMD)", "privlearn.talos:Talos", "retrained",
         options={"use": "Talos(mmd_weight=μ, adversary_weight=0)"},
         doc="MMD² between the representations of different attribute values"),
    Spec("leace", "Linear concept erasure (LEACE)", "privlearn.erasure:LinearConceptEraser",
         "post_hoc", options={"use": "make_pipeline(encoder, LinearConceptEraser(), probe)"},
         doc="post-hoc linear erasure of the attribute"),
    Spec("dp_sgd", "DP-SGD", "privlearn.encoders.supervised:SupervisedClassifier",
         "retrained", options={"use": "SupervisedClassifier(noise_multiplier=σ, "
                                      "max_grad_norm=C)"},
         doc="differentially private training of the supervised baseline (Opacus)"),
)

#: The audit's findings, in report order (classes in :mod:`privlearn.audit.judge`
#: with ``judge(raw, cfg, seed)``, ``combine(per_seed, cfg)``, ``render(finding, cfg)``
#: and ``short_claim(finding, cfg)``; see :class:`privlearn.audit.judge.Finding`).
FINDINGS = _section(
    Spec("membership_strongest", "Membership, strongest attack",
         "privlearn.audit.judge:StrongestMembershipFinding", "membership",
         doc="membership weaker on contrastive, each family's strongest attack"),
    Spec("membership", "Membership, per attack",
         "privlearn.audit.judge:MembershipFinding", "membership",
         doc="membership weaker on contrastive, one finding per attack"),
    Spec("encoder_membership", "Membership of the encoder",
         "privlearn.audit.judge:EncoderMembershipFinding", "membership", ("encoder",),
         doc="membership of the encoder, strongest attack whose needs include 'encoder'"),
    Spec("attribute", "Attribute inference", "privlearn.audit.judge:AttributeFinding",
         "attribute", doc="attribute inference stronger on contrastive"),
    Spec("talos", "Talos", "privlearn.audit.judge:TalosFinding", "talos",
         doc="Talos removes the excess attribute leakage at a small utility cost"),
)

_SECTIONS = {"objectives": OBJECTIVES, "backbones": BACKBONES, "attacks": ATTACKS,
             "families": FAMILIES, "defenses": DEFENSES, "findings": FINDINGS}


def section(name):
    """The dict of one section by name (``"objectives"``, ``"attacks"``, ...)."""
    try:
        return _SECTIONS[name]
    except KeyError:
        raise ValueError(f"unknown catalogue section {name!r}; the sections are "
                         f"{', '.join(map(repr, _SECTIONS))}") from None


def names(section_name, *, kind=None):
    """The names of one section, in catalogue order (optionally of one ``kind``)."""
    return tuple(n for n, s in section(section_name).items() if kind is None or s.kind == kind)


def register(section_name, spec, *, replace=False):
    """Add ``spec`` to a section (a plug-in component); returns ``spec``."""
    entries = section(section_name)
    if not isinstance(spec, Spec):
        raise TypeError(f"spec must be a privlearn.catalogue.Spec, got {type(spec).__name__}")
    if spec.name in entries and not replace:
        raise ValueError(f"{section_name} already has an entry {spec.name!r}; pass "
                         f"replace=True to replace it")
    entries[spec.name] = spec
    return spec


def unregister(section_name, name):
    """Remove an entry (the inverse of :func:`register`)."""
    section(section_name).pop(name, None)


def needs(section_name, name):
    """The ``needs`` of one entry (``()`` for an unknown name)."""
    spec = section(section_name).get(name)
    return () if spec is None else tuple(spec.needs)


def title(section_name, name):
    """The title of one entry, or ``name`` itself when it is not catalogued (a
    results.json written by an older version may name a removed component)."""
    spec = section(section_name).get(name)
    return name if spec is None else spec.title


def load(spec):
    """Import the object a spec's ``path`` names."""
    if spec.path is None:
        raise ValueError(f"{spec.name!r} has no implementation path")
    module, _, attribute = spec.path.partition(":")
    return getattr(import_module(module), attribute)
