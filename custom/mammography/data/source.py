"""One object that bundle configs instantiate to get from a data-set folder to patch datasets."""

from __future__ import annotations

import hashlib
import logging
from functools import cached_property
from pathlib import Path

import ignite.distributed as idist
import pandas as pd

from custom.mammography.data.exam_cache import ExamRecord, prepare_exams
from custom.mammography.data.manifest import build_manifest
from custom.mammography.data.pair_dataset import BreastPatchDataset, LabelledPatchDataset
from custom.mammography.data.presets import patch_preset
from custom.skip_report import SkipReport

logger = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")


def default_cache_dir(dataset_dir: str | Path) -> Path:
    """A per-data-set cache under the user's cache folder: the data-set folder itself is never written."""
    digest = hashlib.sha1(str(Path(dataset_dir).resolve()).encode()).hexdigest()[:12]
    return Path.home() / ".cache" / "mammo-ssl" / digest


class MammoDataSource:
    """Manifest, aligned-exam cache and patch datasets of one data set, built lazily and once.

    With ``synthetic_studies > 0`` and no VinDr annotation file in ``dataset_dir``, a synthetic VinDr-layout
    data set is generated there first (the built-in demo data); a folder that already holds data is
    never written to. ``assumed_pixel_spacing`` (mm): the spacing of files that state none (CBIS-DDSM's film
    scans, PNG); None skips such files, naming them.
    """

    def __init__(
        self,
        dataset_dir: str,
        dataset_format: str = "vindr",
        cache_dir: str | None = None,
        patch_preset_name: str = "96",
        seed: int = 0,
        registration: str = "mask",
        synthetic_studies: int = 0,
        synthetic_preset: str = "default",
        num_workers: int = 0,
        assumed_pixel_spacing: float | None = None,
    ):
        self.dataset_dir = Path(dataset_dir)
        self.dataset_format = dataset_format
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir(dataset_dir)
        self.preset = patch_preset(patch_preset_name)
        self.patch_preset_name = str(patch_preset_name)
        self.seed = seed
        self.registration = registration
        self.synthetic_studies = synthetic_studies
        self.synthetic_preset = synthetic_preset
        self.num_workers = num_workers
        self.assumed_pixel_spacing = assumed_pixel_spacing
        self.report = SkipReport()

    @property
    def patch_size(self) -> int:
        return int(self.preset["patch_size"])

    def _ensure_synthetic(self) -> None:
        if self.synthetic_studies <= 0 or self.dataset_format != "vindr":
            return
        if (self.dataset_dir / "breast-level_annotations.csv").exists():
            return
        if self.dataset_dir.exists() and any(self.dataset_dir.iterdir()):
            raise FileNotFoundError(
                f"{self.dataset_dir}: no breast-level_annotations.csv, and the folder is not empty; "
                "refusing to write synthetic data into it"
            )
        from custom.mammography.data.synthetic import generate_vindr_like

        logger.info("no data in %s: generating %d synthetic studies", self.dataset_dir, self.synthetic_studies)
        generate_vindr_like(self.dataset_dir, studies=self.synthetic_studies, seed=self.seed, preset=self.synthetic_preset)

    @cached_property
    def manifest(self) -> pd.DataFrame:
        with idist.one_rank_first():  # rank 0 writes, the others wait, then read
            self._ensure_synthetic()
        return build_manifest(self.dataset_format, self.dataset_dir, seed=self.seed, report=self.report)

    @cached_property
    def exams(self) -> list[ExamRecord]:
        exam_dir = self.cache_dir / f"exams_{self.patch_preset_name}_{self.registration}"
        manifest = self.manifest
        with idist.one_rank_first():  # rank 0 writes, the others wait, then read
            return prepare_exams(
                manifest, exam_dir, spacing=self.preset["spacing"], registration=self.registration,
                downsample=self.preset["spacing"] / self.assumed_pixel_spacing if self.assumed_pixel_spacing else None,
                num_workers=self.num_workers, report=self.report,
            )

    def exams_of(self, split: str) -> list[ExamRecord]:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return [exam for exam in self.exams if exam.split == split]

    def probe_dataset(self, splits: tuple[str, ...] = ("val", "test"), normal_per_exam: int = 2,
                      controls: str = "normal_exams", benchmark: bool = True) -> LabelledPatchDataset:
        """The linear probe's held-out patches, cut from :meth:`probe_exams`."""
        return LabelledPatchDataset(self.probe_exams(splits, benchmark), patch_size=self.patch_size,
                                    normal_per_exam=normal_per_exam, seed=self.seed, controls=controls)

    def probe_exams(self, splits: tuple[str, ...] = ("val", "test"), benchmark: bool = True) -> list[ExamRecord]:
        """The linear probe's held-out exams. With ``benchmark``, built-in synthetic data of the current
        generator version is probed on the frozen benchmark's evaluation set (500 studies of patients never
        seen in pretraining, generated once per version; its skipped inputs join this source's report); any
        other data set on its own ``splits``."""
        from custom.mammography.data.synthetic import SYNTHETIC_VERSION, synthetic_version_of
        from custom.mammography.data.synthetic.benchmark import EVALUATION_SET, benchmark_source

        with idist.one_rank_first():  # an empty folder gets its synthetic data before its version is read
            self._ensure_synthetic()
        version = synthetic_version_of(self.dataset_dir)
        if not benchmark or version != SYNTHETIC_VERSION:
            if benchmark and version is not None:
                logger.warning("%s is synthetic data of generator version %s (current: %s): probing on its own "
                               "splits; delete the folder to regenerate it", self.dataset_dir, version,
                               SYNTHETIC_VERSION)
            return [exam for exam in self.exams if exam.split in splits]
        evaluation = benchmark_source(EVALUATION_SET, patch_preset=self.patch_preset_name, num_workers=self.num_workers,
                                      seed=self.seed)
        self.report.extend(evaluation.report)
        return evaluation.exams_of("test")

    def breast_patches(self, splits: tuple[str, ...] = ("train",), per_breast: int = 2) -> BreastPatchDataset:
        """Clean, unlabelled patches of the ``splits`` exams: what the probe re-estimates batch-norm statistics on."""
        return BreastPatchDataset([exam for exam in self.exams if exam.split in splits], patch_size=self.patch_size,
                                  per_breast=per_breast, seed=self.seed)

    def labelled_dataset(
        self, splits: tuple[str, ...] = ("train", "val", "test"), normal_per_exam: int = 2,
        controls: str = "normal_exams",
    ) -> LabelledPatchDataset:
        exams = [exam for exam in self.exams if exam.split in splits]
        return LabelledPatchDataset(exams, patch_size=self.patch_size, normal_per_exam=normal_per_exam, seed=self.seed,
                                    controls=controls)
