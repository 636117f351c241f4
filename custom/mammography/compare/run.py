"""``python -m custom compare``: pretrain every method under one protocol and probe them side by side."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from custom.bundle_location import DEFAULT_BUNDLE, bundle_folder
from custom.mammography.compare.methods import check_bundle_configs, pretrain
from custom.mammography.compare.protocol import make_protocol
from custom.mammography.compare.report import (
    FOCUS_COLUMNS, TABLE_COLUMNS, markdown_differences, markdown_focus_differences, markdown_table, plot_embedding_maps,
    write_csv,
)
from custom.mammography.data.source import MammoDataSource
from custom.evaluation.batchnorm import recalibrated_batchnorm
from custom.evaluation.embedding import embed_patches
from custom.evaluation.paired import paired_auc_difference, paired_differences
from custom.evaluation.plots import plot_roc_comparison
from custom.evaluation.probe import SHRINKAGE_GRID, LinearProbe
from custom.evaluation.probe_tasks import TASKS, probe_tasks
from custom.atomic_write import atomic_write_text

logger = logging.getLogger(__name__)
REFERENCE = "random_init"  # what every method's AUC is compared with, pairwise
FOCUS = "siamese_softlabel"  # the method this project is about: compared with every other method, pairwise
# abnormal vs normal again, with the aligned place of the other breast of the same exam as the normal patch
MATCHED_TASK = "abnormal_matched"
TABLE_TASKS = (*TASKS, MATCHED_TASK)


def compare(data: str, out: str, preset: str = "quick", dataset_format: str = "vindr", seed: int = 0,
            methods: tuple[str, ...] | None = None, patch_presets: tuple[str, ...] | None = None,
            device: str | None = None, amp: bool = True, embedding_maps: bool = True,
            probe_options: dict | None = None, bundle: str | Path = DEFAULT_BUNDLE) -> list[dict]:
    """Runs the comparison; returns the table rows and writes ``table.md``, ``table.csv``, figures.

    ``data`` is a data set in a supported layout; an empty or missing folder gets the synthetic
    benchmark (the preset's number of studies). Pretraining uses the train split only. The probes use the
    frozen benchmark's evaluation set for synthetic data (patients never seen in pretraining), else the val
    and test patients, with patient-grouped cross-validation; abnormal vs normal is probed twice, against
    normal tissue of normal exams and against the matched contralateral place (``abnormal_matched``). Every method
    gets the same patches, seed, epochs, batch size and learning rate, and every encoder is probed alike: in fp32,
    with its batch-norm statistics re-estimated on clean patches of the pretraining exams, and the probe's
    shrinkage chosen by nested cross-validation (docs/statistics.md). Finished methods are not trained
    again when the run is restarted. ``probe_options`` go to :func:`~custom.evaluation.probe_tasks.probe_tasks`
    (e.g. ``min_samples_per_class`` for a tiny data set). ``bundle``: the bundle whose configs train the
    Siamese variants (``train.json``) and the self-supervised baselines (``train_ssl.json`` and
    ``train_<method>.json`` on top).
    """
    bundle = bundle_folder(bundle)
    protocol = make_protocol(preset, seed, methods, patch_presets, amp)
    check_bundle_configs(bundle, protocol.methods)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "protocol.json").write_text(json.dumps(protocol.as_dict(), indent=2, default=str))
    torch_device = torch.device(device or ("cuda:0" if torch.cuda.is_available() else "cpu"))
    rows: list[dict] = []
    contrasts: list[dict] = []
    for patch_preset, budget in protocol.budgets.items():
        source = MammoDataSource(data, dataset_format, cache_dir=str(out_dir / "cache"), patch_preset_name=patch_preset,
                                 seed=seed, synthetic_studies=protocol.synthetic_studies)
        # one set with both kinds of normal controls, embedded once per method: the lesion patches serve both
        # abnormal-vs-normal probes (the same rows, in the same order, as two sets built apart)
        probe_set = source.probe_dataset(protocol.probe_splits, protocol.normal_patches_per_breast, "both")
        check_patient_disjoint([exam.patient_id for exam in source.exams_of(protocol.pretrain_split)],
                               probe_set.patient_ids)
        loader = DataLoader(probe_set, batch_size=64, shuffle=False)
        clean_loader = DataLoader(source.breast_patches((protocol.pretrain_split,)), batch_size=64, shuffle=False)
        preset_dir = out_dir / f"patch{patch_preset}"
        outcomes, maps = {}, {}
        for method in protocol.methods:
            logger.info("patch preset %s: %s", patch_preset, method)
            torch.manual_seed(seed)
            trained = pretrain(method, source=source, budget=budget, seed=seed,
                               device=torch_device, amp=protocol.amp, out_dir=preset_dir / method, bundle=bundle)
            # the probe protocol (docs/statistics.md): fp32, batch-norm statistics of clean training patches, the
            # shrinkage chosen by nested cross-validation
            features = recalibrated_batchnorm(trained.features.float(), clean_loader, device=torch_device)
            embedded = embed_patches(features, loader, device=torch_device, progress=False)
            table = _rows(embedded, probe_set.control != "contralateral")
            options = {"probe": LinearProbe(SHRINKAGE_GRID), **(probe_options or {})}
            report, outcomes[method] = probe_tasks(table, preset_dir / method / "probe", TASKS, seed=seed, **options)
            matched = _rows(embedded, probe_set.control != "normal_exams")
            matched_report, matched_outcome = probe_tasks(matched, preset_dir / method / "probe_matched", ("abnormal",),
                                                          seed=seed, **options)
            if "abnormal" in matched_outcome:
                outcomes[method][MATCHED_TASK] = matched_outcome["abnormal"]
            if "abnormal" in matched_report["tasks"]:
                report["tasks"][MATCHED_TASK] = matched_report["tasks"]["abnormal"]
            maps[method] = (table["embedding"], table["abnormal"])
            for task, entry in report["tasks"].items():
                rows.append({"method": method, "patch_preset": patch_preset, "task": task, **entry,
                             "pretrain_seconds": trained.pretrain_seconds})
        confidence = (probe_options or {}).get("confidence", 0.95)
        _add_paired_differences(rows, outcomes, patch_preset, confidence)
        contrasts += _focus_differences(outcomes, patch_preset, confidence)
        for task in TABLE_TASKS:
            curves = [(m, o[task].labels == o[task].result.classes[1], o[task].result.oof_proba[:, 1], o[task].result.metric)
                      for m, o in outcomes.items() if task in o and len(o[task].result.classes) == 2]
            if curves:
                plot_roc_comparison(preset_dir / f"roc_{task}.png", curves, title=f"{task}, patch preset {patch_preset}")
        if embedding_maps:
            plot_embedding_maps(maps, preset_dir / "embeddings_tsne.png", seed=seed,
                                title=f"t-SNE of probe embeddings, patch preset {patch_preset}")
    write_csv(rows, out_dir / "table.csv", TABLE_COLUMNS)
    table_md = markdown_table(rows, protocol.methods, list(protocol.budgets), TABLE_TASKS) + "\n" + markdown_differences(
        rows, protocol.methods, list(protocol.budgets), TABLE_TASKS, REFERENCE)
    if contrasts:
        write_csv(contrasts, out_dir / f"{FOCUS}_differences.csv", FOCUS_COLUMNS)
        table_md += "\n" + markdown_focus_differences(contrasts, list(protocol.budgets), TABLE_TASKS)
    atomic_write_text(out_dir / "table.md", table_md)
    print(table_md)
    return rows


def _add_paired_differences(rows: list[dict], outcomes: dict, patch_preset: str, confidence: float) -> None:
    """Adds to each row of ``patch_preset`` its method's paired AUC differences to the reference
    (``random_init``) and to the best other method on the same task: every method was probed on the same
    patches with the same seed, so their refit-bootstrap replicates resample the same patients."""
    for task in TABLE_TASKS:
        results = {method: tasks[task].result for method, tasks in outcomes.items() if task in tasks}
        for method, paired in paired_differences(results, REFERENCE, confidence).items():
            row = next(r for r in rows if (r["method"], r["patch_preset"], r["task"]) == (method, patch_preset, task))
            row.update(paired.columns())


def _focus_differences(outcomes: dict, patch_preset: str, confidence: float) -> list[dict]:
    """:data:`FOCUS`'s AUC minus every other method's, per task of ``patch_preset``, with paired intervals (both
    probes refitted on the same patient resamples): the runner-up and the ablations, not only the best other."""
    if FOCUS not in outcomes:
        return []
    contrasts = []
    for task, focus in outcomes[FOCUS].items():
        for other, tasks in outcomes.items():
            if other != FOCUS and task in tasks:
                difference = paired_auc_difference(focus.result, tasks[task].result, confidence)
                contrasts.append({"method": FOCUS, "other": other, "patch_preset": patch_preset, "task": task,
                                  "diff": difference.value, "ci_low": difference.ci_low, "ci_high": difference.ci_high})
    return contrasts


def _rows(table: dict[str, np.ndarray], keep: np.ndarray) -> dict[str, np.ndarray]:
    """The rows ``keep`` of an embedding table."""
    return {key: column[keep] for key, column in table.items()}


def check_patient_disjoint(pretrain_patients, probe_patients) -> None:
    """Refuses a comparison whose probe patients were seen in pretraining."""
    shared = set(np.asarray(pretrain_patients).tolist()) & set(np.asarray(probe_patients).tolist())
    if shared:
        raise ValueError(f"{len(shared)} patients are in both the pretraining and the probe sets, e.g. {sorted(shared)[:3]}")
