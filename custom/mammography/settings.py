"""The mammography bundle's documented settings and what each takes (``docs/README.md`` of the bundle lists
them), checked by every config's ``initialize`` before data preparation (:mod:`custom.bundle_settings`)."""

from __future__ import annotations

from custom.bundle_settings import (Setting, check_settings, imported, number_from, one_of, optional, positive_number,
                                    text, whole_number)

_PAIRS = "custom.mammography.data.pair_dataset"
_SPLITS = one_of(imported("custom.mammography.data.source", "SPLITS"))

MAMMOGRAPHY_SETTINGS: dict[str, Setting] = {
    # data
    "dataset_dir": text(),
    "dataset_format": one_of(imported("custom.mammography.data.readers.registry", "READERS")),
    "cache_dir": text(),
    "synthetic_dir": text(),
    "synthetic_studies": whole_number(0),
    "synthetic_preset": one_of(imported("custom.mammography.data.synthetic", "PRESETS")),
    "patch_preset": one_of(imported("custom.mammography.data.presets", "PATCH_PRESETS")),
    "registration": one_of(imported("custom.mammography.data.exam_cache", "REGISTRATION_MODES")),
    "assumed_pixel_spacing": optional(positive_number()),
    "prepare_workers": whole_number(0),
    "num_workers": whole_number(0),
    "seed": whole_number(0),
    # training
    "max_epochs": whole_number(1),
    "train#trainer#max_epochs": whole_number(1),
    "warmup_epochs": whole_number(0),
    "batch_size": whole_number(1),
    "learning_rate": positive_number(),
    "pairs_per_exam": whole_number(1),
    "candidate_pairs_per_exam": whole_number(0),
    "supervision": one_of(imported(_PAIRS, "SUPERVISION_MODES")),
    "sampling": one_of(imported(_PAIRS, "SAMPLING_MODES")),
    "uniform_share": number_from(0, 1),
    "unknown_prior": number_from(0, 1),
    "label_scale": one_of(imported("custom.mammography.engines.handlers", "LABEL_SCALES")),
    "label_momentum": number_from(0, 1, high_open=True),
    "mismatch_weight": number_from(0),
    "margin": positive_number(),
    "pair_distance": one_of(imported("custom.networks", "CoTrainedSiamesePair.DISTANCES")),
    "projection_dim": optional(whole_number(1)),
    "positives": one_of(imported("custom.mammography.engines.fixed_labels", "POSITIVES")),
    "positives_per_exam": whole_number(1),
    "pair_score": one_of(imported("custom.mammography.engines.pair_scores", "PAIR_SCORES")),
    "symmetric_exam_share": number_from(0, 1, high_open=True),
    "oracle_precision": number_from(0, 1),
    "oracle_recall": number_from(0, 1),
    "regulariser": one_of(imported("custom.mammography.engines.regulariser", "REGULARISERS")),
    "regulariser_weight": positive_number(),
    "selection": one_of(imported("custom.mammography.engines.coteaching", "SELECTIONS")),
    "coteaching_final_share": number_from(0, 1),
    "coteaching_epochs": whole_number(1),
    "calibration_exams": whole_number(1),
    "ssl_method": one_of(imported("custom.ssl.registry", "SSL_METHODS")),
    "ssl_augmentation": one_of(imported("custom.ssl.augment", "AUGMENTATIONS")),
    # evaluation and detection
    "probe_batch_size": whole_number(1),
    "normal_patches_per_breast": whole_number(1),
    "probe_controls": one_of(imported(_PAIRS, "PROBE_CONTROLS")),
    "probe_batchnorm": one_of(imported("custom.evaluation.batchnorm", "BATCHNORM_MODES")),
    "split": _SPLITS,
    "calibration_split": _SPLITS,
    "search_radius": whole_number(0),
    "max_candidates": whole_number(1),
    "side_temperature": positive_number(),
}


def check_mammography_settings() -> None:
    """Stops the running mammography bundle config on a documented setting of the wrong type or range."""
    check_settings(MAMMOGRAPHY_SETTINGS)
