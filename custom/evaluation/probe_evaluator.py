"""Linear-probe evaluation of several frozen encoders as a MONAI evaluator (``validate#evaluator``)."""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from monai.engines import Evaluator
from monai.engines.utils import IterationEvents, default_metric_cmp_fn, default_prepare_batch
from monai.utils import IgniteInfo, min_version, optional_import
from torch import nn
from torch.utils.data import DataLoader

from .batchnorm import recalibrated_batchnorm
from .embedding import EmbeddingTable, batch_labels, embed_batch, frozen
from .paired import DIFFERENCE_COLUMNS, paired_differences
from .plots import plot_roc_comparison
from .probe import N_BOOTSTRAP, LinearProbe
from .probe_tasks import TASKS, probe_tasks

Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")

_METRIC_COLUMNS = ("metric", "value", "ci_low", "ci_high", "n", "n_patients")
COMPARISON_COLUMNS = ("encoder", "task", *_METRIC_COLUMNS, *DIFFERENCE_COLUMNS)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _dtype(value: torch.dtype | str | None) -> torch.dtype | None:
    """``torch.bfloat16``, ``"bfloat16"`` or ``"torch.bfloat16"`` -> ``torch.bfloat16``; ``None`` stays."""
    if value is None or isinstance(value, torch.dtype):
        return value
    dtype = getattr(torch, str(value).removeprefix("torch."), None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"autocast_dtype must be a torch dtype such as torch.bfloat16, got {value!r}")
    return dtype


class LinearProbeEvaluator(Evaluator):
    """Embeds labelled patches with every encoder and compares the encoders by cross-validated linear probes.

    Each iteration embeds the batch (a dict with ``"image"`` ``(B, 1, P, P)``, ``"patient_id"`` and the labels
    ``"abnormal"``, ``"birads"``, ``"malignant"``, as :class:`custom.mammography.data.pair_dataset.LabelledPatchDataset`
    yields) with every encoder in eval mode without gradients, and keeps embeddings and labels on the CPU. At
    the end of the (single) epoch, :func:`~.probe_tasks.run_probe_tasks` runs per encoder, with
    patient-grouped folds and patient-level bootstrap CIs that refit the probe on every resample, and writes:

    - ``output_dir/<encoder>/``: ``metrics.json``, ``metrics.csv``, ``roc_<task>.png`` of that encoder
      (skipped tasks and their reasons are in its ``metrics.json``);
    - ``output_dir/comparison.csv`` and ``comparison.json``: one row per encoder and computed task with
      :data:`COMPARISON_COLUMNS` (also in :attr:`results`): the AUC and its CI, and the paired AUC
      differences, with CIs, to the ``reference`` encoder and to the best other encoder;
    - ``output_dir/roc_abnormal_comparison.png``: the abnormal-vs-normal ROC curves of all encoders, the
      legend giving each AUC and CI.

    ``engine.state.metrics`` gets ``probe_auc_<task>_<encoder>`` for each computed task (so
    ``probe_auc_abnormal_<encoder>`` for every encoder; NaN when that task was skipped) and
    ``key_metric_name``: the first encoder's abnormal AUC, which is also ``engine.state.key_metric_name`` and
    drives ``best_metric`` / ``best_metric_epoch`` through ``metric_cmp_fn``. The probes run on
    ``EPOCH_COMPLETED`` before any of ``val_handlers``, so ``StatsHandler``, ``CheckpointSaver(save_key_metric=
    True)`` and a trainer's ``ValidationHandler`` see the metrics. Outputs are rewritten at every run (e.g.
    every validation epoch of a training run).

    The encoders must already be on ``device``; their modes are restored after every batch, submodule by
    submodule. Single process: in distributed runs, give it the whole validation set on one rank.

    Bundle config (``validate#evaluator``)::

        "evaluator": {
            "_target_": "custom.evaluation.probe_evaluator.LinearProbeEvaluator",
            "device": "@device",
            "val_data_loader": "@validate#dataloader",
            "encoders": {"siamese_softlabel": "@network", "random_init": "@random_network"},
            "output_dir": "$@output_dir + '/linear_probe'",
            "autocast_dtype": "$torch.bfloat16",
            "val_handlers": "@validate#handlers"
        }

    Args:
        device: where the encoders run.
        val_data_loader: iterable of dict batches (typically a ``DataLoader`` over labelled patches).
        encoders: ``{name: module}`` mapping ``(B, 1, P, P)`` to ``(B, D)``, e.g.
            ``{"siamese_softlabel": trained, "random_init": random}``; names become directory names.
        output_dir: where the reports go.
        n_splits, seed, n_bootstrap: cross-validation folds, seed of folds and bootstrap, bootstrap replicates.
        autocast_dtype: when given (a torch dtype, or its name), embedding runs under
            ``torch.autocast(device.type, dtype)``. With ``amp=True`` and no ``autocast_dtype``, the dtype is
            ``amp_kwargs["dtype"]`` if given, else float16 on CUDA and bfloat16 elsewhere.
        channels_last: pass the images in channels-last memory format.
        batchnorm_images: when given (an iterable of dict batches with ``"image"``, e.g. a ``DataLoader`` of clean,
            unlabelled training patches), every encoder is probed with its batch-norm statistics re-estimated on
            these images (:func:`~.batchnorm.recalibrated_batchnorm`, on a copy, at the start of every run),
            rather than with the running statistics it carries.
        val_handlers: Ignite handlers with ``attach``, e.g. ``StatsHandler``, ``CheckpointSaver``.
        key_metric_name: name of the key metric in ``engine.state.metrics``.
        reference: the encoder every other one is compared with pairwise (ignored when not among ``encoders``).
        tasks, confidence, min_samples_per_class, min_patients_per_class, probe: passed to
            :func:`~.probe_tasks.run_probe_tasks`; ``tasks`` must contain ``"abnormal"``.
        epoch_length, non_blocking, prepare_batch, iteration_update, metric_cmp_fn, amp, amp_kwargs,
            event_names, event_to_attr, decollate, to_kwargs: as in :class:`monai.engines.Evaluator`;
            ``prepare_batch``'s first returned item is the image batch.
    """

    def __init__(
        self,
        device: torch.device | str,
        val_data_loader: Iterable | DataLoader,
        encoders: Mapping[str, nn.Module],
        output_dir: str | Path,
        n_splits: int = 5,
        seed: int = 0,
        n_bootstrap: int = N_BOOTSTRAP,
        autocast_dtype: torch.dtype | str | None = None,
        channels_last: bool = False,
        val_handlers: Sequence | None = None,
        batchnorm_images: Iterable | None = None,
        key_metric_name: str = "probe_auc_abnormal",
        *,
        reference: str | None = "random_init",
        tasks: Iterable[str] = TASKS,
        confidence: float = 0.95,
        min_samples_per_class: int = 10,
        min_patients_per_class: int = 2,
        probe: LinearProbe | None = None,
        epoch_length: int | None = None,
        non_blocking: bool = False,
        prepare_batch: Callable = default_prepare_batch,
        iteration_update: Callable[[Any, Any], Any] | None = None,
        metric_cmp_fn: Callable = default_metric_cmp_fn,
        amp: bool = False,
        amp_kwargs: dict | None = None,
        event_names: list | None = None,
        event_to_attr: dict | None = None,
        decollate: bool = False,
        to_kwargs: dict | None = None,
    ) -> None:
        encoders = dict(encoders)
        if not encoders:
            raise ValueError("encoders must name at least one encoder, e.g. {'siamese_softlabel': network}")
        for name, encoder in encoders.items():
            if not isinstance(name, str) or not _NAME.match(name) or name.startswith("comparison"):
                raise ValueError(
                    f"encoder name {name!r} must be a plain directory name (letters, digits, '_', '.', '-') "
                    "not starting with 'comparison'"
                )
            if not isinstance(encoder, nn.Module):
                raise TypeError(f"encoder {name!r} must be a torch.nn.Module, got {type(encoder).__name__}")
        tasks = tuple(tasks)
        if "abnormal" not in tasks:
            raise ValueError(f"tasks must include 'abnormal' (the key metric's task), got {tasks}")
        unknown = set(tasks) - set(TASKS)
        if unknown:
            raise ValueError(f"unknown tasks {sorted(unknown)}; known: {TASKS}")
        super().__init__(
            device=device,
            val_data_loader=val_data_loader,
            epoch_length=epoch_length,
            non_blocking=non_blocking,
            prepare_batch=prepare_batch,
            iteration_update=iteration_update,
            metric_cmp_fn=metric_cmp_fn,
            val_handlers=None,  # attached below, after the probe handler, so that they see its metrics
            amp=amp,
            event_names=event_names,
            event_to_attr=event_to_attr,
            decollate=decollate,
            to_kwargs=to_kwargs,
            amp_kwargs=amp_kwargs,
        )
        autocast_dtype = _dtype(autocast_dtype)
        if autocast_dtype is None and amp:
            default = torch.float16 if self.state.device.type == "cuda" else torch.bfloat16
            autocast_dtype = _dtype(self.amp_kwargs.get("dtype", default))
        self.encoders = encoders
        self.batchnorm_images = batchnorm_images
        self._probed = encoders
        self.output_dir = Path(output_dir)
        self.autocast_dtype = autocast_dtype
        self.channels_last = channels_last
        self.key_metric_name = key_metric_name
        self.state.key_metric_name = key_metric_name
        self.tasks = tasks
        self.reference = reference
        self.probe_settings = {
            "n_splits": n_splits,
            "seed": seed,
            "n_bootstrap": n_bootstrap,
            "confidence": confidence,
            "min_samples_per_class": min_samples_per_class,
            "min_patients_per_class": min_patients_per_class,
            "probe": probe,
        }
        self.results: list[dict] = []
        self.reports: dict[str, dict] = {}
        self._table = EmbeddingTable()
        self.add_event_handler(Events.EPOCH_STARTED, self._reset)
        self.add_event_handler(Events.EPOCH_COMPLETED, self._run_probes)
        if val_handlers is not None:
            self._register_handlers(val_handlers)

    def _reset(self, engine: LinearProbeEvaluator) -> None:
        self._table = EmbeddingTable()
        if self.batchnorm_images is not None:
            self._probed = {
                name: recalibrated_batchnorm(encoder, self.batchnorm_images, device=self.state.device,
                                             autocast_dtype=self.autocast_dtype, channels_last=self.channels_last)
                for name, encoder in self.encoders.items()
            }

    def _iteration(self, engine: LinearProbeEvaluator, batchdata: Mapping[str, Any]) -> dict:
        """Embed one batch with every encoder; returns (and puts in ``engine.state.output``) the embeddings
        as ``embedding_<encoder>`` CPU tensors plus the batch's ``patient_id`` and labels."""
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        if not isinstance(batchdata, Mapping):
            raise TypeError(
                "LinearProbeEvaluator needs dict batches with 'image', 'patient_id' and labels, "
                f"got {type(batchdata).__name__}"
            )
        prepared = engine.prepare_batch(batchdata, engine.state.device, engine.non_blocking, **engine.to_kwargs)
        image = prepared[0] if isinstance(prepared, (tuple, list)) else prepared
        embeddings = {}
        with frozen(*engine._probed.values()):
            for name, encoder in engine._probed.items():
                embeddings[name] = embed_batch(
                    encoder,
                    image,
                    engine.state.device,
                    autocast_dtype=engine.autocast_dtype,
                    channels_last=engine.channels_last,
                    non_blocking=engine.non_blocking,
                )
        labels = batch_labels(batchdata, next(iter(embeddings.values())).shape[0])
        engine._table.add(embeddings, labels)
        engine.state.output = {
            **{f"embedding_{name}": torch.from_numpy(value) for name, value in embeddings.items()},
            **{key: torch.from_numpy(value) for key, value in labels.items() if key != "patient_id"},
            "patient_id": labels["patient_id"].tolist(),
        }
        engine.fire_event(IterationEvents.FORWARD_COMPLETED)
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output

    def _run_probes(self, engine: LinearProbeEvaluator) -> None:
        """Probe every encoder's embeddings, write the reports and set the metrics."""
        self.output_dir.mkdir(parents=True, exist_ok=True)
        rows: list[dict] = []
        curves = []
        results: dict[str, dict] = {task: {} for task in self.tasks}
        metrics = engine.state.metrics
        for name in self.encoders:
            table = self._table.table(name)
            report, outcomes = probe_tasks(table, self.output_dir / name, self.tasks, **self.probe_settings)
            self.reports[name] = report
            for task, outcome in outcomes.items():
                results[task][name] = outcome.result
            for task, entry in report["tasks"].items():
                rows.append({"encoder": name, "task": task, **{key: entry[key] for key in _METRIC_COLUMNS}})
                metrics[f"probe_auc_{task}_{name}"] = entry["value"]
                self.logger.info(
                    f"linear probe {name} {task}: {entry['metric']} {entry['value']:.4f} "
                    f"[{entry['ci_low']:.4f}, {entry['ci_high']:.4f}] n={entry['n']} patients={entry['n_patients']}"
                )
            if "abnormal" in outcomes:
                outcome = outcomes["abnormal"]
                positive = outcome.labels == outcome.result.classes[1]
                curves.append((name, positive, outcome.result.oof_proba[:, 1], outcome.result.metric))
            else:
                metrics[f"probe_auc_abnormal_{name}"] = math.nan
                self.logger.warning(f"linear probe {name}: abnormal task skipped: {report['skipped']['abnormal']}")
        self._add_paired_differences(rows, results)
        self.results = rows
        self._write_comparison(rows)
        if curves:
            plot_roc_comparison(
                self.output_dir / "roc_abnormal_comparison.png",
                curves,
                title=f"abnormal vs normal, {len(curves[0][1])} patches\n"
                f"AUC [{self.probe_settings['confidence']:.0%} CI, patient bootstrap]",
            )
        key_value = metrics[f"probe_auc_abnormal_{next(iter(self.encoders))}"]
        metrics[self.key_metric_name] = key_value
        if not math.isnan(key_value) and (
            engine.state.best_metric_epoch == -1 or self.metric_cmp_fn(key_value, engine.state.best_metric)
        ):
            self.logger.info(f"Got new best metric of {self.key_metric_name}: {key_value}")
            engine.state.best_metric = key_value
            engine.state.best_metric_epoch = engine.state.epoch

    def _add_paired_differences(self, rows: list[dict], results: dict[str, dict]) -> None:
        """Each encoder's AUC minus the reference encoder's and minus the best other encoder's, per task, with
        paired CIs: all encoders were probed on the same patches with the same seed, so the same resamples."""
        for task, by_encoder in results.items():
            differences = paired_differences(by_encoder, self.reference, self.probe_settings["confidence"])
            for name, paired in differences.items():
                next(r for r in rows if (r["encoder"], r["task"]) == (name, task)).update(paired.columns())
                if paired.to_reference is not None:
                    d = paired.to_reference
                    self.logger.info(
                        f"linear probe {task}: {name} minus {paired.reference}: {d.value:+.4f} "
                        f"[{d.ci_low:+.4f}, {d.ci_high:+.4f}]"
                    )

    def _write_comparison(self, rows: list[dict]) -> None:
        with open(self.output_dir / "comparison.json", "w") as f:
            json.dump(rows, f, indent=2)
        with open(self.output_dir / "comparison.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COMPARISON_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
