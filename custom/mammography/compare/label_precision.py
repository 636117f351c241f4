"""``python -m custom label-precision``: how often each frozen label-free score's top pairs hold a lesion.

Offline, on a bundle run's own training pairs (``train#dataset`` of its configs, the truth used only to
score): for each score of :mod:`custom.mammography.engines.pair_scores`, the precision and recall of

- the top ``k`` pairs of each exam that may hold a lesion (exams known normal left out: the exam-outcome
  setting, ``supervision: weak``),
- the top ``k`` pairs of each exam not taken as normal when no exam is known normal (``supervision: none``:
  the ``symmetric_exam_share`` of exams with the smallest largest asymmetry are taken as normal),
- the top share of all pairs of exams that may hold a lesion,

and the AUC with which the score separates lesion pairs from the other pairs of those exams. These are the
label qualities a fixed-positive training can reach; the label-precision curve (``docs/pretraining.md``) says
which of them suffice.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from monai.bundle import ConfigWorkflow

from custom.evaluation.metrics import roc_auc
from custom.mammography.data.pair_dataset import WEAK_NORMAL, WEAK_UNKNOWN
from custom.mammography.engines.fixed_labels import label_quality, top_k_per_exam
from custom.mammography.engines.pair_scores import PAIR_SCORES, aligned_difference, pair_scores

TOP_K = (1, 2, 3)
TOP_SHARES = (0.02, 0.05, 0.10, 0.20)


def training_pairs(bundle: str | Path, config_files: list[str], bundle_root: str | Path, overrides: dict):
    """The training pairs, precision and seed of a bundle run, as its configs build them (nothing is trained)."""
    configs = Path(bundle) / "configs"
    workflow = ConfigWorkflow(config_file=[str(configs / name) for name in config_files],
                              meta_file=str(configs / "metadata.json"), logging_file=str(configs / "logging.conf"),
                              workflow_type="train", bundle_root=str(bundle_root), positives="gmm", **overrides)
    workflow.initialize()
    parsed = workflow.parser.get_parsed_content
    return parsed("train#dataset"), parsed("precision"), int(parsed("seed"))


def _row(score: str, selection: str, labels: np.ndarray, keep: np.ndarray, truth: np.ndarray) -> dict:
    quality = label_quality(labels, keep, truth)
    return {"score": score, "selection": selection, "positives": quality.positives,
            "true_positives": quality.true_positives, "lesion_pairs": quality.lesion_pairs,
            "precision": quality.precision, "recall": quality.recall}


def precision_table(dataset, precision, seed: int, symmetric_exam_share: float = 0.5) -> dict:
    """Every score's precision and recall at every selection, and its AUC, on ``dataset``'s pairs."""
    truth, weak, exams = dataset.truth, dataset.weak_labels, dataset.exam_indices
    candidate = weak != WEAK_NORMAL
    unsupervised = np.full(weak.shape, WEAK_UNKNOWN)
    raw_peaks = aligned_difference(dataset.patches)
    rows, aucs = [], {}
    for score in PAIR_SCORES:
        values = pair_scores(dataset, score, (seed, seed + 1), precision)
        aucs[score] = roc_auc(truth[candidate], values[candidate], groups=dataset.patient_ids[candidate],
                              n_bootstrap=200, seed=seed).as_dict()
        for k in TOP_K:
            labels, keep = top_k_per_exam(values, exams, weak, k)
            rows.append(_row(score, f"top {k} per exam, normal exams known", labels, keep, truth))
            labels, keep = top_k_per_exam(values, exams, unsupervised, k, symmetric_exam_share, raw_scores=raw_peaks)
            rows.append(_row(score, f"top {k} per exam, {symmetric_exam_share:.0%} most symmetric exams taken as "
                                    "normal", labels, keep, truth))
        order = np.flatnonzero(candidate)[np.argsort(-values[candidate], kind="stable")]
        for share in TOP_SHARES:
            labels = np.zeros(truth.size, dtype=np.float32)
            labels[order[: max(1, int(round(share * order.size)))]] = 1.0
            rows.append(_row(score, f"top {share:.0%} of the pairs of exams not known normal", labels, candidate, truth))
    return {"pairs": int(truth.size), "pairs_of_candidate_exams": int(candidate.sum()),
            "lesion_pairs": int((truth == 1).sum()), "exams": int(np.unique(exams).size),
            "candidate_exams": int(np.unique(exams[candidate]).size), "auc_within_candidate_exams": aucs, "rows": rows}


def markdown(table: dict) -> str:
    lines = [f"{table['pairs']} training pairs, {table['pairs_of_candidate_exams']} of them in {table['candidate_exams']} "
             f"exams not known normal (of {table['exams']}), {table['lesion_pairs']} holding a lesion.", "",
             "| score | AUC, lesion vs other pairs of those exams |", "|---|---|"]
    for score, auc in table["auc_within_candidate_exams"].items():
        lines.append(f"| {score} | {auc['value']:.3f} [{auc['ci_low']:.3f}, {auc['ci_high']:.3f}] |")
    lines += ["", "| score | selection | positives | precision | recall |", "|---|---|---|---|---|"]
    for row in table["rows"]:
        lines.append(f"| {row['score']} | {row['selection']} | {row['positives']} | {row['precision']:.3f} | "
                     f"{row['recall']:.3f} |")
    return "\n".join(lines) + "\n"


def label_precision(bundle: str | Path, bundle_root: str | Path, out: str | Path,
                    config_files: tuple[str, ...] = ("train.json",), **overrides) -> dict:
    """Writes ``label_precision.json`` and ``.md`` for the training pairs of the run in ``bundle_root``."""
    dataset, precision, seed = training_pairs(bundle, list(config_files), bundle_root, overrides)
    table = precision_table(dataset, precision, seed)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "label_precision.json").write_text(json.dumps(table, indent=2))
    (out_dir / "label_precision.md").write_text(markdown(table))
    print(markdown(table))
    return table
