"""Encoder networks: torchvision backbones with a small-image stem, and a small CNN.

:func:`make_backbone` builds a base encoder *f* whose forward pass returns the
representation vector (the classifier head removed).  The networks the estimators
train (:class:`ContrastiveNet`, :class:`ClassifierNet`) put a fitted input
:class:`Standardize` layer in front of *f* and a head behind it.

Small images (at most 64 pixels on their shorter side) get the CIFAR-style stem of
the SimCLR paper: the first convolution becomes 3×3 with stride 1 and the ResNet
max-pool is dropped, so an 8×8 or 32×32 image is not reduced to a single pixel
before the first residual block.  Weights are never downloaded (``weights=None``).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BACKBONES", "SMALL_IMAGE_MAX", "make_backbone", "SmallCNN", "Standardize",
           "ContrastiveNet", "SelfSupervisedNet", "ClassifierNet"]

#: Names accepted by :func:`make_backbone`.
BACKBONES = ("cnn", "resnet18", "resnet50", "mobilenet_v2")

#: Images whose shorter side is at most this many pixels get the small-image stem.
SMALL_IMAGE_MAX = 64


class SmallCNN(nn.Module):
    """Three 3×3 convolutions with BatchNorm and ReLU, then global average pooling.

    The second and third convolutions have stride 2, so a 32×32 image costs about
    10 M multiply-adds; the network trains in seconds on a CPU and works on inputs
    as small as 1×1 (flat features are fed as ``1×d`` images).

    Parameters
    ----------
    in_channels : int, default=3
    width : int, default=32
        Channels of the first convolution; the next two have ``2×`` and ``4×``.

    Examples
    --------
    >>> import torch
    >>> from privlearn.backbones import SmallCNN
    >>> SmallCNN(in_channels=1)(torch.zeros(4, 1, 8, 8)).shape
    torch.Size([4, 128])
    """

    def __init__(self, in_channels=3, width=32):
        super().__init__()
        widths = (width, 2 * width, 4 * width)
        layers, channels = [], in_channels
        for out, stride in zip(widths, (1, 2, 2)):
            layers += [nn.Conv2d(channels, out, 3, stride=stride, padding=1, bias=False),
                       nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            channels = out
        self.features = nn.Sequential(*layers)
        self.out_features = channels

    def forward(self, x):
        return self.features(x).mean(dim=(2, 3))


def _resnet(name, in_channels, small):
    import torchvision

    net = getattr(torchvision.models, name)(weights=None)
    if small:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    elif in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    dim = net.fc.in_features
    net.fc = nn.Identity()
    return net, dim


def _mobilenet_v2(in_channels, small):
    import torchvision

    net = torchvision.models.mobilenet_v2(weights=None)
    first = net.features[0][0]
    if small or in_channels != 3:
        net.features[0][0] = nn.Conv2d(in_channels, first.out_channels, kernel_size=3,
                                       stride=1 if small else 2, padding=1, bias=False)
    net.classifier = nn.Identity()
    return net, net.last_channel


def make_backbone(name, in_channels=3, image_size=32):
    """Build the base encoder *f* named ``name``.

    Parameters
    ----------
    name : {"cnn", "resnet18", "resnet50", "mobilenet_v2"}
        ``"cnn"`` is :class:`SmallCNN`; the others are torchvision's networks,
        randomly initialised (never downloaded).
    in_channels : int, default=3
        Channels of the input images (1 for grey images).
    image_size : int or (int, int), default=32
        Input height and width.  At most :data:`SMALL_IMAGE_MAX` pixels on the
        shorter side selects the small-image stem (3×3 stride-1 first convolution,
        no max-pool; stride-1 first convolution for MobileNetV2).

    Returns
    -------
    module : torch.nn.Module
        Maps ``(N, in_channels, H, W)`` to ``(N, feature_dim)``.
    feature_dim : int
        Size of the representation: 128 (cnn), 512 (resnet18), 2048 (resnet50),
        1280 (mobilenet_v2).

    Examples
    --------
    >>> import torch
    >>> from privlearn.backbones import make_backbone
    >>> net, dim = make_backbone("resnet18", in_channels=1, image_size=8)
    >>> dim, net(torch.zeros(2, 1, 8, 8)).shape
    (512, torch.Size([2, 512]))
    """
    if name not in BACKBONES:
        raise ValueError(f"make_backbone: unknown backbone {name!r}; valid backbones are "
                         f"{', '.join(map(repr, BACKBONES))}.")
    if not isinstance(in_channels, int) or isinstance(in_channels, bool) or in_channels < 1:
        raise ValueError(f"make_backbone: `in_channels` must be a positive integer, "
                         f"got {in_channels!r}.")
    size = min(image_size) if isinstance(image_size, (tuple, list)) else image_size
    small = size <= SMALL_IMAGE_MAX
    if name == "cnn":
        net = SmallCNN(in_channels)
        return net, net.out_features
    if name == "mobilenet_v2":
        return _mobilenet_v2(in_channels, small)
    return _resnet(name, in_channels, small)


class Standardize(nn.Module):
    """Subtract a fitted mean and divide by a fitted standard deviation.

    The statistics are buffers, so they travel with the network's ``state_dict``
    (checkpoints, ``copy.deepcopy``, pickling).  ``shape`` is the shape they
    broadcast to: ``(1, C, 1, 1)`` per channel for images, ``(1, 1, 1, d)`` per
    feature for flat features.

    Examples
    --------
    >>> import torch
    >>> from privlearn.backbones import Standardize
    >>> norm = Standardize((1, 1, 1, 1))
    >>> norm.set_statistics(torch.tensor([0.5]), torch.tensor([0.25]))
    >>> norm(torch.ones(1, 1, 2, 2)).flatten().tolist()
    [2.0, 2.0, 2.0, 2.0]
    """

    def __init__(self, shape):
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("std", torch.ones(shape))

    def set_statistics(self, mean, std):
        """Copy ``mean`` and ``std`` (any shape with the same number of entries)."""
        with torch.no_grad():
            self.mean.copy_(torch.as_tensor(mean).reshape(self.mean.shape))
            self.std.copy_(torch.as_tensor(std).reshape(self.std.shape))

    def forward(self, x):
        return (x - self.mean) / self.std


def spatial_features(backbone, x):
    """The backbone's last spatial feature map ``(N, C, h, w)``, before its global
    average pooling: the backbone's output is exactly this map's mean over ``h, w``.

    Works for the backbones of :func:`make_backbone` (:class:`SmallCNN`,
    torchvision's ResNets and MobileNetV2); another module raises ``TypeError``.

    Examples
    --------
    >>> import torch
    >>> from privlearn.backbones import make_backbone, spatial_features
    >>> net, _ = make_backbone("cnn", in_channels=1, image_size=8)
    >>> spatial_features(net.eval(), torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 128, 2, 2])
    """
    import torchvision

    if isinstance(backbone, SmallCNN):
        return backbone.features(x)
    if isinstance(backbone, torchvision.models.ResNet):
        x = backbone.maxpool(backbone.relu(backbone.bn1(backbone.conv1(x))))
        for layer in (backbone.layer1, backbone.layer2, backbone.layer3, backbone.layer4):
            x = layer(x)
        return x
    if isinstance(backbone, torchvision.models.MobileNetV2):
        return backbone.features(x)
    raise TypeError(f"spatial_features: no spatial map known for a {type(backbone).__name__} "
                    "backbone (supported: SmallCNN, ResNet, MobileNetV2)")


class _EncoderNet(nn.Module):
    """Standardize → backbone, plus a head built by subclasses."""

    def __init__(self, backbone, input_shape, statistics_shape):
        super().__init__()
        in_channels, height, width = input_shape
        self.normalize = Standardize(statistics_shape)
        self.backbone, self.feature_dim = make_backbone(backbone, in_channels, (height, width))

    def encode(self, x):
        """The representation h = f(x) of a batch of raw (unnormalised) inputs."""
        return self.backbone(self.normalize(x))

    def encode_map(self, x):
        """f's spatial feature map ``(N, C, h, w)`` of raw inputs; ``encode`` is its
        mean over ``h, w`` (:func:`spatial_features`)."""
        return spatial_features(self.backbone, self.normalize(x))


class ContrastiveNet(_EncoderNet):
    """SimCLR's network: input standardisation, base encoder f, projection head g.

    ``forward(x)`` returns ``(h, z)``: the representation ``h = f(x)`` and the
    projection ``z = g(h)`` on which the contrastive loss is computed.  ``g`` is a
    two-layer MLP (``feature_dim → feature_dim → projection_dim``), as in SimCLR.

    Parameters
    ----------
    backbone : str
        See :func:`make_backbone`.
    input_shape : (int, int, int)
        ``(C, H, W)`` of the inputs.
    statistics_shape : tuple of int
        Shape of the :class:`Standardize` buffers.
    projection_dim : int, default=128

    Examples
    --------
    >>> import torch
    >>> from privlearn.backbones import ContrastiveNet
    >>> net = ContrastiveNet("cnn", (1, 8, 8), (1, 1, 1, 1), projection_dim=16)
    >>> h, z = net(torch.zeros(3, 1, 8, 8))
    >>> h.shape, z.shape
    (torch.Size([3, 128]), torch.Size([3, 16]))
    """

    def __init__(self, backbone, input_shape, statistics_shape, projection_dim=128):
        super().__init__(backbone, input_shape, statistics_shape)
        dim = self.feature_dim
        self.projector = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True),
                                       nn.Linear(dim, projection_dim))

    def forward(self, x):
        h = self.encode(x)
        return h, self.projector(h)


def _mlp(sizes, batch_norm, output_batch_norm=False):
    """Linear layers of ``sizes`` with (BatchNorm and) ReLU after each hidden one,
    and optionally BatchNorm after the last."""
    layers = []
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
        layers.append(nn.Linear(n_in, n_out, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm1d(n_out))
        layers.append(nn.ReLU(inplace=True))
    layers.append(nn.Linear(sizes[-2], sizes[-1], bias=not output_batch_norm))
    if output_batch_norm:
        layers.append(nn.BatchNorm1d(sizes[-1]))
    return nn.Sequential(*layers)


class SelfSupervisedNet(_EncoderNet):
    """The network of MoCo, BYOL, SimSiam and Barlow Twins.

    Input standardisation, base encoder f, projection head g (an MLP
    ``feature_dim → hidden_dim → … → projection_dim``), and optionally a
    prediction head q (``projection_dim → predictor_hidden_dim →
    projection_dim``), a momentum copy of f and g (updated by
    :meth:`update_momentum`, not by the optimizer), and a queue of past keys.
    ``forward(x)`` returns ``(h, z)`` or, with a predictor, ``(h, z, q(z))``.
    Everything -- momentum copies and queue included -- is in the
    ``state_dict``, so checkpoints and pickles resume training exactly.

    Parameters
    ----------
    backbone, input_shape, statistics_shape
        As for :class:`ContrastiveNet`.
    projection_dim : int, default=128
    hidden_dim : int or None, default=None
        Width of the projector's hidden layers (None: ``feature_dim``).
    projector_layers : int, default=2
        Number of linear layers of the projector.
    batch_norm : bool, default=True
        BatchNorm after the hidden layers of the heads (BYOL, SimSiam, Barlow
        Twins); MoCo v2's head has none.
    output_batch_norm : bool, default=False
        BatchNorm on the projector's output too (SimSiam).
    predictor_hidden_dim : int or None, default=None
        Hidden width of the prediction head; None: no predictor.
    momentum_encoder : bool, default=False
        Keep a momentum copy of f and g (MoCo's key encoder, BYOL's target).
    queue_size : int, default=0
        Rows of the queue of negatives (MoCo); 0: no queue.

    Examples
    --------
    >>> import torch
    >>> from privlearn.backbones import SelfSupervisedNet
    >>> net = SelfSupervisedNet("cnn", (1, 8, 8), (1, 1, 1, 1), projection_dim=16,
    ...                         predictor_hidden_dim=4, momentum_encoder=True)
    >>> [t.shape[1] for t in net(torch.zeros(3, 1, 8, 8))]
    [128, 16, 16]
    >>> net.momentum_forward(torch.zeros(3, 1, 8, 8)).shape
    torch.Size([3, 16])
    """

    def __init__(self, backbone, input_shape, statistics_shape, projection_dim=128,
                 hidden_dim=None, projector_layers=2, batch_norm=True,
                 output_batch_norm=False, predictor_hidden_dim=None, momentum_encoder=False, queue_size=0):
        super().__init__(backbone, input_shape, statistics_shape)
        hidden = self.feature_dim if hidden_dim is None else hidden_dim
        sizes = [self.feature_dim, *[hidden] * (projector_layers - 1), projection_dim]
        self.projector = _mlp(sizes, batch_norm, output_batch_norm)
        self.predictor = None
        if predictor_hidden_dim is not None:
            self.predictor = _mlp([projection_dim, predictor_hidden_dim, projection_dim],
                                  batch_norm)
        self.momentum_backbone = self.momentum_projector = None
        if momentum_encoder:
            # Starts as a copy of f and g; follows them by exponential moving average.
            self.momentum_backbone = copy.deepcopy(self.backbone).requires_grad_(False)
            self.momentum_projector = copy.deepcopy(self.projector).requires_grad_(False)
        if queue_size:
            self.register_buffer("queue", F.normalize(torch.randn(queue_size, projection_dim),
                                                      dim=1))
            self.register_buffer("queue_position", torch.zeros((), dtype=torch.long))

    def forward(self, x):
        h = self.encode(x)
        z = self.projector(h)
        if self.predictor is None:
            return h, z
        return h, z, self.predictor(z)

    @torch.no_grad()
    def momentum_forward(self, x):
        """The momentum network's projection of raw inputs ``x`` (no gradient)."""
        return self.momentum_projector(self.momentum_backbone(self.normalize(x)))

    @torch.no_grad()
    def update_momentum(self, momentum):
        """``θ_m ← momentum · θ_m + (1 − momentum) · θ`` for every parameter, at once."""
        online = [*self.backbone.parameters(), *self.projector.parameters()]
        target = [*self.momentum_backbone.parameters(),
                  *self.momentum_projector.parameters()]
        torch._foreach_lerp_(target, online, 1.0 - momentum)

    @torch.no_grad()
    def enqueue(self, keys):
        """Replace the oldest rows of the queue by ``keys`` (normalised), in one write."""
        size = self.queue.shape[0]
        keys = F.normalize(keys.detach()[-size:].to(self.queue.dtype), dim=1)
        rows = (self.queue_position + torch.arange(len(keys), device=keys.device)) % size
        self.queue[rows] = keys
        self.queue_position.copy_((self.queue_position + len(keys)) % size)


class ClassifierNet(_EncoderNet):
    """Supervised network: input standardisation, base encoder f, linear layer.

    ``forward(x)`` returns class logits; :meth:`encode` the penultimate
    representation.

    Examples
    --------
    >>> import torch
    >>> from privlearn.backbones import ClassifierNet
    >>> ClassifierNet("cnn", (1, 8, 8), (1, 1, 1, 1), n_classes=10)(
    ...     torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """

    def __init__(self, backbone, input_shape, statistics_shape, n_classes=2):
        super().__init__(backbone, input_shape, statistics_shape)
        self.head = nn.Linear(self.feature_dim, n_classes)

    def forward(self, x):
        return self.head(self.encode(x))
