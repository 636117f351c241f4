"""Synthetic screening exams written in the VinDr-Mammo layout.

`plan_studies` decides everything about a data set from the seed (ids, split, anatomy, which breast
holds a finding, DICOM variants); `render_study` draws a study's four breasts in the aligned frame
(chest wall at column 0, in memory, for tests and benchmarks); `generate_vindr_like` writes them out
as VinDr does: `images/<study_id>/<image_id>.dicom`, `breast-level_annotations.csv` and
`finding_annotations.csv`, the latter with one extension column, `pathology`.
Right breasts are stored mirrored (chest wall on the right), as real images are; boxes are given in
that stored geometry, as (first column, first row, last column + 1, last row + 1) floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from pydicom.uid import generate_uid
from tqdm import tqdm

from custom.mammography.data.synthetic.anatomy import (
    Anatomy,
    breast_geometry,
    expose,
    gland_fraction,
    lesion_site,
    sample_anatomy,
    sample_pose,
)
from custom.mammography.data.synthetic.dicom_writer import MANUFACTURERS, DicomVariant, StudyTags, image_variant, write_mammogram
from custom.mammography.data.synthetic.lesions import Box, Finding, add_finding, sample_finding
from custom.mammography.data.synthetic.texture import coarse_share, converging_strands, power_law_field

BREAST_LEVEL_COLUMNS = [
    "study_id", "series_id", "image_id", "laterality", "view_position", "height", "width",
    "breast_birads", "breast_density", "split",
]
FINDING_COLUMNS = BREAST_LEVEL_COLUMNS[:-1] + [
    "finding_categories", "finding_birads", "xmin", "ymin", "xmax", "ymax", "split", "pathology",
]
SIDES = ("L", "R")
VIEWS = ("CC", "MLO")
TEST_FRACTION = 0.2
FINDING_FRACTION = 0.35
FOR_PROCESSING_EVERY = 8  # one study in eight is stored as raw "FOR PROCESSING" images
# The generator's version. Benchmark figures are frozen per version (docs/calibration.json): any change to
# what the generator draws needs a new version, a re-run of `python -m custom calibrate` and every result
# re-measured.
SYNTHETIC_VERSION = "2"
# Contralateral breasts share their glandular structures coarser than this and differ in finer ones.
SYMMETRY_SCALE_MM = 25.0

_README = """Synthetic data set in the VinDr-Mammo layout. NOT real patient data.

synthetic_version: {version}
Written by custom.mammography.data.synthetic.generate_vindr_like (preset {preset}, seed {seed}, {studies} studies,
test fraction {test}, finding fraction {finding}).
Images are simulated: graded power-law (1/f^3) glandular tissue, ducts and ligaments converging on the
nipple, breast outline, pectoral muscle in MLO, and in a share of the studies one finding (mass, spiculated mass, calcification cluster or architectural
distortion) in both views of one breast. Pixel spacing {spacing} mm, {height} x {width} pixels.

Layout as VinDr-Mammo: images/<study_id>/<image_id>.dicom, breast-level_annotations.csv,
finding_annotations.csv. Extension: finding_annotations.csv has one extra column, `pathology`
("malignant"/"benign", empty for no finding), which real VinDr-Mammo does not have.
Right breasts are stored with the chest wall on the right. DICOM variants are mixed on purpose
(MONOCHROME1, RLE / JPEG 2000 lossless, laterality only in Laterality, view only in ViewCodeSequence,
some studies "FOR PROCESSING").
"""  # noqa: B950 - the data set's README text, kept as written


@dataclass(frozen=True)
class Preset:
    """Image size and pixel spacing of a data set."""

    shape: tuple[int, int]
    spacing_mm: float


PRESETS = {
    # tiny and fast, for tests: 160 x 128 mm field at 0.5 mm
    "test": Preset((320, 256), 0.5),
    # 200 x 160 mm field at 0.25 mm: a whole breast in about 800 x 640 pixels
    "default": Preset((800, 640), 0.25),
}


@dataclass(frozen=True)
class ImagePlan:
    """One of the four images of a study."""

    laterality: str
    view: str
    image_id: str
    series_id: str
    series_uid: str
    sop_uid: str
    variant: DicomVariant


@dataclass(frozen=True)
class StudyPlan:
    """Everything drawn for one study (= one patient) before any pixel is rendered."""

    index: int
    seed: int
    preset: str
    study_id: str
    split: str
    anatomy: Anatomy
    birads: dict[str, int]  # per side
    finding: Finding | None
    finding_side: str | None
    site: tuple[float, float, float]  # lesion depth fraction, CC and MLO height fractions
    mlo_rotation: float
    tags: StudyTags
    images: tuple[ImagePlan, ...]


@dataclass(frozen=True)
class RenderedBreast:
    """One breast in the aligned frame (chest wall at column 0)."""

    image: np.ndarray  # float32 [0, 1], 1 = dense
    mask: np.ndarray  # bool
    texture: np.ndarray  # float32, this breast's own part of the power-law field (the fine structures)
    boxes: tuple[Box, ...]  # (y0, x0, y1, x1) of its findings, aligned frame


def _hex(rng: np.random.Generator) -> str:
    return rng.bytes(16).hex()


def _uid(seed: int, *parts: object) -> str:
    return generate_uid(entropy_srcs=["synthetic-vindr", str(seed), *map(str, parts)])


def _normal_birads(rng: np.random.Generator) -> int:
    return int(rng.choice((1, 2), p=(0.75, 0.25)))


def plan_studies(
    studies: int, seed: int, preset: str = "default", *, test_fraction: float = TEST_FRACTION,
    finding_fraction: float = FINDING_FRACTION,
) -> list[StudyPlan]:
    """Plan a data set: ``test_fraction`` of test studies (default 20 %) and ``finding_fraction`` of studies
    with a finding (default 35 %), both exact counts from a seeded permutation; everything else from a
    per-study generator, so plans are stable."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    if not (0 <= test_fraction <= 1 and 0 <= finding_fraction <= 1):
        raise ValueError(f"fractions must lie in [0, 1], got test {test_fraction}, finding {finding_fraction}")
    spec = PRESETS[preset]
    field_mm = (spec.shape[0] * spec.spacing_mm, spec.shape[1] * spec.spacing_mm)
    top = np.random.default_rng([seed, 0])
    test = set(top.permutation(studies)[: round(test_fraction * studies)].tolist())
    with_finding = set(top.permutation(studies)[: round(finding_fraction * studies)].tolist())
    variant_offset = int(top.integers(0, 5 * 9 * 11 * 13))
    processing_offset = int(top.integers(0, FOR_PROCESSING_EVERY))
    plans = []
    for i in range(studies):
        rng = np.random.default_rng([seed, 1, i])
        study_id = _hex(rng)
        anatomy = sample_anatomy(rng, field_mm)
        finding = sample_finding(rng) if i in with_finding else None
        side = str(rng.choice(SIDES)) if finding else None
        birads = {s: finding.birads if s == side else _normal_birads(rng) for s in SIDES}
        if finding is None and rng.random() < 0.8:
            birads["R"] = birads["L"]
        site = (rng.uniform(0.3, 0.75), rng.uniform(-0.6, 0.6), rng.uniform(-0.5, 0.6))
        maker, model, bits = MANUFACTURERS[int(rng.integers(len(MANUFACTURERS)))]
        tags = StudyTags(
            patient_id=rng.bytes(6).hex().upper(),
            patient_age=int(rng.integers(40, 76)),
            study_uid=_uid(seed, i, "study"),
            study_date=(date(2018, 1, 1) + timedelta(days=int(rng.integers(0, 1000)))).strftime("%Y%m%d"),
            manufacturer=maker,
            model=model,
            bits_stored=bits,
            for_processing=(i + processing_offset) % FOR_PROCESSING_EVERY == 0,
            thickness_mm=anatomy.thickness_mm,
            compression_force_n=rng.uniform(60.0, 150.0),
            kvp=rng.uniform(26.0, 32.0),
        )
        images = []
        for j, (lat, view) in enumerate((l, v) for l in SIDES for v in VIEWS):
            images.append(ImagePlan(
                laterality=lat,
                view=view,
                image_id=_hex(rng),
                series_id=_hex(rng),
                series_uid=_uid(seed, i, j, "series"),
                sop_uid=_uid(seed, i, j, "image"),
                variant=image_variant(4 * i + j, variant_offset, tags.for_processing),
            ))
        plans.append(StudyPlan(
            index=i, seed=seed, preset=preset, study_id=study_id, split="test" if i in test else "training",
            anatomy=anatomy, birads=birads, finding=finding, finding_side=side, site=site,
            mlo_rotation=float(rng.uniform(-0.8, 0.8)), tags=tags, images=tuple(images),
        ))
    return plans


def render_study(plan: StudyPlan) -> dict[tuple[str, str], RenderedBreast]:
    """Draw the four breasts of a study in the aligned frame, keyed by (laterality, view).

    The two breasts of a view share anatomy and a coarse gland layout; each has its own pose, fine
    texture and noise. Deterministic in (seed, study index)."""
    spec = PRESETS[plan.preset]
    share = coarse_share(spec.shape, spec.spacing_mm, crossover_mm=SYMMETRY_SCALE_MM)
    out = {}
    for v, view in enumerate(VIEWS):
        coarse = power_law_field(spec.shape, spec.spacing_mm, np.random.default_rng([plan.seed, 2, plan.index, v]),
                                 band="coarse", crossover_mm=SYMMETRY_SCALE_MM)
        for s, side in enumerate(SIDES):
            rng = np.random.default_rng([plan.seed, 3, plan.index, v, s])
            geometry = breast_geometry(plan.anatomy, view, spec.shape, spec.spacing_mm, sample_pose(rng))
            fine = power_law_field(spec.shape, spec.spacing_mm, rng, band="fine", crossover_mm=SYMMETRY_SCALE_MM)
            texture = np.float32(np.sqrt(share)) * coarse + np.float32(np.sqrt(1.0 - share)) * fine
            strands = converging_strands(spec.shape, spec.spacing_mm, rng, geometry.nipple)
            gland = gland_fraction(geometry, plan.anatomy, texture, strands)
            boxes: tuple[Box, ...] = ()
            if plan.finding is not None and side == plan.finding_side:
                margin = max(0.5 * plan.finding.size_mm + 3.0, 10.0)
                centre = lesion_site(geometry, plan.site[0], plan.site[1 + v], margin)
                rotation = plan.mlo_rotation if view == "MLO" else 0.0
                box = add_finding(gland, plan.finding, centre, spec.spacing_mm, plan.anatomy.thickness_mm, rotation)
                boxes = (box,)
            out[(side, view)] = RenderedBreast(expose(geometry, gland, texture, rng), geometry.mask, fine, boxes)
    return out


def _stored_box(box: Box, laterality: str, width: int) -> tuple[float, float, float, float]:
    """Aligned (y0, x0, y1, x1) to stored VinDr (xmin, ymin, xmax, ymax): right breasts are mirrored."""
    y0, x0, y1, x1 = box
    if laterality == "R":
        x0, x1 = width - x1, width - x0
    return round(x0, 2), round(y0, 2), round(x1, 2), round(y1, 2)


def _write_study(plan: StudyPlan, images_dir: Path) -> tuple[list[dict], list[dict]]:
    """Render and write one study; return its breast-level and finding rows."""
    spec = PRESETS[plan.preset]
    height, width = spec.shape
    rendered = render_study(plan)
    study_dir = images_dir / plan.study_id
    study_dir.mkdir(parents=True, exist_ok=True)
    breast_rows, finding_rows = [], []
    for number, image in enumerate(plan.images, start=1):
        breast = rendered[(image.laterality, image.view)]
        pixels = breast.image[:, ::-1] if image.laterality == "R" else breast.image
        write_mammogram(
            study_dir / f"{image.image_id}.dicom", pixels, study=plan.tags, laterality=image.laterality,
            view=image.view, series_uid=image.series_uid, sop_uid=image.sop_uid, spacing_mm=spec.spacing_mm,
            instance_number=number, variant=image.variant,
        )
        row = {
            "study_id": plan.study_id, "series_id": image.series_id, "image_id": image.image_id,
            "laterality": image.laterality, "view_position": image.view, "height": height, "width": width,
            "breast_birads": f"BI-RADS {plan.birads[image.laterality]}",
            "breast_density": f"DENSITY {plan.anatomy.density}", "split": plan.split,
        }
        breast_rows.append(row)
        if not breast.boxes:
            finding_rows.append({**row, "finding_categories": "['No Finding']", "finding_birads": None,
                                 "xmin": None, "ymin": None, "xmax": None, "ymax": None, "pathology": None})
        for box in breast.boxes:
            xmin, ymin, xmax, ymax = _stored_box(box, image.laterality, width)
            finding_rows.append({**row, "finding_categories": str(list(plan.finding.categories)),
                                 "finding_birads": f"BI-RADS {plan.finding.birads}", "xmin": xmin,
                                 "ymin": ymin, "xmax": xmax, "ymax": ymax, "pathology": plan.finding.pathology})
    return breast_rows, finding_rows


def synthetic_version_of(root: str | Path) -> str | None:
    """The generator version a synthetic data set was written by (from its README), None for any other data.
    Data sets of the first version carry no version line and read as "1"."""
    readme = Path(root) / "README.txt"
    if not readme.is_file():
        return None
    text = readme.read_text(errors="replace")
    if not text.startswith("Synthetic data set in the VinDr-Mammo layout"):
        return None
    for line in text.splitlines():
        if line.startswith("synthetic_version:"):
            return line.split(":", 1)[1].strip()
    return "1"


def generate_vindr_like(
    out_dir: str | Path, studies: int, seed: int, preset: str = "default", *, progress: bool = False,
    test_fraction: float = TEST_FRACTION, finding_fraction: float = FINDING_FRACTION,
) -> Path:
    """Write a synthetic VinDr-Mammo-like data set to `out_dir` and return its path.

    Presets: "test" (320 x 256 px at 0.5 mm), "default" (800 x 640 px at 0.25 mm). Same seed, same
    bytes: CSVs, pixels and DICOM files. `progress` shows a progress bar over studies. The fractions are
    those of :func:`plan_studies`."""
    out = Path(out_dir)
    images_dir = out / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    breast_rows, finding_rows = [], []
    plans = plan_studies(studies, seed, preset, test_fraction=test_fraction, finding_fraction=finding_fraction)
    for plan in tqdm(plans, desc="synthetic studies", unit="study", disable=not progress):
        b, f = _write_study(plan, images_dir)
        breast_rows += b
        finding_rows += f
    pd.DataFrame(breast_rows, columns=BREAST_LEVEL_COLUMNS).to_csv(out / "breast-level_annotations.csv", index=False)
    pd.DataFrame(finding_rows, columns=FINDING_COLUMNS).to_csv(out / "finding_annotations.csv", index=False)
    spec = PRESETS[preset]
    (out / "README.txt").write_text(_README.format(
        version=SYNTHETIC_VERSION, preset=preset, seed=seed, studies=studies, spacing=spec.spacing_mm,
        height=spec.shape[0], width=spec.shape[1], test=test_fraction, finding=finding_fraction))
    return out
