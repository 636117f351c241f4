"""The comparison's paired differences, the non-inferiority test of the paper's "half the labels" claim, and
its figures."""

from __future__ import annotations

from pathlib import Path

from custom.evaluation.segmentation import SegmentationTable

NON_INFERIORITY_MARGIN = -0.02  # Dice: "comparable" means no worse than this, with 95% confidence


def differences(scores: dict, paired) -> dict:
    """Per-image paired differences with bootstrap CIs over patients (images when none are known).

    ``pretrained_minus_random``: every pretrained run minus random initialisation at the same label fraction.
    ``non_inferiority``: the paper's "half the labels" claim as a test, each pretrained run at 50% of the labels
    minus random at 100%, non-inferior when the CI's lower end lies above :data:`NON_INFERIORITY_MARGIN`.
    ``scores``: (run label, fraction) -> [(image id, group, SegmentationScores)]; ``paired`` is
    ``paired_segmentation_difference``."""
    pretrained = [(label, fraction) for label, fraction in scores if label != "random"]
    same_fraction = [_difference(scores, paired, a, ("random", a[1])) for a in pretrained if ("random", a[1]) in scores]
    half = [_difference(scores, paired, a, ("random", 1.0)) for a in pretrained
            if a[1] == 0.5 and ("random", 1.0) in scores]
    for row in half:
        row["margin"] = NON_INFERIORITY_MARGIN
        row["non_inferior"] = bool(row["dice"]["ci_low"] > NON_INFERIORITY_MARGIN)
        row["statement"] = _statement(row)
    return {"pretrained_minus_random": same_fraction, "non_inferiority": half}


def _difference(scores: dict, paired, a: tuple, b: tuple) -> dict:
    images_a, images_b = ([image for image, _, _ in scores[key]] for key in (a, b))
    if images_a != images_b:
        raise ValueError(f"runs {a} and {b} were not scored on the same test images")
    result = paired([s for _, _, s in scores[a]], [s for _, _, s in scores[b]], [g for _, g, _ in scores[a]])
    return {"a": {"init": a[0], "label_fraction": a[1]}, "b": {"init": b[0], "label_fraction": b[1]},
            **{metric: None if value is None else {"mean": value.value, "ci_low": value.ci_low,
                                                   "ci_high": value.ci_high, "n": value.n}
               for metric, value in result.items()}}


def _statement(row: dict) -> str:
    dice = row["dice"]
    verdict = ("non-inferiority shown: the interval's lower end lies above the margin" if row["non_inferior"] else
               "non-inferiority not shown: the interval reaches below the margin")
    return (f"{row['a']['init']} with 50% of the labels minus random initialisation with 100%, paired over "
            f"{dice['n']} test images: Dice {dice['mean']:+.3f} [95% CI {dice['ci_low']:+.3f}, {dice['ci_high']:+.3f}] "
            f"against the margin {NON_INFERIORITY_MARGIN:+.2f}; {verdict}.")


def _cell(value: dict | None, digits: int) -> str:
    if value is None:
        return "n/a"
    return f"{value['mean']:+.{digits}f} [{value['ci_low']:+.{digits}f}, {value['ci_high']:+.{digits}f}]"


def write_differences(out: Path, found: dict) -> None:
    """``differences.md``: the paired differences as a table, and the non-inferiority statements."""
    lines = ["| comparison | Dice | IoU | HD95 | images |", "|---|---|---|---|---|"]
    for row in found["pretrained_minus_random"] + found["non_inferiority"]:
        name = (f"{row['a']['init']} {100 * row['a']['label_fraction']:g}% minus {row['b']['init']} "
                f"{100 * row['b']['label_fraction']:g}%")
        lines.append(f"| {name} | {_cell(row['dice'], 3)} | {_cell(row['iou'], 3)} | {_cell(row['hd95'], 1)} | "
                     f"{row['dice']['n']} |")
    lines += ["", *(f"- {row['statement']}" for row in found["non_inferiority"])]
    (out / "differences.md").write_text("\n".join(lines) + "\n")


def write_plots(out: Path, table: SegmentationTable, found: dict) -> None:
    """``dice_vs_label_fraction.png``: mean Dice with its CI against the label fraction, one line per
    initialisation; ``differences.png``: each pretrained run minus random at every fraction, and at 50% minus
    random at 100% against the non-inferiority margin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5, 3.5))
    for name in dict.fromkeys(row.method for row in table.rows):
        rows = sorted((r for r in table.rows if r.method == name), key=lambda r: r.label_fraction)
        x = [100 * r.label_fraction for r in rows]
        below = [r.dice.value - r.dice.ci_low for r in rows]
        above = [r.dice.ci_high - r.dice.value for r in rows]
        axes.errorbar(x, [r.dice.value for r in rows], yerr=[below, above], capsize=3, marker="o", label=name)
    axes.set_xlabel("labelled training images (%)")
    axes.set_ylabel("Dice (test split, 95% CI)")
    axes.set_ylim(0, 1)
    axes.legend()
    figure.tight_layout()
    figure.savefig(out / "dice_vs_label_fraction.png", dpi=120)
    plt.close(figure)

    figure, axes = plt.subplots(figsize=(5.5, 3.5))
    labels = list(dict.fromkeys(row["a"]["init"] for row in found["pretrained_minus_random"]))
    for index, label in enumerate(labels):
        rows = sorted((r for r in found["pretrained_minus_random"] if r["a"]["init"] == label),
                      key=lambda r: r["a"]["label_fraction"])
        x = [100 * r["a"]["label_fraction"] * (1 + 0.03 * index) for r in rows]
        y = [r["dice"]["mean"] for r in rows]
        error = [[v - r["dice"]["ci_low"] for v, r in zip(y, rows, strict=True)],
                 [r["dice"]["ci_high"] - v for v, r in zip(y, rows, strict=True)]]
        line = axes.errorbar(x, y, yerr=error, capsize=3, marker="o", label=f"{label} minus random, same labels")
        for row in (r for r in found["non_inferiority"] if r["a"]["init"] == label):
            dice = row["dice"]
            axes.errorbar([50 * (1 + 0.03 * index)], [dice["mean"]], capsize=3, marker="s", mfc="none",
                          yerr=[[dice["mean"] - dice["ci_low"]], [dice["ci_high"] - dice["mean"]]],
                          color=line[0].get_color(), label=f"{label} 50% minus random 100%")
    axes.axhline(0, color="grey", linewidth=0.8)
    axes.axhline(NON_INFERIORITY_MARGIN, color="red", linestyle="--", linewidth=0.8, label="non-inferiority margin")
    axes.set_xscale("log")
    axes.set_xlabel("labelled training images (%)")
    axes.set_ylabel("paired Dice difference (95% CI)")
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out / "differences.png", dpi=120)
    plt.close(figure)


def write_overlays(out: Path, folder: Path, runs: dict[str, Path], common: dict, manifest: str, count: int = 4) -> None:
    """``overlays.png``: the first ``count`` test images with the true lesion outline (green) and each run's
    predicted one (red), a column per run (``runs``: label -> bundle root holding ``models/model.pt``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    from monai.bundle import ConfigParser

    from custom.ultrasound.data_source import UltrasoundDataSource

    parser = ConfigParser()
    parser.read_config(str(folder / "configs" / "train.json"))
    parser["image_size"] = common["image_size"]
    load = parser.get_parsed_content("load_transforms")
    network = parser.get_parsed_content("network_def").eval()
    items = UltrasoundDataSource(common["dataset_dir"], manifest_file=manifest).rows("test")[:count]
    for transform in load:
        items = [transform(item) for item in items]
    figure, axes = plt.subplots(len(items), len(runs), figsize=(2.2 * len(runs), 2.2 * len(items)), squeeze=False)
    for column, (label, root) in enumerate(runs.items()):
        network.load_state_dict(torch.load(root / "models" / "model.pt", map_location="cpu", weights_only=True))
        with torch.no_grad():
            predictions = network(torch.stack([torch.as_tensor(item["image"]) for item in items])).argmax(1)
        for row, (item, prediction) in enumerate(zip(items, predictions, strict=True)):
            axis = axes[row, column]
            axis.imshow(item["image"][0], cmap="gray")
            for mask, colour in ((item["label"][0], "lime"), (prediction, "red")):
                if mask.any():
                    axis.contour(mask, levels=[0.5], colors=colour, linewidths=1)
            axis.set_axis_off()
            if row == 0:
                axis.set_title(label, fontsize=8)
    figure.tight_layout()
    figure.savefig(out / "overlays.png", dpi=100)
    plt.close(figure)
