"""Patch datasets cut from the aligned-exam cache.

``ContralateralPairDataset``: patch pairs at corresponding places of the two breasts, with weak labels,
for pretraining. ``LabelledPatchDataset``: single patches centred on findings or on normal tissue, with
their labels, for the linear probe. Locations are drawn once, deterministically from the seed, so every
epoch sees the same pairs and the soft labels can follow each pair from epoch to epoch.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from custom.mammography.data.exam_cache import MOVING_SIDE, REFERENCE_SIDE, ExamRecord
from custom.mammography.data.subtraction import subtraction_peaks

WEAK_NORMAL, WEAK_UNKNOWN = 0, -1
SUPERVISION_MODES = ("weak", "none")
# where pair centres are drawn (see ContralateralPairDataset)
SAMPLING_MODES = ("uniform", "subtraction", "findings")
# where the linear probe's normal patches come from (see LabelledPatchDataset)
PROBE_CONTROLS = ("normal_exams", "contralateral", "both")
# breast of each image channel of an aligned exam stack (channels 2 and 3 hold their masks)
STACK_SIDES = (REFERENCE_SIDE, MOVING_SIDE)


def _cut(array: np.ndarray, centre_y: int, centre_x: int, size: int) -> np.ndarray:
    """A ``size`` x ``size`` window centred on a pixel; parts outside the image are background (0)."""
    half = size // 2
    y0, x0 = centre_y - half, centre_x - half
    out = np.zeros((size, size), dtype=np.float32)
    sy0, sx0 = max(y0, 0), max(x0, 0)
    sy1, sx1 = min(y0 + size, array.shape[0]), min(x0 + size, array.shape[1])
    if sy1 > sy0 and sx1 > sx0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = array[sy0:sy1, sx0:sx1]
    return out


def _centre_in_box(y: float, x: float, box, margin: float = 0.0) -> bool:
    xmin, ymin, xmax, ymax = box
    return xmin - margin <= x <= xmax + margin and ymin - margin <= y <= ymax + margin


def _patch_contains_finding(y: int, x: int, size: int, findings: list[dict]) -> bool:
    """True when a finding's box centre lies inside the patch: the pair really holds a lesion."""
    half = size / 2
    for finding in findings:
        xmin, ymin, xmax, ymax = finding["box"]
        cy, cx = (ymin + ymax) / 2, (xmin + xmax) / 2
        if abs(cy - y) <= half and abs(cx - x) <= half:
            return True
    return False


class ContralateralPairDataset(Dataset):
    """Corresponding patch pairs of the two aligned breasts of each exam.

    Each item: ``image_a`` / ``image_b`` (``(1, P, P)`` float tensors: reference breast and aligned
    contralateral breast), ``weak_label`` (0 when both breasts of the study are normal, -1 unknown),
    ``truth`` (1 when a finding lies in the patch; diagnostics only, never a training target),
    ``index``, ``patient_id``, ``study_id``, ``view``. With ``supervision="none"`` every weak label is -1.

    ``candidate_pairs_per_exam`` (default: ``pairs_per_exam``) sets how many pairs come from each exam
    whose label is unknown. Only a few of a candidate exam's pairs hold its lesion, so drawing more there
    raises the share of lesion pairs that the soft labels can find, using nothing beyond the weak labels.

    ``sampling`` says where pair centres are drawn, in every exam alike:

    - ``"uniform"``: anywhere both breasts are;
    - ``"subtraction"``: a share ``1 - uniform_share`` at the peaks of the exam's bilateral subtraction map
      (where one breast is denser than the other: lesions and normal asymmetries alike), the rest uniform.
      No label is used; in normal exams these pairs teach which asymmetries are normal;
    - ``"findings"``: a weakly supervised reference, never the default: in exams with annotated findings the
      guided share is centred on the findings (jittered by up to a quarter patch), elsewhere uniform. It shows
      what the loss and the soft labels can learn when the signal is dense.

    ``spacing_mm`` (the exams' pixel spacing) sets the subtraction's smoothing in pixels. ``data``: the aligned
    exams (MONAI's name for a dataset's items, which the model zoo's configs expect as ``train#dataset#data``).

    ``fixed_labels``: a callable that, given the drawn pairs (this dataset), returns ``(labels, keep)`` per pair
    or ``None`` (e.g. :class:`custom.mammography.engines.fixed_labels.FixedPairLabels`): the pairs not kept are
    dropped, and ``fixed_targets`` holds the kept pairs' labels (``None`` when nothing was fixed).
    """

    def __init__(
        self,
        data: list[ExamRecord],
        patch_size: int = 96,
        pairs_per_exam: int = 16,
        seed: int = 0,
        supervision: str = "weak",
        min_overlap: float = 0.6,
        candidate_pairs_per_exam: int | None = None,
        sampling: str = "uniform",
        uniform_share: float = 0.25,
        spacing_mm: float = 0.5,
        fixed_labels=None,
    ):
        if supervision not in SUPERVISION_MODES:
            raise ValueError(f"supervision must be one of {SUPERVISION_MODES}, got {supervision!r}")
        if sampling not in SAMPLING_MODES:
            raise ValueError(f"sampling must be one of {SAMPLING_MODES}, got {sampling!r}")
        if not 0.0 <= uniform_share <= 1.0:
            raise ValueError(f"uniform_share must lie in [0, 1], got {uniform_share}")
        if not data:
            raise ValueError("no exams to sample pairs from: the data set is empty after skipping bad input")
        self.exams = exams = data
        self.patch_size = int(patch_size)
        rng = np.random.default_rng(seed)
        bank, rows = [], []
        for exam_index, exam in enumerate(exams):
            stack = exam.load()
            both = np.logical_and(stack[2] > 0.5, stack[3] > 0.5)
            weak = WEAK_NORMAL if (supervision == "weak" and exam.is_normal_pair) else WEAK_UNKNOWN
            count = pairs_per_exam if weak == WEAK_NORMAL or candidate_pairs_per_exam is None else candidate_pairs_per_exam
            guided = 0 if sampling == "uniform" else int(round((1.0 - uniform_share) * count))
            centres = _guided_centres(stack, exam, sampling, guided, self.patch_size, spacing_mm, rng)
            centres += _sample_centres(both, count - len(centres), self.patch_size, min_overlap, rng)
            for y, x in centres:
                bank.append(np.stack([_cut(stack[0], y, x, self.patch_size), _cut(stack[1], y, x, self.patch_size)]))
                rows.append((exam_index, y, x, weak, int(_patch_contains_finding(y, x, self.patch_size, exam.findings))))
        if not bank:
            raise ValueError("no patch pair could be sampled: breast masks do not overlap in any exam")
        self.patches = np.stack(bank).astype(np.float16)
        self.table = np.asarray(rows, dtype=np.int64)
        self.fixed_targets: np.ndarray | None = None
        chosen = fixed_labels(self) if fixed_labels is not None else None
        if chosen is not None:
            labels, keep = chosen
            if not keep.any():
                raise ValueError("the fixed pair labels keep no pair to train on")
            self.patches, self.table = self.patches[keep], self.table[keep]
            self.fixed_targets = np.asarray(labels, dtype=np.float32)[keep]

    def __len__(self) -> int:
        return len(self.table)

    @property
    def exam_indices(self) -> np.ndarray:
        """Index into ``exams`` of each pair's exam."""
        return self.table[:, 0]

    @property
    def weak_labels(self) -> np.ndarray:
        return self.table[:, 3]

    @property
    def truth(self) -> np.ndarray:
        return self.table[:, 4]

    @property
    def patient_ids(self) -> np.ndarray:
        return np.asarray([self.exams[i].patient_id for i in self.table[:, 0]])

    def __getitem__(self, index: int) -> dict:
        exam_index, _, _, weak, truth = self.table[index]
        exam = self.exams[exam_index]
        pair = torch.from_numpy(self.patches[index].astype(np.float32))
        return {
            "image_a": pair[0:1],
            "image_b": pair[1:2],
            "weak_label": int(weak),
            "truth": int(truth),
            "index": int(index),
            "patient_id": exam.patient_id,
            "study_id": exam.study_id,
            "view": exam.view,
        }


def _is_matched_control(exam: ExamRecord, stack: np.ndarray, channel: int, y: int, x: int) -> bool:
    """The aligned place ``(y, x)`` of breast ``channel`` is inside that breast and on none of its findings."""
    height, width = stack.shape[1:]
    if not (0 <= y < height and 0 <= x < width) or stack[2 + channel, y, x] <= 0.5:
        return False
    return not any(_centre_in_box(y, x, f["box"]) for f in exam.findings if f["side"] == STACK_SIDES[channel])


def _one_per_lesion(findings: list[dict]) -> list[dict]:
    """The first finding of each (side, box): a mass with calcifications is annotated twice in one place."""
    seen, out = set(), []
    for finding in findings:
        key = (finding["side"], tuple(finding["box"]))
        if key not in seen:
            seen.add(key)
            out.append(finding)
    return out


def _birads_code(birads: int | None) -> int:
    """BI-RADS as stored in the label arrays: -1 when unknown."""
    return -1 if birads is None else int(birads)


def _guided_centres(stack: np.ndarray, exam: ExamRecord, sampling: str, count: int, size: int,
                    spacing_mm: float, rng) -> list[tuple[int, int]]:
    """Up to ``count`` centres at subtraction peaks, or on the exam's findings (the reference mode)."""
    if count == 0 or sampling == "uniform":
        return []
    if sampling == "subtraction":
        return subtraction_peaks(stack, spacing_mm, count, size / 2)
    findings = _one_per_lesion(exam.findings)
    centres = []
    for i in range(count if findings else 0):
        xmin, ymin, xmax, ymax = findings[i % len(findings)]["box"]
        jitter = rng.integers(-(size // 4), size // 4 + 1, 2)
        centres.append((int(round((ymin + ymax) / 2)) + int(jitter[0]), int(round((xmin + xmax) / 2)) + int(jitter[1])))
    return centres


def _sample_centres(mask: np.ndarray, count: int, size: int, min_overlap: float, rng) -> list[tuple[int, int]]:
    """Draws patch centres inside ``mask`` whose patch is at least ``min_overlap`` breast tissue."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return []
    centres: list[tuple[int, int]] = []
    for _ in range(count * 8):
        if len(centres) == count:
            break
        i = rng.integers(ys.size)
        y, x = int(ys[i]), int(xs[i])
        if _cut(mask.astype(np.float32), y, x, size).mean() >= min_overlap:
            centres.append((y, x))
    return centres


class BreastPatchDataset(Dataset):
    """Unlabelled patches at random places inside each breast of each exam, neither augmented nor guided.

    What an encoder's batch-norm statistics are re-estimated on before probing
    (:func:`custom.evaluation.recalibrated_batchnorm`): clean tissue of the training exams, drawn alike for
    every encoder. Each item: ``image`` (``(1, P, P)``).
    """

    def __init__(self, data: list[ExamRecord], patch_size: int = 96, per_breast: int = 2, seed: int = 0):
        if not data:
            raise ValueError("no exams to cut breast patches from")
        rng = np.random.default_rng(seed)
        patches = []
        for exam in data:
            stack = exam.load()
            for channel in range(len(STACK_SIDES)):
                mask = stack[2 + channel] > 0.5
                patches += [_cut(stack[channel], y, x, patch_size)
                            for y, x in _sample_centres(mask, per_breast, patch_size, 0.6, rng)]
        if not patches:
            raise ValueError("no breast patch could be cut: no breast mask holds a patch")
        self.patches = np.stack(patches).astype(np.float16)

    def __len__(self) -> int:
        return len(self.patches)

    def __getitem__(self, index: int) -> dict:
        return {"image": torch.from_numpy(self.patches[index].astype(np.float32))[None]}


class LabelledPatchDataset(Dataset):
    """Single patches for the linear probe: one centred on each finding, and normal-tissue patches.

    ``controls`` says where the normal patches come from:

    - ``"normal_exams"``: ``normal_per_exam`` random places per breast of studies whose both breasts are
      normal, so a "normal" patch never sits on an unannotated part of a lesion. Normal and lesion patches
      then differ in patient and in place too (lesions sit in glandular tissue; random places include the
      skin line and fat), which a probe can use without seeing any lesion.
    - ``"contralateral"``: a matched control per finding, the aligned place of the other breast of the same
      exam (skipped when that place is outside the other breast or on a finding there). Same patient, view
      and place: only the lesion differs.
    - ``"both"``: both kinds of controls.

    Each item: ``image`` (``(1, P, P)``), ``abnormal`` (0/1), ``birads`` (finding BI-RADS, else the breast's;
    -1 unknown), ``malignant`` (1/0, -1 unknown), ``patient_id``. The attributes ``category`` (the finding's
    first category, "" for a control) and ``control`` (``"normal_exams"``, ``"contralateral"``, "" for a
    lesion) say what each patch is, for per-kind figures.
    """

    def __init__(self, data: list[ExamRecord], patch_size: int = 96, normal_per_exam: int = 2, seed: int = 0,
                 controls: str = "normal_exams"):
        exams = data  # MONAI's name for a dataset's items (``validate#dataset#data`` in the zoo's configs)
        if not exams:
            raise ValueError("no exams to cut labelled patches from")
        if controls not in PROBE_CONTROLS:
            raise ValueError(f"controls must be one of {PROBE_CONTROLS}, got {controls!r}")
        rng = np.random.default_rng(seed)
        patches, rows = [], []
        for exam in exams:
            stack = exam.load()
            for finding in _one_per_lesion(exam.findings):
                channel = STACK_SIDES.index(finding["side"])
                xmin, ymin, xmax, ymax = finding["box"]
                y, x = int(round((ymin + ymax) / 2)), int(round((xmin + xmax) / 2))
                birads = finding.get("birads") or exam.breast_birads.get(finding["side"])
                pathology = finding.get("pathology")
                malignant = {"malignant": 1, "benign": 0}.get(pathology, -1)
                patches.append(_cut(stack[channel], y, x, patch_size))
                rows.append((1, _birads_code(birads), malignant, exam.patient_id, finding["category"], ""))
                other = 1 - channel
                if controls in ("contralateral", "both") and _is_matched_control(exam, stack, other, y, x):
                    patches.append(_cut(stack[other], y, x, patch_size))
                    rows.append((0, _birads_code(exam.breast_birads.get(STACK_SIDES[other])), -1, exam.patient_id,
                                 "", "contralateral"))
            if controls in ("normal_exams", "both") and exam.is_normal_pair:
                for channel, side in enumerate(STACK_SIDES):
                    mask = stack[2 + channel] > 0.5
                    for y, x in _sample_centres(mask, normal_per_exam, patch_size, 0.6, rng):
                        patches.append(_cut(stack[channel], y, x, patch_size))
                        rows.append((0, _birads_code(exam.breast_birads.get(side)), -1, exam.patient_id,
                                     "", "normal_exams"))
        if not patches:
            raise ValueError("no labelled patch could be cut: no findings and no normal exams")
        self.patches = np.stack(patches).astype(np.float16)
        self.abnormal = np.asarray([r[0] for r in rows], dtype=np.int64)
        self.birads = np.asarray([r[1] for r in rows], dtype=np.int64)
        self.malignant = np.asarray([r[2] for r in rows], dtype=np.int64)
        self.patient_ids = np.asarray([r[3] for r in rows])
        self.category = np.asarray([r[4] for r in rows])
        self.control = np.asarray([r[5] for r in rows])

    def __len__(self) -> int:
        return len(self.abnormal)

    def __getitem__(self, index: int) -> dict:
        return {
            "image": torch.from_numpy(self.patches[index].astype(np.float32))[None],
            "abnormal": int(self.abnormal[index]),
            "birads": int(self.birads[index]),
            "malignant": int(self.malignant[index]),
            "patient_id": str(self.patient_ids[index]),
        }
