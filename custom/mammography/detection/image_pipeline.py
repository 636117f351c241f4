"""One image in, its asymmetry heatmap and candidates out: the transforms and the inferer of ``inference.json``.

This is the form MONAI Label's generic bundle inference task runs (``preprocessing`` and ``postprocessing`` as
``Compose`` of dictionary transforms, ``inferer(inputs, network)``), and ``monai.bundle run`` runs it the same
way over a folder of images (:class:`ImageInferenceRunner`):

1. :class:`LoadContralateralExamd`: the image path -> the aligned ``(4, H, W)`` exam stack of its view, the
   other breast found next to it (:mod:`custom.mammography.detection.contralateral`);
2. :class:`AsymmetryInferer`: stacks and the encoder -> both breasts' heatmaps ``(B, 2, H, W)``, with the
   bundle's detector calibration;
3. :class:`AsymmetryOutputd`: the requested breast's heatmap in its own file's pixel grid, and its candidates
   and the exam score as a JSON-ready ``result``.

Whole studies (every view, both breasts written, calibration fitted when missing) are ``configs/detect.json``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from monai.data import Dataset, MetaTensor
from monai.inferers import Inferer
from monai.transforms import MapTransform
from tqdm.auto import tqdm

from custom.mammography.data.exam_cache import spacing_assumptions
from custom.mammography.data.presets import patch_preset
from custom.mammography.data.spacing import assumed_spacing_warning
from custom.skip_report import SkipReport
from custom.mammography.detection.contralateral import find_contralateral
from custom.mammography.detection.dense import EncoderDenseEmbedder
from custom.mammography.detection.detector import SIDES, AsymmetryDetector, CandidateFinder
from custom.mammography.detection.exams import ImageInput, exams_from_images
from custom.mammography.detection.outputs import candidate_to_original, heatmap_to_original
from custom.training.precision import MixedPrecision
from custom.atomic_write import atomic_write_json

logger = logging.getLogger(__name__)

NIFTI_SUFFIXES = (".nii", ".nii.gz")


def _file_affine(path: Path, pixel_spacing: float | None) -> np.ndarray:
    """The affine a label of ``path`` needs to overlay it: a NIfTI's own, else the pixel spacing (1 without one)."""
    if path.name.lower().endswith(NIFTI_SUFFIXES):
        return nib.load(path).affine
    spacing = float(pixel_spacing) if pixel_spacing else 1.0
    return np.diag([spacing, spacing, 1.0, 1.0])


class LoadContralateralExamd(MapTransform):
    """Replaces an image path by the aligned exam of its view: ``(4, H, W)`` left image, aligned right image,
    left mask, aligned right mask, as the detector takes it.

    The other breast of the same view and exam is looked up among the files of the image's folder (a MONAI
    Label datastore). The output is a ``MetaTensor`` whose ``affine`` and ``spatial_shape`` are those of the
    requested image's file in MONAI's x-first layout, so that a label made from it overlays the image;
    ``exam_key`` receives what :class:`AsymmetryOutputd` needs to map results back (plain values only).

    Raises ``LookupError`` when the other breast is missing or ambiguous and ``MammogramReadError`` for an
    unreadable image, each naming the file.
    """

    def __init__(self, keys: str | Sequence[str] = "image", patch: str = "96", registration: str = "mask",
                 downsample: float | None = None, exam_key: str = "exam", allow_missing_keys: bool = False,
                 assumed_pixel_spacing: float | None = None):
        super().__init__(keys, allow_missing_keys)
        self.spacing = patch_preset(patch)["spacing"]
        self.registration = registration
        self.downsample = downsample
        self.assumed_pixel_spacing = assumed_pixel_spacing
        self.exam_key = exam_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            path = Path(str(d[key]))
            if not path.is_file():
                raise FileNotFoundError(f"{path}: image not found")
            other = find_contralateral(path, sorted(item for item in path.parent.iterdir() if item.is_file()))
            exams, _ = exams_from_images([ImageInput(path), ImageInput(other)], study_id=path.parent.name,
                                         spacing=self.spacing, downsample=self.downsample,
                                         assumed_spacing=self.assumed_pixel_spacing, registration=self.registration)
            (exam,) = exams
            warning = assumed_spacing_warning(spacing_assumptions([exam.geometry]))
            if warning:
                logger.warning("%s: %s", path, warning)
            side = next(side for side in SIDES if Path(exam.geometry[side]["path"]).resolve() == path.resolve())
            geometry = exam.geometry[side]
            height, width = (int(n) for n in geometry["original_shape"])
            d[key] = MetaTensor(torch.from_numpy(np.ascontiguousarray(exam.stack)),
                                affine=torch.as_tensor(_file_affine(path, geometry.get("pixel_spacing"))),
                                meta={"filename_or_obj": str(path), "spatial_shape": (width, height)})
            d[self.exam_key] = {"image": str(path), "contralateral_image": str(other), "side": side,
                                "view": exam.view, "geometry": exam.geometry}
        return d


class AsymmetryInferer(Inferer):
    """``inferer(stacks, encoder)``: ``(B, 4, H, W)`` exam stacks -> ``(B, 2, H, W)`` heatmaps (left, aligned
    right, in the stacks' frame), with the detector calibration fitted for this encoder (``detector.json``)."""

    def __init__(self, calibration_file: str | Path, patch_size: int = 96, amp: bool = True):
        super().__init__()
        self.calibration_file = Path(calibration_file)
        self.patch_size = int(patch_size)
        self.amp = amp

    def __call__(self, inputs: torch.Tensor, network: torch.nn.Module, *args, **kwargs) -> torch.Tensor:
        precision = MixedPrecision(next(network.parameters()).device, enabled=self.amp)
        detector = AsymmetryDetector.load(self.calibration_file,
                                          EncoderDenseEmbedder(network, self.patch_size, precision))
        stacks = torch.as_tensor(inputs).detach().float().cpu().numpy()
        return torch.from_numpy(np.stack([detector.heatmaps(stack) for stack in stacks]))


class AsymmetryOutputd(MapTransform):
    """Both breasts' exam-frame heatmaps -> the requested image's heatmap, and its candidates as ``result``.

    ``keys`` (the prediction) becomes a ``(1, X, Y)`` ``MetaTensor`` in the image file's pixel grid (MONAI's
    x-first layout, the affine of ``image_key``), values in [0, 1]. ``result_key`` receives the image and its
    other breast, the view and side, the exam score (the best candidate of either breast) and this breast's
    candidates in original pixels (``box`` as ``xmin, ymin, xmax, ymax``), best first, with the same candidate
    settings as the calibrated detector.
    """

    def __init__(self, keys: str | Sequence[str] = "pred", calibration_file: str | Path = "models/detector.json",
                 exam_key: str = "exam", image_key: str = "image", result_key: str = "result",
                 allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.calibration_file = Path(calibration_file)
        self.exam_key, self.image_key, self.result_key = exam_key, image_key, result_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        exam = d[self.exam_key]
        side, geometry = exam["side"], exam["geometry"]
        find_candidates = CandidateFinder.from_calibration(self.calibration_file)
        for key in self.key_iterator(d):
            heatmaps = torch.as_tensor(d[key]).detach().float().cpu().numpy()
            candidates = find_candidates(heatmaps)
            own = heatmap_to_original(heatmaps[SIDES.index(side)], geometry, side)
            affine = d[self.image_key].affine
            d[key] = MetaTensor(torch.from_numpy(np.ascontiguousarray(own.T[None])), affine=affine,
                                meta={"filename_or_obj": exam["image"], "spatial_shape": own.T.shape,
                                      "original_affine": affine})
            own_candidates = [candidate_to_original(c, geometry) for c in candidates if c.side == side]
            d[self.result_key] = {
                "image": exam["image"], "contralateral_image": exam["contralateral_image"], "view": exam["view"],
                "side": side, "exam_score": float(candidates[0].score) if candidates else 0.0,
                "candidates": [{"rank": rank, **candidate} for rank, candidate in enumerate(own_candidates, 1)],
            }
        return d


def _root_cause(error: BaseException) -> BaseException:
    """The error a MONAI ``Compose`` wrapped (it re-raises a transform's error as a ``RuntimeError``)."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error


class ImageInferenceRunner:
    """``inference.json``'s ``evaluator``: every image of ``dataset`` (a MONAI ``Dataset`` of ``{"image": path}``
    whose transform is the preprocessing) through the inferer and the postprocessing, one at a time as MONAI
    Label does. The postprocessing writes the heatmaps (``SaveImaged``); ``run`` writes each image's ``result``
    to ``output_dir/<image name>_asymmetry.json``. An image whose other breast is missing, or that cannot be
    read, is reported and skipped; the others go on.
    """

    def __init__(self, dataset: Dataset, network: torch.nn.Module, inferer: Inferer, postprocessing: Callable,
                 output_dir: str | Path, result_key: str = "result"):
        self.dataset = dataset
        self.network = network
        self.inferer, self.postprocessing = inferer, postprocessing
        self.output_dir = Path(output_dir)
        self.result_key = result_key

    def run(self) -> list[Path]:
        """Returns the JSON paths written; raises when no image could be processed."""
        if len(self.dataset) == 0:
            raise ValueError("no image to run inference on: the data list is empty (is image_dir right?)")
        self.output_dir.mkdir(parents=True, exist_ok=True)
        device = next(self.network.parameters()).device
        skipped, written = SkipReport(), []
        self.network.eval()
        for index in tqdm(range(len(self.dataset)), desc="asymmetry heatmaps", unit="image"):
            path = Path(str(self.dataset.data[index]["image"]))
            try:
                data = self.dataset[index]
            except Exception as error:  # noqa: BLE001 - one bad image is reported, the others go on
                skipped.skip(path, str(_root_cause(error)))
                continue
            with torch.no_grad():
                data["pred"] = self.inferer(data["image"][None].to(device), self.network)[0]
            result = self.postprocessing(data)[self.result_key]
            target = self.output_dir / f"{_stem(path)}_asymmetry.json"
            atomic_write_json(target, result, indent=1)
            written.append(target)
        if not written:
            raise ValueError(f"none of the {len(self.dataset)} image(s) could be processed: {skipped.summary()}")
        print(f"asymmetry heatmaps of {len(written)} images in {self.output_dir}"
              + (f"; skipped: {skipped.summary()}" if skipped.items else ""))
        return written


def _stem(path: Path) -> str:
    return path.name[: -len(".nii.gz")] if path.name.lower().endswith(".nii.gz") else path.stem
