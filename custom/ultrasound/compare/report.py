"""The comparison's paired differences and its figure."""

from __future__ import annotations

from pathlib import Path

from custom.evaluation.segmentation import SegmentationTable


def differences(scores: dict, spec, paired) -> list[dict]:
    """Per-image paired differences with patient-bootstrap CIs: each pretrained initialisation minus random
    at the same label fraction, and each pretrained one at 50% labels minus random at 100% (the paper's
    "half the labels" claim). ``paired`` is ``paired_segmentation_difference``."""
    comparisons = [((name, fraction), ("random", fraction)) for name, fraction in scores
                   if name != "random" and ("random", fraction) in scores]
    comparisons += [((name, 0.5), ("random", 1.0)) for name in spec.initialisations
                    if name != "random" and (name, 0.5) in scores and ("random", 1.0) in scores]
    rows = []
    for a, b in comparisons:
        images_a, images_b = ([image for image, _, _ in scores[key]] for key in (a, b))
        if images_a != images_b:
            raise ValueError(f"runs {a} and {b} were not scored on the same test images")
        result = paired([s for _, _, s in scores[a]], [s for _, _, s in scores[b]], [g for _, g, _ in scores[a]])
        rows.append({"a": {"init": a[0], "label_fraction": a[1]}, "b": {"init": b[0], "label_fraction": b[1]},
                     **{metric: None if value is None else {"mean": value.value, "ci_low": value.ci_low,
                                                            "ci_high": value.ci_high, "n": value.n}
                        for metric, value in result.items()}})
    return rows


def write_plots(out: Path, table: SegmentationTable) -> None:
    """``dice_vs_label_fraction.png``: mean Dice with its CI against the label fraction, one line per
    initialisation."""
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
