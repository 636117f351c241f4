"""Ignite handler of the co-training run: the soft-label refresh (checkpoints are MONAI's ``CheckpointSaver``)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from ignite.engine import Engine, Events

from custom.mammography.data.pair_dataset import WEAK_NORMAL, ContralateralPairDataset
from custom.distributed import broadcast_from_main, is_main_process
from custom.mammography.engines.diagnostics import soft_label_report
from custom.mammography.engines.embedding import pair_distances
from custom.mammography.engines.pair_scores import standardise_within
from custom.mammography.engines.soft_label_bank import SoftLabelBank
from custom.labelling import GMMSoftLabeller
from custom.training import MixedPrecision, atomic_write_json

logger = logging.getLogger(__name__)

LABEL_SCALES = ("raw", "exam")


class SoftLabelRefreshHandler:
    """At the start of each epoch after the warm-up, re-embeds all training pairs and refits the GMMs.

    One GMM per network is fitted on its distances of the pairs whose label is unknown (normal-normal
    pairs are pinned to 0 and would only pull the low component towards them), and its posteriors become
    that network's soft labels in the bank. After the last epoch it labels once more, so that the final
    statistics describe the trained networks. Under torchrun every rank embeds its share of the pairs, and the
    main process fits the mixtures and broadcasts the labels, so that every rank trains on the same ones.
    Statistics (GMM means and weights, mean soft label of pairs holding a lesion versus normal pairs, with
    CIs) go to the log, ``soft_label_stats.json`` and
    TensorBoard, including soft-label histograms.
    """

    def __init__(
        self,
        dataset: ContralateralPairDataset,
        bank: SoftLabelBank,
        precision: MixedPrecision,
        warmup_epochs: int = 1,
        batch_size: int = 256,
        seed: int = 0,
        output_dir: str | None = None,
        summary_writer=None,
        enabled: bool = True,
        until_separated: bool = False,
        label_scale: str = "raw",
    ):
        if label_scale not in LABEL_SCALES:
            raise ValueError(f"label_scale must be one of {LABEL_SCALES}, got {label_scale!r}")
        self.dataset = dataset
        self.bank = bank
        self.precision = precision
        self.warmup_epochs = warmup_epochs
        self.batch_size = batch_size
        self.seed = seed
        self.output_dir = Path(output_dir) if output_dir else None
        self.writer = summary_writer
        self.enabled = enabled
        self.until_separated = until_separated
        self.label_scale = label_scale
        self.history: list[dict] = []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, self.on_epoch_started)
        engine.add_event_handler(Events.COMPLETED, self.refresh, True)

    def on_epoch_started(self, engine: Engine) -> None:
        if self.enabled and engine.state.epoch > self.warmup_epochs:
            self.refresh(engine)

    def _labeller(self, distances: np.ndarray) -> tuple[GMMSoftLabeller, np.ndarray, np.ndarray]:
        """The fitted GMM, its posteriors for every pair, and the same with normal-normal pairs pinned to 0."""
        weak = self.dataset.weak_labels
        unknown = weak != WEAK_NORMAL
        if self.label_scale == "exam":
            distances = standardise_within(distances, self.dataset.exam_indices)
        labeller = GMMSoftLabeller()
        fit_on = distances[unknown] if unknown.sum() >= labeller.min_samples else distances
        labeller.set_params(pin_normal=False).fit(fit_on)
        unpinned = labeller.predict_proba(distances)
        pinned = np.where(weak == WEAK_NORMAL, 0.0, unpinned)
        return labeller, unpinned, pinned

    def refresh(self, engine: Engine, final: bool = False) -> None:
        """Relabels every pair. With ``until_separated``, the weak-label warm-up goes on past ``warmup_epochs``
        until both networks' mixtures are trusted (two separated components, preferred by BIC): before that,
        the posteriors of a mixture that is no model of the distances would only be noise."""
        distances = pair_distances(engine.network, self.dataset, self.precision, self.batch_size)
        labels, failure = None, None
        if is_main_process():
            try:
                labels = self._label_all(engine, *distances, final)
            except Exception as error:  # noqa: BLE001 - re-raised on every rank, so none waits for labels forever
                failure = error
                labels = {"error": f"{type(error).__name__}: {error}"}
        labels = broadcast_from_main(labels)
        if failure is not None:
            raise failure
        if "error" in labels:
            raise RuntimeError(f"the main process failed to label the pairs: {labels['error']}")
        if self.until_separated and self.bank.refreshes == 0 and not labels["trusted"]:
            logger.info("epoch %d: the distance mixtures are not separated yet; the weak-label warm-up goes on",
                        engine.state.epoch)
            return
        self.bank.update(labels["a"], labels["b"])

    def _label_all(self, engine: Engine, distances_a: np.ndarray, distances_b: np.ndarray,
                   final: bool) -> dict[str, np.ndarray]:
        record = {"epoch": int(engine.state.epoch), "after_training": final}
        labels: dict = {"trusted": True}
        for name, distances in (("a", distances_a), ("b", distances_b)):
            labeller, unpinned, pinned = self._labeller(distances)
            labels[name] = pinned
            labels["trusted"] &= labeller.trusted_
            record[f"net_{name}"] = {
                "gmm_means": None if labeller.means_ is None else [float(m) for m in labeller.means_],
                "gmm_weights": None if labeller.weights_ is None else [float(w) for w in labeller.weights_],
                "fallback": labeller.fallback_,
                "bic_one_two": labeller.bic_,
                "mean_distance": float(np.mean(distances)),
                "soft_labels_unpinned": soft_label_report(
                    unpinned, self.dataset.weak_labels, self.dataset.truth, self.dataset.patient_ids
                ),
            }
            self._to_tensorboard(engine, name, labeller, pinned)
        self.history.append(record)
        self._log(record)
        self._write()
        return labels

    def _to_tensorboard(self, engine: Engine, name: str, labeller: GMMSoftLabeller, soft_labels: np.ndarray) -> None:
        if self.writer is None:
            return
        step = engine.state.epoch
        self.writer.add_histogram(f"soft_labels/net_{name}", soft_labels, step)
        if labeller.means_ is not None:
            for k in range(2):
                self.writer.add_scalar(f"gmm/net_{name}/mean_{k}", float(labeller.means_[k]), step)
                self.writer.add_scalar(f"gmm/net_{name}/weight_{k}", float(labeller.weights_[k]), step)

    @staticmethod
    def _log(record: dict) -> None:
        for name in ("a", "b"):
            net = record[f"net_{name}"]
            groups = net["soft_labels_unpinned"]
            logger.info(
                "epoch %d net %s: GMM means %s weights %s%s; "
                "mean soft label lesion %.3f, candidate-normal %.3f, normal-normal %.3f",
                record["epoch"], name, net["gmm_means"], net["gmm_weights"],
                f" (fallback: {net['fallback']})" if net["fallback"] else "",
                *(groups[g]["mean"] if groups[g]["mean"] is not None else float("nan")
                  for g in ("lesion", "candidate_normal", "normal_normal")),
            )

    def _write(self) -> None:
        if self.output_dir is None:
            return
        self.output_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.output_dir / "soft_label_stats.json", self.history)
