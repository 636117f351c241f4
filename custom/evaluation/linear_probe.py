"""Linear probing of a frozen encoder: a linear classifier on its patch embeddings, grouped by patient."""

from __future__ import annotations

import contextlib
import csv
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from monai.data import MetaTensor
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn
from tqdm.auto import tqdm

from .lda import ClassMoments, discriminant, posteriors
from .metrics import MetricResult, normal_interval
from .probe_bootstrap import refit_bootstrap
from .plots import plot_roc

logger = logging.getLogger(__name__)

TASKS = ("abnormal", "birads", "malignant")
LABEL_KEYS = ("abnormal", "birads", "malignant")
UNKNOWN = -1
CSV_COLUMNS = ("task", "metric", "value", "ci_low", "ci_high", "n", "n_patients")
SHRINKAGE = 0.1
# refit-bootstrap replicates: the interval uses their standard deviation, which 200 replicates give to about
# 5% (relative standard error 1 / sqrt(2 (B - 1))); see docs/statistics.md for the cost
N_BOOTSTRAP = 200
INTERVAL = "estimate +- z * sd of the AUCs of patient resamples, each cross-validated afresh (refit bootstrap)"


@dataclass(frozen=True)
class ProbeResult:
    """Out-of-fold predictions of a cross-validated probe, its metric and the metric's bootstrap replicates.

    ``oof_proba[i, k]`` is the probability of ``classes[k]`` for sample ``i``, predicted by the model of
    the fold (``folds[i]``) whose training part did not contain sample ``i``'s patient. ``replicates`` are the
    metric on patient resamples, each cross-validated afresh (:mod:`.probe_bootstrap`); ``plan`` fingerprints
    the resampling, so two results with the same plan can be compared pairwise
    (:func:`~.probe_bootstrap.paired_auc_difference`).
    """

    oof_proba: np.ndarray
    classes: np.ndarray
    folds: np.ndarray
    metric_name: str
    metric: MetricResult
    replicates: np.ndarray
    plan: str


class LinearProbe(ClassifierMixin, BaseEstimator):
    """Linear discriminant analysis with the within-class covariance shrunk towards its diagonal, equal
    class priors (see :mod:`.lda`).

    A closed-form linear classifier rather than a logistic regression so that the probe can be refitted on
    hundreds of patient resamples for its confidence interval in seconds; on the same embeddings its AUCs
    are close to those of the logistic probe it replaced (``docs/statistics.md``).

    Args:
        shrinkage: weight of the diagonal in the shrunk covariance, in (0, 1]; keeps the fit defined when
            there are fewer patches than embedding dimensions.
    """

    def __init__(self, shrinkage: float = SHRINKAGE) -> None:
        self.shrinkage = shrinkage

    def _check_shrinkage(self) -> None:
        if not 0 < self.shrinkage <= 1:
            raise ValueError(f"shrinkage must lie in (0, 1], got {self.shrinkage}")

    def fit(self, X, y, sample_weight=None) -> "LinearProbe":  # noqa: N803 - scikit-learn's names
        self._check_shrinkage()
        X = np.asarray(X, dtype=np.float64)  # noqa: N806
        self.classes_, codes = np.unique(np.asarray(y).ravel(), return_inverse=True)
        self.mean_ = X.mean(axis=0)
        moments = ClassMoments.of(X - self.mean_, codes.ravel(), self.classes_.size, sample_weight)
        self.coef_, self.intercept_ = discriminant(moments, self.shrinkage)
        return self

    def predict_proba(self, X) -> np.ndarray:  # noqa: N803
        check_is_fitted(self, "coef_")
        return posteriors(np.asarray(X, dtype=np.float64) - self.mean_, self.coef_, self.intercept_)

    def predict(self, X) -> np.ndarray:  # noqa: N803
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def cross_validate(
        self,
        embeddings,
        labels,
        groups,
        n_splits: int = 5,
        seed: int = 0,
        *,
        n_bootstrap: int = N_BOOTSTRAP,
        confidence: float = 0.95,
    ) -> ProbeResult:
        """Out-of-fold probabilities from patient-grouped folds (a patient is never in both the training and
        the test part of a fold), and the within-fold ROC AUC (two classes) or macro one-vs-rest AUC (more),
        with a confidence interval from ``n_bootstrap`` patient resamples, each cross-validated afresh, so
        that the interval holds the variance of the probe's fitting as well as that of the patients
        (:func:`~.probe_bootstrap.refit_bootstrap`). A class missing from a fold's training part gets
        probability 0 in that fold.

        Raises:
            ValueError: fewer than two classes, fewer patients than folds, mismatched lengths, or a fold
                whose training part holds a single class.
        """
        self._check_shrinkage()
        X = np.asarray(embeddings, dtype=np.float64)  # noqa: N806 - the design matrix, as scikit-learn names it
        y = np.asarray(labels).ravel()
        groups = np.asarray(groups).ravel()
        if not X.ndim == 2 or not X.shape[0] == y.size == groups.size:
            raise ValueError(f"need (n, D) embeddings with n labels and groups, got {X.shape}, {y.size}, {groups.size}")
        classes, codes = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise ValueError(f"the probe needs at least two classes, got {classes.tolist()}")
        patients, patient_codes = np.unique(groups, return_inverse=True)
        if patients.size < n_splits:
            raise ValueError(f"{n_splits}-fold grouped cross-validation needs >= {n_splits} patients, got {patients.size}")
        boot = refit_bootstrap(X, codes.ravel(), patient_codes.ravel(), shrinkage=self.shrinkage, n_splits=n_splits,
                               seed=seed, n_bootstrap=n_bootstrap)
        metric = normal_interval(boot.value, boot.replicates, confidence, y.size)
        name = "roc_auc" if classes.size == 2 else "macro_roc_auc"
        return ProbeResult(boot.oof_proba, classes, boot.folds, name, metric, boot.replicates, boot.plan)


def _numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _batches(source: Mapping | Iterable[Mapping], batch_size: int) -> Iterator[Mapping]:
    """Dict batches from a loader (any iterable of dicts) or from one dict of whole arrays."""
    if isinstance(source, Mapping):
        n = len(source["image"])
        for start in range(0, n, batch_size):
            yield {key: value[start : start + batch_size] for key, value in source.items()}
    else:
        yield from source


@contextlib.contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Eval mode and no gradients for ``modules``; on exit every submodule gets back its own training flag.

    Unlike ``module.train(was_training)``, a submodule that was deliberately in eval mode inside a training
    module (a frozen batch norm, say) stays so.
    """
    flags = [(sub, sub.training) for module in modules for sub in module.modules()]
    try:
        for module in modules:
            module.eval()
        with torch.no_grad():
            yield
    finally:
        for sub, training in flags:
            sub.training = training


def _autocast(device: torch.device, dtype: torch.dtype | None):
    return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def as_image_batch(image) -> torch.Tensor:
    """A plain ``torch.Tensor`` from a batch's ``image`` (``MetaTensor``, tensor or array)."""
    return image.as_tensor() if isinstance(image, MetaTensor) else torch.as_tensor(image)


def embed_batch(
    encoder: nn.Module,
    image,
    device: torch.device | str,
    *,
    autocast_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    non_blocking: bool = False,
) -> np.ndarray:
    """``(B, D)`` float32 embeddings (on the CPU) of one ``(B, 1, P, P)`` image batch.

    The caller sets the encoder's mode and gradient state (see :func:`frozen`). ``autocast_dtype`` runs the
    encoder under ``torch.autocast(device.type, dtype)``; ``channels_last`` passes the input in channels-last
    memory format (the encoder's own memory format is left as the caller set it).
    """
    device = torch.device(device)
    image = as_image_batch(image).to(device=device, dtype=torch.float32, non_blocking=non_blocking)
    if channels_last:
        image = image.contiguous(memory_format=torch.channels_last)
    with _autocast(device, autocast_dtype):
        embedding = encoder(image)
    n = embedding.shape[0]
    return _numpy(embedding.float()).astype(np.float32, copy=False).reshape(n, -1)


def batch_labels(batch: Mapping, n: int) -> dict[str, np.ndarray]:
    """``patient_id`` (str) and the label columns (int64; a missing label key counts as unknown, -1) of a
    batch of ``n`` patches."""
    columns = {"patient_id": _numpy(batch["patient_id"]).astype(str).reshape(n)}
    for key in LABEL_KEYS:
        columns[key] = _numpy(batch[key]).astype(np.int64).reshape(n) if key in batch else np.full(n, UNKNOWN)
    return columns


class EmbeddingTable:
    """Accumulates embedded batches into the table :func:`run_probe_tasks` takes.

    ``add(embeddings, labels)``: ``embeddings`` maps a name to its ``(B, D)`` array (one name, ``"embedding"``,
    for a single encoder); ``labels`` is :func:`batch_labels`. ``table(name)`` concatenates them into
    ``{"embedding", "patient_id", "abnormal", "birads", "malignant"}``.
    """

    def __init__(self) -> None:
        self.embeddings: dict[str, list[np.ndarray]] = {}
        self.labels: dict[str, list[np.ndarray]] = {key: [] for key in ("patient_id", *LABEL_KEYS)}

    def __len__(self) -> int:
        return sum(part.size for part in self.labels["patient_id"])

    def add(self, embeddings: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray]) -> None:
        for name, value in embeddings.items():
            self.embeddings.setdefault(name, []).append(value)
        for key, value in labels.items():
            self.labels[key].append(value)

    def table(self, name: str = "embedding") -> dict[str, np.ndarray]:
        if not self.labels["patient_id"]:
            raise ValueError("no patches to embed: the loader is empty")
        labels = {key: np.concatenate(parts) for key, parts in self.labels.items()}
        return {"embedding": np.concatenate(self.embeddings[name]), **labels}


def embed_patches(
    encoder: nn.Module,
    loader_or_arrays: Mapping | Iterable[Mapping],
    *,
    batch_size: int = 64,
    device: torch.device | str | None = None,
    progress: bool = True,
    autocast_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> dict[str, np.ndarray]:
    """Embed labelled patches with a frozen encoder (eval mode, no gradients; its mode is restored).

    Args:
        encoder: maps ``(B, 1, P, P)`` to ``(B, D)``.
        loader_or_arrays: any iterable of dict batches (a torch ``DataLoader``) or one dict of arrays, with
            ``"image"`` ``(B, 1, P, P)``, ``"patient_id"`` and the labels ``"abnormal"``, ``"birads"``,
            ``"malignant"`` (-1 when unknown; a missing label key counts as unknown).
        batch_size: batch size when ``loader_or_arrays`` is a dict of arrays.
        device: where to run the encoder; default: where its parameters are.
        autocast_dtype, channels_last: see :func:`embed_batch`.

    Returns:
        ``{"embedding": (N, D) float32, "patient_id": (N,) str, "abnormal"/"birads"/"malignant": (N,) int64}``.
    """
    if device is None:
        device = next(iter(encoder.parameters()), torch.empty(0)).device
    table = EmbeddingTable()
    is_loader = not isinstance(loader_or_arrays, Mapping)
    total = len(loader_or_arrays) if is_loader and hasattr(loader_or_arrays, "__len__") else None
    with frozen(encoder):
        for batch in tqdm(_batches(loader_or_arrays, batch_size), total=total, desc="embedding", disable=not progress):
            embedding = embed_batch(
                encoder, batch["image"], device, autocast_dtype=autocast_dtype, channels_last=channels_last
            )
            table.add({"embedding": embedding}, batch_labels(batch, embedding.shape[0]))
    return table.table()


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
    settings["shrinkage"] = probe.shrinkage
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
