"""Two-view augmentation of grayscale patch batches, batched on tensors and reproducible from a seed.

Self-supervised methods learn what stays the same between two random distortions of one patch, so the
distortions define what the encoder learns to ignore. For mammogram patches: position and scale of the
field of view (random resized crop), orientation (flips, a small rotation), exposure and display
(gamma, contrast, brightness), focus (Gaussian blur) and detector noise. No colour jitter: one channel.

Every random parameter is drawn per sample from one CPU ``torch.Generator``, so a batch is augmented the
same way on any device and a run repeats exactly from the seed (the generator state is checkpointed).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _check_range(name: str, bounds: tuple[float, float], low: float = -math.inf, high: float = math.inf) -> tuple[float, float]:
    lo, hi = (float(v) for v in bounds)
    if not low <= lo <= hi <= high:
        raise ValueError(f"{name} must be an ordered pair within [{low}, {high}], got {tuple(bounds)}")
    return lo, hi


def _check_probability(name: str, p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {p}")
    return float(p)


class TwoViewAugment:
    """Two independent random distortions of each patch of a ``(B, C, H, W)`` batch in ``[0, 1]``.

    Applied in this order, each with its own per-sample parameters:

    1. one affine resampling combining a random resized crop (area fraction ``crop_scale``, aspect ratio
       ``crop_ratio``) back to ``H x W``, horizontal / vertical flips and a rotation within
       ``+-rotation_degrees``; outside the source the image is reflected;
    2. with probability ``jitter_prob``: gamma (log-uniform in ``gamma``), contrast about the patch mean
       (``contrast``) and a brightness shift (``brightness``);
    3. with probability ``blur_prob``: a Gaussian blur with sigma in ``blur_sigma`` pixels;
    4. with probability ``noise_prob``: additive Gaussian noise with std in ``noise_std``;

    then clipping to ``[0, 1]``. A sample that skips a step gets that step's identity parameters, so the
    whole batch runs through the same tensor operations.

    Args:
        seed: seed of the generator that draws every random parameter.
    """

    def __init__(
        self,
        crop_scale: tuple[float, float] = (0.5, 1.0),
        crop_ratio: tuple[float, float] = (3 / 4, 4 / 3),
        hflip_prob: float = 0.5,
        vflip_prob: float = 0.5,
        rotation_degrees: float = 10.0,
        jitter_prob: float = 0.8,
        gamma: tuple[float, float] = (0.7, 1.5),
        contrast: tuple[float, float] = (0.75, 1.25),
        brightness: tuple[float, float] = (-0.1, 0.1),
        blur_prob: float = 0.5,
        blur_sigma: tuple[float, float] = (0.1, 1.5),
        noise_prob: float = 0.5,
        noise_std: tuple[float, float] = (0.0, 0.05),
        seed: int = 0,
    ):
        self.crop_scale = _check_range("crop_scale", crop_scale, 1e-3, 1.0)
        self.crop_ratio = _check_range("crop_ratio", crop_ratio, 1e-3)
        self.hflip_prob = _check_probability("hflip_prob", hflip_prob)
        self.vflip_prob = _check_probability("vflip_prob", vflip_prob)
        if not 0.0 <= rotation_degrees <= 180.0:
            raise ValueError(f"rotation_degrees must lie in [0, 180], got {rotation_degrees}")
        self.rotation_degrees = float(rotation_degrees)
        self.jitter_prob = _check_probability("jitter_prob", jitter_prob)
        self.gamma = _check_range("gamma", gamma, 1e-3)
        self.contrast = _check_range("contrast", contrast, 0.0)
        self.brightness = _check_range("brightness", brightness, -1.0, 1.0)
        self.blur_prob = _check_probability("blur_prob", blur_prob)
        self.blur_sigma = _check_range("blur_sigma", blur_sigma, 1e-3)
        self.noise_prob = _check_probability("noise_prob", noise_prob)
        self.noise_std = _check_range("noise_std", noise_std, 0.0)
        self.generator = torch.Generator().manual_seed(int(seed))

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(view_1, view_2)``, each shaped like ``images`` and on its device."""
        return self.view(images), self.view(images)

    def view(self, images: torch.Tensor) -> torch.Tensor:
        """One random distortion of every patch of the batch."""
        if images.ndim != 4:
            raise ValueError(f"expected a (B, C, H, W) batch of patches, got shape {tuple(images.shape)}")
        images = images.float()
        images = self._geometric(images)
        images = self._intensity(images)
        images = self._blur(images)
        images = self._noise(images)
        return images.clamp_(0.0, 1.0)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])

    def _uniform(self, n: int, bounds: tuple[float, float]) -> torch.Tensor:
        lo, hi = bounds
        return lo + (hi - lo) * torch.rand(n, generator=self.generator)

    def _chosen(self, n: int, p: float) -> torch.Tensor:
        return torch.rand(n, generator=self.generator) < p

    def _geometric(self, images: torch.Tensor) -> torch.Tensor:
        n = images.shape[0]
        area = self._uniform(n, self.crop_scale)
        ratio = torch.exp(self._uniform(n, (math.log(self.crop_ratio[0]), math.log(self.crop_ratio[1]))))
        # half-extents of the crop in normalised [-1, 1] coordinates (1 = the whole patch)
        width = torch.sqrt(area * ratio).clamp(max=1.0)
        height = torch.sqrt(area / ratio).clamp(max=1.0)
        centre_x = (2 * torch.rand(n, generator=self.generator) - 1) * (1 - width)
        centre_y = (2 * torch.rand(n, generator=self.generator) - 1) * (1 - height)
        flip_x = torch.where(self._chosen(n, self.hflip_prob), -1.0, 1.0)
        flip_y = torch.where(self._chosen(n, self.vflip_prob), -1.0, 1.0)
        angle = torch.deg2rad(self._uniform(n, (-self.rotation_degrees, self.rotation_degrees)))
        cos, sin = torch.cos(angle), torch.sin(angle)
        # output (x, y) -> source: rotate the scaled, flipped output grid, then move it to the crop centre
        theta = torch.stack(
            [
                torch.stack([cos * width * flip_x, -sin * height * flip_y, centre_x], dim=1),
                torch.stack([sin * width * flip_x, cos * height * flip_y, centre_y], dim=1),
            ],
            dim=1,
        ).to(images.device)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    def _intensity(self, images: torch.Tensor) -> torch.Tensor:
        n = images.shape[0]
        chosen = self._chosen(n, self.jitter_prob)
        log_gamma = self._uniform(n, (math.log(self.gamma[0]), math.log(self.gamma[1])))
        gamma = torch.where(chosen, torch.exp(log_gamma), 1.0)
        contrast = torch.where(chosen, self._uniform(n, self.contrast), 1.0)
        shift = torch.where(chosen, self._uniform(n, self.brightness), 0.0)
        gamma, contrast, shift = (v.to(images.device).view(n, 1, 1, 1) for v in (gamma, contrast, shift))
        images = images.clamp(0.0, 1.0).pow(gamma)
        mean = images.mean(dim=(1, 2, 3), keepdim=True)
        return (images - mean) * contrast + mean + shift

    def _blur(self, images: torch.Tensor) -> torch.Tensor:
        n, c, h, w = images.shape
        chosen = self._chosen(n, self.blur_prob)
        sigma = self._uniform(n, self.blur_sigma)
        radius = min(math.ceil(3 * self.blur_sigma[1]), (min(h, w) - 1) // 2)
        offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
        kernels = torch.exp(-0.5 * (offsets[None] / sigma[:, None]) ** 2)
        kernels = kernels / kernels.sum(dim=1, keepdim=True)
        identity = (offsets == 0).float().expand_as(kernels)
        kernels = torch.where(chosen[:, None], kernels, identity)
        # one separable kernel per sample, shared by its channels: a grouped convolution over the batch
        kernels = kernels.repeat_interleave(c, dim=0).to(images.device, images.dtype)
        flat = F.pad(images.reshape(1, n * c, h, w), (radius, radius, radius, radius), mode="reflect")
        flat = F.conv2d(flat, kernels[:, None, :, None], groups=n * c)
        flat = F.conv2d(flat, kernels[:, None, None, :], groups=n * c)
        return flat.reshape(n, c, h, w)

    def _noise(self, images: torch.Tensor) -> torch.Tensor:
        n = images.shape[0]
        std = torch.where(self._chosen(n, self.noise_prob), self._uniform(n, self.noise_std), 0.0)
        noise = torch.randn(images.shape, generator=self.generator)
        return images + (std.view(n, 1, 1, 1) * noise).to(images.device)


# Named sets of distortions (``ssl_augmentation`` in the mammography bundle's ``train_ssl.json``).
# ``generic``: the self-supervised literature's, as above. ``mammography``: what keeps a small dense lesion or a
# calcification cluster a few pixels wide in both views: crops that keep at least 80% of the patch (a 50% crop
# can cut a 5 mm mass out of one view), no blur (sigma 1.5 px erases 0.5 mm specks at 0.5 mm per pixel), mild
# exposure changes (gamma 0.7-1.5 moves a local density excess as much as a lesion does) and little noise;
# orientation stays free, since a lesion looks the same turned or mirrored.
AUGMENTATIONS: dict[str, dict] = {
    "generic": {},
    "mammography": {"crop_scale": (0.8, 1.0), "rotation_degrees": 10.0, "gamma": (0.9, 1.1), "contrast": (0.9, 1.1),
                    "brightness": (-0.03, 0.03), "blur_prob": 0.0, "noise_prob": 0.5, "noise_std": (0.0, 0.01)},
}


def two_view_augment(name: str = "generic", seed: int = 0) -> TwoViewAugment:
    """The :class:`TwoViewAugment` of one of the named sets in :data:`AUGMENTATIONS`."""
    if name not in AUGMENTATIONS:
        raise ValueError(f"ssl_augmentation must be one of {sorted(AUGMENTATIONS)}, got {name!r}")
    return TwoViewAugment(**AUGMENTATIONS[name], seed=seed)
