"""The catalogue is the single source: a plug-in attack and a plug-in objective, each a
test-local definition plus one ``catalogue.register`` call, are run by the audit,
accepted and listed by the CLI and shown in the report, with no other change."""

import contextlib
import io
from dataclasses import fields

import numpy as np
import pytest

from privlearn import catalogue, cli
from privlearn.catalogue import Spec
import torch
import torch.nn.functional as F

from privlearn.backbones import ContrastiveNet
from privlearn.encoders import Objective, SelfSupervisedEncoder

# --- the plug-ins (test-local) ----------------------------------------------------------

CALLS = []


def run_toy_norm(ctx):
    """A toy encoder attack: members' embeddings have a larger norm (or not)."""
    assert {"cfg", "family", "target", "shadow", "sets", "seed", "pool", "reference",
            "encoder", "reference_encoders"} <= set(ctx)
    CALLS.append(ctx.family)
    X_eval, m_eval = ctx.sets.eval
    embeddings = np.asarray(ctx.encoder.transform(np.asarray(X_eval.inputs)))
    return {"scores": np.linalg.norm(embeddings.reshape(len(m_eval), -1), axis=1),
            "records": np.arange(len(m_eval))}


class AlignUniformLoss(torch.nn.Module):
    """Wang & Isola (2020): alignment of the two views plus ``weight`` × uniformity."""

    def __init__(self, weight=1.0):
        super().__init__()
        self.weight = weight

    def forward(self, z1, z2):
        z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
        align = (z1 - z2).pow(2).sum(1).mean()
        z = torch.cat([z1, z2])
        uniform = torch.pdist(z).pow(2).mul(-2).exp().mean().log()
        return align + self.weight * uniform


class AlignUniformObjective(Objective):
    """A toy objective of its own: its loss, its one hyperparameter, its step."""

    name = "toy_objective"
    network = ContrastiveNet
    criterion = AlignUniformLoss
    defaults = {"projection_dim": 32, "uniformity_weight": 1.0}

    def module_kwargs(self, estimator):
        return {"projection_dim": estimator._hyperparameter("projection_dim")}

    def criterion_kwargs(self, estimator):
        return {"weight": estimator._hyperparameter("uniformity_weight")}

    def step(self, estimator, views, *, training, **fit_params):
        h, z = estimator.infer(torch.cat(views), **fit_params)
        z1, z2 = z.chunk(2)
        return estimator.criterion_(z1, z2), h, (h, z)


def _define_toy_encoder():
    """The estimator of the toy objective: one attribute, no ``__init__`` (generated
    from the objective's ``defaults`` and the shared parameters). Defined once the
    objective is registered, so that importing this module registers nothing."""

    class ToyObjective(SelfSupervisedEncoder):
        """Toy encoder trained with the alignment + uniformity loss."""

        objective_name = "toy_objective"

    ToyObjective.__qualname__ = "ToyObjective"    # pickled by the audit's checkpoints
    return ToyObjective


ToyObjective = None      # set by the ``plugins`` fixture


ATTACK = Spec("toy_norm", "Toy embedding norm", f"{__name__}:run_toy_norm", "membership",
              ("encoder",), doc="the norm of the record's embedding (a test plug-in)")
OBJECTIVE = Spec("toy_objective", "Toy objective", f"{__name__}:ToyObjective",
                 doc="alignment + uniformity (a test plug-in)")


@pytest.fixture(scope="module")
def plugins():
    from privlearn.encoders import OBJECTIVES as objective_impls

    global ToyObjective
    catalogue.register("attacks", ATTACK)
    catalogue.register("objectives", OBJECTIVE)
    # The objective (loss, network, hyperparameters) in the encoders' registry, where
    # the estimator and Talos(objective=...) find it by name.
    objective_impls["toy_objective"] = AlignUniformObjective()
    ToyObjective = _define_toy_encoder()
    yield
    catalogue.unregister("attacks", ATTACK.name)
    catalogue.unregister("objectives", OBJECTIVE.name)
    objective_impls.pop("toy_objective", None)


@pytest.fixture(scope="module")
def plugin_audit(plugins, tmp_path_factory):
    from privlearn.audit import run_audit

    out = tmp_path_factory.mktemp("plugin-audit")
    results = run_audit(out=out, quick=True, epochs=1, n_per_part=60, batch_size=32,
                        attacks=["toy_norm", "confidence", "attribute"], reference_models=0,
                        objective="toy_objective", n_boot=100, progress=False)
    return out, results


def test_plugin_attack_and_objective_run_in_the_audit_and_report(plugin_audit):
    out, results = plugin_audit
    assert sorted(set(CALLS)) == ["contrastive", "supervised", "talos"]
    for family in ("contrastive", "supervised", "talos"):
        report = results["membership"][family]["toy_norm"]
        assert 0 <= report["roc_auc"] <= 1
    ids = [f["id"] for f in results["findings"]]
    assert "membership/toy_norm" in ids
    # the encoder-level finding: the strongest of the attacks needing "encoder"
    encoder = next(f for f in results["findings"] if f["id"] == "membership/encoder")
    assert encoder["numbers"]["competing_attacks"] == ["toy_norm"]
    assert encoder["numbers"]["strongest_attack_contrastive"] == "toy_norm"
    report = (out / "report.md").read_text()
    assert "Toy embedding norm" in report
    assert "Contrastive (Toy objective)" in report
    assert results["config"]["objective"] == "toy_objective"


def test_audit_trains_the_plugin_objective_class(plugins):
    from privlearn.audit import build_config
    from privlearn.audit.train import make_model

    model = make_model("contrastive", build_config(objective="toy_objective", epochs=1),
                       seed=0)
    assert type(model.steps[0][1]) is ToyObjective


def test_plugin_objective_is_one_objective_and_one_attribute(plugins):
    """The toy estimator's constructor comes from its objective's ``defaults`` and the
    shared parameters: sklearn sees every parameter, clone keeps them, and fit trains the
    toy's own loss with the toy's hyperparameter."""
    import inspect

    from sklearn.base import clone

    signature = inspect.signature(ToyObjective).parameters
    assert signature["uniformity_weight"].default == 1.0
    assert signature["projection_dim"].default == 32
    assert list(signature)[:3] == ["backbone", "projection_dim", "uniformity_weight"]
    assert {"max_epochs", "batch_size", "augment", "random_state", "kwargs"} <= set(signature)
    model = ToyObjective(uniformity_weight=0.5, max_epochs=1, batch_size=32, random_state=0)
    assert clone(model).get_params()["uniformity_weight"] == 0.5
    images = np.random.default_rng(0).random((64, 1, 8, 8)).astype(np.float32)
    model.fit(images)
    assert isinstance(model.criterion_, AlignUniformLoss) and model.criterion_.weight == 0.5
    assert model.transform(images[:3]).shape[0] == 3
    assert np.isfinite(model.history[-1, "train_loss"])


def test_talos_trains_the_plugin_objective_with_its_hyperparameter(plugins):
    """Talos(objective=...) takes a plug-in objective's own hyperparameter by name (no
    edit to Talos's signature), keeps it through clone and trains that objective's loss."""
    import privlearn as pl
    from sklearn.base import clone

    talos = pl.Talos(objective="toy_objective", uniformity_weight=0.25, max_epochs=1,
                     batch_size=32, random_state=0)
    assert clone(talos).get_params()["uniformity_weight"] == 0.25
    images = np.random.default_rng(0).random((64, 1, 8, 8)).astype(np.float32)
    talos.fit(images, sensitive_features=np.arange(64) % 2)
    assert isinstance(talos.criterion_, AlignUniformLoss) and talos.criterion_.weight == 0.25
    with pytest.raises(ValueError, match="`uniformity_weight`"):
        pl.Talos(objective="simclr", uniformity_weight=0.25, max_epochs=1).fit(
            images, sensitive_features=np.arange(64) % 2)


def test_objective_estimator_refuses_an_unknown_objective_or_shared_default():
    with pytest.raises(TypeError, match="not a registered objective"):
        type("Bad", (SelfSupervisedEncoder,), {"objective_name": "no_such_objective"})
    with pytest.raises(TypeError, match="names no shared parameter"):
        type("Bad", (SelfSupervisedEncoder,), {"objective_name": "simclr",
                                               "shared_defaults": {"no_such": 1}})


def test_cli_accepts_and_lists_plugins(plugins):
    parser = cli.build_parser()
    args = parser.parse_args(["audit", "--attacks", "toy_norm,nn", "--objective",
                              "toy_objective"])
    assert args.attacks == ["toy_norm", "nn"] and args.objective == "toy_objective"
    help_text = io.StringIO()
    with contextlib.redirect_stdout(help_text), pytest.raises(SystemExit):
        parser.parse_args(["audit", "--help"])
    text = " ".join(help_text.getvalue().split())
    assert "toy_norm: the norm of the record's embedding" in text
    assert "toy_objective" in text


def test_cli_reads_the_catalogue_at_call_time():
    parser = cli.build_parser()   # built before the attack is registered
    late = Spec("toy_late", "Late toy", f"{__name__}:run_toy_norm", "membership",
                ("encoder",))
    catalogue.register("attacks", late)
    try:
        assert parser.parse_args(["audit", "--attacks", "toy_late"]).attacks == ["toy_late"]
    finally:
        catalogue.unregister("attacks", "toy_late")
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()) as err:
        parser.parse_args(["audit", "--attacks", "toy_late"])
    assert "unknown attack(s) toy_late" in err.getvalue()


def test_every_audit_option_has_a_flag():
    from privlearn.audit import AuditConfig

    parser = cli.build_parser()
    audit = parser._subparsers._group_actions[0].choices["audit"]
    flags = {option for action in audit._actions for option in action.option_strings}
    for f in fields(AuditConfig):
        if f.name in ("extra",):
            continue
        assert "--" + f.name.replace("_", "-") in flags, f.name
    args = parser.parse_args(["audit", "--encodermi-views", "4", "--confidence", "0.9",
                              "--label-only-max-iter", "2", "--lr", "0.01"])
    assert (args.encodermi_views, args.confidence, args.label_only_max_iter, args.lr) == (
        4, 0.9, 2, 0.01)


def test_config_names_are_derived_from_the_catalogue():
    from privlearn.audit import config

    # the import-time tuples are the built-in entries (plug-ins registered later follow)
    assert catalogue.names("attacks")[:len(config.ATTACKS)] == config.ATTACKS
    assert "nn" in config.ATTACKS and "attribute" in config.ATTACKS
    assert catalogue.names("objectives")[:len(config.OBJECTIVES)] == config.OBJECTIVES
    assert "simclr" in config.OBJECTIVES
    assert config.BACKBONES == catalogue.names("backbones")
    assert config.REFERENCE_ATTACKS == tuple(
        a for a, s in catalogue.ATTACKS.items() if "reference" in s.needs)
    for name, spec in catalogue.ATTACKS.items():
        if spec.kind == "membership":
            assert callable(catalogue.load(spec)), name
    for spec in catalogue.FINDINGS.values():
        cls = catalogue.load(spec)
        assert all(hasattr(cls, m) for m in ("judge", "combine", "render", "short_claim"))


def test_reference_encoders_are_the_encoders_inside_the_reference_models():
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.utils import Bunch

    from privlearn.audit.attack import encoder_of, reference_encoders

    pipes = [make_pipeline(PCA(2), LogisticRegression()) for _ in range(2)]
    assert reference_encoders(Bunch(models_=pipes)) == [p.steps[0][1] for p in pipes]
    assert encoder_of(Bunch(model_=pipes[0])) is pipes[0].steps[0][1]
