"""ROC curve figures, drawn without pyplot so that no global backend or GUI is involved."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from .metrics import MetricResult


_MANY_CURVES = 6  # above this, the legend goes beside the axes so that it hides no curve
_LINE_STYLES = ("-", "--", "-.", ":")


def _new_axes(width: float = 4.5) -> tuple[Figure, object]:
    fig = Figure(figsize=(width, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _finish(fig: Figure, ax, title: str, path: str | Path, legend_outside: bool = False) -> Path:
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01))
    ax.set_title(title, fontsize=10)
    if legend_outside:
        ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=7, frameon=False)
    else:
        ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, path)


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Lays the figure out and writes it (PNG by suffix), creating the folder."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def plot_roc(
    path: str | Path, y_true, y_score, classes, *, title: str, result: MetricResult | None = None
) -> Path:
    """Write a ROC figure (PNG) to ``path``.

    ``y_score`` is ``(n, K)`` with column ``k`` for ``classes[k]``. With two classes one curve is drawn
    (``classes[1]`` positive); with more, one one-vs-rest curve per class present. ``result``, when given,
    adds the AUC and its confidence interval to the title.
    """
    y_true = np.asarray(y_true).ravel()
    y_score = np.asarray(y_score, dtype=np.float64)
    classes = list(classes)
    if len(classes) == 2:
        curves = [(classes[1], 1, f"positive: {classes[1]}")]
    else:
        curves = [(c, k, f"{c} vs rest") for k, c in enumerate(classes)]
    fig, ax = _new_axes()
    for label, k, name in curves:
        positive = y_true == label
        if positive.any() and not positive.all():
            fpr, tpr, _ = roc_curve(positive, y_score[:, k])
            ax.plot(fpr, tpr, label=f"{name} (n={int(positive.sum())})")
    if result is not None:
        title = f"{title}\nAUC {result.value:.3f} [{result.ci_low:.3f}, {result.ci_high:.3f}]"
    return _finish(fig, ax, title, path)


def plot_roc_comparison(
    path: str | Path, curves: Iterable[tuple[str, object, object, MetricResult | None]], *, title: str
) -> Path:
    """Write one ROC figure (PNG) with a binary curve per model, e.g. several encoders on one task.

    ``curves``: ``(name, y_true, y_score, result)`` per model; ``y_true`` is binary (positive: ``True``/1),
    ``y_score`` ``(n,)`` the positive-class score, ``result`` (optional) puts the AUC and its confidence
    interval in the legend. A model whose ``y_true`` holds a single class gets a legend entry but no curve.
    Each model gets its own colour (up to 20) and, cycling, a line style, so that a dozen curves stay apart.
    """
    curves = list(curves)
    many = len(curves) > _MANY_CURVES
    fig, ax = _new_axes(width=8.0 if many else 4.5)
    palette = matplotlib.colormaps["tab20" if many else "tab10"]
    for index, (name, y_true, y_score, result) in enumerate(curves):
        style = {"color": palette(index % palette.N), "linestyle": _LINE_STYLES[index % len(_LINE_STYLES)]}
        positive = np.asarray(y_true).ravel().astype(bool)
        label = name
        if result is not None:
            label = f"{name}: AUC {result.value:.3f} [{result.ci_low:.3f}, {result.ci_high:.3f}]"
        if positive.any() and not positive.all():
            fpr, tpr, _ = roc_curve(positive, np.asarray(y_score, dtype=np.float64).ravel())
            ax.plot(fpr, tpr, label=label, **style)
        else:
            ax.plot([], [], label=f"{label} (one class only)", **style)
    return _finish(fig, ax, title, path, legend_outside=many)
