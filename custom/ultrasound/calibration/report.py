"""The calibration's human-readable side: ``benchmark_calibration_us.md`` with its figures, each synthetic feature
pictured beside the real one it imitates.

The page ends with a hand-kept log of calibration attempts ("## Calibration attempts"); the command rewrites
everything above it and keeps the log as it is.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from custom.ultrasound.calibration.looks import BUSI_FOLDER, TRUTH_FOLDER, posterior_class  # noqa: E402

ATTEMPTS_HEADING = "## Calibration attempts"
SOURCES = {
    "supervised_dice_100": "supervised U-Net on BUSI with all labels: 0.770 ± 0.031 (647 benign and malignant "
                           "images, random 70/30 splits), 0.710 ± 0.030 with normal images and a held-out test set",
    "supervised_iou_100": "the same studies' IoU",
    "dice_20_labelled": "training from scratch on about 20 labelled BUSI images: roughly 0.5 (limited-annotation "
                        "studies)",
    "dice_drop_50": "label-efficiency curves on BUSI: little lost at half the labels",
    "dice_drop_25": "a clear loss at a quarter of the labels (interval above 0)",
    "dice_drop_10": "a large loss at a tenth",
    "malignant_spiculated_fraction": "Hong et al., AJR 2005: about 14% of malignant masses spiculated",
    "malignant_not_circumscribed_fraction": "Hong et al. 2005: a circumscribed margin is rare in cancers",
    "malignant_taller_than_wide_fraction": "Hong et al. 2005: 53% of malignant masses not parallel to the skin",
    "benign_circumscribed_fraction": "Hong et al. 2005: 61% of benign solid masses circumscribed",
    "benign_taller_than_wide_fraction": "Hong et al. 2005: 13% of benign solid masses not parallel",
    "indistinct_margin_fraction": "BI-RADS margin 'indistinct' (Hong et al. 2005): no clear demarcation",
    "malignant_shadowing_fraction": "posterior features vary within each class; many cancers show none or "
                                    "enhancement",
    "malignant_no_posterior_fraction": "as above",
    "malignant_enhancement_fraction": "as above",
    "benign_no_posterior_fraction": "fibroadenomas usually show no posterior feature",
    "cyst_enhancement_fraction": "simple cysts enhance",
    "iso_mildly_hypoechoic_fraction": "echogenicity is a spread that includes iso- to mildly hypoechoic lesions",
    "lesions_in_fat_fraction": "some lesions lie in fat (itself hypoechoic)",
    "malignant_median_width_mm": "BUSI-like sizes: malignant median width 18-23 mm",
    "benign_median_width_mm": "benign median width 13-19 mm",
    "benign_two_lesion_fraction": "BUSI: 16 of 437 benign images hold several lesions (3.7%)",
    "malignant_two_lesion_fraction": "BUSI: 1 of 210 malignant images (0.5%)",
    "caliper_fraction": "calipers or markers on about a third of BUSI's images",
    "mask_outline_offset_percent": "real masks are hand-drawn, off the margin by a few per cent of the diameter",
}


def _ci(figure: dict | None, digits: int = 3) -> str:
    if figure is None or figure["value"] is None:
        return "n/a (none to measure)"
    return f"{figure['value']:.{digits}f} [{figure['ci_low']:.{digits}f}, {figure['ci_high']:.{digits}f}]"


def _grey(path: Path) -> np.ndarray:
    image = np.asarray(Image.open(path))
    return image[..., 0] if image.ndim == 3 else image


def _mask(root: Path, folder: str, image_id: str, index: int) -> np.ndarray:
    return _grey(root / folder / f"{image_id[:-4]}_mask{f'_{index}' if index else ''}.png") > 0


FEATURES = (  # (file name, real feature as described, which lesion or image shows it)
    ("spiculated", "malignant, spiculated margin: thin lines radiating from the mass",
     lambda r: r["kind"] == "malignant" and r["margin"] == "spiculated"),
    ("indistinct", "indistinct margin: no clear demarcation between mass and tissue",
     lambda r: r["kind"] != "cyst" and r["margin"] == "indistinct"),
    ("angular", "angular margin: sharp corners", lambda r: r["margin"] == "angular"),
    ("microlobulated", "microlobulated margin: short cycle undulations", lambda r: r["margin"] == "microlobulated"),
    ("circumscribed", "benign solid mass: oval, circumscribed, parallel, no posterior feature",
     lambda r: r["kind"] == "solid benign" and r["margin"] == "circumscribed"
     and posterior_class(r["posterior_db"]) == "none"),
    ("cyst", "simple cyst: anechoic, circumscribed, posterior enhancement",
     lambda r: r["kind"] == "cyst" and posterior_class(r["posterior_db"]) == "enhancement"),
    ("shadowing", "cancer with posterior shadowing",
     lambda r: r["kind"] == "malignant" and posterior_class(r["posterior_db"]) == "shadowing"),
    ("no_posterior", "cancer without a posterior feature",
     lambda r: r["kind"] == "malignant" and posterior_class(r["posterior_db"]) == "none"),
    ("taller", "taller than wide (not parallel to the skin)",
     lambda r: r["kind"] == "malignant" and r["taller_than_wide"]),
    ("isoechoic", "iso- to mildly hypoechoic: within 6 dB of the tissue around it",
     lambda r: r["kind"] != "cyst" and r["contrast_db"] > -6),
    ("in_fat", "lesion surrounded by fat", lambda r: r["in_fat"]),
    ("calipers", "calipers left on the image by the sonographer", lambda r: r["calipers"]),
)


def write_feature_figures(root: Path, lesions: list[dict], normal_image: str, folder: Path) -> dict[str, Path]:
    """One picture per feature of :data:`FEATURES` (the first lesion showing it, cut around it with its
    surroundings, three examples side by side), a hand-drawn mask against the exact region, and a normal image."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, _, wanted in FEATURES:
        examples = [r for r in lesions if wanted(r)][:3]
        if examples:
            written[name] = _crops(root, examples, folder / f"{name}.png", outlines=False)
    drawn = [r for r in lesions if r["margin"] in ("spiculated", "indistinct")][:3]
    if drawn:
        written["masks"] = _crops(root, drawn, folder / "masks.png", outlines=True)
    figure, axis = plt.subplots(figsize=(3.2, 2.6))
    axis.imshow(_grey(root / BUSI_FOLDER / normal_image), cmap="gray", vmin=0, vmax=255)
    axis.set_axis_off()
    figure.tight_layout()
    figure.savefig(folder / "normal.png", dpi=80)
    plt.close(figure)
    written["normal"] = folder / "normal.png"
    return written


def _crops(root: Path, rows: list[dict], path: Path, outlines: bool) -> Path:
    """Crops around each row's lesion (twice its size, and the image's depth below it for posterior features);
    with ``outlines`` the hand-drawn mask (green) and the exact region (red) drawn on."""
    figure, axes = plt.subplots(1, len(rows), figsize=(2.6 * len(rows), 2.4), squeeze=False)
    for axis, row in zip(axes[0], rows, strict=True):
        image = _grey(root / BUSI_FOLDER / row["image_id"])
        exact = _mask(root, f"{TRUTH_FOLDER}/exact_masks", row["image_id"], int(row["lesion"]))
        ys, xs = np.nonzero(exact)
        size = max(int(np.ptp(ys)), int(np.ptp(xs)))
        top, left = max(0, ys.min() - size // 2), max(0, xs.min() - size // 2)
        bottom, right = min(image.shape[0], ys.max() + size), min(image.shape[1], xs.max() + size // 2)
        axis.imshow(image[top:bottom, left:right], cmap="gray", vmin=0, vmax=255)
        if outlines:
            drawn = _mask(root, BUSI_FOLDER, row["image_id"], int(row["lesion"]))
            axis.contour(drawn[top:bottom, left:right], levels=[0.5], colors="lime", linewidths=0.8)
            axis.contour(exact[top:bottom, left:right], levels=[0.5], colors="red", linewidths=0.6)
        axis.set_title(f"{row['image_id'].split('/')[1][:-4]}, {row['width_mm']:.0f} mm", fontsize=7)
        axis.set_axis_off()
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


def write_dice_plot(supervised: dict, path: Path) -> Path:
    """Mean Dice (95% CI) of random initialisation against the number of labelled training images."""
    runs = supervised["runs"]
    order = supervised["order"]
    x = [runs[name]["training_images"] for name in order]
    y = [runs[name]["dice"]["value"] for name in order]
    below = [runs[name]["dice"]["value"] - runs[name]["dice"]["ci_low"] for name in order]
    above = [runs[name]["dice"]["ci_high"] - runs[name]["dice"]["value"] for name in order]
    figure, axis = plt.subplots(figsize=(5, 3.4))
    axis.axhspan(0.68, 0.80, color="green", alpha=0.12, label="target, all labels")
    axis.errorbar(x, y, yerr=[below, above], marker="o", capsize=3, label="random initialisation")
    for xi, yi, name in zip(x, y, order, strict=True):
        axis.annotate(name, (xi, yi), textcoords="offset points", xytext=(4, -10), fontsize=7)
    axis.set_xscale("log")
    axis.set_xlabel("labelled training images")
    axis.set_ylabel("Dice on the test split (95% CI)")
    axis.set_ylim(0, 1)
    axis.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write_markdown(result: dict, path: Path, figures: dict[str, Path]) -> Path:
    """``benchmark_calibration_us.md``: the headline table against the targets, the pictures beside the real
    features, the label-fraction runs; the attempts log of an existing page is kept."""
    attempts = ""
    if path.is_file() and ATTEMPTS_HEADING in path.read_text():
        attempts = path.read_text()[path.read_text().index(ATTEMPTS_HEADING):]
    relative = {name: figure.relative_to(path.parent).as_posix() for name, figure in figures.items()}
    supervised, training = result["details"]["supervised"], result["details"]["training"]
    lines = [
        f"# Ultrasound benchmark calibration (synthetic_version {result['synthetic_version']})", "",
        "Written by `python -m custom calibrate-us`. The synthetic breast set (BUSI's size and layout: 437 benign, "
        "210 malignant and 133 normal images, non-square, 190-719 px) is calibrated against published figures "
        "measured on real breast ultrasound, which favour no method, and then frozen. While calibrating, only "
        "networks trained from random weights and the look statistics were computed or looked at; no pretrained "
        "network. 95% bootstrap intervals over images in brackets (BUSI has no patient ids; every synthetic image "
        "is its own patient).", "",
        "| figure | measured | target | in range | real-data source |", "|---|---|---|---|---|",
    ]
    for key, (low, high) in result["targets"].items():
        figure = {"value": result[key], "ci_low": result[f"{key}_ci"][0], "ci_high": result[f"{key}_ci"][1]}
        lines.append(f"| `{key}` | {_ci(figure)} | {low}-{high} | {'yes' if result['in_range'][key] else '**no**'} "
                     f"| {SOURCES.get(key, '')} |")
    never_rises = "yes" if result["curve_never_rises"] else "**no**"
    above_zero = "yes" if result["dice_drop_25_ci"][0] > 0 else "**no**"
    lines += ["", f"The Dice curve never rises as the labels shrink: {never_rises}. The drop at 25% has its "
              f"interval above 0: {above_zero}.",
              "", "## The synthetic features beside the real ones", "",
              "Each picture shows the first lesions of the set (by file name) that have the feature, cut around them.",
              "", "| real feature | synthetic images |", "|---|---|"]
    for name, description, _ in FEATURES:
        if name in relative:
            lines.append(f"| {description} | ![{name}]({relative[name]}) |")
    if "masks" in relative:
        lines.append(f"| masks drawn by hand: the data set's mask (green) against the exact region (red) | "
                     f"![masks]({relative['masks']}) |")
    lines.append(f"| normal breast: skin, fat with Cooper's ligaments, glandular tissue with fat lobules (mimics of "
                 f"a mass), pectoral muscle | ![normal]({relative['normal']}) |")
    lines += ["", "## Supervised runs from random weights", "",
              f"FlexibleUNet-ResNet-18 through the bundle's `train.json` and `evaluate.json`: images resized to "
              f"{training['image_size']} x {training['image_size']} px, batch {training['batch_size']}, "
              f"{training['steps']} optimiser steps for every run whatever its labels (best of "
              f"{training['validations']} validations kept), seed {result['data']['seed']}. Split by image, per "
              f"class: {100 * (1 - training['val_fraction'] - training['test_fraction']):.0f}% training, "
              f"{100 * training['val_fraction']:.0f}% validation, {100 * training['test_fraction']:.0f}% test; "
              "label subsets nested and drawn per class, normals included.", "",
              "| labels | training images | epochs | Dice [95% CI] | IoU [95% CI] | paired drop from 100% | "
              "one mask empty | minutes |", "|---|---|---|---|---|---|---|---|"]
    for name in supervised["order"]:
        run = supervised["runs"][name]
        drop = _ci(supervised["drops"][name]) if name in supervised["drops"] else ""
        lines.append(f"| {name} | {run['training_images']} | {run['epochs']} | {_ci(run['dice'])} | {_ci(run['iou'])} "
                     f"| {drop} | {run['n_one_empty']} of {run['n_images']} | {run['seconds'] / 60:.1f} |")
    baseline = result["details"]["otsu_baseline"]
    lines += ["", f"![Dice against labelled images]({relative['dice']})", "",
              "## Diagnostic: Otsu's threshold and the largest dark blob", "",
              f"Learns nothing (`custom.ultrasound.calibration.baseline`), on the same test images: Dice "
              f"{_ci(baseline['all']['dice'])} over all {baseline['all']['n_images']} (a normal image always gets a "
              f"blob, hence 0), {_ci(baseline['lesion_images']['dice'])} over the "
              f"{baseline['lesion_images']['n_images']} with a lesion.", "",
              "## Data", "",
              f"- benchmark folder `{result['data']['benchmark']}` (seed {result['data']['synthetic_seed']}, preset "
              f"{result['data']['synthetic_preset']!r}), {result['data']['images']} images, "
              f"{result['data']['lesions']} lesions",
              f"- whole run {result['seconds'] / 60:.1f} min ({result['data']['machine']})", ""]
    if attempts:
        lines.append(attempts.rstrip() + "\n")
    path.write_text("\n".join(lines))
    return path
