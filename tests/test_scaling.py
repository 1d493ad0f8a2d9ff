"""Device, mixed-precision and memory-format plumbing, tested on the CPU.

No GPU is available in CI: these tests check, on the CPU, that the forward
passes really run under autocast (bf16 and fp16 work on CPU too), that fp16
steps go through the GradScaler, that ``channels_last`` reaches the weights and
the batches, that Talos inherits all of it from SimCLR, and the arithmetic of
NT-Xent over the views of several processes.
"""

import pickle

import numpy as np
import pytest
import torch

import privlearn as pl
from privlearn.distributed import DistributedNTXentLoss, nt_xent_across_processes
from privlearn.losses import NTXentLoss, _nt_xent_against, nt_xent

FAST = dict(max_epochs=1, batch_size=64, random_state=0)


@pytest.fixture(scope="module")
def images(digits):
    return digits.images[:128]


def first_conv(model):
    return next(m for m in model.module_.modules() if isinstance(m, torch.nn.Conv2d))


# --- parameter checks ------------------------------------------------------------
@pytest.mark.parametrize("params, match", [
    ({"precision": "fp8"}, "`precision` must be None, 'bf16' or 'fp16'"),
    ({"precision": torch.float16}, "`precision`"),
    ({"channels_last": "yes"}, "`channels_last` must be True or False"),
    ({"device": "gpu-please"}, "`device` must be a torch device"),
])
@pytest.mark.parametrize("cls", [pl.SimCLR, pl.SupervisedClassifier])
def test_bad_device_options_fail_before_training(cls, params, match, images, digits):
    model = cls(**FAST, **params)
    with pytest.raises(ValueError, match=match):
        model.fit(images, digits.target[:128])
    assert not model.initialized_


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda_is_a_clear_error(images):
    with pytest.raises(ValueError, match="CUDA is not available"):
        pl.SimCLR(device="cuda", **FAST).fit(images)


# --- mixed precision -------------------------------------------------------------
@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16),
                                              ("fp16", torch.float16)])
def test_forward_passes_run_under_autocast_and_outputs_are_float32(precision, dtype, images):
    model = pl.SimCLR(precision=precision, **FAST)
    seen = []
    # The hook is added after initialisation, by a callback at train start.
    from skorch.callbacks import Callback

    class Spy(Callback):
        def on_train_begin(self, net, **kwargs):
            first_conv(net).register_forward_hook(lambda m, i, o: seen.append(o.dtype))

    model.set_params(callbacks=[Spy()]).fit(images)
    assert seen and set(seen) == {dtype}
    assert np.isfinite(model.history_[-1, "train_loss"])
    h = model.transform(images[:8])
    assert h.dtype == np.float32 and np.isfinite(h).all()
    y_pred = model.infer(torch.as_tensor(images[:8]))
    assert all(part.dtype == torch.float32 for part in y_pred)


def test_bf16_changes_the_numbers_but_not_by_much(images):
    # max_epochs=0: fitted normalisation, untrained weights; the same weights
    # evaluated in float32 and under bf16 autocast.
    model = pl.SimCLR(max_epochs=0, batch_size=64, random_state=0).fit(images)
    h32 = model.transform(images)
    h16 = model.set_params(precision="bf16").transform(images)
    assert not np.array_equal(h32, h16)              # autocast really applies
    assert np.allclose(h32, h16, rtol=0.05, atol=0.05 * np.abs(h32).max())


def test_fp16_steps_go_through_the_grad_scaler(images):
    images = images[:64]
    model = pl.SimCLR(precision="fp16", **{**FAST, "max_epochs": 2, "batch_size": 32})
    model.fit(images)
    scaler = model.grad_scaler_
    assert isinstance(scaler, torch.amp.GradScaler) and scaler.is_enabled()
    steps = 2 * 2
    # Each successful scaler.step + update counts towards the next growth; a
    # skipped (overflowing) step halves the scale instead.
    if scaler.get_scale() == 2.0**16:
        assert scaler._get_growth_tracker() == steps
    else:
        assert scaler.get_scale() < 2.0**16
    assert pl.SimCLR(**FAST).fit(images).grad_scaler_ is None
    assert pl.SimCLR(precision="bf16", **FAST).fit(images).grad_scaler_ is None
    # Pickles (the scaler travels with the cuda-dependent attributes).
    restored = pickle.loads(pickle.dumps(model))
    assert isinstance(restored.grad_scaler_, torch.amp.GradScaler)
    np.testing.assert_array_equal(restored.transform(images[:4]), model.transform(images[:4]))


def test_fp16_training_matches_float32_roughly(images):
    # Loss scaling must not change the update: same seed, similar first losses.
    loss32 = pl.SimCLR(**FAST).fit(images).history_[0, "train_loss"]
    loss16 = pl.SimCLR(precision="fp16", **FAST).fit(images).history_[0, "train_loss"]
    assert abs(loss32 - loss16) < 0.05 * loss32


def test_supervised_classifier_mixed_precision(digits):
    X, y = digits.images[:128], digits.target[:128]
    clf = pl.SupervisedClassifier(precision="bf16", **FAST).fit(X, y)
    proba = clf.predict_proba(X[:6])
    assert proba.dtype == np.float32 and np.allclose(proba.sum(axis=1), 1, atol=1e-5)


# --- channels_last -----------------------------------------------------------------
def test_channels_last_reaches_weights_and_batches_and_changes_nothing(images):
    from skorch.callbacks import Callback

    formats = []

    class Spy(Callback):
        def on_train_begin(self, net, **kwargs):
            first_conv(net).register_forward_pre_hook(
                lambda m, args: formats.append(
                    args[0].is_contiguous(memory_format=torch.channels_last)))

    rgb = np.repeat(images, 3, axis=1)        # 3 channels: a real NHWC layout
    model = pl.SimCLR(channels_last=True, callbacks=[Spy()], **FAST).fit(rgb)
    assert formats and all(formats)
    assert first_conv(model).weight.is_contiguous(memory_format=torch.channels_last)
    plain = pl.SimCLR(**FAST).fit(rgb)
    np.testing.assert_allclose(model.history_[:, "train_loss"],
                               plain.history_[:, "train_loss"], rtol=1e-4)
    np.testing.assert_allclose(model.transform(rgb), plain.transform(rgb), atol=1e-3)


# --- Talos inherits the plumbing ---------------------------------------------------
def test_talos_inherits_precision_and_channels_last(digits):
    X, s = digits.images[:128], digits.sensitive[:128]
    talos = pl.Talos(precision="bf16", channels_last=True, adversary_weight=1.0, **FAST)
    talos.fit(X, sensitive_features=s)
    assert np.isfinite(talos.history_[-1, "train_loss"])
    assert first_conv(talos).weight.is_contiguous(memory_format=torch.channels_last)
    assert talos.transform(X[:4]).dtype == np.float32


# --- NT-Xent over several processes: the arithmetic ----------------------------------
def test_nt_xent_against_own_views_is_nt_xent():
    gen = torch.Generator().manual_seed(0)
    z1 = torch.randn(6, 5, generator=gen, requires_grad=True)
    z2 = torch.randn(6, 5, generator=gen, requires_grad=True)
    norm = torch.nn.functional.normalize
    ours = _nt_xent_against(z1, z2, norm(z1, dim=1), norm(z2, dim=1), 0, 0.3)
    ref = nt_xent(z1, z2, 0.3)
    assert torch.allclose(ours, ref, atol=1e-6)
    g_ours = torch.autograd.grad(ours, [z1, z2])
    g_ref = torch.autograd.grad(ref, [z1, z2])
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(g_ours, g_ref))


@pytest.mark.parametrize("sizes", [(4, 4), (3, 5, 2)])
def test_shards_against_all_views_give_the_whole_batch_loss_and_gradient(sizes):
    # What P processes compute (each its own views against everyone's), weighted
    # by their share of the batch, is NT-Xent on the whole batch.
    gen = torch.Generator().manual_seed(1)
    m = sum(sizes)
    z1 = torch.randn(m, 8, generator=gen, requires_grad=True)
    z2 = torch.randn(m, 8, generator=gen, requires_grad=True)
    norm = torch.nn.functional.normalize
    keys1, keys2 = norm(z1, dim=1), norm(z2, dim=1)
    total, offset = 0.0, 0
    for n in sizes:
        part = slice(offset, offset + n)
        total = total + n / m * _nt_xent_against(z1[part], z2[part], keys1, keys2,
                                                 offset, 0.5)
        offset += n
    ref = nt_xent(z1, z2, 0.5)
    assert torch.allclose(total, ref, atol=1e-6)
    grads = torch.autograd.grad(total, [z1, z2])
    ref_grads = torch.autograd.grad(ref, [z1, z2])
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(grads, ref_grads))


def test_one_process_losses_are_nt_xent():
    z1, z2 = torch.randn(5, 3), torch.randn(5, 3)
    ref = NTXentLoss(0.2)(z1, z2)
    assert torch.equal(nt_xent_across_processes(z1, z2, 0.2), ref)
    for gather in (None, False, True):
        assert torch.equal(DistributedNTXentLoss(0.2, gather=gather)(z1, z2), ref)
