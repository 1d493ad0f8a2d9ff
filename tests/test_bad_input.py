"""Bad input to every public entry point: a clear error naming the argument,
raised before any training starts.

Every case is one row of a table: ``(entry point, expected exception, message
regex)``.  The entry point is a function of a small shared context (data and a few
fitted models made before the tripwires are armed).  While a case runs, a
tripwire is armed on everything that trains or searches: skorch's epoch loop
(SimCLR, SupervisedClassifier, Talos, shadow models), sklearn's MLP and logistic
regression (attack models), the metric attacks' threshold sweep, the label-only
boundary search, and the audit's model fitting.  A case that reached any of them
fails with :class:`TrainingStarted` instead of the expected error;
``test_tripwire_catches_training`` shows the tripwires do fire.

The command line is tested the same way: a non-zero exit, a message naming the
option on stderr, and no traceback.
"""

import io
import math
import re
from contextlib import redirect_stderr
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from skorch import NeuralNet

import privlearn as pl
from privlearn import cli
from privlearn.talos import privacy_utility_curve

FAST = dict(max_epochs=1, batch_size=32, random_state=0)


class TrainingStarted(Exception):
    """Raised by a tripwire: the entry point got as far as training."""


def _tripwire(*args, **kwargs):
    raise TrainingStarted("training started before the bad input was refused")


@pytest.fixture(scope="module")
def ctx():
    """Data and fitted models, made before any tripwire is armed."""
    data = pl.datasets.load("digits", task="digit")
    images, labels, sensitive = data.images[:64], data.target[:64], data.sensitive[:64]
    flat = images.reshape(len(images), -1) / 255.0
    supervised = pl.SupervisedClassifier(**FAST).fit(images, labels)
    records, membership = pl.membership_set((images[:32], labels[:32]),
                                            (images[32:], labels[32:]))
    return SimpleNamespace(
        images=images, labels=labels, sensitive=sensitive, flat=flat,
        supervised=supervised, simclr=pl.SimCLR(**FAST).fit(images),
        records=records, membership=membership,
        pca=PCA(4).fit(flat), data=data)


@pytest.fixture
def tripwires(ctx, monkeypatch):
    """Arm every training entry point (after ``ctx`` has trained its models)."""
    monkeypatch.setattr(NeuralNet, "run_single_epoch", _tripwire)
    monkeypatch.setattr(MLPClassifier, "fit", _tripwire)
    monkeypatch.setattr(LogisticRegression, "fit", _tripwire)
    monkeypatch.setattr("privlearn.attacks.membership.fit_class_thresholds", _tripwire)
    monkeypatch.setattr("privlearn.attacks.label_only.boundary_distances", _tripwire)
    monkeypatch.setattr("privlearn.audit.train._fit", _tripwire)


def _float_images(c, value):
    x = c.images[:8].astype(np.float32) / 255
    x[3, 0, 2, 2] = value
    return x


def _with_nan(values):
    values = values.astype(float)
    values[0] = np.nan
    return values


# (id, entry point, exception, message regex)
CASES = [
    # --- SimCLR: inputs -------------------------------------------------------------
    ("simclr-nan-image", lambda c: pl.SimCLR(**FAST).fit(_float_images(c, np.nan)),
     ValueError, r"`X` contains NaN or infinite"),
    ("simclr-inf-image", lambda c: pl.SimCLR(**FAST).fit(_float_images(c, np.inf)),
     ValueError, r"`X` contains NaN or infinite"),
    ("simclr-rank-5", lambda c: pl.SimCLR(**FAST).fit(c.images[:, None]),
     ValueError, r"`X` must have 4 dimensions"),
    ("simclr-rank-1", lambda c: pl.SimCLR(**FAST).fit(c.flat[0]),
     ValueError, r"`X` must have 4 dimensions.*Reshape your data"),
    ("simclr-empty", lambda c: pl.SimCLR(**FAST).fit(c.images[:0]),
     ValueError, r"`X` is empty"),
    ("simclr-one-sample", lambda c: pl.SimCLR(**FAST).fit(c.images[:1]),
     ValueError, r"`X` holds 1 sample"),
    ("simclr-strings", lambda c: pl.SimCLR(**FAST).fit(np.array([["a", "b"], ["c", "d"]])),
     TypeError, r"`X` must hold numbers"),
    ("simclr-object-not-numbers",
     lambda c: pl.SimCLR(**FAST).fit(np.array([[1.0, {}], [2.0, 3.0]], dtype=object)),
     TypeError, r"`X` has dtype object"),
    ("simclr-sparse", lambda c: pl.SimCLR(**FAST).fit(scipy.sparse.csr_matrix(c.flat)),
     TypeError, r"sparse input is not supported for `X`"),
    ("simclr-pixels-as-floats",
     lambda c: pl.SimCLR(**FAST).fit(c.images.astype(np.float32)),
     ValueError, r"float images in `X` must have values in \[0, 1\]"),
    ("simclr-int-out-of-range",
     lambda c: pl.SimCLR(**FAST).fit(np.full((4, 1, 8, 8), 300, np.int16)),
     ValueError, r"integer images in `X` must have values 0–255"),
    # --- SimCLR: parameters --------------------------------------------------------
    ("simclr-unknown-backbone", lambda c: pl.SimCLR(backbone="vgg", **FAST).fit(c.images),
     ValueError, r"unknown `backbone` 'vgg'.*'cnn'"),
    ("simclr-batch-size-1", lambda c: pl.SimCLR(max_epochs=1, batch_size=1).fit(c.images),
     ValueError, r"`batch_size` must be an integer >= 2"),
    ("simclr-negative-epochs", lambda c: pl.SimCLR(max_epochs=-1).fit(c.images),
     ValueError, r"`max_epochs` must be an integer >= 0"),
    ("simclr-epochs-string", lambda c: pl.SimCLR(max_epochs="10").fit(c.images),
     ValueError, r"`max_epochs` must be an integer"),
    ("simclr-temperature-0", lambda c: pl.SimCLR(temperature=0.0, **FAST).fit(c.images),
     ValueError, r"`temperature` must be a positive number"),
    ("simclr-temperature-nan",
     lambda c: pl.SimCLR(temperature=math.nan, **FAST).fit(c.images),
     ValueError, r"`temperature` must be a (positive|finite) number"),
    ("simclr-lr-negative", lambda c: pl.SimCLR(lr=-1e-3, max_epochs=1).fit(c.images),
     ValueError, r"`lr` must be a positive number"),
    ("simclr-random-state-string",
     lambda c: pl.SimCLR(random_state="seed", max_epochs=1).fit(c.images),
     ValueError, r"`random_state` must be None, an integer"),
    ("simclr-projection-dim-0", lambda c: pl.SimCLR(projection_dim=0, **FAST).fit(c.images),
     ValueError, r"`projection_dim` must be a positive integer"),
    ("simclr-transform-unfitted", lambda c: pl.SimCLR(**FAST).transform(c.images),
     NotFittedError, r"SimCLR"),
    ("simclr-transform-other-shape", lambda c: c.simclr.transform(c.images[:, :, :4]),
     ValueError, r"`X` holds images of shape .*fitted on .*1×8×8"),
    # --- every network estimator: non-finite and wrong-typed skorch-level parameters ----
    *[(f"{name}-{case}", lambda c, make=make, kw=kw: make(c, kw), error, message)
      for name, make in [
          ("simclr", lambda c, kw: pl.SimCLR(**{**FAST, **kw}).fit(c.images)),
          ("supervised",
           lambda c, kw: pl.SupervisedClassifier(**{**FAST, **kw}).fit(c.images, c.labels)),
          ("talos", lambda c, kw: pl.Talos(**{**FAST, **kw}).fit(
              c.images, sensitive_features=c.sensitive))]
      for case, kw, error, message in [
          ("lr-inf", dict(lr=math.inf), ValueError, r"`lr` must be a finite number"),
          ("optimizer-lr-nan", dict(optimizer__lr=math.nan), ValueError,
           r"`optimizer__lr` must be a finite number, got nan"),
          ("optimizer-weight-decay-inf", dict(optimizer__weight_decay=math.inf), ValueError,
           r"`optimizer__weight_decay` must be a finite number"),
          ("optimizer-name", dict(optimizer="adam"), TypeError,
           r"`optimizer` must be a torch optimizer class .*got 'adam'"),
          ("callbacks-string", dict(callbacks="progress"), TypeError,
           r"`callbacks` must be None, 'disable' or a list of skorch callbacks"),
          ("callbacks-list-of-strings", dict(callbacks=["progress"]), TypeError,
           r"`callbacks` must be None, 'disable' or a list"),
          ("train-split-fraction", dict(train_split=0.2), TypeError,
           r"`train_split` must be None or a callable such as skorch.dataset.ValidSplit"),
          ("iterator-train-name", dict(iterator_train="DataLoader"), TypeError,
           r"`iterator_train` must be a class or callable"),
          ("iterator-batch-size-0", dict(iterator_train__batch_size=0), ValueError,
           r"`iterator_train__batch_size` must be an integer >= 1"),
          ("empty-epoch", dict(batch_size=128, iterator_train__drop_last=True), ValueError,
           r"an epoch over the 64 training samples would have no batch"),
          ("warm-start-string", dict(warm_start="yes"), TypeError,
           r"`warm_start` must be True or False"),
      ]],
    ("talos-adversary-lr-inf",
     lambda c: pl.Talos(adversary__lr=math.inf, **FAST).fit(c.images,
                                                            sensitive_features=c.sensitive),
     ValueError, r"`adversary__lr` must be a finite number, got inf"),
    ("simclr-augment-param-nan",
     lambda c: pl.SimCLR(augment__crop_scale_min=math.nan, **FAST).fit(c.images),
     ValueError, r"`augment__crop_scale_min` must be a finite number"),
    # --- SupervisedClassifier ---------------------------------------------------------
    ("supervised-mismatched-lengths",
     lambda c: pl.SupervisedClassifier(**FAST).fit(c.images, c.labels[:10]),
     ValueError, r"`y` gives 10 targets for 64 samples in `X`"),
    ("supervised-one-class",
     lambda c: pl.SupervisedClassifier(**FAST).fit(c.images, np.zeros(64, int)),
     ValueError, r"`y` must hold at least 2 classes, got 1 class"),
    ("supervised-y-missing", lambda c: pl.SupervisedClassifier(**FAST).fit(c.images),
     ValueError, r"requires y to be passed"),
    ("supervised-y-continuous",
     lambda c: pl.SupervisedClassifier(**FAST).fit(c.images, np.linspace(0, 1, 64)),
     ValueError, r"`y` must hold class labels. Unknown label type"),
    ("supervised-y-2d",
     lambda c: pl.SupervisedClassifier(**FAST).fit(c.images, np.zeros((64, 3))),
     ValueError, r"`y` must be 1-D"),
    ("supervised-unknown-backbone",
     lambda c: pl.SupervisedClassifier(backbone="resnet19", **FAST).fit(c.images, c.labels),
     ValueError, r"unknown `backbone` 'resnet19'"),
    ("supervised-nan-features",
     lambda c: pl.SupervisedClassifier(**FAST).fit(_with_nan(c.flat), c.labels),
     ValueError, r"`X` contains NaN"),
    ("supervised-predict-unfitted",
     lambda c: pl.SupervisedClassifier(**FAST).predict_proba(c.images),
     NotFittedError, r"SupervisedClassifier"),
    # --- Talos --------------------------------------------------------------------
    ("talos-sensitive-missing", lambda c: pl.Talos(**FAST).fit(c.images),
     ValueError, r"`sensitive_features` is required"),
    ("talos-sensitive-misaligned",
     lambda c: pl.Talos(**FAST).fit(c.images, sensitive_features=c.sensitive[:5]),
     ValueError, r"`sensitive_features` has 5 values but X has 64"),
    ("talos-sensitive-nan",
     lambda c: pl.Talos(**FAST).fit(c.images, sensitive_features=_with_nan(c.sensitive)),
     ValueError, r"`sensitive_features` contains 1 missing value"),
    ("talos-sensitive-one-value",
     lambda c: pl.Talos(**FAST).fit(c.images, sensitive_features=np.ones(64)),
     ValueError, r"`sensitive_features` must hold at least two distinct attribute values"),
    ("talos-negative-weight",
     lambda c: pl.Talos(adversary_weight=-1.0, **FAST).fit(c.images,
                                                           sensitive_features=c.sensitive),
     ValueError, r"`adversary_weight` must be a finite number >= 0"),
    ("talos-temperature-negative",
     lambda c: pl.Talos(temperature=-0.5, **FAST).fit(c.images, sensitive_features=c.sensitive),
     ValueError, r"`temperature` must be a positive number"),
    ("talos-curve-negative-weight",
     lambda c: privacy_utility_curve(pl.Talos(**FAST), c.images, c.labels, c.sensitive,
                                     [0.0, -1.0]),
     ValueError, r"`adversary_weights` must be a non-empty list of finite numbers >= 0"),
    # --- MembershipInference ------------------------------------------------------
    ("mia-array-not-records",
     lambda c: pl.MembershipInference(c.supervised).fit(c.images, c.membership),
     TypeError, r"`X` must be privlearn.Records"),
    ("mia-membership-not-0-1",
     lambda c: pl.MembershipInference(c.supervised).fit(c.records, c.membership * 2),
     ValueError, r"`y` \(membership\) must hold 1 for members and 0 for non-members"),
    ("mia-membership-strings",
     lambda c: pl.MembershipInference(c.supervised).fit(
         c.records, np.where(c.membership == 1, "in", "out")),
     ValueError, r"`y` \(membership\) must hold 1 for members"),
    ("mia-single-class-membership",
     lambda c: pl.MembershipInference(c.supervised).fit(c.records, np.ones(64, int)),
     ValueError, r"`y` \(membership\) holds only members \(one class\)"),
    ("mia-mismatched-lengths",
     lambda c: pl.MembershipInference(c.supervised).fit(c.records, c.membership[:10]),
     ValueError, r"`X` holds 64 records but `y` \(membership\) holds 10 labels"),
    ("mia-membership-missing",
     lambda c: pl.MembershipInference(c.supervised).fit(c.records, None),
     ValueError, r"requires y to be passed.*`y` \(membership"),
    ("mia-unknown-method",
     lambda c: pl.MembershipInference(c.supervised, method="loss").fit(c.records, c.membership),
     ValueError, r"`method` must be one of 'nn', 'correctness'"),
    ("mia-top-k-0",
     lambda c: pl.MembershipInference(c.supervised, top_k=0).fit(c.records, c.membership),
     ValueError, r"`top_k` must be an integer between 1 and the target's number of classes"),
    ("mia-unfitted-target",
     lambda c: pl.MembershipInference(pl.SupervisedClassifier()).fit(c.records, c.membership),
     NotFittedError, r"`target` \(SupervisedClassifier\) is not fitted"),
    ("mia-target-without-posteriors",
     lambda c: pl.MembershipInference(c.simclr).fit(c.records, c.membership),
     TypeError, r"`target` must offer predict_proba\(\)"),
    ("mia-unknown-class-label",
     lambda c: pl.MembershipInference(c.supervised).fit(
         pl.Records(c.images, np.full(64, 42)), c.membership),
     ValueError, r"`X.labels` holds labels \[42\] that are not among the target's classes"),
    ("mia-shadow-not-an-estimator",
     lambda c: pl.MembershipInference(c.supervised, shadow=object()).fit(c.records,
                                                                         c.membership),
     TypeError, r"`shadow` must be an estimator with fit\(\)"),
    ("mia-predict-unfitted",
     lambda c: pl.MembershipInference(c.supervised).predict(c.records),
     NotFittedError, r"MembershipInference"),
    # --- LabelOnlyMembershipInference -----------------------------------------------
    ("label-only-max-iter-negative",
     lambda c: pl.LabelOnlyMembershipInference(c.supervised, max_iter=-1).fit(c.records,
                                                                              c.membership),
     ValueError, r"`max_iter` must be an integer >= 0"),
    ("label-only-clip-values-reversed",
     lambda c: pl.LabelOnlyMembershipInference(c.supervised, clip_values=(1, 0)).fit(
         c.records, c.membership),
     ValueError, r"`clip_values` must satisfy min < max"),
    ("label-only-nan-inputs",
     lambda c: pl.LabelOnlyMembershipInference(c.supervised).fit(
         pl.Records(_with_nan(c.flat), c.labels), c.membership),
     ValueError, r"`X.inputs` contain NaN or infinity"),
    ("label-only-target-without-predict",
     lambda c: pl.LabelOnlyMembershipInference(c.pca).fit(c.records, c.membership),
     TypeError, r"`target` must offer predict\(\)"),
    # --- AttributeInference -------------------------------------------------------
    ("aia-attribute-missing",
     lambda c: pl.AttributeInference(c.simclr).fit(c.images, None),
     ValueError, r"`y` is required: the sensitive attribute"),
    ("aia-attribute-misaligned",
     lambda c: pl.AttributeInference(c.simclr).fit(c.images, c.sensitive[:3]),
     ValueError, r"`y` has 3 values but X has 64 samples"),
    ("aia-attribute-one-value",
     lambda c: pl.AttributeInference(c.simclr).fit(c.images, np.full(64, 7)),
     ValueError, r"`y` must hold at least two distinct attribute values"),
    ("aia-attribute-continuous",
     lambda c: pl.AttributeInference(c.simclr).fit(c.images, np.linspace(0, 1, 64)),
     ValueError, r"Unknown label type"),
    ("aia-unfitted-target",
     lambda c: pl.AttributeInference(pl.SimCLR()).fit(c.images, c.sensitive),
     NotFittedError, r"`target` \(SimCLR\) is not fitted"),
    ("aia-target-without-embedding",
     lambda c: pl.AttributeInference(object()).fit(c.images, c.sensitive),
     TypeError, r"`target` must be a fitted model that yields embeddings"),
    ("aia-nan-images",
     lambda c: pl.AttributeInference(c.simclr).fit(_float_images(c, np.nan),
                                                   c.sensitive[:8]),
     ValueError, r"`X` contains NaN"),
    ("aia-scorer-without-attribute",
     lambda c: pl.attribute_leakage_scorer()(c.simclr, c.images, c.labels),
     ValueError, r"needs `sensitive_features`"),
    # --- data sets, splits, records -----------------------------------------------
    ("load-unknown-name", lambda c: pl.datasets.load("mnist-but-typo"),
     ValueError, r"unknown data set 'mnist-but-typo'"),
    ("load-name-not-a-string", lambda c: pl.datasets.load(3),
     TypeError, r"`name` must be a str"),
    ("load-user-data-without-root", lambda c: pl.datasets.load("utkface"),
     ValueError, r"needs root="),
    ("load-digits-unknown-task", lambda c: pl.datasets.load("digits", task="colour"),
     ValueError, r"task must be 'parity' or 'digit'"),
    ("split-n-per-part-string",
     lambda c: pl.datasets.paper_split(c.data, n_per_part="100"),
     TypeError, r"n_per_part must be an int"),
    ("split-n-per-part-too-small",
     lambda c: pl.datasets.paper_split(c.data, n_per_part=1),
     ValueError, r"n_per_part must be between 10"),
    ("membership-set-mismatched",
     lambda c: pl.membership_set((c.images, c.labels[:5]), (c.images, c.labels)),
     ValueError, r"`members` has 64 inputs but 5 labels"),
    ("membership-set-shapes-differ",
     lambda c: pl.membership_set((c.images, c.labels), (c.flat, c.labels)),
     ValueError, r"members and non_members must have inputs of the same shape"),
    ("records-mismatched", lambda c: pl.Records(c.images, c.labels[:3]),
     ValueError, r"`inputs` and `labels` must have the same length"),
    ("records-sparse", lambda c: pl.Records(scipy.sparse.csr_matrix(c.flat), c.labels),
     TypeError, r"sparse `inputs` are not supported"),
    # --- the audit ----------------------------------------------------------------
    ("audit-epochs-0", lambda c: pl.run_audit(epochs=0, out=c.out, progress=False),
     ValueError, r"epochs must be (a positive integer|an integer >= 1)"),
    ("audit-unknown-dataset", lambda c: pl.run_audit("cifar100", out=c.out, progress=False),
     ValueError, r"unknown dataset 'cifar100'"),
    ("audit-unknown-backbone",
     lambda c: pl.run_audit(backbone="vit", out=c.out, progress=False),
     ValueError, r"unknown backbone 'vit'"),
    ("audit-unknown-attack",
     lambda c: pl.run_audit(attacks=["nn", "telepathy"], out=c.out, progress=False),
     ValueError, r"unknown attacks \['telepathy'\]"),
    ("audit-batch-size-1", lambda c: pl.run_audit(batch_size=1, out=c.out, progress=False),
     ValueError, r"batch_size must be (at least 2|an integer >= 2)"),
    ("audit-unwritable-out", lambda c: pl.run_audit(out=c.unwritable, progress=False),
     ValueError, r"cannot write to out="),
    ("audit-unknown-option", lambda c: pl.run_audit(out=c.out, temprature=0.1),
     TypeError, r"unexpected option 'temprature'"),
]


@pytest.fixture
def case_ctx(ctx, tmp_path):
    """``ctx`` plus per-case output paths for the audit."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    return SimpleNamespace(**vars(ctx), out=tmp_path / "report",
                           unwritable=blocker / "report")


def test_at_least_thirty_cases():
    assert len(CASES) >= 30
    assert len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("entry, error, message", [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_bad_input_is_refused_before_training(entry, error, message, case_ctx, tripwires):
    with pytest.raises(error, match=message):
        entry(case_ctx)


@pytest.mark.parametrize("entry", [
    lambda c: pl.SimCLR(**FAST).fit(c.images),
    lambda c: pl.SupervisedClassifier(**FAST).fit(c.images, c.labels),
    lambda c: pl.Talos(**FAST).fit(c.images, sensitive_features=c.sensitive),
    lambda c: pl.MembershipInference(c.supervised, method="nn").fit(c.records, c.membership),
    lambda c: pl.MembershipInference(c.supervised, method="entropy").fit(c.records,
                                                                         c.membership),
    lambda c: pl.LabelOnlyMembershipInference(c.supervised).fit(c.records, c.membership),
    lambda c: pl.AttributeInference(c.simclr).fit(c.images, c.sensitive),
    lambda c: pl.run_audit(quick=True, out=c.out, progress=False),
], ids=["simclr", "supervised", "talos", "mia-nn", "mia-metric", "label-only", "aia",
        "audit"])
def test_tripwire_catches_training(entry, case_ctx, tripwires):
    """Valid input does reach a tripwire: the table above proves "before training"."""
    with pytest.raises(TrainingStarted):
        entry(case_ctx)


# --------------------------------------------------------------------------- the CLI
CLI_CASES = [
    ("epochs-0", ["--epochs", "0"], r"epochs must be (a positive integer|an integer >= 1)"),
    ("epochs-not-int", ["--epochs", "ten"], r"--epochs: invalid int value: 'ten'"),
    ("unknown-dataset", ["--dataset", "cifar100"], r"unknown dataset 'cifar100'"),
    ("unknown-backbone", ["--backbone", "vit"], r"--backbone: invalid choice: 'vit'"),
    ("unknown-attack", ["--attacks", "nn,telepathy"],
     r"--attacks: unknown attack\(s\) telepathy"),
    ("batch-size-1", ["--batch-size", "1"], r"batch.size must be (at least 2|an integer >= 2)"),
    ("unwritable-out", ["--out", "{unwritable}"], r"cannot write to (out=|--out)"),
    ("root-missing", ["--dataset", "utkface", "--root", "{missing}"],
     r"root '.*missing' is not a folder"),
    ("root-without-data", ["--dataset", "utkface", "--root", "{empty}"],
     r"UTKFace: no .*\.jpg files under '.*empty'"),
]


@pytest.mark.parametrize("argv, message", [case[1:] for case in CLI_CASES],
                         ids=[case[0] for case in CLI_CASES])
def test_cli_refuses_bad_options_without_traceback(argv, message, case_ctx, tmp_path,
                                                   tripwires):
    empty = tmp_path / "empty"
    empty.mkdir()
    paths = dict(unwritable=case_ctx.unwritable, missing=tmp_path / "missing", empty=empty)
    argv = ["audit", "--out", str(case_ctx.out), "--no-progress",
            *[arg.format(**paths) for arg in argv]]
    stderr = io.StringIO()
    with redirect_stderr(stderr):
        try:
            code = cli.main(argv)
        except SystemExit as exc:          # argparse's own errors
            code = exc.code
    text = stderr.getvalue()
    assert code not in (0, None)
    assert "Traceback" not in text
    assert text.startswith(("usage:", "privlearn audit: error:")), text
    assert re.search(message, text), text
