"""Hostile pass, round 2 (issue 18): the 0.2 surfaces.

Classes: silent wrong result, late error (after training), foreign traceback,
lost output.  Every case found asserts its fix.  Messages are matched on the
argument's name only, so rewording survives.
"""

import json
import os
import socket
import time

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

import privlearn as pl
from privlearn import stats
from privlearn.audit.output import LOCK_NAME, AuditLockedError, OutputLock


@pytest.fixture(scope="module")
def ctx():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    target = LogisticRegression(max_iter=200).fit(X[:100], y[:100])
    return X, y, target, pl.Records(X[:300], y[:300])


class CountingTree(DecisionTreeClassifier):
    """A reference-model recipe that records how many models were trained."""

    fits = []

    def fit(self, X, y, *args, **kwargs):
        CountingTree.fits.append(1)
        return super().fit(X, y, *args, **kwargs)


@pytest.fixture
def counting():
    CountingTree.fits.clear()
    return CountingTree(max_depth=3)


# --- privlearn.stats: silent wrong results and foreign tracebacks (fixed) --------
Y = np.repeat([1, 0], 10)
S = np.linspace(0.0, 1.0, 20)
NAN_AT_3 = np.where(np.arange(20) == 3, np.nan, S)

STATS_CASES = [
    # silent wrong: NaN scores gave AUC 0.0, inf 0.1, and a "paired" effect of 0
    ("auc-nan-scores", lambda: stats.weighted_roc_auc(Y, NAN_AT_3, np.ones(20)), "scores"),
    ("auc-inf-scores", lambda: stats.weighted_roc_auc(Y, np.where(S > 0.9, np.inf, S),
                                                      np.ones(20)), "scores"),
    ("diff-nan-scores", lambda: stats.paired_bootstrap_diff(Y, NAN_AT_3, S, n_boot=20,
                                                            random_state=0), "pred_a"),
    # silent NaN: membership that is not 1/0, or of one class
    ("auc-labels-1-2", lambda: stats.weighted_roc_auc(Y + 1, S, np.ones(20)), "y_true"),
    ("auc-string-labels", lambda: stats.weighted_roc_auc(np.where(Y == 1, "in", "out"), S,
                                                         np.ones(20)), "y_true"),
    ("diff-one-class", lambda: stats.paired_bootstrap_diff(np.ones(20), S, S[::-1],
                                                           n_boot=20), "y_true"),
    # silent wrong: negative / NaN counts, FPR outside [0, 1]
    ("auc-negative-counts", lambda: stats.weighted_roc_auc(Y, S, -np.ones(20)), "counts"),
    ("accuracy-nan-counts", lambda: stats.weighted_accuracy(np.ones(20, bool),
                                                            np.full(20, np.nan)), "counts"),
    ("tpr-fpr-2", lambda: stats.weighted_tpr_at_fpr(Y, S, np.ones(20), fpr=2), "fpr"),
    ("tpr-fpr-nan", lambda: stats.weighted_tpr_at_fpr(Y, S, np.ones(20), fpr=np.nan), "fpr"),
    # silent wrong: NaN values dropped resamples (biased interval); a scalar statistic
    ("ci-nan-values", lambda: stats.bootstrap_ci([1.0, np.nan, 2.0, 3.0]), "values"),
    ("ci-scalar-statistic", lambda: stats.bootstrap_ci([1.0, 2.0, 3.0],
                                                       statistic=lambda a, axis: 3.0),
     "statistic"),
    # foreign tracebacks (numpy unpacking / broadcasting / float())
    ("auc-length-mismatch", lambda: stats.weighted_roc_auc(Y[:19], S, np.ones(20)), "y_true"),
    ("percentile-empty", lambda: stats.percentile_ci([]), "samples"),
    ("verdict-three-bounds", lambda: stats.verdict([0.1, 0.2, 0.3]), "ci"),
    ("verdict-string", lambda: stats.verdict("ab"), "ci"),
    ("ci-strings", lambda: stats.bootstrap_ci(["a", "b"]), "values"),
    ("diff-empty", lambda: stats.paired_bootstrap_diff([], [], [], n_boot=20), "y_true"),
]


@pytest.mark.parametrize("call, name", [c[1:] for c in STATS_CASES],
                         ids=[c[0] for c in STATS_CASES])
def test_stats_refuse_bad_input_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        call()


def test_stats_keep_honest_nan_where_nothing_is_wrong():
    # an all-NaN set of resamples is an undefined metric, not an error
    assert np.isnan(stats.percentile_ci([np.nan, np.nan])).all()
    assert stats.verdict([np.nan, np.nan]) == "inconclusive"
    # a resample with no records has no accuracy (no division warning)
    assert np.isnan(stats.weighted_accuracy(np.ones(3, bool), np.zeros((1, 3))))[0]


# --- the output folder's lock: lost output / refused resume (fixed) --------------
def _write_lock(folder, **fields):
    (folder / LOCK_NAME).write_text(json.dumps(
        {"host": socket.gethostname(), "started": "earlier", **fields}))


def test_lock_naming_our_own_pid_is_stale(tmp_path):
    # A SIGKILLed audit in a container is often restarted with the same pid: its
    # lock named a "live" process (us) and the resume was refused forever.
    _write_lock(tmp_path, pid=os.getpid())
    with OutputLock(tmp_path):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
        with pytest.raises(AuditLockedError, match="--out"):  # but a live one still holds
            OutputLock(tmp_path).acquire()
    assert not (tmp_path / LOCK_NAME).exists()


def test_lock_of_a_reused_pid_is_stale(tmp_path):
    # pid 1 is alive, but not the process (start time) that wrote the lock
    _write_lock(tmp_path, pid=1, process_start=-12345)
    with OutputLock(tmp_path):
        pass


@pytest.mark.parametrize("content", ["", '{"pid": 4', "123", "[1, 2]"])
def test_torn_lock_is_refused_while_fresh_and_taken_over_when_old(tmp_path, content):
    lock = tmp_path / LOCK_NAME
    lock.write_text(content)        # "123" used to raise AttributeError (not a dict)
    with pytest.raises(AuditLockedError, match="unreadable lock"):
        OutputLock(tmp_path).acquire()
    old = time.time() - 3600
    os.utime(lock, (old, old))
    with OutputLock(tmp_path):
        assert json.loads(lock.read_text())["pid"] == os.getpid()


# --- LiRA / RMIA / ReferenceModels: late errors and foreign tracebacks ------------
LATE = "raised after the reference models were trained, with scikit-learn's message"


def test_lira_pool_with_nan_beyond_the_probe_is_refused_before_training(ctx, counting):
    X, y, target, _ = ctx
    inputs = X[:300].copy()
    inputs[299, 3] = np.nan
    with pytest.raises(ValueError, match="X.inputs"):
        pl.LiRA(target, counting, n_shadows=4, random_state=0).fit(pl.Records(inputs, y[:300]))
    assert CountingTree.fits == []


def test_rmia_population_of_other_shape_is_refused_before_training(ctx, counting):
    X, y, target, pool = ctx
    population = pl.Records(X[300:340, :10], y[300:340])
    with pytest.raises(ValueError, match="population"):
        pl.RMIA(target, counting, n_shadows=4, random_state=0,
                population=population).fit(pool)
    assert CountingTree.fits == []


def test_lira_augment_of_wrong_shape_is_refused_before_training(ctx, counting):
    _, _, target, pool = ctx
    with pytest.raises(ValueError, match="augment"):
        pl.LiRA(target, counting, n_shadows=4, random_state=0,
                augment=lambda a: a[:, :10]).fit(pool)
    assert CountingTree.fits == []


def test_rmia_infinite_gamma_is_refused(ctx):
    _, _, target, pool = ctx
    with pytest.raises(ValueError, match="gamma"):
        pl.RMIA(target, DecisionTreeClassifier(max_depth=3), n_shadows=2,
                gamma=np.inf, random_state=0).fit(pool[:60])


def test_lira_pool_too_small_for_its_reference_models_warns(ctx):
    _, _, target, pool = ctx
    with pytest.warns(UserWarning, match="n_models|n_shadows"):
        pl.LiRA(target, LogisticRegression(max_iter=100), n_shadows=8,
                random_state=0).fit(pool[:6])


def test_lira_rmia_answers_are_checked_and_deterministic(ctx):
    """No instance: probed and holding (kept so it stays that way)."""
    _, _, target, pool = ctx
    small = pool[:120]
    lira = pl.LiRA(target, DecisionTreeClassifier(max_depth=3), n_shadows=4,
                   random_state=0, n_jobs=1).fit(small)
    again = pl.LiRA(target, DecisionTreeClassifier(max_depth=3), n_shadows=4,
                    random_state=0, n_jobs=2).fit(small)
    np.testing.assert_allclose(lira.decision_function(small), again.decision_function(small))
    proba = lira.predict_proba(small)
    assert np.isfinite(proba).all() and proba.min() >= 0 and proba.max() <= 1


def test_compare_defenses_takes_a_pipeline_encoder():
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from privlearn.defenses import compare_defenses

    data = pl.datasets.load("digits", attribute="magnitude")
    flat = FunctionTransformer(lambda x: np.asarray(x, dtype=np.float64).reshape(len(x), -1))
    result = compare_defenses({"pca": make_pipeline(flat, PCA(4))}, data.images[:80],
                              data.target[:80], data.sensitive[:80],
                              membership_methods=["confidence"], random_state=0)
    assert len(result.defense) == 1


# --- DP-SGD and Talos's options (the last 0.2 surfaces of the round) -------------------


@pytest.fixture(scope="module")
def digit_images():
    data = pl.datasets.load("digits", task="digit")
    return data.images[:128], data.target[:128]


def test_dp_sgd_trains_a_resnet_backbone(digit_images):
    """Foreign traceback: DP-SGD on backbone="resnet18" died in the first step inside
    torchvision (``out += identity`` on a layer output Opacus hooks). The residual blocks
    now add out of place while DP-SGD trains, and are torchvision's own afterwards."""
    pytest.importorskip("opacus")
    X, y = digit_images
    model = pl.SupervisedClassifier(backbone="resnet18", noise_multiplier=1.0,
                                    max_grad_norm=1.0, max_epochs=1, batch_size=64,
                                    random_state=0).fit(X, y)
    assert model.epsilon_ > 0
    assert not any("forward" in vars(m) for m in model.module_.modules())
    assert model.predict_proba(X[:3]).shape == (3, 10)


@pytest.mark.parametrize("block", ["basic", "basic_downsample", "bottleneck"])
def test_out_of_place_residual_forward_equals_torchvisions(block):
    import torch
    from torchvision.models.resnet import BasicBlock, Bottleneck

    from privlearn.encoders.supervised import _residual_forward

    torch.manual_seed(0)
    module = {"basic": lambda: BasicBlock(8, 8),
              "basic_downsample": lambda: BasicBlock(
                  8, 16, stride=2, downsample=torch.nn.Sequential(
                      torch.nn.Conv2d(8, 16, 1, 2), torch.nn.BatchNorm2d(16))),
              "bottleneck": lambda: Bottleneck(16, 4)}[block]().eval()
    x = torch.randn(3, module.conv1.in_channels, 8, 8)
    with torch.no_grad():
        assert torch.equal(module(x), _residual_forward(module, x))


def test_dp_sgd_epsilon_is_never_negative_and_a_large_delta_is_said(digit_images):
    """Silent wrong result: target_delta=0.5 gave epsilon_ = -0.34 (the RDP conversion's
    bound below 0). A negative bound means (0, δ)-DP, so ε_ is 0, and a δ ≥ 1/n, which
    allows publishing a record outright, is warned about."""
    pytest.importorskip("opacus")
    X, y = digit_images
    with pytest.warns(UserWarning, match="target_delta"):
        model = pl.SupervisedClassifier(noise_multiplier=1.0, max_grad_norm=1.0,
                                        target_delta=0.5, max_epochs=1, batch_size=64,
                                        random_state=0).fit(X, y)
    assert model.epsilon_ == 0.0
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)     # the default δ says nothing
        assert pl.SupervisedClassifier(noise_multiplier=1.0, max_grad_norm=1.0,
                                       max_epochs=1, batch_size=64,
                                       random_state=0).fit(X, y).epsilon_ > 0


class _SevenLogits:
    """An adversary network of the wrong output width (7 logits for 2 values)."""

    def __new__(cls, in_features, n_classes):
        import torch
        return torch.nn.Linear(in_features, 7)


class _NaNLogits:
    def __new__(cls, in_features, n_classes):
        import torch

        class NaN(torch.nn.Linear):
            def forward(self, h):
                return super().forward(h) * float("nan")
        return NaN(in_features, n_classes)


def _not_a_module(in_features, n_classes):
    return lambda h: h


@pytest.mark.parametrize("adversary, error, match", [
    (_SevenLogits, ValueError, r"\(N, 2\) logits"),        # silent wrong model before
    (_NaNLogits, ValueError, "non-finite"),                # a NaN loss after training before
    (_not_a_module, TypeError, "nn.Module"),
    ("instance", TypeError, "class"),                       # a confusing forward() error before
])
def test_talos_checks_its_adversary_before_training(digit_images, adversary, error, match):
    X, y = digit_images
    if adversary == "instance":
        adversary = pl.talos.AdversaryNet(128, 2)
    talos = pl.Talos(adversary=adversary, max_epochs=1, batch_size=32, random_state=0)
    with pytest.raises(error, match=match):
        talos.fit(X, sensitive_features=y % 2)
    assert len(getattr(talos, "history_", None) or []) == 0    # no epoch ran


def test_a_module_of_the_wrong_signature_is_named(digit_images):
    """Foreign traceback: ``module=nn.Sequential`` failed inside skorch with
    "unexpected keyword argument 'backbone'"; the error now names ``module`` and the
    arguments it must accept."""
    import torch

    X, y = digit_images
    with pytest.raises(TypeError, match=r"`module`.*backbone"):
        pl.SupervisedClassifier(module=torch.nn.Sequential, max_epochs=1).fit(X, y)
    with pytest.raises(TypeError, match=r"`module`.*projection_dim"):
        pl.SimCLR(module=torch.nn.Linear, max_epochs=1).fit(X)


# --- EncoderMI (and the checks it shares with PartCrop and EncoderLiRA) ------------------


@pytest.fixture(scope="module")
def lambda_encoder(digit_images):
    """An encoder that holds a lambda (not picklable by name), as users' pipelines do."""
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, _ = digit_images
    flat = FunctionTransformer(lambda x: np.asarray(x, dtype=np.float64).reshape(len(x), -1))
    return make_pipeline(flat, PCA(8)).fit(X[:64])


MEMBERS = np.r_[np.ones(64, int), np.zeros(64, int)]


@pytest.mark.parametrize("attack", ["encodermi", "encoder_lira"])
@pytest.mark.parametrize("augment, match", [
    (lambda x, generator=None: x[:, :, :4], "shape"),          # foreign PCA error before
    (lambda x, generator=None: x * float("nan"), "NaN"),       # fitted silently before
])
def test_a_bad_augmentation_is_named(digit_images, lambda_encoder, attack, augment, match):
    X, _ = digit_images
    if attack == "encodermi":
        make = lambda: pl.attacks.EncoderMembershipInference(  # noqa: E731
            lambda_encoder, n_views=2, augment=augment, random_state=0).fit(X, MEMBERS)
    else:
        make = lambda: pl.attacks.EncoderLiRA(  # noqa: E731
            lambda_encoder, shadow=lambda_encoder, n_shadows=2, n_views=1,
            augment=augment, random_state=0).fit(X)
    with pytest.raises(ValueError, match=f"`augment`.*{match}"):
        make()


@pytest.mark.parametrize("cls", ["EncoderMembershipInference", "PartCrop"])
def test_encoder_attacks_refuse_a_transformer_as_attack_model_and_a_non_bool_center(
        digit_images, lambda_encoder, cls):
    """Late error / silent: attack_model=PCA() fitted and failed at prediction;
    center="yes" and center=None passed a truth test."""
    from sklearn.decomposition import PCA

    X, _ = digit_images
    attack = getattr(pl.attacks, cls)
    with pytest.raises(TypeError, match="`attack_model`"):
        attack(lambda_encoder, attack_model=PCA(), random_state=0).fit(X, MEMBERS)
    for value in ("yes", None):
        with pytest.raises(TypeError, match="`center`"):
            attack(lambda_encoder, center=value, random_state=0).fit(X, MEMBERS)


def test_a_target_holding_a_lambda_is_still_checked_for_staleness(digit_images):
    """Silent stale result: a pipeline with a lambda could not be pickled, so it had no
    digest and a refit after the attack's fit went unnoticed. Functions that cannot be
    pickled by name are now digested by their code and closure."""
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from privlearn._target import StaleTargetError, model_state

    X, _ = digit_images
    scale = 1.0
    encoder = make_pipeline(FunctionTransformer(lambda x: np.asarray(x).reshape(len(x), -1)
                                                * scale), PCA(8)).fit(X[:64])
    assert model_state(encoder) is not None
    attack = pl.attacks.EncoderMembershipInference(encoder, n_views=2,
                                                   random_state=0).fit(X, MEMBERS)
    attack.decision_function(X[:2])                  # unchanged: fine
    encoder.fit(X[64:])
    with pytest.raises(StaleTargetError):
        attack.decision_function(X[:2])


def test_a_truncated_checkpoint_is_recomputed_and_said(tmp_path):
    """Lost output, silently: a torn checkpoint was recomputed without a word; it is
    still recomputed (the run goes on), and a warning names the file."""
    from privlearn.audit import build_config
    from privlearn.audit.output import Checkpoints

    store = Checkpoints(tmp_path, build_config(quick=True))
    store.save("answer", {"value": 42})
    assert store.get_or_compute("answer", lambda: 0) == ({"value": 42}, True)
    store.path("answer").write_bytes(b"\x80\x04trunc")
    with pytest.warns(UserWarning, match="answer.joblib could not be read"):
        value, resumed = store.get_or_compute("answer", lambda: {"value": 43})
    assert (value, resumed) == ({"value": 43}, False)
    assert store.load("answer") == {"value": 43}


# --- compare_defenses / plot_defenses ----------------------------------------------------


def test_compare_defenses_names_the_defense_and_the_task_problem(digit_images):
    """Foreign tracebacks: a defense that cannot take images failed inside sklearn
    without saying which defense; one-class task labels failed inside the linear probe;
    plot_defenses(3) raised "argument of type 'int' is not iterable"."""
    from sklearn.linear_model import LogisticRegression

    from privlearn.defenses import compare_defenses, plot_defenses

    X, y = digit_images
    s = y % 2
    with pytest.raises(ValueError, match="defense LogisticRegression could not be fitted"):
        compare_defenses({"probe": LogisticRegression()}, X, y, s)
    with pytest.raises(ValueError, match="`y`.*two classes"):
        compare_defenses({"simclr": pl.SimCLR(max_epochs=1)}, X, np.zeros(len(y), int), s)
    with pytest.raises(TypeError, match="plot_defenses: `result`"):
        plot_defenses(3)
