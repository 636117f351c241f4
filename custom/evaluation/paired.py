"""Paired differences of two probes' AUCs on the same patches: the replicates of both resample the same patients.

Resamples and folds of the refit bootstrap (:mod:`.probe_bootstrap`) depend only on the labels, the patient
ids and the seed, never on the features, so two encoders probed on the same patches get the same replicates,
and the spread of their replicate differences is that of the difference itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .metrics import MetricResult, normal_interval
from .probe import ProbeResult


def paired_auc_difference(a: ProbeResult, b: ProbeResult, confidence: float = 0.95) -> MetricResult:
    """AUC of probe ``a`` minus that of probe ``b``, with a paired refit-bootstrap interval.

    ``a`` and ``b``: :class:`~.probe.ProbeResult` of two encoders on the same patches, patients and
    resampling settings (``plan``). Replicate ``r`` of both then refits both probes on the same resampled
    patients and folds, so the variation the two share (which patients happen to be drawn) cancels in the
    replicate differences, and their spread is that of the difference itself.

    Raises:
        ValueError: the two were not computed on the same patches, patients and resampling settings.
    """
    if a.plan != b.plan:
        raise ValueError(
            "paired AUC difference: the two probes were not run on the same patches, labels, patients, seed, "
            "folds and replicate count, so their bootstrap replicates are not paired"
        )
    return normal_interval(a.metric.value - b.metric.value, a.replicates - b.replicates, confidence,
                           len(a.oof_proba), bounds=(-1.0, 1.0))


# table columns of :meth:`PairedDifferences.columns`
DIFFERENCE_COLUMNS = tuple(
    f"{prefix}{kind}" for kind in ("reference", "best_other") for prefix in ("", "diff_", "diff_ci_low_", "diff_ci_high_")
)


@dataclass(frozen=True)
class PairedDifferences:
    """One model's AUC minus a reference model's and minus the best other model's, with paired intervals
    (``None`` where there is no such model)."""

    reference: str | None
    to_reference: MetricResult | None
    best_other: str | None
    to_best_other: MetricResult | None

    def columns(self) -> dict:
        """Table columns (:data:`DIFFERENCE_COLUMNS`): the other model's name, this model's AUC minus that
        one's and its CI, for the reference and for the best other model; absent where there is none."""
        columns = {}
        for kind, other, difference in (("reference", self.reference, self.to_reference),
                                        ("best_other", self.best_other, self.to_best_other)):
            if difference is not None:
                columns.update({kind: other, f"diff_{kind}": difference.value,
                                f"diff_ci_low_{kind}": difference.ci_low, f"diff_ci_high_{kind}": difference.ci_high})
        return columns


def paired_differences(
    results: Mapping[str, ProbeResult], reference: str | None = None, confidence: float = 0.95
) -> dict[str, PairedDifferences]:
    """For every model in ``results`` (name to :class:`~.probe.ProbeResult`, all on the same patches
    and resampling settings): its :func:`paired_auc_difference` to ``reference`` (when that is another model
    in ``results``) and to the best other model (highest AUC among the rest)."""
    differences = {}
    for name, result in results.items():
        others = {other: r for other, r in results.items() if other != name}
        best = max(others, key=lambda other: others[other].metric.value) if others else None
        has_reference = reference in others
        differences[name] = PairedDifferences(
            reference if has_reference else None,
            paired_auc_difference(result, others[reference], confidence) if has_reference else None,
            best,
            paired_auc_difference(result, others[best], confidence) if best is not None else None,
        )
    return differences
