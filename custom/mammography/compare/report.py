"""The comparison's outputs: a CSV and Markdown tables of AUCs and paired differences with CIs, ROC figures,
embedding maps."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.manifold import TSNE

from custom.evaluation.paired import DIFFERENCE_COLUMNS

TABLE_COLUMNS = ("method", "patch_preset", "task", "metric", "value", "ci_low", "ci_high", "n", "n_patients",
                 "pretrain_seconds", *DIFFERENCE_COLUMNS)


def write_csv(rows: Sequence[Mapping], path: Path, columns: Sequence[str]) -> Path:
    """``columns`` of every row (empty where a row lacks one), in that order."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows({key: row.get(key) for key in columns} for row in rows)
    return path


def markdown_table(rows: Sequence[Mapping], methods: Sequence[str], presets: Sequence[str], tasks: Sequence[str]) -> str:
    """One line per method; per patch preset and task the AUC with its 95% CI, then pretraining minutes."""
    cell = {(r["method"], r["patch_preset"], r["task"]): r for r in rows}
    minutes = {(r["method"], r["patch_preset"]): r["pretrain_seconds"] / 60 for r in rows}
    header = ["method"] + [f"{task} ({preset})" for preset in presets for task in tasks] + [
        f"pretrain min ({preset})" for preset in presets]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method in methods:
        values = []
        for preset in presets:
            for task in tasks:
                row = cell.get((method, preset, task))
                values.append("skipped" if row is None else f"{row['value']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]")
        values += [f"{minutes[(method, p)]:.1f}" if (method, p) in minutes else "" for p in presets]
        lines.append("| " + " | ".join([method, *values]) + " |")
    return "\n".join(lines) + "\n"


def _difference(row: Mapping, kind: str) -> str:
    if row.get(kind) is None:
        return ""
    low, high = row[f"diff_ci_low_{kind}"], row[f"diff_ci_high_{kind}"]
    text = f"{row[f'diff_{kind}']:+.3f} [{low:+.3f}, {high:+.3f}]"
    text = f"**{text}**" if low > 0 or high < 0 else text
    return text if kind == "reference" else f"{text} ({row[kind]})"


def markdown_differences(rows: Sequence[Mapping], methods: Sequence[str], presets: Sequence[str],
                         tasks: Sequence[str], reference: str) -> str:
    """Per patch preset and task, each method's AUC minus the reference's and minus the best other method's,
    with paired 95% CIs (both probes refitted on the same patient resamples); bold where the CI excludes 0."""
    cell = {(r["method"], r["patch_preset"], r["task"]): r for r in rows}
    sections = []
    for preset in presets:
        for task in tasks:
            present = [cell[(m, preset, task)] for m in methods if (m, preset, task) in cell]
            if not present:
                continue
            lines = [f"### {task}, patch preset {preset}", "",
                     f"| method | AUC | minus {reference} | minus the best other method |", "|---|---|---|---|"]
            for row in present:
                auc = f"{row['value']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
                to_reference = "(reference)" if row["method"] == reference else _difference(row, "reference")
                lines.append(f"| {row['method']} | {auc} | {to_reference} | {_difference(row, 'best_other')} |")
            sections.append("\n".join(lines))
    note = ("Paired AUC differences (this method minus the other) with 95% CIs from the same patient resamples "
            "for both; **bold**: the interval excludes 0.")
    return "\n\n".join([note, *sections]) + "\n"


FOCUS_COLUMNS = ("method", "other", "patch_preset", "task", "diff", "ci_low", "ci_high")


def markdown_focus_differences(contrasts: Sequence[Mapping], presets: Sequence[str], tasks: Sequence[str]) -> str:
    """Per patch preset, one method's AUC minus every other method's (one line each), per task, with paired
    95% CIs; bold where the CI excludes 0."""
    cell = {(r["other"], r["patch_preset"], r["task"]): r for r in contrasts}
    sections = []
    for preset in presets:
        present = [r for r in contrasts if r["patch_preset"] == preset]
        if not present:
            continue
        shown = [task for task in tasks if any(r["task"] == task for r in present)]
        others = list(dict.fromkeys(r["other"] for r in present))
        lines = [f"### {present[0]['method']} minus each other method, patch preset {preset}", "",
                 "| other method | " + " | ".join(shown) + " |", "|" + "---|" * (len(shown) + 1)]
        for other in others:
            values = []
            for task in shown:
                row = cell.get((other, preset, task))
                if row is None:
                    values.append("")
                    continue
                text = f"{row['diff']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]"
                values.append(f"**{text}**" if row["ci_low"] > 0 or row["ci_high"] < 0 else text)
            lines.append("| " + " | ".join([other, *values]) + " |")
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + "\n" if sections else ""


def plot_embedding_maps(embeddings: Mapping[str, tuple[np.ndarray, np.ndarray]], path: Path, *, seed: int, title: str,
                        max_points: int = 1000) -> Path:
    """A t-SNE map per method of its probe embeddings, normal vs abnormal patches coloured apart.

    Each map shows the same random ``max_points`` patches (drawn with ``seed``) of every method: a t-SNE of
    all 2,200 patches of the evaluation set took about 9 s per method on 2 cores.
    """
    names = list(embeddings)
    n = len(next(iter(embeddings.values()))[1]) if names else 0
    shown = np.sort(np.random.default_rng(seed).permutation(n)[:max_points])
    columns = min(4, len(names))
    rows = int(np.ceil(len(names) / columns))
    fig = Figure(figsize=(3.2 * columns, 3.2 * rows), dpi=100)
    FigureCanvasAgg(fig)
    for k, name in enumerate(names):
        features, abnormal = embeddings[name][0][shown], embeddings[name][1][shown]
        ax = fig.add_subplot(rows, columns, k + 1)
        perplexity = float(min(30, max(2, (len(features) - 1) // 4)))
        points = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
            np.asarray(features, dtype=np.float64))
        for label, colour, text in ((0, "tab:blue", "normal"), (1, "tab:red", "abnormal")):
            chosen = abnormal == label
            ax.scatter(points[chosen, 0], points[chosen, 1], s=6, c=colour, label=text, alpha=0.7)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.axes[0].legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
