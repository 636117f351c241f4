"""The calibration's human-readable side: a page of figures and one exam per density class, as a reader sees it."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from custom.mammography.data.dicom import read_dicom  # noqa: E402
from custom.mammography.data.manifest import findings_of  # noqa: E402

HANGING = (("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO"))  # how a reading station hangs a screening exam
SOURCES = {
    "subtraction_exam_auc": "bilateral-subtraction features, mass cases vs healthy: AUC 0.84 "
                            "(Celaya-Padilla et al., BioMed Res Int 2015)",
    "subtraction_mass_sensitivity_at_3fp": "nonlinear bilateral subtraction: 95 % of masses at about 3 FP/image "
                                           "on 46 film pairs (Yin, Giger et al., Med Phys 1991)",
    "supervised_patch_auc": "frozen-encoder linear probe 0.927 on real VinDr-256 patches (Van Vorst & Shen 2024): "
                            "real lesion patches are at least that separable",
    "texture_beta": "power-law exponent of mammographic texture, about 2.8-3.0 on real images (range 1.5-3.5)",
    "clip_fraction": "graded tissue: under 2 % of breast pixels at the ends of the stored range",
}


def write_exam_figure(manifest: pd.DataFrame, path: Path) -> Path:
    """One study per BI-RADS density (A-D), hung as on a reading station, each finding boxed; the study with
    a mass is preferred so that a lesion shows. Pixels are the DICOM display values, windowed per image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    densities = sorted(d for d in manifest["breast_density"].dropna().unique())
    fig, axes = plt.subplots(len(densities), 4, figsize=(10, 3.1 * len(densities)), squeeze=False)
    for row, density in enumerate(densities):
        study = _example_study(manifest[manifest["breast_density"] == density])
        for col, (side, view) in enumerate(HANGING):
            ax = axes[row, col]
            ax.set_axis_off()
            image = study[(study["laterality"] == side) & (study["view"] == view)]
            if image.empty:
                continue
            record = image.iloc[0]
            pixels = read_dicom(record["path"]).pixels
            low, high = np.percentile(pixels[pixels > np.percentile(pixels, 30)], [1, 99.5])
            ax.imshow(pixels, cmap="gray", vmin=low, vmax=high)
            for finding in findings_of(record):
                x0, y0, x1, y1 = finding["box"]
                ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="red", linewidth=1))
                ax.text(x0, y0 - 8, finding["category"], color="red", fontsize=7)
            ax.set_title(f"{side}{view}, density {density}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _example_study(rows: pd.DataFrame) -> pd.DataFrame:
    """The first study (by id) holding a mass, else the first one with any finding, else the first."""
    def has(category: str | None):
        return lambda study: any(category is None or f["category"] == category
                                 for _, r in study.iterrows() for f in findings_of(r))

    studies = [group for _, group in rows.groupby("study_id", sort=True)]
    for wanted in (has("Mass"), has(None)):
        for study in studies:
            if wanted(study):
                return study
    return studies[0]


def _ci(figure: dict, digits: int = 3) -> str:
    return f"{figure['value']:.{digits}f} [{figure['ci_low']:.{digits}f}, {figure['ci_high']:.{digits}f}]"


def write_markdown(result: dict, path: Path, figure: Path) -> Path:
    """``benchmark_calibration.md``: the headline table against the targets, then every figure behind it."""
    lines = [
        f"# Synthetic benchmark calibration (synthetic_version {result['synthetic_version']})",
        "",
        "Written by `python -m custom calibrate`. The generator is calibrated against published figures "
        "measured on real mammograms, which favour no self-supervised method, and then frozen: methods are "
        "tuned only on a frozen version, and the generator never changes to suit a method. No method's "
        "result was looked at while calibrating. 95 % patient-bootstrap CIs in brackets. How this version was "
        "reached, with every intermediate measurement: `docs/benchmarks.md`, section \"Calibrating the synthetic "
        "benchmark\".",
        "",
        "| figure | measured | target | in range | real-data source |",
        "|---|---|---|---|---|",
    ]
    for key, (low, high) in result["targets"].items():
        low_ci, high_ci = result[f"{key}_ci"]
        lines.append(f"| `{key}` | {result[key]:.3f} [{low_ci:.3f}, {high_ci:.3f}] | {low}-{high} | "
                     f"{'yes' if result['in_range'][key] else '**no**'} | {SOURCES[key]} |")
    details = result["details"]
    lines += ["", "## Bilateral subtraction, per lesion kind (evaluation set)", "",
              "Aligned breasts smoothed (2 mm), subtracted; candidates from the positive difference of each side "
              "(`custom.mammography.detection.subtraction.BilateralSubtraction`, nothing learned). Per kind: that kind's "
              "lesion studies against all normal studies.", "",
              "| lesions | findings | sensitivity at 1 FP/image | sensitivity at 3 FP/image | exam AUC |",
              "|---|---|---|---|---|"]
    for kind, figures in details["subtraction"].items():
        lines.append(f"| {kind} | {figures['n_findings']} | {_ci(figures['sensitivity_at_1fp'])} | "
                     f"{_ci(figures['sensitivity_at_3fp'])} | {_ci(figures['exam_auc'])} |")
    supervised = details["supervised"]
    training = supervised["training"]
    lines += ["", "## Supervised ceiling (ResNet-18 patch classifier)", "",
              f"Trained with lesion labels on {training['lesion_patches']} lesion patches and "
              f"{training['patches'] - training['lesion_patches']} controls from {training['patients']} "
              f"calibration-training patients ({training['epochs']} epochs, {training['seconds'] / 60:.1f} min); "
              "tested on the evaluation set's held-out patients.", "",
              "| test patches | lesion patches | patients | AUC |", "|---|---|---|---|"]
    for name, figures in supervised.items():
        if name != "training":
            lines.append(f"| {name} | {figures['n_lesion_patches']} | {figures['n_patients']} | {_ci(figures)} |")
    texture = details["texture"]
    beta = texture["beta"]
    lines += ["", "## Texture", "",
              f"- beta: {_ci(beta, 2)} over {beta['n_regions']} regions of {beta['roi_mm']:g} mm inside the breast "
              f"(CC views), slope fitted over {beta['band_cycles_per_mm'][0]}-{beta['band_cycles_per_mm'][1]} "
              "cycles/mm.",
              f"- clip fraction: {_ci(texture['clip_fraction'], 4)} of {texture['clip_fraction']['breast_pixels']} "
              f"breast pixels in {texture['clip_fraction']['n_images']} images at either end of the stored range.",
              "", "## One exam per density class", "", f"![exams]({figure.as_posix()})", "",
              "## Data", "", f"- evaluation set: {result['data']['evaluation_set']}",
              f"- calibration training set: {result['data']['calibration_train_set']}",
              f"- patch preset {result['data']['patch_preset']} ({result['data']['spacing_mm']} mm per pixel); "
              f"whole run {result['seconds'] / 60:.1f} min.", ""]
    path.write_text("\n".join(lines))
    return path
