"""How the segmentation network starts: at random, or with weights pretrained by a self-supervised method
(the encoder alone, or the encoder and the decoder)."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from custom.networks import flexible_unet_encoder_state

logger = logging.getLogger(__name__)
HEAD = "segmentation_head."  # never pretrained


def initialise_network(network: nn.Module, init: str = "random") -> nn.Module:
    """``network`` (a ``FlexibleUNet`` with the ``resnet18`` backbone) with its pretrained part loaded from ``init``.

    ``init`` is ``"random"`` (left as built) or the path of a ``model.pt`` that ``pretrain.json`` wrote: an
    encoder (``SiameseEncoder(backbone="resnet18_features")``, ``pretrained_part`` "encoder") or an encoder and
    decoder (``SegmentationBackbone``, "encoder_decoder"). The segmentation head starts at random either way.

    Raises:
        FileNotFoundError: ``init`` is neither ``"random"`` nor an existing file.
        ValueError: the file holds no weights this network can take.
    """
    if init == "random":
        return network
    path = Path(init)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no pretrained weights there (init must be 'random' or a model.pt path)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        if any(key.startswith("decoder.") for key in state):
            _load_all_but_the_head(network, state)
            part = "encoder and decoder"
        else:
            network.encoder.load_state_dict(flexible_unet_encoder_state(state), strict=True)
            part = "encoder"
    except (RuntimeError, ValueError) as error:
        raise ValueError(f"{path}: cannot initialise the FlexibleUNet: {error}") from error
    logger.info("%s initialised from %s (%d tensors)", part, path, len(state))
    return network


def _load_all_but_the_head(network: nn.Module, state: dict) -> None:
    result = network.load_state_dict(state, strict=False)
    missing = [key for key in result.missing_keys if not key.startswith(HEAD)]
    if missing or result.unexpected_keys:
        raise ValueError(f"weights missing for {missing[:3]}, weights for no layer of the network "
                         f"{result.unexpected_keys[:3]} (of {len(missing)} and {len(result.unexpected_keys)})")
