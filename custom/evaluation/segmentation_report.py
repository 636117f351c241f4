"""An evaluator handler that scores every image's predicted mask and writes the scores and their summary."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import torch
from ignite.engine import Engine, Events

from custom.evaluation.segmentation import SegmentationScores, segmentation_scores, summarise_segmentation
from custom.atomic_write import atomic_write_json, replaced_when_done


class SegmentationReport:
    """Per-image Dice, IoU and HD95 of a ``SupervisedEvaluator``'s decollated outputs, and their means with
    patient-level CIs, written when the run completes: ``scores.csv`` (one row per image) and
    ``summary.json`` (``SegmentationSummary.to_row``).

    ``pred`` and ``label`` are expected one-hot (2, H, W) after the postprocessing (channel 1: the lesion), in
    the evaluator's decollated output; ``id_key`` and ``group_key``, in its decollated batch, name each image
    and the unit the bootstrap resamples (the patient where the data set knows it).
    """

    def __init__(self, output_dir: str, method: str = "", label_fraction: float | None = None,
                 pred_key: str = "pred", label_key: str = "label", id_key: str = "image_id",
                 group_key: str = "group") -> None:
        self.output_dir = Path(output_dir)
        self.method, self.label_fraction = method, label_fraction
        self.pred_key, self.label_key, self.id_key, self.group_key = pred_key, label_key, id_key, group_key
        self.rows: list[tuple[str, str, SegmentationScores]] = []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, lambda _: self.rows.clear())
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.collect)
        engine.add_event_handler(Events.COMPLETED, self.write)

    def collect(self, engine: Engine) -> None:
        """Scores each image of the iteration (the decollated outputs; names and groups from the batch)."""
        for item, output in zip(engine.state.batch, engine.state.output, strict=True):
            prediction, truth = (_lesion_channel(output[key]) for key in (self.pred_key, self.label_key))
            self.rows.append((str(item[self.id_key]), str(item[self.group_key]),
                              segmentation_scores(prediction, truth)))

    def write(self, engine: Engine) -> None:
        if not self.rows:
            raise ValueError("the evaluator scored no image: is the test split empty?")
        self.output_dir.mkdir(parents=True, exist_ok=True)
        with replaced_when_done(self.output_dir / "scores.csv") as temporary:
            with open(temporary, "w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["image_id", "group", *(f.name for f in dataclasses.fields(SegmentationScores))])
                for image_id, group, scores in self.rows:
                    writer.writerow([image_id, group, *dataclasses.astuple(scores)])
        summary = summarise_segmentation([s for _, _, s in self.rows], [g for _, g, _ in self.rows],
                                         method=self.method, label_fraction=self.label_fraction)
        atomic_write_json(self.output_dir / "summary.json", summary.to_row())


def _lesion_channel(mask) -> torch.Tensor:
    mask = torch.as_tensor(mask)
    return mask[1] if mask.ndim == 3 and mask.shape[0] == 2 else mask.squeeze(0)
