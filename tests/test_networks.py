"""Siamese encoders: output shapes, stem stride, fully convolutional feature maps, pair distances."""

import pytest
import torch
import torch.nn.functional as F

from custom.networks import (
    CoTrainedSiamesePair, SiameseEncoder, flexible_unet_encoder_state, pair_distance, seeded_encoder,
)


@pytest.fixture(scope="module")
def images():
    torch.manual_seed(0)
    return torch.randn(3, 1, 64, 64)


@pytest.fixture(scope="module")
def encoder():
    """The default encoder (stride-2 stem, 512-d), in eval mode; building a ResNet-18 is the slow part."""
    torch.manual_seed(0)
    return SiameseEncoder().eval()


def test_embedding_shapes(images, encoder):
    assert encoder.embedding_dim == 512
    assert encoder(images).shape == (3, 512)
    projected = SiameseEncoder(projection_dim=32, normalize=True)
    assert projected.embedding_dim == 32
    z = projected(images)
    assert z.shape == (3, 32)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(3))


def test_stem_stride_two_halves_the_first_feature_map(images, encoder):
    full = SiameseEncoder(stem_stride=1)
    assert encoder.backbone.conv1(images).shape[-2:] == (32, 32)
    assert full.backbone.conv1(images).shape[-2:] == (64, 64)
    assert encoder.feature_map(images).shape == (3, 512, 2, 2)
    assert full.feature_map(images).shape == (3, 512, 4, 4)


def test_feature_map_is_fully_convolutional(encoder):
    with torch.no_grad():
        small = encoder.feature_map(torch.randn(1, 1, 64, 64))
        large = encoder.feature_map(torch.randn(1, 1, 128, 96))
        embedding = encoder(torch.randn(2, 1, 96, 96))
    assert small.shape == (1, 512, 2, 2)
    assert large.shape == (1, 512, 4, 3)
    assert embedding.shape == (2, 512)


def test_pair_distance_values_and_safe_gradient_at_zero():
    a = torch.tensor([[0.0, 0.0], [3.0, 4.0]], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(2, 2, dtype=torch.float64)
    d = pair_distance(a, b)
    torch.testing.assert_close(d, torch.tensor([0.0, 5.0], dtype=torch.float64), atol=1e-4, rtol=0)
    d.sum().backward()
    assert torch.isfinite(a.grad).all()
    torch.testing.assert_close(a.grad[0], torch.zeros(2, dtype=torch.float64))
    torch.testing.assert_close(a.grad[1], torch.tensor([0.6, 0.8], dtype=torch.float64))


def test_pair_distance_gradcheck():
    torch.manual_seed(1)
    a = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(pair_distance, (a, b))


def test_pair_distance_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="equal shape"):
        pair_distance(torch.zeros(2, 3), torch.zeros(2, 4))


def test_encoder_distance(images, encoder):
    with torch.no_grad():
        d = encoder.distance(images, images.roll(1, 0))
        same = encoder.distance(images, images)
    assert d.shape == (3,)
    assert (d > 0.01).all()
    assert (same < 1e-3).all()


def test_cotrained_pair_independent_deterministic_networks(images):
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    pair = CoTrainedSiamesePair(seeds=(0, 1), projection_dim=16)
    assert torch.equal(torch.rand(1), expected_next), "building the pair must not move the global RNG"
    torch.manual_seed(0)
    same_seed_as_a = SiameseEncoder(projection_dim=16)
    weight_a, weight_b = pair.net_a.backbone.conv1.weight, pair.net_b.backbone.conv1.weight
    assert not torch.equal(weight_a, weight_b)
    assert torch.equal(weight_a, same_seed_as_a.backbone.conv1.weight)
    out = pair(images, images.roll(1, 0))
    assert set(out) == {"distance_a", "distance_b", "mismatch_distance_a", "mismatch_distance_b", "features_a",
                        "features_b"}
    assert out["distance_a"].shape == out["distance_b"].shape == out["mismatch_distance_a"].shape == (3,)
    assert out["features_a"].shape == out["features_b"].shape == (6, 512)  # both sides of the 3 pairs
    with torch.no_grad():  # the pooled distance is that of the encoder's own embeddings
        assert torch.allclose(pair.net_a.distance(images, images.roll(1, 0)), out["distance_a"], atol=1e-6)
    pair.eval()
    with torch.no_grad():
        same = pair(images, images)  # each pair identical; the mismatched ones pair different images
        rolled = pair(images, images.roll(-1, 0))  # pair i's side B is image i + 1: the mismatch is image i
    assert torch.allclose(same["distance_a"], torch.zeros(3), atol=1e-3)
    assert (same["mismatch_distance_a"] > 1e-2).all() and (same["mismatch_distance_b"] > 1e-2).all()
    assert torch.allclose(rolled["mismatch_distance_b"], torch.zeros(3), atol=1e-3)
    assert pair.export_encoder() is pair.net_a
    assert pair.export_encoder("b") is pair.net_b


def test_cotrained_pair_argument_errors():
    with pytest.raises(ValueError, match="different seeds"):
        CoTrainedSiamesePair(seeds=(3, 3))
    with pytest.raises(ValueError, match="'a' or 'b'"):
        CoTrainedSiamesePair().export_encoder("average")
    with pytest.raises(ValueError, match="distance must be one of"):
        CoTrainedSiamesePair(distance="mean")


def test_max_location_distance_is_the_largest_distance_between_corresponding_locations():
    """A change in one corner of a 96 px patch moves one location of the 3 x 3 map: the max-location distance
    is that location's distance, computed here by hand from the feature maps."""
    torch.manual_seed(0)
    left = torch.rand(2, 1, 96, 96)
    right = left.clone()
    right[:, :, :32, :32] += 1.0
    pair = CoTrainedSiamesePair(seeds=(0, 1), distance="max_location", normalize=True).eval()
    with torch.no_grad():
        out = pair(left, right)
        maps = pair.net_a.feature_map(torch.cat([left, right]))
        vectors = F.normalize(maps.flatten(2), dim=1)
        per_location = (vectors[:2] - vectors[2:]).norm(dim=1)
    assert per_location.shape == (2, 9)
    assert torch.allclose(out["distance_a"], per_location.amax(dim=1), atol=1e-4)
    assert torch.equal(per_location.argmax(dim=1), torch.zeros(2, dtype=torch.long))  # the changed corner


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated, but the model zoo exports with it
def test_encoder_is_torchscript_exportable(images, encoder):
    scripted = torch.jit.script(encoder)
    with torch.no_grad():
        torch.testing.assert_close(scripted(images), encoder(images))


def test_resnet18_features_backbone_initialises_flexible_unet():
    """An encoder pretrained with the FlexibleUNet backbone hands every backbone weight to the segmentation
    network, which then computes the same deepest feature map."""
    from monai.networks.nets import FlexibleUNet

    encoder = seeded_encoder(3, backbone="resnet18_features").eval()
    unet = FlexibleUNet(in_channels=1, out_channels=2, backbone="resnet18", spatial_dims=2, pretrained=False).eval()
    unet.encoder.load_state_dict(flexible_unet_encoder_state(encoder.state_dict()), strict=True)
    image = torch.rand(2, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(unet.encoder(image)[-1], encoder.feature_map(image))
        assert unet(image).shape == (2, 2, 64, 64)


def test_flexible_unet_refuses_the_projection_shortcut_backbone():
    with pytest.raises(ValueError, match="resnet18_features"):
        flexible_unet_encoder_state(SiameseEncoder().state_dict())
    with pytest.raises(ValueError, match="no backbone weights"):
        flexible_unet_encoder_state({"weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="backbone must be one of"):
        SiameseEncoder(backbone="vit")
    with pytest.raises(ValueError, match="stride-2 stem"):
        SiameseEncoder(backbone="resnet18_features", stem_stride=1)


def test_exportable_flexible_unet_equals_monais_and_scripts_and_traces_for_any_batch():
    """Same weights, same outputs and input gradients as MONAI's FlexibleUNet; scripted and traced (batch 1)
    copies agree with it at batch 1 and 5, where MONAI's own cannot be scripted and traces for one batch size."""
    from monai.networks.nets import FlexibleUNet

    from custom.networks import ExportableFlexibleUNet, ZeroPadShortcut

    arguments = dict(in_channels=1, out_channels=2, backbone="resnet18", spatial_dims=2, pretrained=False)
    monai_unet = FlexibleUNet(**arguments).eval()
    unet = ExportableFlexibleUNet(**arguments).eval()
    unet.load_state_dict(monai_unet.state_dict(), strict=True)
    assert list(unet.state_dict()) == list(monai_unet.state_dict())
    assert sum(isinstance(module, ZeroPadShortcut) for module in unet.modules()) == 3  # layers 2 to 4
    image = torch.rand(3, 1, 64, 64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    reference, ours = monai_unet(image), unet(image)
    torch.testing.assert_close(ours, reference)
    torch.testing.assert_close(torch.autograd.grad(ours.sum(), image)[0],
                               torch.autograd.grad(reference.sum(), image)[0])
    with pytest.raises(RuntimeError):
        torch.jit.script(monai_unet)
    scripted = torch.jit.script(unet)
    traced = torch.jit.trace(unet, torch.rand(1, 1, 64, 64))
    with torch.no_grad():
        for batch in (1, 5):
            images = torch.rand(batch, 1, 64, 64, generator=torch.Generator().manual_seed(batch))
            torch.testing.assert_close(scripted(images), unet(images))
            torch.testing.assert_close(traced(images), unet(images))
