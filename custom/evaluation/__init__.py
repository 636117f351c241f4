"""Evaluation: linear probes of frozen encoders, ROC AUC and FROC with bootstrap CIs, ROC figures, and
segmentation Dice/IoU/HD95 with patient-level CIs."""

from .froc import (
    FP_RATES,
    DetectionResult,
    ExamScore,
    FrocCurve,
    FrocResult,
    ImageDetections,
    evaluate_detection,
    exam_auc,
    froc_at,
    froc_curve,
    sensitivity_at,
    write_detection_report,
)
from .froc_plots import plot_froc
from .batchnorm import recalibrated_batchnorm
from .embedding import embed_patches
from .probe import SHRINKAGE_GRID, LinearProbe, ProbeResult
from .probe_tasks import TASKS, evaluate_encoder, run_probe_tasks
from .metrics import MetricResult, macro_roc_auc, roc_auc
from .plots import plot_roc, plot_roc_comparison
from .paired import paired_auc_difference
from .probe_evaluator import LinearProbeEvaluator
from .segmentation_report import SegmentationReport
from .segmentation import (
    SegmentationScores,
    SegmentationSummary,
    SegmentationTable,
    paired_segmentation_difference,
    segmentation_scores,
    summarise_segmentation,
)

__all__ = [
    "FP_RATES",
    "DetectionResult",
    "ExamScore",
    "FrocCurve",
    "FrocResult",
    "ImageDetections",
    "evaluate_detection",
    "exam_auc",
    "froc_at",
    "froc_curve",
    "sensitivity_at",
    "write_detection_report",
    "plot_froc",
    "TASKS",
    "LinearProbe",
    "SHRINKAGE_GRID",
    "LinearProbeEvaluator",
    "MetricResult",
    "ProbeResult",
    "embed_patches",
    "evaluate_encoder",
    "macro_roc_auc",
    "paired_auc_difference",
    "plot_roc",
    "recalibrated_batchnorm",
    "plot_roc_comparison",
    "roc_auc",
    "run_probe_tasks",
    "SegmentationScores",
    "SegmentationSummary",
    "SegmentationTable",
    "SegmentationReport",
    "paired_segmentation_difference",
    "segmentation_scores",
    "summarise_segmentation",
]
