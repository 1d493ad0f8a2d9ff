"""Batched SimCLR augmentations: per-image parameters, each operation's effect."""

import pytest
import torch

from privlearn.augment import (CROP_SCALE, SMALL_IMAGE_CROP_SCALE, FeatureAugment,
                               SimCLRAugment)

OFF = dict(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_prob=0.0, jitter_prob=0.0,
           grayscale_prob=0.0, blur_prob=0.0)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def only(**kwargs):
    return SimCLRAugment(**{**OFF, **kwargs})


def test_everything_off_is_identity():
    x = torch.rand(8, 3, 12, 12, generator=gen())
    assert torch.allclose(only()(x), x, atol=1e-6)
    # non-square: the full image has aspect ratio width / height
    x = torch.rand(8, 3, 12, 10, generator=gen())
    assert torch.allclose(only(crop_ratio=(10 / 12, 10 / 12))(x), x, atol=1e-5)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_defaults_keep_shape_and_range(channels):
    x = torch.rand(16, channels, 32, 32, generator=gen())
    out = SimCLRAugment(blur_prob=0.5)(x, generator=gen(1))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 1
    assert not torch.allclose(out, x)


def test_parameters_differ_per_image():
    # one image repeated: a per-batch pipeline would give identical outputs
    x = torch.rand(1, 3, 16, 16, generator=gen()).expand(32, 3, 16, 16).contiguous()
    out = SimCLRAugment()(x, generator=gen(1)).flatten(1)
    distinct = torch.cdist(out, out)[~torch.eye(32, dtype=torch.bool)]
    assert distinct.min() > 1e-3


def test_generator_makes_it_reproducible():
    x = torch.rand(8, 3, 16, 16, generator=gen())
    augment = SimCLRAugment(blur_prob=0.5)
    assert torch.equal(augment(x, generator=gen(5)), augment(x, generator=gen(5)))
    assert not torch.equal(augment(x, generator=gen(5)), augment(x, generator=gen(6)))


def test_flip():
    x = torch.rand(4, 3, 8, 8, generator=gen())
    assert torch.allclose(only(flip_prob=1.0)(x), x.flip(-1), atol=1e-6)


def test_crop_zooms_by_the_sampled_scale():
    # a horizontal ramp: a crop covering half the width halves its slope
    width = 32
    ramp = ((torch.arange(width) + 0.5) / width).expand(6, 1, width, width).contiguous()
    out = only(crop_scale=(0.25, 0.25))(ramp, generator=gen())
    slope = out.diff(dim=-1)
    assert torch.allclose(slope, torch.full_like(slope, 0.5 / width), atol=1e-5)
    # the crop stays inside the image
    assert out.min() >= ramp.min() - 1e-6 and out.max() <= ramp.max() + 1e-6


def test_grayscale_uses_luma():
    x = torch.rand(4, 3, 8, 8, generator=gen())
    out = only(grayscale_prob=1.0)(x)
    luma = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    for c in range(3):
        assert torch.allclose(out[:, c], luma, atol=1e-5)


@pytest.mark.parametrize("which", ["hue", "saturation"])
def test_hue_and_saturation_change_colour_but_keep_luma(which):
    # colours near grey, so the final clamp never acts
    x = 0.4 + 0.2 * torch.rand(16, 3, 6, 6, generator=gen())
    settings = dict(brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)
    settings[which] = 0.5
    out = only(jitter_prob=1.0, **settings)(x, generator=gen(2))
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    assert torch.allclose((out * weights).sum(1), (x * weights).sum(1), atol=1e-4)
    assert (out - x).abs().amax(dim=(1, 2, 3)).min() > 1e-3


def test_brightness_and_contrast_on_grey_images():
    x = 0.25 + 0.5 * torch.rand(32, 1, 8, 8, generator=gen())
    bright = only(jitter_prob=1.0, brightness=0.3, contrast=0.0)(x, generator=gen(3))
    ratio = bright / x
    per_image = ratio.flatten(1)
    assert torch.allclose(per_image, per_image[:, :1].expand_as(per_image), atol=1e-5)
    assert per_image.min() >= 0.7 - 1e-5 and per_image.max() <= 1.3 + 1e-5
    assert per_image[:, 0].std() > 0.05                      # factors vary per image
    contrast = only(jitter_prob=1.0, brightness=0.0, contrast=0.5)(x, generator=gen(4))
    assert torch.allclose(contrast.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), atol=1e-5)
    assert not torch.allclose(contrast.std(dim=(1, 2, 3)), x.std(dim=(1, 2, 3)))


def test_jitter_probability_is_per_image():
    x = 0.25 + 0.5 * torch.rand(1, 3, 4, 4, generator=gen()).expand(400, 3, 4, 4)
    out = only(jitter_prob=0.8)(x, generator=gen(5))
    changed = (out - x).abs().amax(dim=(1, 2, 3)) > 1e-6
    assert 0.7 < changed.float().mean() < 0.9


def test_blur_smooths_with_per_image_sigma():
    x = torch.rand(1, 3, 16, 16, generator=gen()).expand(8, 3, 16, 16).contiguous()
    out = only(blur_prob=1.0)(x, generator=gen(6))
    assert (out.std(dim=(1, 2, 3)) < x.std(dim=(1, 2, 3))).all()
    assert out.std(dim=(1, 2, 3)).std() > 1e-3                 # sigmas differ
    constant = torch.full((4, 1, 16, 16), 0.3)
    assert torch.allclose(only(blur_prob=1.0)(constant), constant, atol=1e-6)


def test_defaults_depend_on_image_size():
    augment = SimCLRAugment()
    assert augment.resolved(8, 8) == (SMALL_IMAGE_CROP_SCALE, 0.0)
    assert augment.resolved(32, 32) == (CROP_SCALE, 0.0)
    assert augment.resolved(96, 96) == (CROP_SCALE, 0.5)
    assert SimCLRAugment(crop_scale=(0.2, 1.0)).resolved(8, 8)[0] == (0.2, 1.0)


@pytest.mark.parametrize("kwargs, name", [
    (dict(crop_scale=(0.5, 0.1)), "crop_scale"), (dict(crop_scale=3), "crop_scale"),
    (dict(flip_prob=1.5), "flip_prob"), (dict(hue=0.7), "hue"),
    (dict(blur_sigma=(0, 1)), "blur_sigma"),
])
def test_invalid_parameters_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SimCLRAugment(**kwargs)


def test_rejects_non_float_batches():
    with pytest.raises(ValueError, match="float tensor"):
        SimCLRAugment()(torch.zeros(2, 1, 8, 8, dtype=torch.uint8))


def test_feature_augment():
    x = torch.randn(64, 1, 1, 10, generator=gen())
    out = FeatureAugment(noise=0.0, mask_prob=1.0)(x, generator=gen(1))
    assert torch.allclose(out, x.mean(0, keepdim=True).expand_as(x))
    noisy = FeatureAugment(noise=0.1, mask_prob=0.0)(x, generator=gen(1))
    assert 0.0 < (noisy - x).std() < 0.2
    with pytest.raises(ValueError, match="mask_prob"):
        FeatureAugment(mask_prob=2)
