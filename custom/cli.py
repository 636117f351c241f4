"""Command-line interface: ``python -m custom <command> --help`` lists each command's options."""

from __future__ import annotations

import logging
import sys

import fire


def synth(out: str, studies: int = 120, seed: int = 0, preset: str = "default") -> None:
    """Writes a synthetic screening data set in the VinDr-Mammo layout (DICOM + both CSVs)."""
    from custom.data.synthetic import synth as run_synth

    run_synth(out, studies=studies, seed=seed, preset=preset)


def manifest(root: str, out: str, format: str = "vindr", seed: int = 0,  # noqa: A002 - the user-facing flag
             val_fraction: float = 0.1, test_fraction: float = 0.2) -> None:
    """Reads a data set in a supported layout (vindr, cbis, inbreast, csv) into one manifest CSV."""
    from custom.data.manifest import build_manifest, summarise, write_manifest
    from custom.data.report import SkipReport

    report = SkipReport()
    table = build_manifest(format, root, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction, report=report)
    write_manifest(table, out)
    print(summarise(table))
    print(report.summary())
    print(f"manifest written to {out}")


def bench(what: str, **options) -> None:
    """Prints measured throughput: ``bench data`` (DICOM to cached aligned pairs) or ``bench train``."""
    from custom.bench import run_benchmark

    run_benchmark(what, **options)


COMMANDS = {"synth": synth, "manifest": manifest, "bench": bench}


def main(argv: list[str] | None = None) -> None:
    """Runs a command; bad input ends with a one-line error naming the file and the problem, not a traceback."""
    from custom.data.errors import MammogramReadError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        fire.Fire(COMMANDS, command=argv if argv is not None else sys.argv[1:], name="python -m custom")
    except (MammogramReadError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
