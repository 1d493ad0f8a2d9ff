"""Backbones: representation sizes, small-image stem, channels, no downloads."""

import pytest
import torch
from torch import nn

from privlearn.backbones import (BACKBONES, ClassifierNet, ContrastiveNet, SmallCNN,
                                 Standardize, make_backbone)


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a backbone tried to download weights")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)


@pytest.mark.parametrize("name, channels, size, dim", [
    ("cnn", 1, 8, 128), ("resnet18", 1, 8, 512), ("resnet18", 5, 16, 512),
    ("mobilenet_v2", 3, 16, 1280), ("resnet50", 3, 32, 2048),
])
def test_representation_size(name, channels, size, dim):
    net, feature_dim = make_backbone(name, channels, size)
    net.eval()
    with torch.no_grad():
        out = net(torch.rand(2, channels, size, size))
    assert feature_dim == dim and out.shape == (2, dim)


def first_conv(net):
    return next(m for m in net.modules() if isinstance(m, nn.Conv2d))


@pytest.mark.parametrize("size, small", [(32, True), (64, True), (96, False)])
def test_small_image_stem(size, small):
    resnet, _ = make_backbone("resnet18", 3, size)
    conv = first_conv(resnet)
    assert (conv.kernel_size, conv.stride) == (((3, 3), (1, 1)) if small else ((7, 7), (2, 2)))
    assert isinstance(resnet.maxpool, nn.Identity) == small
    mobilenet, _ = make_backbone("mobilenet_v2", 1, size)
    conv = first_conv(mobilenet)
    assert conv.in_channels == 1 and conv.stride == ((1, 1) if small else (2, 2))


def test_small_cnn_handles_tiny_and_flat_inputs():
    net = SmallCNN(in_channels=1)
    assert net(torch.rand(3, 1, 1, 20)).shape == (3, 128)
    assert net(torch.rand(3, 1, 8, 8)).shape == (3, 128)


def test_unknown_backbone_lists_the_valid_ones():
    with pytest.raises(ValueError, match="resnet18.*mobilenet_v2"):
        make_backbone("vgg16")
    with pytest.raises(ValueError, match="in_channels"):
        make_backbone("cnn", in_channels=0)
    assert set(BACKBONES) == {"cnn", "resnet18", "resnet50", "mobilenet_v2"}


def test_networks_standardise_then_encode():
    net = ContrastiveNet("cnn", (3, 8, 8), (1, 3, 1, 1), projection_dim=16)
    net.normalize.set_statistics(torch.tensor([0.1, 0.2, 0.3]), torch.tensor([2.0, 2.0, 2.0]))
    x = torch.rand(4, 3, 8, 8)
    h, z = net.eval()(x)
    assert h.shape == (4, 128) and z.shape == (4, 16)
    expected = net.backbone((x - torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1)) / 2.0)
    assert torch.allclose(h, expected, atol=1e-6)
    assert "normalize.mean" in net.state_dict()             # saved with the weights
    logits = ClassifierNet("cnn", (1, 8, 8), (1, 1, 1, 1), n_classes=7)(torch.rand(2, 1, 8, 8))
    assert logits.shape == (2, 7)
    with pytest.raises(RuntimeError):
        Standardize((1, 3, 1, 1)).set_statistics(torch.zeros(2), torch.ones(2))


@pytest.mark.parametrize("name", ["cnn", "resnet18", "mobilenet_v2"])
@pytest.mark.parametrize("size", [8, 32])
def test_spatial_features_pool_to_the_backbones_output(name, size):
    """The spatial map is what the backbone pools: its mean over h, w is the output."""
    import torch

    from privlearn.backbones import make_backbone, spatial_features

    torch.manual_seed(0)
    net, dim = make_backbone(name, in_channels=1, image_size=size)
    net.eval()
    x = torch.randn(2, 1, size, size)
    with torch.no_grad():
        fmap = spatial_features(net, x)
        assert fmap.ndim == 4 and fmap.shape[:2] == (2, dim)
        torch.testing.assert_close(fmap.mean(dim=(2, 3)), net(x))


def test_spatial_features_refuse_an_unknown_backbone():
    import torch

    from privlearn.backbones import spatial_features

    with pytest.raises(TypeError, match="Linear"):
        spatial_features(torch.nn.Linear(2, 2), torch.zeros(1, 2))
