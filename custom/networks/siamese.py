"""Siamese ResNet-18 encoders: one embedding per patch, Euclidean distance per contralateral pair."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.networks.nets import ResNetFeatures, resnet18
from torch import nn

BACKBONE_DIM = 512
BACKBONES = ("resnet18", "resnet18_features")


def pair_distance(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Euclidean distance between matching rows of two ``(B, D)`` embeddings, shape ``(B,)``.

    ``eps`` sits inside the square root: the gradient of a plain ``sqrt`` is infinite at 0, which identical
    embeddings (the goal for normal pairs) would hit. With it the gradient there is 0 and bounded elsewhere.
    """
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(
            f"pair_distance expects two (B, D) tensors of equal shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    return torch.sqrt((a - b).pow(2).sum(dim=1) + eps)


class SiameseEncoder(nn.Module):
    """MONAI ResNet-18 (2-D, no classifier) mapping a ``(B, C, H, W)`` patch batch to ``(B, D)`` embeddings.

    Args:
        in_channels: image channels (1 for mammograms).
        backbone: ``"resnet18"``, MONAI's ``resnet18`` with projection shortcuts (the mammography bundle's
            encoder, which its published weights fit), or ``"resnet18_features"``, MONAI's ``ResNetFeatures``:
            the encoder of ``FlexibleUNet(backbone="resnet18")`` (identity shortcuts, stride-2 stem), whose
            weights :func:`flexible_unet_encoder_state` hands to a segmentation network.
        stem_stride: stride of the first 7x7 convolution. MONAI's default of 1 keeps the stem at full
            resolution and costs about 4x the compute of the usual ResNet-18; 2 matches the standard network.
        projection_dim: if given, a SimCLR-style MLP head (512 -> 512 -> projection_dim) follows the pooled
            backbone features and ``embedding_dim`` is ``projection_dim``; otherwise the embedding is the 512-d
            pooled feature.
        normalize: L2-normalise the embedding. Distances then lie in ``[0, 2]``, so a contrastive margin
            must be below 2 to have any effect.
    """

    def __init__(
        self, in_channels: int = 1, stem_stride: int = 2, projection_dim: int | None = None, normalize: bool = False,
        backbone: str = "resnet18",
    ) -> None:
        super().__init__()
        if stem_stride < 1:
            raise ValueError(f"stem_stride must be >= 1, got {stem_stride}")
        if projection_dim is not None and projection_dim < 1:
            raise ValueError(f"projection_dim must be a positive integer or None, got {projection_dim}")
        if backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {backbone!r}")
        if backbone == "resnet18_features" and stem_stride != 2:
            raise ValueError(f"the resnet18_features backbone (FlexibleUNet's) has a stride-2 stem, got {stem_stride}")
        self.backbone = (
            resnet18(spatial_dims=2, n_input_channels=in_channels, feed_forward=False, conv1_t_stride=stem_stride)
            if backbone == "resnet18"
            else ResNetFeatures("resnet18", pretrained=False, spatial_dims=2, in_channels=in_channels)
        )
        self.projection: nn.Module = (
            nn.Identity()
            if projection_dim is None
            else nn.Sequential(
                nn.Linear(BACKBONE_DIM, BACKBONE_DIM), nn.ReLU(inplace=True), nn.Linear(BACKBONE_DIM, projection_dim)
            )
        )
        self.feature_dim = BACKBONE_DIM  # of the pooled ``features``, which self-supervised heads take
        self.embedding_dim = BACKBONE_DIM if projection_dim is None else projection_dim
        self.normalize = normalize

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """Last convolutional feature map ``(B, 512, H/s, W/s)`` before global pooling.

        Fully convolutional, so a whole breast can be encoded densely in one pass for lesion detection
        (``s`` is 32 with the stride-2 stem, 16 with stride 1).
        """
        b = self.backbone
        x = b.maxpool(b.act(b.bn1(b.conv1(x))))
        return b.layer4(b.layer3(b.layer2(b.layer1(x))))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally pooled backbone features ``(B, 512)``: the input of the projection head."""
        return torch.flatten(self.backbone.avgpool(self.feature_map(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.features(x))

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """The embedding of pooled backbone ``features`` ``(B, 512)``: projection head, then normalisation."""
        z = self.projection(features)
        return F.normalize(z, dim=1) if self.normalize else z

    def location_embeddings(self, x: torch.Tensor) -> torch.Tensor:
        """One embedding per feature-map location, ``(B, L, D)``: the projection head and normalisation
        applied to each location's backbone vector instead of the pooled one."""
        return self.location_embeddings_of(self.feature_map(x))

    def location_embeddings_of(self, feature_map: torch.Tensor) -> torch.Tensor:
        """:meth:`location_embeddings` of an already computed ``feature_map`` ``(B, 512, h, w)``."""
        z = self.projection(feature_map.flatten(2).transpose(1, 2))
        return F.normalize(z, dim=2) if self.normalize else z

    def pair_embeddings(self, image_a: torch.Tensor, image_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings ``(B, D)`` of the two sides of each pair.

        Both sides go through the network as one batch so that batch normalisation sees (and normalises
        with) the same statistics for the two breasts.
        """
        if image_a.shape != image_b.shape:
            raise ValueError(f"pair sides differ in shape: {tuple(image_a.shape)} vs {tuple(image_b.shape)}")
        za, zb = self(torch.cat([image_a, image_b], dim=0)).chunk(2, dim=0)
        return za, zb

    def distance(self, image_a: torch.Tensor, image_b: torch.Tensor) -> torch.Tensor:
        """Embedding distance ``(B,)`` between the two sides of each pair."""
        return pair_distance(*self.pair_embeddings(image_a, image_b))


def _max_location_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Largest distance over corresponding locations of two ``(B, L, D)`` location embeddings, ``(B,)``."""
    return pair_distance(a.flatten(0, 1), b.flatten(0, 1)).view(a.shape[0], a.shape[1]).amax(dim=1)


def flexible_unet_encoder_state(encoder_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The backbone weights of a ``resnet18_features`` :class:`SiameseEncoder` state dict, keyed as
    ``FlexibleUNet(backbone="resnet18", spatial_dims=2).encoder`` expects them (``encoder.load_state_dict``).

    Raises:
        ValueError: the state holds no backbone, or one with projection shortcuts (the ``resnet18`` backbone),
            which no FlexibleUNet encoder has.
    """
    prefix = "backbone."
    state = {key[len(prefix):]: value for key, value in encoder_state.items() if key.startswith(prefix)}
    if not state:
        raise ValueError("no backbone weights in this state dict: is it a SiameseEncoder's?")
    if any(".downsample." in key for key in state):
        raise ValueError("these weights are of the 'resnet18' backbone (projection shortcuts); FlexibleUNet's "
                         "resnet18 encoder needs an encoder trained with backbone='resnet18_features'")
    return state


def seeded_encoder(seed: int, **encoder_kwargs) -> SiameseEncoder:
    """Build an encoder from its own seed without disturbing the caller's global RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SiameseEncoder(**encoder_kwargs)


class CoTrainedSiamesePair(nn.Module):
    """Two independently initialised Siamese encoders trained side by side with a cross loss.

    Each network's distances give soft labels that supervise the *other* network, which limits the
    confirmation bias of a network learning from its own labels.

    Export: ``export_encoder("a")`` (default) returns one of the two networks. Their weights are not
    averaged: two independently initialised networks learn unrelated (permuted) features, so a weight
    average is not a trained network, and averaging embeddings would mix two unrelated embedding spaces.

    Args:
        seeds: initialisation seeds of ``net_a`` and ``net_b``; must differ.
        distance: ``"pooled"`` (the distance of the patches' pooled embeddings) or ``"max_location"``: the
            largest distance between corresponding feature-map locations of the two patches, so that a
            lesion filling one location of the 3 x 3 map (16 mm at the 96 px preset) is not averaged away
            by the eight normal ones.
        encoder_kwargs: passed to both :class:`SiameseEncoder` instances.
    """

    DISTANCES = ("pooled", "max_location")

    def __init__(self, seeds: tuple[int, int] = (0, 1), distance: str = "pooled", **encoder_kwargs) -> None:
        super().__init__()
        if seeds[0] == seeds[1]:
            raise ValueError(f"the two networks need different seeds, got {seeds}")
        if distance not in self.DISTANCES:
            raise ValueError(f"distance must be one of {self.DISTANCES}, got {distance!r}")
        self.distance = distance
        self.net_a = seeded_encoder(seeds[0], **encoder_kwargs)
        self.net_b = seeded_encoder(seeds[1], **encoder_kwargs)

    def forward(self, image_a: torch.Tensor, image_b: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each network's distance for every pair, ``"distance_a"`` and ``"distance_b"`` ``(B,)``; for
        non-corresponding pairs, ``"mismatch_distance_a"`` / ``"mismatch_distance_b"`` ``(B,)``: side A of pair
        ``i`` against side B of pair ``i + 1`` (cyclically), different tissue by construction, at no extra cost;
        and ``"features_a"`` / ``"features_b"`` ``(2B, 512)``, each network's pooled backbone features of both
        sides (for an anti-collapse term on the features).
        """
        if image_a.shape != image_b.shape:
            raise ValueError(f"pair sides differ in shape: {tuple(image_a.shape)} vs {tuple(image_b.shape)}")
        both = torch.cat([image_a, image_b], dim=0)  # one batch, so batch norm normalises both breasts alike
        out = {}
        for name, net in (("a", self.net_a), ("b", self.net_b)):
            feature_map = net.feature_map(both)
            out[f"features_{name}"] = torch.flatten(net.backbone.avgpool(feature_map), 1)
            if self.distance == "pooled":
                za, zb = net.embed(out[f"features_{name}"]).chunk(2, dim=0)
                out[f"distance_{name}"] = pair_distance(za, zb)
                out[f"mismatch_distance_{name}"] = pair_distance(za, torch.roll(zb, 1, dims=0))
            else:
                za, zb = net.location_embeddings_of(feature_map).chunk(2, dim=0)
                out[f"distance_{name}"] = _max_location_distance(za, zb)
                out[f"mismatch_distance_{name}"] = _max_location_distance(za, torch.roll(zb, 1, dims=0))
        return out

    def export_encoder(self, which: str = "a") -> SiameseEncoder:
        """The network to export (the module itself, sharing parameters): ``"a"`` or ``"b"``."""
        if which not in ("a", "b"):
            raise ValueError(f"which must be 'a' or 'b', got {which!r}")
        return self.net_a if which == "a" else self.net_b
