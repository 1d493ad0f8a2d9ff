"""SimCLR's augmentations, applied to whole batches with parameters drawn per image.

torchvision's transforms (v1 and v2) draw one set of random parameters per call,
so on a batch every image gets the same crop and the same colour change; calling
them image by image is a Python loop on the hot path.  :class:`SimCLRAugment`
draws all parameters as tensors of shape ``(N,)`` and applies them in a handful
of batched operations on the batch's device:

- random resized crop and horizontal flip: one per-image affine grid
  (``F.affine_grid`` + ``F.grid_sample``, bilinear), the crop resized back to the
  input size;
- colour jitter (brightness, contrast, saturation, hue) with probability
  ``jitter_prob`` and grayscale with probability ``grayscale_prob``: all are
  linear in the RGB pixel, so they fuse into one per-image 3×3 matrix and offset
  (hue is a rotation in YIQ space), followed by a single clamp to [0, 1];
- Gaussian blur with probability ``blur_prob`` and a per-image sigma: a
  separable, grouped convolution with per-image kernels.

Differences from torchvision's pipeline: the four jitter operations run in a
fixed order (torchvision shuffles it per call) with a clamp only at the end, hue
is rotated in YIQ rather than HSV space, and a crop whose sampled width or
height exceeds the image is clipped to it (torchvision re-samples up to ten
times, then takes a centre crop).

Grey (1-channel) images get the crop, flip, brightness, contrast and blur;
saturation, hue and grayscale need three channels and are skipped.  Images with
other channel counts are treated like grey ones, channel by channel.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SimCLRAugment", "FeatureAugment", "SMALL_IMAGE_CROP_SCALE", "SMALL_IMAGE_SIDE"]

#: Images at most this many pixels on their shorter side count as tiny.
SMALL_IMAGE_SIDE = 16
#: Default crop scale for tiny images: (0.08, 1) leaves a few pixels of an 8×8 digit.
SMALL_IMAGE_CROP_SCALE = (0.4, 1.0)
#: Default crop scale otherwise (SimCLR's).
CROP_SCALE = (0.08, 1.0)
#: Images at most this many pixels on their shorter side are not blurred by default
#: (SimCLR leaves blur out for CIFAR-10's 32×32 images).
NO_BLUR_SIDE = 32

# ITU-R 601 luma weights (as torchvision's rgb_to_grayscale) and RGB -> YIQ.
_LUMA = (0.299, 0.587, 0.114)
_RGB_TO_YIQ = ((0.299, 0.587, 0.114),
               (0.596, -0.274, -0.322),
               (0.211, -0.523, 0.312))


def _uniform(low, high, n, like, generator):
    return low + (high - low) * torch.rand(n, device=like.device, dtype=like.dtype,
                                           generator=generator)


def _bernoulli(p, n, like, generator):
    return torch.rand(n, device=like.device, generator=generator) < p


class SimCLRAugment(nn.Module):
    """SimCLR's augmentation pipeline on a batch, independently per image.

    Parameters
    ----------
    crop_scale : (float, float) or None, default=None
        Range of the crop's area as a fraction of the image.  ``None``: SimCLR's
        ``(0.08, 1.0)``, or the milder :data:`SMALL_IMAGE_CROP_SCALE`
        ``(0.4, 1.0)`` for images at most 16 pixels on a side (an 8% crop of an
        8×8 digit is about two pixels square).
    crop_ratio : (float, float), default=(3/4, 4/3)
        Range of the crop's aspect ratio (sampled log-uniformly).
    flip_prob : float, default=0.5
        Probability of a horizontal flip.
    jitter_prob : float, default=0.8
        Probability of colour jitter.
    brightness, contrast, saturation : float, default=0.4
        Jitter strengths: factors are drawn from ``[1 - s, 1 + s]``.
    hue : float, default=0.1
        Hue shift drawn from ``[-hue, hue]`` (fraction of the colour circle).
        The defaults are SimCLR's colour strength 0.5.
    grayscale_prob : float, default=0.2
        Probability of converting to grayscale.
    blur_prob : float or None, default=None
        Probability of Gaussian blur.  ``None``: 0.5, or 0 for images at most 32
        pixels on a side (SimCLR does not blur CIFAR-10).
    blur_sigma : (float, float), default=(0.1, 2.0)
        Range of the blur's standard deviation, in pixels.

    Examples
    --------
    >>> import torch
    >>> from privlearn.augment import SimCLRAugment
    >>> augment = SimCLRAugment(blur_prob=0.5)
    >>> images = torch.rand(16, 3, 32, 32)
    >>> views = augment(images, generator=torch.Generator().manual_seed(0))
    >>> views.shape, bool(views.min() >= 0), bool(views.max() <= 1)
    (torch.Size([16, 3, 32, 32]), True, True)
    """

    def __init__(self, crop_scale=None, crop_ratio=(3 / 4, 4 / 3), flip_prob=0.5,
                 jitter_prob=0.8, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1,
                 grayscale_prob=0.2, blur_prob=None, blur_sigma=(0.1, 2.0)):
        super().__init__()
        self.crop_scale = crop_scale
        self.crop_ratio = crop_ratio
        self.flip_prob = flip_prob
        self.jitter_prob = jitter_prob
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.hue = hue
        self.grayscale_prob = grayscale_prob
        self.blur_prob = blur_prob
        self.blur_sigma = blur_sigma
        self._check()
        yiq = torch.tensor(_RGB_TO_YIQ)
        self.register_buffer("_yiq", yiq, persistent=False)
        self.register_buffer("_yiq_inv", torch.linalg.inv(yiq), persistent=False)
        self.register_buffer("_luma", torch.tensor(_LUMA), persistent=False)

    def _check(self):
        def pair(name, low, high=math.inf, allow_none=False):
            value = getattr(self, name)
            if value is None and allow_none:
                return
            try:
                a, b = (float(v) for v in value)
            except (TypeError, ValueError):
                raise ValueError(f"SimCLRAugment: `{name}` must be a pair (low, high), "
                                 f"got {value!r}.") from None
            if not low <= a <= b <= high:
                raise ValueError(f"SimCLRAugment: `{name}` must satisfy {low} <= low <= "
                                 f"high <= {high}, got {value!r}.")

        pair("crop_scale", 1e-6, 1.0, allow_none=True)
        pair("crop_ratio", 1e-6)
        pair("blur_sigma", 1e-6)
        for name in ("flip_prob", "jitter_prob", "grayscale_prob", "blur_prob"):
            value = getattr(self, name)
            if value is None and name == "blur_prob":
                continue
            if not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError(f"SimCLRAugment: `{name}` must be a probability in "
                                 f"[0, 1], got {value!r}.")
        for name, high in (("brightness", 1.0), ("contrast", 1.0), ("saturation", 1.0),
                           ("hue", 0.5)):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value <= high:
                raise ValueError(f"SimCLRAugment: `{name}` must be a number in "
                                 f"[0, {high}], got {value!r}.")

    def resolved(self, height, width):
        """The ``(crop_scale, blur_prob)`` used for ``height``×``width`` images."""
        side = min(height, width)
        crop_scale = self.crop_scale
        if crop_scale is None:
            crop_scale = SMALL_IMAGE_CROP_SCALE if side <= SMALL_IMAGE_SIDE else CROP_SCALE
        blur_prob = self.blur_prob
        if blur_prob is None:
            blur_prob = 0.0 if side <= NO_BLUR_SIDE else 0.5
        return tuple(crop_scale), blur_prob

    def forward(self, x, generator=None):
        """Augment a float batch ``(N, C, H, W)`` with values in [0, 1].

        Random numbers come from ``generator`` (on ``x``'s device) or, when it is
        None, from torch's global random number generator.
        """
        if x.ndim != 4 or not x.is_floating_point():
            raise ValueError("SimCLRAugment: expected a float tensor (N, C, H, W), got "
                             f"{x.dtype} of shape {tuple(x.shape)}.")
        crop_scale, blur_prob = self.resolved(*x.shape[-2:])
        x = self.crop_and_flip(x, crop_scale, generator)
        x = self.colour(x, generator)
        if blur_prob > 0:
            x = self.blur(x, blur_prob, generator)
        return x

    def crop_and_flip(self, x, crop_scale, generator=None):
        """Random resized crop and horizontal flip, one affine grid per image."""
        n, _, height, width = x.shape
        area = _uniform(*crop_scale, n, x, generator)
        log_ratio = _uniform(math.log(self.crop_ratio[0]), math.log(self.crop_ratio[1]),
                             n, x, generator)
        ratio = log_ratio.exp()
        # Fractions of the width and height covered by the crop.
        crop_w = (area * ratio * height / width).sqrt().clamp(max=1.0)
        crop_h = (area / ratio * width / height).sqrt().clamp(max=1.0)
        # Centres (normalised coordinates in [-1, 1]) keep the crop inside the image.
        centre_x = (1 - crop_w) * _uniform(-1.0, 1.0, n, x, generator)
        centre_y = (1 - crop_h) * _uniform(-1.0, 1.0, n, x, generator)
        flip = torch.where(_bernoulli(self.flip_prob, n, x, generator), -1.0, 1.0).to(x)
        theta = x.new_zeros(n, 2, 3)
        theta[:, 0, 0] = crop_w * flip
        theta[:, 0, 2] = centre_x
        theta[:, 1, 1] = crop_h
        theta[:, 1, 2] = centre_y
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border",
                             align_corners=False)

    def colour(self, x, generator=None):
        """Colour jitter (p=``jitter_prob``) then grayscale (p=``grayscale_prob``).

        Every operation is linear in the pixel, so the whole chain is one
        per-image matrix ``M`` and offset ``o``: ``x' = clamp(M x + o, 0, 1)``.
        """
        n, channels = x.shape[:2]
        jitter = _bernoulli(self.jitter_prob, n, x, generator)

        def factor(strength, centre=1.0):
            value = _uniform(max(centre - strength, 0.0), centre + strength, n, x, generator)
            return torch.where(jitter, value, torch.full_like(value, centre))

        bright = factor(self.brightness)
        contrast = factor(self.contrast)
        if channels != 3:
            # Brightness then contrast around the image's mean grey level.
            mean = x.mean(dim=(1, 2, 3))
            scale = (contrast * bright).view(n, 1, 1, 1)
            offset = ((1 - contrast) * bright * mean).view(n, 1, 1, 1)
            return (x * scale + offset).clamp_(0.0, 1.0)

        saturation = factor(self.saturation)
        angle = factor(self.hue, centre=0.0) * (2 * math.pi)
        eye = torch.eye(3, device=x.device, dtype=x.dtype).expand(n, 3, 3)
        gray = self._luma.to(x).expand(3, 3)           # every row = luma weights
        # Saturation: blend with the grey image.
        sat = saturation.view(n, 1, 1) * eye + (1 - saturation).view(n, 1, 1) * gray
        # Hue: rotate the chroma plane (I, Q) of YIQ.
        cos, sin = angle.cos(), angle.sin()
        rot = torch.zeros(n, 3, 3, device=x.device, dtype=x.dtype)
        rot[:, 0, 0] = 1
        rot[:, 1, 1], rot[:, 1, 2] = cos, -sin
        rot[:, 2, 1], rot[:, 2, 2] = sin, cos
        hue = self._yiq_inv.to(x) @ rot @ self._yiq.to(x)
        to_gray = _bernoulli(self.grayscale_prob, n, x, generator).view(n, 1, 1)
        chain = torch.where(to_gray, gray.expand(n, 3, 3), eye) @ hue @ sat
        # Brightness scales the image; contrast blends it with its mean grey level.
        mean_gray = torch.einsum("c,nchw->n", self._luma.to(x), x) / x[0, 0].numel()
        matrix = (contrast * bright).view(n, 1, 1) * chain
        offset = ((1 - contrast) * bright * mean_gray).view(n, 1) * chain.sum(dim=2)
        out = torch.einsum("nij,njhw->nihw", matrix, x) + offset.view(n, 3, 1, 1)
        return out.clamp_(0.0, 1.0)

    def blur(self, x, blur_prob, generator=None):
        """Gaussian blur with probability ``blur_prob`` and a per-image sigma."""
        n, channels, height, width = x.shape
        chosen = torch.nonzero(_bernoulli(blur_prob, n, x, generator)).flatten()
        sigma = _uniform(*self.blur_sigma, n, x, generator)[chosen]
        if len(chosen) == 0:
            return x
        radius = min(math.ceil(3 * self.blur_sigma[1]), (min(height, width) - 1) // 2)
        if radius < 1:
            return x
        offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
        kernel = torch.exp(-0.5 * (offsets / sigma.view(-1, 1)) ** 2)
        kernel = kernel / kernel.sum(dim=1, keepdim=True)
        # One group per (image, channel); the kernel is shared by an image's channels.
        kernel = kernel.repeat_interleave(channels, dim=0)
        groups = len(chosen) * channels
        part = x[chosen].reshape(1, groups, height, width)
        part = F.conv2d(F.pad(part, (radius, radius, 0, 0), mode="reflect"),
                        kernel.view(groups, 1, 1, -1), groups=groups)
        part = F.conv2d(F.pad(part, (0, 0, radius, radius), mode="reflect"),
                        kernel.view(groups, 1, -1, 1), groups=groups)
        x = x.clone()
        x[chosen] = part.view(len(chosen), channels, height, width)
        return x


class FeatureAugment(nn.Module):
    """Views of flat feature vectors: random masking and Gaussian noise.

    Image augmentations mean nothing for tabular features, so the estimators use
    this for 2-D ``N×d`` inputs.  Each entry is replaced by the batch mean of its
    feature with probability ``mask_prob``, then Gaussian noise of ``noise``
    times the feature's batch standard deviation is added.  Works on any shape
    ``(N, ...)``; statistics are taken over the batch axis.

    Parameters
    ----------
    noise : float, default=0.1
    mask_prob : float, default=0.2

    Examples
    --------
    >>> import torch
    >>> from privlearn.augment import FeatureAugment
    >>> x = torch.randn(8, 1, 1, 5)
    >>> FeatureAugment()(x, generator=torch.Generator().manual_seed(0)).shape
    torch.Size([8, 1, 1, 5])
    """

    def __init__(self, noise=0.1, mask_prob=0.2):
        super().__init__()
        self.noise = noise
        self.mask_prob = mask_prob
        if not isinstance(noise, (int, float)) or noise < 0:
            raise ValueError(f"FeatureAugment: `noise` must be >= 0, got {noise!r}.")
        if not isinstance(mask_prob, (int, float)) or not 0 <= mask_prob <= 1:
            raise ValueError(f"FeatureAugment: `mask_prob` must be in [0, 1], got {mask_prob!r}.")

    def forward(self, x, generator=None):
        mean = x.mean(dim=0, keepdim=True)
        std = x.std(dim=0, keepdim=True) if len(x) > 1 else torch.zeros_like(mean)
        masked = torch.rand(x.shape, device=x.device, generator=generator) < self.mask_prob
        x = torch.where(masked, mean.expand_as(x), x)
        noise = torch.randn(x.shape, device=x.device, dtype=x.dtype, generator=generator)
        return x + self.noise * std * noise
