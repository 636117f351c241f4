"""The probe's tasks on an embedding table (abnormal vs normal, BI-RADS, malignant vs benign) and their reports."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .embedding import LABELS, embed_patches
from .plots import plot_roc
from .probe import INTERVAL, N_BOOTSTRAP, LinearProbe, ProbeResult

logger = logging.getLogger(__name__)

TASKS = LABELS
CSV_COLUMNS = ("task", "metric", "value", "ci_low", "ci_high", "n", "n_patients")


def _task_subset(table: Mapping[str, np.ndarray], task: str) -> tuple[np.ndarray, np.ndarray]:
    """Sample mask and labels of a task; unknown (-1) labels are left out."""
    if task == "abnormal":
        mask = table["abnormal"] >= 0
    elif task == "birads":
        mask = table["birads"] >= 0
    elif task == "malignant":  # outcome is defined for lesions with known pathology only
        mask = (table["abnormal"] == 1) & (table["malignant"] >= 0)
    else:
        raise ValueError(f"unknown task {task!r}; known: {TASKS}")
    return mask, table[task]


class TaskSkipped(Exception):  # noqa: N818 - a skipped task, not an error
    """A probe task that cannot be measured on these data; the message says why."""


@dataclass(frozen=True)
class TaskOutcome:
    """What one probe task measured: its samples' labels and patient ids, and the cross-validated probe."""

    labels: np.ndarray
    groups: np.ndarray
    result: ProbeResult


def _task_data(table: Mapping[str, np.ndarray], task: str, n_splits: int, min_samples: int, min_patients: int):
    """Indices and labels of a task after dropping classes with too few patches or patients."""
    mask, labels = _task_subset(table, task)
    groups = table["patient_id"]
    counts = {}
    for c in np.unique(labels[mask]):
        members = mask & (labels == c)
        counts[int(c)] = (int(members.sum()), int(np.unique(groups[members]).size))
    kept = [c for c, (n, p) in counts.items() if n >= min_samples and p >= min_patients]
    if len(kept) < len(counts):
        logger.info(
            "task %s: dropping classes with < %d patches or < %d patients: %s",
            task, min_samples, min_patients, {c: counts[c] for c in counts if c not in kept},
        )
    if not counts:
        raise TaskSkipped("no patch has a known label for this task")
    if len(kept) < 2:
        raise TaskSkipped(
            f"needs two classes with >= {min_samples} patches and >= {min_patients} patients each; "
            f"has (patches, patients) per class {counts}"
        )
    index = np.flatnonzero(mask & np.isin(labels, kept))
    n_patients = np.unique(groups[index]).size
    if n_patients < n_splits:
        raise TaskSkipped(
            f"needs >= {n_splits} patients for {n_splits}-fold grouped cross-validation, has {n_patients}"
        )
    return index, labels[index]


def _probe_task(table, task: str, out_dir: Path, probe: LinearProbe, settings: dict) -> tuple[dict, TaskOutcome]:
    """Cross-validate the probe on one task, draw its ROC figure; its metrics entry and its predictions."""
    index, labels = _task_data(
        table, task, settings["n_splits"], settings["min_samples_per_class"], settings["min_patients_per_class"]
    )
    groups = table["patient_id"][index]
    try:
        result = probe.cross_validate(
            table["embedding"][index], labels, groups, settings["n_splits"], settings["seed"],
            n_bootstrap=settings["n_bootstrap"], confidence=settings["confidence"],
        )
    except ValueError as error:  # e.g. a fold whose training part lacks a class
        raise TaskSkipped(str(error)) from error
    classes = [c.item() for c in result.classes]
    title = f"{task} ({result.metric_name})"
    plot_roc(out_dir / f"roc_{task}.png", labels, result.oof_proba, classes, title=title, result=result.metric)
    entry = {
        "metric": result.metric_name,
        **result.metric.as_dict(),
        "n_patients": int(np.unique(groups).size),
        "classes": classes,
        "class_counts": {str(c): int((labels == c).sum()) for c in classes},
        "fold_shrinkage": list(result.shrinkage),
    }
    return entry, TaskOutcome(labels, groups, result)


def _write_reports(report: dict, out_dir: Path) -> None:
    with open(out_dir / "metrics.json", "w") as f:
        json.dump(report, f, indent=2)
    with open(out_dir / "metrics.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for task, row in report["tasks"].items():
            writer.writerow([task, row["metric"], *(row[key] for key in CSV_COLUMNS[2:])])


def run_probe_tasks(table: Mapping[str, np.ndarray], out_dir: str | Path, tasks: Iterable[str] = TASKS, **options) -> dict:
    """Cross-validated linear probes on embedded patches, written to ``out_dir``.

    ``table`` is what :func:`embed_patches` returns. Tasks: ``abnormal`` (abnormal vs normal), ``birads``
    (macro AUC over the BI-RADS classes with at least ``min_samples_per_class`` patches from
    ``min_patients_per_class`` patients), ``malignant`` (malignant vs benign among abnormal patches of
    known pathology). A task lacking two such classes, or ``n_splits`` patients, is skipped with the
    reason logged and recorded. Every confidence interval is patient-level: the bootstrap resamples
    patients, not patches (``settings["bootstrap_unit"]``), and refits the cross-validated probe on each
    resample (``settings["interval"]``).

    Writes ``metrics.json`` (``tasks``, ``skipped`` reasons, ``settings``), ``metrics.csv`` (one row per
    computed task: task, metric, value, ci_low, ci_high, n, n_patients) and ``roc_<task>.png``; returns the
    json content.

    Keyword options are those of :func:`probe_tasks`.
    """
    return probe_tasks(table, out_dir, tasks, **options)[0]


def probe_tasks(
    table: Mapping[str, np.ndarray],
    out_dir: str | Path,
    tasks: Iterable[str] = TASKS,
    *,
    n_splits: int = 5,
    seed: int = 0,
    n_bootstrap: int = N_BOOTSTRAP,
    confidence: float = 0.95,
    min_samples_per_class: int = 10,
    min_patients_per_class: int = 2,
    probe: LinearProbe | None = None,
) -> tuple[dict, dict[str, TaskOutcome]]:
    """:func:`run_probe_tasks` that also returns each computed task's :class:`TaskOutcome` (labels, patient
    ids and out-of-fold predictions), e.g. to draw several encoders' ROC curves on one figure."""
    tasks = tuple(tasks)
    unknown = set(tasks) - set(TASKS)
    if unknown:
        raise ValueError(f"unknown tasks {sorted(unknown)}; known: {TASKS}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = {
        "n_splits": n_splits,
        "seed": seed,
        "n_bootstrap": n_bootstrap,
        "confidence": confidence,
        "min_samples_per_class": min_samples_per_class,
        "min_patients_per_class": min_patients_per_class,
        "bootstrap_unit": "patient",
    }
    probe = LinearProbe() if probe is None else probe
    settings["shrinkage"] = list(probe.shrinkage) if isinstance(probe.shrinkage, (tuple, list)) else probe.shrinkage
    settings["interval"] = INTERVAL
    report: dict = {"tasks": {}, "skipped": {}, "settings": settings}
    outcomes: dict[str, TaskOutcome] = {}
    for task in tasks:
        try:
            report["tasks"][task], outcomes[task] = _probe_task(table, task, out_dir, probe, settings)
        except TaskSkipped as skip:
            logger.warning("linear probe: skipping task %s: %s", task, skip)
            report["skipped"][task] = str(skip)
    _write_reports(report, out_dir)
    return report, outcomes


def evaluate_encoder(
    encoder: nn.Module,
    loader_or_arrays: Mapping | Iterable[Mapping],
    out_dir: str | Path,
    tasks: Iterable[str] = TASKS,
    *,
    batch_size: int = 64,
    device: torch.device | str | None = None,
    progress: bool = True,
    **probe_options,
) -> dict:
    """Embed labelled patches with the frozen ``encoder`` (:func:`embed_patches`) and run the linear-probe
    tasks on them (:func:`run_probe_tasks`, which takes ``probe_options``); returns the metrics report."""
    table = embed_patches(encoder, loader_or_arrays, batch_size=batch_size, device=device, progress=progress)
    return run_probe_tasks(table, out_dir, tasks, **probe_options)
