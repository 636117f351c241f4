"""The bad-input corpus (tests/corpus.py) through the commands a user runs: ``manifest --check``, the bundle's
data preparation (what training and evaluation run first) and ``heatmap``, serially and with the default
worker processes. Every message names the file and the problem, a run goes on where it can and counts what
it skipped, and no input byte changes. Then the cache's own failures, bad outputs and bad bundle keys."""

from __future__ import annotations

import errno
import hashlib
import json
import multiprocessing
import os
import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import custom.atomic_write as atomic
from custom.mammography.data import MammogramReadError, MammoDataSource, SkipReport, build_manifest, prepare_exams, read_mammogram
from custom.mammography.data.parallel import default_workers
from tests.archive_fixtures import run_cli as run_cli_parts
from tests.archive_fixtures import tiny_bundle
from tests.corpus import ANNOTATION_CASES, CASES, exam_of, write_archive

WORKERS = [0, default_workers()]


def digest(root: Path) -> dict[str, str]:
    """SHA-1 of every file under ``root`` and the target of every link, without following links (loops)."""
    found = {}
    for folder, folders, files in os.walk(root):
        for name in folders + files:
            path = Path(folder) / name
            if path.is_symlink():
                found[str(path)] = "-> " + os.readlink(path)
            elif name in files:
                found[str(path)] = hashlib.sha1(path.read_bytes()).hexdigest()
    return found


def run_cli(capsys, *args: str) -> tuple[int, str]:
    """Exit code and everything printed."""
    code, out, err = run_cli_parts(capsys, *args)
    return code, out + err


def assert_named(messages: list[tuple[str, str]], expect) -> None:
    """Each expected culprit file is named with a problem matching the case's pattern."""
    for culprit in expect.culprits:
        problems = [problem for path, problem in messages if path == str(culprit)]
        assert any(re.search(expect.problem, problem) for problem in problems), (culprit, messages)


def printed_items(text: str) -> list[tuple[str, str]]:
    """(file, problem) pairs of a printed skip summary, warnings and errors: every "<path>: <problem>"."""
    items = []
    for line in text.splitlines():
        for match in re.finditer(r"(/[^\s:;()]+)[:;)]?\s*(.*)", line):
            items.append((match.group(1), line))
    return items


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    return write_archive(tmp_path_factory.mktemp("archive"))


@pytest.fixture(scope="module")
def spoiled(archive, tmp_path_factory):
    """``spoiled(name) -> (root, expect, digest)``: the archive spoiled by one case, built once per module."""
    built = {}

    def get(name: str):
        if name not in built:
            root = tmp_path_factory.mktemp(name) / "archive"
            shutil.copytree(archive, root, symlinks=True)
            expect = CASES[name](root)
            built[name] = (root, expect, digest(root))
        return built[name]

    return get


@pytest.fixture(scope="module")
def bundle(archive, tmp_path_factory) -> Path:
    return tiny_bundle(tmp_path_factory.mktemp("bundle"), [exam_of(archive, "s1"), exam_of(archive, "s2")])


@pytest.mark.parametrize("workers", WORKERS)
@pytest.mark.parametrize("name", CASES)
def test_manifest_check_names_each_bad_file(spoiled, name, workers, tmp_path, capsys):
    root, expect, before = spoiled(name)
    out = tmp_path / "manifest.csv"
    code, printed = run_cli(capsys, "manifest", "--format", expect.fmt, "--root", str(root), "--out", str(out),
                            "--check", "--workers", str(workers))
    assert digest(root) == before
    if expect.fatal:
        assert code == 2 and not out.exists()
        assert_named([(path, printed) for path, _ in printed_items(printed)], expect)
        return
    assert code == 0, printed
    if not expect.culprits or expect.stage == "exams":
        assert "no input skipped" in printed
        return
    assert re.search(r"\d+ input\(s\) skipped", printed)
    assert_named(printed_items(printed), expect)
    assert not set(pd.read_csv(out)["path"]) & {str(culprit) for culprit in expect.culprits}  # left out


@pytest.mark.parametrize("workers", WORKERS)
@pytest.mark.parametrize("name", CASES)
def test_training_data_preparation_skips_and_counts_each_bad_file(spoiled, name, workers, tmp_path):
    root, expect, before = spoiled(name)
    source = MammoDataSource(str(root), dataset_format=expect.fmt, cache_dir=str(tmp_path / "cache"),
                             num_workers=workers)
    if expect.fatal:
        with pytest.raises(MammogramReadError) as error:
            source.exams  # noqa: B018 - the property runs the preparation
        assert_named([(error.value.path, error.value.problem)], expect)
    elif not expect.culprits:
        assert len(source.exams) == 4 and len(source.report) == 0
    else:
        assert source.exams, "the run must go on with the other exams"
        named = [culprit for culprit in expect.culprits if str(culprit) in dict(source.report.items)]
        assert named, source.report.items
        assert_named(source.report.items, replace(expect, culprits=named[:1]) if expect.exam_stops_at_first else expect)
        assert f"{len(source.report)} input(s) skipped" in source.report.summary()
    assert digest(root) == before


@pytest.mark.parametrize("name", [name for name in CASES if name not in ANNOTATION_CASES])
def test_heatmap_reports_each_bad_image_and_maps_the_others(spoiled, bundle, name, tmp_path, capsys):
    root, expect, before = spoiled(name)
    out = tmp_path / "out"
    code, printed = run_cli(capsys, "heatmap", "--bundle", str(bundle), "--images", *expect.exam, "--out", str(out))
    assert digest(root) == before
    assert code == (2 if expect.heatmap_fatal else 0), printed
    assert_named(printed_items(printed), expect)
    if not expect.heatmap_fatal:
        (summary,) = out.glob("*/detection.json")
        views = json.loads(summary.read_text())["views"]
        assert any(view["status"] == "ok" for view in views)
        if not expect.culprits:
            assert {view["status"] for view in views} == {"ok"}


def test_a_huge_image_is_read_in_bounded_memory(spoiled):
    import tracemalloc

    root, _, _ = spoiled("huge_image")
    path = root / "images" / "s2" / "s2_L_MLO.dicom"
    tracemalloc.start()
    image, meta = read_mammogram(path, spacing=0.5)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert meta["original_shape"] == (5000, 4000) and max(image.shape) < 1000
    assert peak < 400 * 2**20, f"peak {peak / 2**20:.0f} MiB for a 5000 x 4000 image"


def test_the_error_of_a_worker_names_the_file_after_pickling():
    import pickle
    from concurrent.futures import ProcessPoolExecutor

    error = pickle.loads(pickle.dumps(MammogramReadError("/data/a.dcm", "empty file (0 bytes)")))
    assert (error.path, error.problem, str(error)) == ("/data/a.dcm", "empty file (0 bytes)",
                                                        "/data/a.dcm: empty file (0 bytes)")
    with ProcessPoolExecutor(1) as pool:
        with pytest.raises(MammogramReadError, match="b.dcm: file not found") as raised:
            pool.submit(read_mammogram, "/nonexistent/b.dcm").result()
    assert raised.value.path == "/nonexistent/b.dcm"


# ---- the exam cache ----


def _records(exams) -> dict[str, tuple]:
    return {exam.key: (exam.study_id, exam.view, exam.shape) for exam in exams}


@pytest.mark.parametrize("workers", WORKERS)
def test_a_damaged_cache_file_is_detected_by_its_checksum_and_rebuilt(archive, workers, tmp_path, caplog):
    manifest = build_manifest("vindr", archive)
    cache = tmp_path / "cache"
    first = prepare_exams(manifest, cache, spacing=0.5, num_workers=workers, progress=False)
    arrays = sorted(cache.glob("*.npy"))
    intact = arrays[0].read_bytes()
    damaged = bytearray(intact)
    damaged[len(damaged) // 2] ^= 0xFF  # one flipped byte
    arrays[0].write_bytes(bytes(damaged))
    (cache / f"{arrays[1].stem}.json").write_text("{not json")
    report = SkipReport()
    again = prepare_exams(manifest, cache, spacing=0.5, num_workers=workers, report=report, progress=False)
    assert _records(again) == _records(first) and len(report) == 0
    assert arrays[0].read_bytes() == intact
    for exam in again:
        record = json.loads((cache / f"{exam.key}.json").read_text())
        assert record["sha256"] == hashlib.sha256(Path(exam.array_path).read_bytes()).hexdigest()
    if workers == 0:  # worker processes log to their own stderr
        assert "damaged cache file (checksum mismatch)" in caplog.text and "damaged cache record" in caplog.text


def _prepare_into(archive, cache, workers, barrier, results) -> None:
    manifest = build_manifest("vindr", archive)
    barrier.wait()  # both runs start preparing at the same moment
    results.put(_records(prepare_exams(manifest, cache, spacing=0.5, num_workers=workers, progress=False)))


@pytest.mark.parametrize("workers", WORKERS)
def test_two_runs_preparing_one_cache_at_once_leave_no_torn_file(archive, workers, tmp_path):
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(2), context.Queue()
    runs = [context.Process(target=_prepare_into, args=(archive, tmp_path, workers, barrier, results)) for _ in "ab"]
    for run in runs:
        run.start()
    first, second = results.get(timeout=300), results.get(timeout=300)
    for run in runs:
        run.join()
    assert [run.exitcode for run in runs] == [0, 0]
    assert first == second and len(first) == 4
    assert not list(tmp_path.glob("*.tmp"))
    for key in first:
        record = json.loads((tmp_path / f"{key}.json").read_text())
        assert record["sha256"] == hashlib.sha256((tmp_path / f"{key}.npy").read_bytes()).hexdigest()
        assert np.load(tmp_path / f"{key}.npy").shape[0] == 4


@pytest.mark.parametrize("workers", WORKERS)
def test_a_disk_that_fills_up_is_named_and_leaves_no_partial_file(archive, workers, tmp_path, monkeypatch):
    failed_once = tmp_path / "failed_once"
    real_open = open

    def open_on_a_filling_disk(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        if "w" in mode and ".npy." in str(path):
            try:  # the first array written, in whichever process, meets a full disk
                os.close(os.open(failed_once, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return handle
            handle.write(b"\x93NUMPY partial")
            handle.close()
            raise OSError(errno.ENOSPC, "No space left on device")
        return handle

    monkeypatch.setattr(atomic, "open", open_on_a_filling_disk, raising=False)  # the cache's writer
    report = SkipReport()
    cache = tmp_path / "cache"
    exams = prepare_exams(build_manifest("vindr", archive), cache, spacing=0.5, num_workers=workers, report=report,
                          progress=False)
    ((path, problem),) = report.items
    assert path.endswith(".npy") and Path(path).parent == cache
    assert "cannot write the cache file (No space left on device)" in problem
    assert len(exams) == 3 and not list(cache.glob("*.tmp")) and not Path(path).exists()
    monkeypatch.undo()
    assert len(prepare_exams(build_manifest("vindr", archive), cache, spacing=0.5, progress=False)) == 4


# ---- outputs and bundle keys ----


def test_outputs_that_cannot_be_written_are_named_before_the_run(archive, tmp_path, capsys):
    code, printed = run_cli(capsys, "manifest", "--root", str(archive), "--out", str(tmp_path))
    assert code == 2 and f"{tmp_path}: is a folder" in printed and "Traceback" not in printed
    unwritable = tmp_path / "read-only"
    unwritable.mkdir(mode=0o555)
    target = Path("/sys/mammo_manifest.csv") if os.geteuid() == 0 else unwritable / "manifest.csv"
    code, printed = run_cli(capsys, "manifest", "--root", str(archive), "--out", str(target))
    assert code == 2 and f"{target}: cannot write there" in printed
    (tmp_path / "a_file").write_text("")
    code, printed = run_cli(capsys, "heatmap", "--bundle", str(tmp_path), "--images", "x.dcm", "--out",
                            str(tmp_path / "a_file"))
    assert code == 2 and "a_file: is a file" in printed


def test_an_unknown_bundle_config_key_stops_the_run_naming_it(tmp_path):
    from monai.bundle import ConfigWorkflow

    configs = shutil.copytree(Path(__file__).resolve().parents[1] / "bundles/mammo_siamese_softlabel/configs",
                              tmp_path / "configs")
    train = json.loads((configs / "train.json").read_text())
    (configs / "train.json").write_text(json.dumps({**train, "learning_rat": 0.01}))
    for overrides, unknown in (({}, "'learning_rat' (did you mean 'learning_rate'?)"),
                               ({"max_epoch": 1}, "'max_epoch' (did you mean 'max_epochs'?)")):
        workflow = ConfigWorkflow(config_file=str(configs / "train.json"), workflow_type="train", run_id="training",
                                  bundle_root=str(tmp_path), dataset_dir=str(tmp_path / "data"), **overrides)
        with pytest.raises(RuntimeError) as error:
            workflow.initialize()
        assert unknown in str(error.value.__cause__)
    assert not (tmp_path / "data").exists()  # stopped before any work


def test_a_switch_given_as_text_stops_the_run(tmp_path):
    """Fire leaves ``--amp false`` the string 'false', which is true: the run stops instead of keeping bf16 on."""
    from monai.bundle import ConfigWorkflow

    configs = Path(__file__).resolve().parents[1] / "bundles/mammo_siamese_softlabel/configs"
    workflow = ConfigWorkflow(config_file=str(configs / "train.json"), workflow_type="train", run_id="training",
                              bundle_root=str(tmp_path), dataset_dir=str(tmp_path / "data"), amp="false")
    with pytest.raises(RuntimeError) as error:
        workflow.initialize()
    assert "amp='false': an on/off setting takes True or False" in str(error.value.__cause__)
    assert not (tmp_path / "data").exists()
    from custom.bundle_config import _check_switches

    for evaluated_later in ("$torch.cuda.is_available()", "@resume", "%configs/train.json#amp", True):
        _check_switches({"amp": evaluated_later}, {"amp"})
    with pytest.raises(ValueError, match="amp='False'"):
        _check_switches({"amp": "False"}, {"amp"})
