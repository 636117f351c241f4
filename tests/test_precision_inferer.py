"""``PrecisionInferer``: the forward pass under a ``MixedPrecision``, output back in fp32, and plain fp32 when
mixed precision is off or would need a gradient scaler."""

from __future__ import annotations

import torch

from custom.networks import ExportableFlexibleUNet
from custom.training import MixedPrecision, PrecisionInferer


def _network() -> torch.nn.Module:
    torch.manual_seed(0)
    return ExportableFlexibleUNet(in_channels=1, out_channels=2, backbone="resnet18", spatial_dims=2).eval()


def test_off_it_is_the_plain_forward_pass():
    network, images = _network(), torch.rand(2, 1, 64, 64)
    inferer = PrecisionInferer(MixedPrecision("cpu", enabled=False))
    with torch.no_grad():
        assert torch.equal(inferer(images, network), network(images))


def test_bf16_forward_returns_fp32_close_to_fp32_and_gradients_flow():
    network, images = _network(), torch.rand(2, 1, 64, 64)
    precision = MixedPrecision("cpu", enabled=False)
    precision.dtype, precision.channels_last = torch.bfloat16, True  # as on a CPU with bf16 instructions
    inferer = PrecisionInferer(precision)
    assert inferer.active
    with torch.no_grad():
        reference = network(images)
    outputs = inferer(images, precision.prepare_model(network))
    assert outputs.dtype == torch.float32
    assert (outputs - reference).abs().max() < 0.1 * reference.abs().max()  # bf16 keeps about 3 digits
    outputs.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in network.parameters() if p.requires_grad)


def test_fp16_without_a_scaler_falls_back_to_fp32(caplog):
    precision = MixedPrecision("cpu", enabled=False)
    precision.dtype, precision.scaler = torch.float16, object()  # what a GPU without bf16 gets
    inferer = PrecisionInferer(precision)
    assert not inferer.active and "mixed precision off" in caplog.text
