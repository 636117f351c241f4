"""One object that bundle configs instantiate to get from a data-set folder to patch datasets."""

from __future__ import annotations

import hashlib
import logging
import os
from functools import cached_property
from pathlib import Path

import ignite.distributed as idist
import pandas as pd

from custom.clear_errors import DataSetError
from custom.dataset_identity import DataSetIdentity, identify_data_set
from custom.distributed import gather_to_all, is_main_process, rank_and_world_size
from custom.mammography.data.exam_cache import ExamRecord, prepare_exams, spacing_assumptions
from custom.mammography.data.manifest import build_manifest
from custom.mammography.data.pair_dataset import BreastPatchDataset, LabelledPatchDataset
from custom.mammography.data.presets import patch_preset
from custom.mammography.data.spacing import assumed_spacing_warning
from custom.mammography.data.synthetic import benchmark as benchmark_sets
from custom.mammography.data.synthetic.vindr import SYNTHETIC_VERSION, synthetic_version_of
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
    data set is generated there first (the built-in demo data), but only where synthetic data was asked for:
    ``synthetic_dir``, the bundle's own default data folder (None: ``dataset_dir`` itself, for library callers
    that document it, such as ``compare``). Any other ``dataset_dir`` is only read: a folder that does not
    exist, or holds no data set of ``dataset_format``, is a ``DataSetError`` (a mistyped path must not train
    on synthetic data), and a folder that already holds data is never written to. ``assumed_pixel_spacing``
    (mm): the spacing of files that state none (CBIS-DDSM's film scans, PNG); None reads them at their
    archive's (:mod:`custom.mammography.data.spacing`), with a warning.
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
        synthetic_dir: str | None = None,
    ):
        self.dataset_dir = Path(dataset_dir)
        self.synthetic_dir = Path(synthetic_dir) if synthetic_dir is not None else None
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

    @property
    def synthetic_asked(self) -> bool:
        """Whether built-in synthetic data may be written into ``dataset_dir``."""
        if self.synthetic_studies <= 0 or self.dataset_format != "vindr":
            return False
        return self.synthetic_dir is None or _same_folder(self.synthetic_dir, self.dataset_dir)

    def _ensure_synthetic(self) -> None:
        if not self.synthetic_asked:
            self._check_folder()
            return
        if (self.dataset_dir / "breast-level_annotations.csv").exists():
            return
        if self.dataset_dir.exists() and any(self.dataset_dir.iterdir()):
            raise DataSetError(
                f"{self.dataset_dir}: no breast-level_annotations.csv, and the folder is not empty; "
                "refusing to write synthetic data into it"
            )
        from custom.mammography.data.synthetic import generate_vindr_like

        logger.info("no data in %s: generating %d synthetic studies", self.dataset_dir, self.synthetic_studies)
        generate_vindr_like(self.dataset_dir, studies=self.synthetic_studies, seed=self.seed, preset=self.synthetic_preset)

    def _check_folder(self) -> None:
        """A user-named data folder must exist and hold something: it is read, never created or filled."""
        folder = self.dataset_dir
        hint = (f"give the folder that holds the {self.dataset_format} data set, or leave dataset_dir unset for "
                "the built-in synthetic data")
        if not folder.is_dir():
            problem = "is a file, not a folder" if folder.exists() else "no such folder"
            raise DataSetError(f"dataset_dir {folder}: {problem}; {hint}")
        if not any(folder.iterdir()):
            raise DataSetError(f"dataset_dir {folder}: the folder is empty; {hint}")

    @cached_property
    def manifest(self) -> pd.DataFrame:
        with idist.one_rank_first():  # rank 0 writes, the others wait, then read
            self._ensure_synthetic()
        return build_manifest(self.dataset_format, self.dataset_dir, seed=self.seed, report=self.report)

    @cached_property
    def identity(self) -> DataSetIdentity:
        """The data set's fingerprint (its images' paths and sizes, splits and labels), which a training run
        records beside its checkpoints (``custom.run_folder``)."""
        columns = ["path", "split", "patient_id", "laterality", "view", "breast_birads", "findings"]
        rows = self.manifest[columns].astype(str).itertuples(index=False, name=None)
        return identify_data_set(self.dataset_dir, self.dataset_format, rows)

    @cached_property
    def exams(self) -> list[ExamRecord]:
        """The aligned exams of every study-view, from the cache (built where missing or damaged).

        Under torchrun each rank builds its share of the exams into the shared cache (``prepare_exams``'s
        ``shard``), and the ranks exchange their records and skipped inputs, so that every rank holds all of them,
        as one process would: the preparation of a large archive takes ``1 / world size`` of its time.
        """
        exam_dir = self.cache_dir / f"exams_{self.patch_preset_name}_{self.registration}"
        manifest = self.manifest
        rank, world_size = rank_and_world_size()
        report = self.report if world_size == 1 else SkipReport()
        share = prepare_exams(
            manifest, exam_dir, spacing=self.preset["spacing"], registration=self.registration,
            assumed_spacing=self.assumed_pixel_spacing, num_workers=self.num_workers, report=report,
            progress=is_main_process(), shard=(rank, world_size),
        )
        if world_size == 1:
            exams = share
        else:
            shares = gather_to_all((share, report.items))
            exams = [exam for records, _ in shares for exam in records]
            self.report.items.extend(item for _, items in shares for item in items)
            warning = assumed_spacing_warning(spacing_assumptions([exam.geometry for exam in exams]))
            if warning and is_main_process():
                logger.warning("%s", warning)
        unwritten = [path for path, problem in self.report.items if problem.startswith(_CACHE_UNWRITABLE)]
        if unwritten:
            raise DataSetError(f"{exam_dir}: cannot write the exam cache there ({len(unwritten)} exam(s) not written, "
                               f"first {unwritten[0]}); free space there or set cache_dir to a folder with room")
        if not exams:
            raise DataSetError(f"dataset_dir {self.dataset_dir}: no usable exam after skipping bad input "
                               f"({self.report.summary()})")
        return exams

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
        with idist.one_rank_first():  # an empty folder gets its synthetic data before its version is read
            self._ensure_synthetic()
        version = synthetic_version_of(self.dataset_dir)
        if not benchmark or version != SYNTHETIC_VERSION:
            if benchmark and version is not None:
                logger.warning("%s is synthetic data of generator version %s (current: %s): probing on its own "
                               "splits; delete the folder to regenerate it", self.dataset_dir, version,
                               SYNTHETIC_VERSION)
            return [exam for exam in self.exams if exam.split in splits]
        evaluation = benchmark_source(benchmark_sets.EVALUATION_SET, patch_preset=self.patch_preset_name,
                                      num_workers=self.num_workers, seed=self.seed)
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


# how the exam cache reports a cache file it cannot write (a full disk): the run stops rather than go on without
_CACHE_UNWRITABLE = "exam not usable: cannot write the cache file"


def _same_folder(a: Path, b: Path) -> bool:
    return Path(os.path.abspath(a)) == Path(os.path.abspath(b)) or a.resolve() == b.resolve()


def benchmark_source(spec: benchmark_sets.SyntheticSet, root: str | Path | None = None, *, patch_preset: str = "96",
                     num_workers: int = 0, seed: int = 0) -> MammoDataSource:
    """A data set of the frozen benchmark (:mod:`custom.mammography.data.synthetic.benchmark`) as a
    :class:`MammoDataSource`, generated first if needed, its aligned-exam cache kept beside it in the benchmark
    folder so that every command reuses it."""
    folder = benchmark_sets.ensure_synthetic_set(spec, root)
    return MammoDataSource(str(folder), "vindr", cache_dir=str(folder.parent / "cache" / spec.name),
                           patch_preset_name=patch_preset, seed=seed, num_workers=num_workers)
