"""Watching the embedding while it trains: is it collapsing, and does it separate lesions yet?

A collapsing embedding ignores tissue: its spread shrinks (per-dimension standard deviation) and it comes
to lie in a few directions (effective rank). A linear probe on a small held-out set says whether the
features separate lesion patches from normal ones. The handler logs all three once per epoch, to the log,
TensorBoard and ``embedding_monitor.json``; it decides nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from ignite.engine import Engine, Events
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from custom.mammography.data.pair_dataset import LabelledPatchDataset
from custom.training import unwrap
from custom.training.precision import MixedPrecision
from custom.atomic_write import atomic_write_json

logger = logging.getLogger(__name__)


def effective_rank(embeddings: np.ndarray) -> float:
    """exp(entropy) of the normalised singular values of the centred embeddings (Roy & Vetterli 2007):
    1 when all points lie on a line, the dimension when they fill the space evenly."""
    centred = embeddings - embeddings.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    p = singular / max(singular.sum(), 1e-12)
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def quick_probe_auc(embeddings: np.ndarray, labels: np.ndarray, groups: np.ndarray, seed: int = 0) -> float | None:
    """Out-of-fold AUC of a logistic-regression probe, folds grouped by patient; None when too small."""
    n_splits = min(5, len(np.unique(groups[labels == 1])), len(np.unique(groups[labels == 0])))
    if n_splits < 2:
        return None
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, class_weight="balanced"))
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    scores = cross_val_predict(probe, embeddings, labels, groups=groups, cv=folds, method="decision_function")
    return float(roc_auc_score(labels, scores))


class EmbeddingMonitor:
    """Per epoch: spread, effective rank and a quick probe AUC of each network's embedding of ``patches``.

    Args:
        patches: held-out labelled patches (never those the probe of the final evaluation uses).
        precision: how the networks run.
        output_dir: where ``embedding_monitor.json`` goes (none: not written).
        summary_writer: a TensorBoard ``SummaryWriter`` (none: not written).
    """

    def __init__(self, patches: LabelledPatchDataset, precision: MixedPrecision, output_dir: str | None = None,
                 summary_writer=None, batch_size: int = 128, seed: int = 0):
        self.patches = patches
        self.precision = precision
        self.output_dir = Path(output_dir) if output_dir else None
        self.writer = summary_writer
        self.batch_size = batch_size
        self.seed = seed
        self.history: list[dict] = []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    @torch.no_grad()
    def _embed(self, network: torch.nn.Module) -> np.ndarray:
        was_training = network.training
        network.eval()
        try:
            out = []
            for start in range(0, len(self.patches), self.batch_size):
                images = torch.from_numpy(self.patches.patches[start:start + self.batch_size].astype(np.float32))[:, None]
                with self.precision.autocast():
                    out.append(network(self.precision.prepare_input(images)).float().cpu().numpy())
            return np.concatenate(out)
        finally:
            network.train(was_training)

    def __call__(self, engine: Engine) -> None:
        pair = unwrap(engine.network)
        record: dict = {"epoch": int(engine.state.epoch)}
        for name in ("a", "b"):
            embeddings = self._embed(getattr(pair, f"net_{name}"))
            record[f"net_{name}"] = {
                "mean_std": float(embeddings.std(axis=0).mean()),
                "effective_rank": effective_rank(embeddings),
                "probe_auc": quick_probe_auc(embeddings, self.patches.abnormal, self.patches.patient_ids, self.seed),
            }
            if self.writer is not None:
                for key, value in record[f"net_{name}"].items():
                    if value is not None:
                        self.writer.add_scalar(f"embedding/net_{name}/{key}", value, record["epoch"])
        self.history.append(record)
        a = record["net_a"]
        logger.info("epoch %d embedding of net A: mean std %.4f, effective rank %.1f, held-out probe AUC %s",
                    record["epoch"], a["mean_std"], a["effective_rank"],
                    "n/a" if a["probe_auc"] is None else f"{a['probe_auc']:.3f}")
        if self.output_dir is not None:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.output_dir / "embedding_monitor.json", self.history, indent=1)
