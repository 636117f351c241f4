"""FROC figures comparing detectors, drawn without pyplot (like :mod:`.plots`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.ticker import FixedLocator, NullLocator

from .froc import FP_RATES, FrocCurve, _check_rates, sensitivity_at
from .plots import _new_axes, save_figure


def plot_froc(
    curves: Mapping[str, FrocCurve],
    out_path: str | Path,
    *,
    fp_rates: Sequence[float] = FP_RATES,
    title: str = "FROC",
) -> Path:
    """Write one FROC figure (PNG) with a curve per method, e.g. ``{"siamese": ..., "raw_pixel": ...}``.

    The x axis (false positives per image) is logarithmic and spans half the smallest to twice the largest
    of ``fp_rates``; the operating points at ``fp_rates`` are marked and the legend gives each method's mean
    sensitivity over them. Curves are drawn as steps, flat past their last candidate, which is the
    operating-point rule of :mod:`.froc`.
    """
    if not curves:
        raise ValueError("curves: no FROC curve given")
    rates = np.asarray(_check_rates(fp_rates))
    left, right = rates.min() / 2, rates.max() * 2
    fig, ax = _new_axes()
    for name, curve in curves.items():
        fp = np.asarray(curve.fp_per_image, dtype=np.float64)
        sensitivity = np.asarray(curve.sensitivity, dtype=np.float64)
        # points left of the axis collapse onto its edge, and the curve continues flat to the right edge
        x = np.r_[np.clip(fp[fp <= right], left, None), right]
        y = np.r_[sensitivity[fp <= right], sensitivity_at(curve, [right])]
        points = sensitivity_at(curve, rates)
        (line,) = ax.plot(x, y, drawstyle="steps-post", label=f"{name}: mean sensitivity {points.mean():.3f}")
        ax.plot(rates, points, linestyle="none", marker="o", markersize=4, color=line.get_color())
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(rates))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{r:g}" for r in rates])
    ax.set(xlabel="false positives per image", ylabel="sensitivity", xlim=(left, right), ylim=(0, 1.01))
    ax.grid(True, linewidth=0.3)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, out_path)
