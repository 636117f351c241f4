"""Command-line interface: ``python -m custom <command> --help`` lists each command's options."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import fire

from custom.bundle_location import DEFAULT_BUNDLE


def synth(out: str, studies: int = 120, seed: int = 0, preset: str = "default") -> None:
    """Writes a synthetic screening data set in the VinDr-Mammo layout (DICOM + both CSVs)."""
    from custom.mammography.data.synthetic import synth as run_synth

    run_synth(out, studies=studies, seed=seed, preset=preset)


def synth_us(out: str, seed: int = 0, preset: str = "default") -> None:
    """Writes synthetic ultrasound sets in the real layouts (BUSI, UDIAT, POCUS lung, CAMUS heart) and natural
    images to ``out``; ``--preset test`` writes a handful of small images in seconds."""
    from custom.ultrasound.synthetic import synth_us as run_synth_us

    run_synth_us(out, seed=seed, preset=preset)


def manifest(root: str, out: str, format: str = "vindr", seed: int = 0,  # noqa: A002 - the user-facing flag
             val_fraction: float = 0.1, test_fraction: float = 0.2, check: bool = False,
             workers: int | None = None, frame_stride: int | None = None, frame_cache: str | None = None) -> None:
    """Reads a data set in a supported layout (``--format``: vindr, cbis, inbreast, csv, or any layout in
    ``custom.mammography.data.readers.registry.READERS``) into one manifest CSV. The ultrasound layouts (busi, udiat, pocus,
    camus, imagefolder: ``custom.ultrasound.readers.registry.ULTRASOUND_READERS``) write the ultrasound manifest
    (``custom.ultrasound.manifest``); ``--frame_cache DIR`` and ``--frame_stride N`` (default 5) take every N-th
    frame of pocus videos into DIR.

    ``--check`` opens every listed image once (in ``--workers`` processes, default one per CPU up to 8; ultrasound
    images in this process) and leaves out, and reports, those that cannot be decoded or whose tags contradict
    the annotations.
    """
    from custom.mammography.data.readers.registry import READERS
    from custom.ultrasound.readers.registry import ULTRASOUND_READERS

    if format not in READERS and format not in ULTRASOUND_READERS:
        raise ValueError(f"unknown data-set format {format!r}; mammography: {sorted(READERS)}, "
                         f"ultrasound: {sorted(ULTRASOUND_READERS)}")
    if format in ULTRASOUND_READERS:
        from custom.ultrasound.manifest import run_manifest

        options = {"frame_stride": frame_stride, "frame_cache": frame_cache}
        run_manifest(format, root, out, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction, check=check,
                     **{name: value for name, value in options.items() if value is not None})
        return
    from custom.mammography.data.check import check_images
    from custom.mammography.data.files import writable_output
    from custom.mammography.data.manifest import build_manifest, summarise, write_manifest
    from custom.mammography.data.parallel import default_workers
    from custom.skip_report import SkipReport

    writable_output(out)
    report = SkipReport()
    table = build_manifest(format, root, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction, report=report)
    if check:
        table = check_images(table, num_workers=default_workers() if workers is None else workers, report=report)
    write_manifest(table, out)
    print(summarise(table))
    print(report.summary())
    if not check:
        print("images listed, not opened: add --check to decode each image once and leave out the unusable ones")
    print(f"manifest written to {out}")


# the tools' own benchmarks, next to the mammography layer's (custom.mammography.bench.BENCHMARKS)
TOOL_BENCHMARKS = {"pacs": "custom.pacs.bench:bench_pacs"}


def bench(what: str, **options) -> None:
    """Prints measured throughput: ``bench data`` (DICOM to cached aligned pairs), ``bench train``, ``bench detect``,
    ``bench probe``, or ``bench pacs`` (a full-size exam from a PACS and back against decoding its images)."""
    from custom.mammography.bench import BENCHMARKS, run_benchmark

    run_benchmark(what, {**BENCHMARKS, **TOOL_BENCHMARKS}, **options)


def compare(data: str, out: str, preset: str = "quick", format: str = "vindr", seed: int = 0,  # noqa: A002
            methods: str | None = None, patch_presets: str | None = None, device: str | None = None,
            amp: bool = True, bundle: str = DEFAULT_BUNDLE) -> None:
    """Pretrains every self-supervised method, our ablations and references under one protocol and writes
    the linear-probe table (``table.md``, ``table.csv``), ROC and t-SNE figures to ``out``.

    ``--preset quick`` takes minutes on a CPU; ``--preset science`` gives the methods of issue 24's ranking run 24
    epochs each at 96 px on the README's data (hours on a CPU; resumes method by method); ``--preset paper`` is
    meant for a GPU. ``--methods`` and ``--patch_presets`` take comma-separated subsets (default: the preset's
    methods, all of them but for ``science``; its patch presets).
    ``--bundle``: the bundle whose configs train the Siamese variants (``train.json``) and the self-supervised
    baselines (``train_ssl.json`` and ``train_<method>.json`` on top) (default: the repository's, from its root).
    """
    from custom.mammography.compare import compare as run_compare

    run_compare(data, out, preset=preset, dataset_format=format, seed=seed, methods=_names(methods),
                patch_presets=_names(patch_presets), device=device, amp=amp, bundle=bundle)


def compare_us(out: str, data: str | None = None, preset: str = "quick", seed: int = 0,
               bundle: str = "bundles/breast_us_multiorgan_seg", workers: int = 2) -> None:
    """Ultrasound: pretrains the segmentation encoder on other organs, fine-tunes from it and from random
    weights at several label fractions, and writes the Dice/IoU/HD95 table with bootstrap CIs, the paired
    differences (``differences.json``, ``differences.md``: pretrained minus random at every fraction, and the
    paper's "half the labels" claim as a non-inferiority test, margin -0.02 Dice) and plots to ``out``
    (``--preset test|quick|paper``). ``--data``: data sets in the real layouts (an empty folder first gets the
    preset's synthetic sets); without it, the frozen ultrasound benchmark (written once, in ``--workers``
    processes). Run it again to resume: finished runs are kept in ``out``."""
    import time

    from custom.ultrasound.compare import compare_us as run_compare_us

    started = time.perf_counter()
    table = run_compare_us(data, out, preset=preset, seed=seed, bundle=bundle, workers=workers)
    print(table.to_markdown(), end="")
    print(Path(out, "differences.md").read_text(), end="")
    print(f"results written to {out} in {(time.perf_counter() - started) / 60:.1f} min (wall time)")


def calibrate_us(data: str | None = None, out: str = "docs", work: str = "calibrate_us_work", seed: int = 0,
                 workers: int = 2, bundle: str = "bundles/breast_us_multiorgan_seg") -> None:
    """Measures the frozen ultrasound benchmark against published real-data figures: the breast set's look
    (echogenicity, margins, posterior features, orientation, sizes, calipers, hand-drawn masks) and the Dice of
    FlexibleUNet-ResNet-18 trained from random weights through the bundle's configs at 100/50/25/10% of the labels
    and with about 20 labelled images; writes ``calibration_us.json``, ``benchmark_calibration_us.md`` and its
    figures to ``out``. ``data``: the benchmark folder (default ``$MAMMO_SSL_BENCHMARK_DIR`` or
    ``~/.cache/mammo-ssl/benchmark``), where the breast set is written once per generator version (in
    ``--workers`` processes); fine-tunings are kept in ``--work``, so a second run resumes. About 40-60 minutes on
    2 CPU cores."""
    from custom.ultrasound.calibration.run import calibrate_us as run_calibrate_us

    run_calibrate_us(data, out, work, seed=seed, workers=workers, bundle=bundle)


def probe_protocol(encoders: str, batchnorm_data: str, out: str = "probe_protocol", patch_preset: str = "96",
                   seed: int = 0, n_bootstrap: int = 200, device: str | None = None, protocols: str | None = None) -> None:
    """How far each choice of the linear probe's protocol (fp32 embeddings, batch-norm statistics re-estimated
    on clean training patches, shrinkage by nested cross-validation) moves each encoder's AUC, on the frozen
    benchmark's development patients. ``--encoders random,NAME=model.pt,...``; ``--batchnorm_data``: a
    VinDr-layout data set (e.g. the bundle's ``data/synthetic``) whose train split gives the clean patches.
    ``--protocols today,adopted,...``: a subset (default: each choice alone and all three). Writes
    ``protocols.md`` and ``protocols.json`` to ``out``."""
    from custom.mammography.compare.instrument import parse_encoders, probe_protocols, protocols_named

    probe_protocols(parse_encoders(encoders), batchnorm_data, out, patch_preset=str(patch_preset), seed=seed,
                    n_bootstrap=n_bootstrap, device=device, protocols=protocols_named(_names(protocols)))


def label_precision(bundle_root: str, out: str = "label_precision", bundle: str = DEFAULT_BUNDLE,
                    configs: str = "train.json", **overrides) -> None:
    """Precision and recall of the top pairs by each frozen label-free score (the untrained networks'
    max-location distance, the aligned pixel difference, both), per exam and over all pairs, on the training
    pairs of the run in ``bundle_root`` (as ``--configs`` of ``--bundle`` draw them; further ``--key value``
    overrides as for the bundle). The annotations only score the labels. Writes ``label_precision.md``/``.json``."""
    from custom.mammography.compare.label_precision import label_precision as run_label_precision

    run_label_precision(bundle, bundle_root, out, config_files=_names(configs), **overrides)


def evaluate_detection(bundle: str, out: str = "detection_eval", data: str | None = None, format: str = "vindr",  # noqa: A002
                       split: str = "test", seed: int = 0, device: str | None = None, n_bootstrap: int = 1000) -> None:
    """FROC (sensitivity at 0.25-4 false positives per image) and exam-level AUC, with patient-bootstrap
    95% CIs, of the bundle's detector and of the raw-pixel baseline, on ``split`` of ``data`` (default: the
    bundle's synthetic data); writes JSON, CSV and ``froc.png`` to ``out``."""
    from custom.mammography.detection.evaluate_run import evaluate_detection_run

    evaluate_detection_run(bundle, out, data=data, dataset_format=format, split=split, seed=seed, device=device,
                           n_bootstrap=n_bootstrap)


def calibrate(data: str | None = None, out: str = "calibration", patch_preset: str = "96", epochs: int = 12,
              texture_studies: int = 100, n_bootstrap: int = 1000, workers: int = 2, seed: int = 0) -> None:
    """Measures the synthetic benchmark against published real-data figures (bilateral subtraction, a
    supervised ResNet-18 patch classifier, texture beta, clip fraction) and writes ``calibration.json``,
    ``benchmark_calibration.md`` and an exam figure to ``out``. ``data``: the benchmark folder (default
    ``$MAMMO_SSL_BENCHMARK_DIR`` or ``~/.cache/mammo-ssl/benchmark``); its evaluation and calibration-training
    sets are generated there once per generator version. About 30-60 minutes on 2 CPU cores."""
    from custom.mammography.calibration import calibrate as run_calibrate

    run_calibrate(data, out, patch_preset=patch_preset, epochs=epochs, texture_studies=texture_studies,
                  n_bootstrap=n_bootstrap, workers=workers, seed=seed)


def heatmap(bundle: str, images: str | None = None, study: str | None = None, out: str = "heatmaps",
            patch: str = "96", downsample: float | None = None, registration: str = "mask",
            device: str | None = None, amp: bool = True, contralateral_in: str | None = None,
            assumed_pixel_spacing: float | None = None) -> None:
    """Per image of one exam: the lesion heatmap as NIfTI and as a PNG overlay, and a JSON with ranked
    candidates and the exam score. ``--images F1 F2 ...`` (or ``--study FOLDER``; or one image and
    ``--contralateral_in FOLDER`` holding the other breast of its view); the bundle needs ``models/model.pt``
    and the detector calibration written by its inference config. Files without a pixel spacing are read at
    ``--assumed_pixel_spacing`` mm, else at their archive's (CBIS-DDSM: 0.0435), with a warning."""
    from custom.mammography.detection.cli import heatmap as run_heatmap

    run_heatmap(bundle, images=images, study=study, out=out, patch=patch, downsample=downsample,
                registration=registration, device=device, amp=amp, contralateral_in=contralateral_in,
                assumed_pixel_spacing=assumed_pixel_spacing)


def pacs_detect(dicomweb: str, study: str | None = None, bundle: str = DEFAULT_BUNDLE, watch: bool = False,
                since: str | None = None, interval: float = 30.0, if_done: str = "new_run", top: int | None = None,
                patch: str = "96", downsample: float | None = None, assumed_pixel_spacing: float | None = None,
                registration: str = "mask", device: str | None = None, amp: bool = True,
                out: str | None = None) -> None:
    """Reads a screening study from a PACS over DICOMweb, runs the bundle's lesion detection on it, and stores the
    results back in the study: the candidates as a DICOM SR (TID 1500: boxes, scores, ranks) and the heatmaps as
    colour secondary captures, in new series named ``<bundle> <version> run <n>: ...`` (``docs/pacs.md``).

    ``--study UID`` runs one study; ``--watch`` polls the PACS every ``--interval`` seconds for MG studies dated
    ``--since`` (YYYYMMDD, default today) or later and runs each new one once. Credentials come from the
    environment (``MAMMO_SSL_DICOMWEB_USERNAME`` and ``_PASSWORD``, or ``MAMMO_SSL_DICOMWEB_TOKEN``), never
    from the command line. ``--if_done skip``: store nothing when the study already holds results of this bundle
    version (default ``new_run``: add a numbered run). ``--top N``: at most N candidates per image.
    ``--assumed_pixel_spacing MM`` or ``--downsample N``: for images without a pixel spacing (CBIS-DDSM).
    ``--out DIR``: also write ``heatmap``'s local outputs there."""
    from custom.pacs.cli import pacs_detect as run_pacs_detect

    run_pacs_detect(dicomweb, study=study, bundle=bundle, watch=watch, since=since, interval=interval,
                    if_done=if_done, top=top, patch=patch, downsample=downsample,
                    assumed_pixel_spacing=assumed_pixel_spacing, registration=registration, device=device, amp=amp,
                    out=out)


def pacs_demo(port: int = 8080, bundle: str | None = None, ohif: str | None = None,
              seconds: float | None = None) -> None:
    """The whole chain from nothing: starts a temporary Orthanc (127.0.0.1, DICOM port closed), serves OHIF and its
    DICOMweb on one origin at 127.0.0.1:``port``, uploads a synthetic screening study, runs ``pacs-detect`` on it and
    prints the viewer's address; serves until Ctrl-C (or ``--seconds``), then deletes everything. Needs Debian's
    ``orthanc`` and ``orthanc-dicomweb``; OHIF comes from the monailabel 0.8.5 wheel, downloaded once (``--ohif DIR``:
    an OHIF build of your own). ``--bundle``: default the repository's, or an untrained copy if it has no weights."""
    from custom.pacs.demo import run_demo

    run_demo(port=port, bundle=bundle, ohif=ohif, seconds=seconds)


def export_bundle(bundle: str, out: str = "dist", weights: str | None = None, weights_url: str | None = None) -> None:
    """Writes a self-contained copy of the bundle for the MONAI model zoo to ``out/<name>/`` and a zip of it:
    the code vendored into ``scripts/``, the trained weights (default: the bundle's ``models/model.pt``) and
    ``large_files.yml`` with their hash and ``--weights_url`` (default: the zoo's hosting)."""
    from custom.zoo import export_bundle as run_export

    exported = run_export(bundle, out, weights=weights, weights_url=weights_url)
    print(f"bundle folder: {exported.folder}\nzip: {exported.archive}\nmodel.pt sha256: {exported.weights_sha256}")
    if exported.needs_calibration and exported.calibration is None:
        print("warning: no detector calibration (models/detector.json) as new as the weights was found next to "
              "them: the exported inference.json cannot run until one is added (the training run writes it)")


def _join_list_flag(argv: list[str], flag: str) -> list[str]:
    """``--images A B --out O`` -> ``--images A,B --out O``: fire would read ``B`` as a positional argument."""
    if flag not in argv:
        return argv
    start = argv.index(flag) + 1
    end = start
    while end < len(argv) and not argv[end].startswith("--"):
        end += 1
    return [*argv[:start], ",".join(argv[start:end]), *argv[end:]]


def _python_booleans(argv: list[str]) -> list[str]:
    """``--amp false`` -> ``--amp False`` for the command's boolean options: fire leaves lowercase ``false`` a
    string, and a string is true. Other options keep their text (``--out false`` is a folder)."""
    switches = _boolean_options(argv)
    spelled = {"true": "True", "false": "False"}
    out = []
    for index, token in enumerate(argv):
        flag, equals, value = token.partition("=")
        previous = argv[index - 1] if index else ""
        if equals and flag.lstrip("-") in switches and flag.startswith("--") and value.lower() in spelled:
            token = f"{flag}={spelled[value.lower()]}"
        elif previous.startswith("--") and previous[2:] in switches and token.lower() in spelled:
            token = spelled[token.lower()]
        out.append(token)
    return out


def _boolean_options(argv: list[str]) -> set[str]:
    """Names of the boolean parameters of the command in ``argv`` (for ``bench``, of the chosen benchmark)."""
    import inspect

    function = COMMANDS.get(argv[0]) if argv else None
    if function is bench and len(argv) > 1:
        from custom.mammography.bench import BENCHMARKS, benchmark_function

        registry = {**BENCHMARKS, **TOOL_BENCHMARKS}
        if argv[1] in registry:
            function = benchmark_function(argv[1], registry)
    if function is None:
        return set()
    return {name for name, parameter in inspect.signature(function).parameters.items()
            if parameter.annotation in (bool, "bool")}


def _names(value) -> tuple[str, ...] | None:
    """``"a,b"``, fire's tuple or a lone number (``--patch_presets 96``) -> ``("a", "b")``; ``None`` stays."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, (tuple, list)) else [value]
    return tuple(str(item).strip() for item in items if str(item).strip())


COMMANDS = {"synth": synth, "synth-us": synth_us, "manifest": manifest, "bench": bench, "compare": compare,
            "compare-us": compare_us, "calibrate-us": calibrate_us, "probe-protocol": probe_protocol,
            "label-precision": label_precision,
            "evaluate-detection": evaluate_detection, "heatmap": heatmap, "calibrate": calibrate,
            "export-bundle": export_bundle, "pacs-detect": pacs_detect,
            "pacs-demo": pacs_demo}


def main(argv: list[str] | None = None) -> None:
    """Runs a command; bad input ends with a one-line error naming the file and the problem, not a traceback."""
    from custom.clear_errors import ClearError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        command = _python_booleans(_join_list_flag(list(argv if argv is not None else sys.argv[1:]), "--images"))
        fire.Fire(COMMANDS, command=command, name="python -m custom")
    # OSError: unwritable output, full disk, ...; ImportError: an optional package a command needs
    except (ClearError, OSError, ValueError, LookupError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
