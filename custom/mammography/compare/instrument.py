"""``python -m custom probe-protocol``: how far each choice of the probe's protocol moves each encoder's AUC.

The probe is the instrument every method is judged by, so its protocol is settled before any new method is
(issue 24). Three choices are checked, each against today's protocol and all three together, for every
encoder alike: embeddings in fp32 instead of bf16; batch-norm statistics re-estimated on clean training
patches instead of the running ones the encoder carries; the shrinkage chosen by nested cross-validation
grouped by patient instead of the fixed 0.1. Abnormal vs normal patches, with normal tissue of normal exams
and with the matched contralateral place as controls, on the development set: the first studies of the frozen
benchmark's calibration-training set, never the evaluation set, so that settling the protocol does not tune
on the figures that are reported.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from custom.evaluation.batchnorm import recalibrated_batchnorm
from custom.evaluation.embedding import embed_patches
from custom.evaluation.paired import paired_auc_difference
from custom.evaluation.probe import N_BOOTSTRAP, SHRINKAGE, SHRINKAGE_GRID, LinearProbe, ProbeResult
from custom.mammography.data.pair_dataset import LabelledPatchDataset
from custom.mammography.data.source import MammoDataSource, benchmark_source
from custom.mammography.data.synthetic.benchmark import CALIBRATION_TRAIN_SET
from custom.networks import seeded_encoder
from custom.training.precision import MixedPrecision

logger = logging.getLogger(__name__)
RANDOM = "random"
DEVELOPMENT_STUDIES = 300
CONTROLS = {"normal_exams": "contralateral", "contralateral": "normal_exams"}  # controls -> rows left out


@dataclass(frozen=True)
class ProbeProtocol:
    """How encoders are embedded and probed: ``precision`` ``"bf16"`` or ``"fp32"``, ``batchnorm``
    ``"running"`` or ``"recalibrated"``, ``shrinkage`` a value or a grid for nested cross-validation."""

    name: str
    precision: str
    batchnorm: str
    shrinkage: float | tuple[float, ...]


TODAY = ProbeProtocol("today", "bf16", "running", SHRINKAGE)
# the protocol adopted from now on (docs/statistics.md): all three choices
ADOPTED = ProbeProtocol("adopted", "fp32", "recalibrated", SHRINKAGE_GRID)
PROTOCOLS = (
    TODAY,
    ProbeProtocol("fp32", "fp32", "running", SHRINKAGE),
    ProbeProtocol("bn_recalibrated", "bf16", "recalibrated", SHRINKAGE),
    ProbeProtocol("nested_shrinkage", "bf16", "running", SHRINKAGE_GRID),
    ADOPTED,
)


def protocols_named(names: tuple[str, ...] | None) -> tuple[ProbeProtocol, ...]:
    """The protocols of :data:`PROTOCOLS` with these names (all of them for None)."""
    if names is None:
        return PROTOCOLS
    known = {protocol.name: protocol for protocol in PROTOCOLS}
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"unknown probe protocols {unknown}; known: {sorted(known)}")
    return tuple(known[name] for name in names)


def development_exams(patch_preset: str = "96", studies: int = DEVELOPMENT_STUDIES, num_workers: int = 0):
    """The aligned exams of the first ``studies`` studies (by study id) of the benchmark's calibration-training
    set: patients never in a training run's data nor in the evaluation set."""
    source = benchmark_source(CALIBRATION_TRAIN_SET, patch_preset=patch_preset, num_workers=num_workers)
    chosen = set(sorted({exam.study_id for exam in source.exams})[:studies])
    return [exam for exam in source.exams if exam.study_id in chosen]


def load_encoder(spec: str, seed: int) -> torch.nn.Module:
    """``"random"`` (the bundle's random reference, seed + 1000) or the path of an encoder ``state_dict``."""
    if spec == RANDOM:
        return seeded_encoder(seed + 1000, normalize=True)
    encoder = seeded_encoder(seed, normalize=True)
    encoder.load_state_dict(torch.load(spec, map_location="cpu", weights_only=True))
    return encoder


def probe_protocols(encoders: dict[str, str], batchnorm_data: str, out: str, *, protocols=PROTOCOLS,
                    patch_preset: str = "96", seed: int = 0, n_bootstrap: int = N_BOOTSTRAP,
                    device: str | None = None) -> dict:
    """Probes every encoder (name to ``"random"`` or a weights file) under every protocol on the development
    set and writes ``protocols.json`` and ``protocols.md`` to ``out``; ``batchnorm_data``: a VinDr-layout data
    set whose train split gives the clean patches batch-norm statistics are re-estimated on."""
    torch_device = torch.device(device or ("cuda:0" if torch.cuda.is_available() else "cpu"))
    precision = MixedPrecision(torch_device, True)
    patches = LabelledPatchDataset(development_exams(patch_preset), patch_size=_patch_size(patch_preset), seed=seed,
                                   controls="both")
    loader = DataLoader(patches, batch_size=64, shuffle=False)
    clean = MammoDataSource(batchnorm_data, "vindr", patch_preset_name=patch_preset, seed=seed).breast_patches()
    clean_loader = DataLoader(clean, batch_size=64, shuffle=False)
    results: dict[tuple[str, str, str], ProbeResult] = {}
    for protocol in protocols:
        dtype = precision.dtype if protocol.precision == "bf16" else None
        channels_last = dtype is not None
        for name, spec in encoders.items():
            encoder = load_encoder(spec, seed).to(torch_device)
            if channels_last:
                encoder = encoder.to(memory_format=torch.channels_last)
            if protocol.batchnorm == "recalibrated":
                encoder = recalibrated_batchnorm(encoder, clean_loader, device=torch_device, autocast_dtype=dtype,
                                                 channels_last=channels_last)
            table = embed_patches(encoder, loader, device=torch_device, progress=False, autocast_dtype=dtype,
                                  channels_last=channels_last)
            for controls, left_out in CONTROLS.items():
                keep = patches.control != left_out
                result = LinearProbe(protocol.shrinkage).cross_validate(
                    table["embedding"][keep], table["abnormal"][keep], table["patient_id"][keep], seed=seed,
                    n_bootstrap=n_bootstrap)
                results[(protocol.name, name, controls)] = result
                logger.info("%s %s %s: %.3f [%.3f, %.3f] shrinkage %s", protocol.name, name, controls,
                            result.metric.value, result.metric.ci_low, result.metric.ci_high, result.shrinkage)
    report = _report(results, protocols, list(encoders), len(patches))
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "protocols.json").write_text(json.dumps(report, indent=2))
    (out_dir / "protocols.md").write_text(_markdown(report))
    print(_markdown(report))
    return report


def _patch_size(patch_preset: str) -> int:
    from custom.mammography.data.presets import patch_preset as preset_of

    return int(preset_of(patch_preset)["patch_size"])


def _interval(metric) -> dict:
    return {"value": metric.value, "ci_low": metric.ci_low, "ci_high": metric.ci_high}


def _report(results: dict, protocols, encoders: list[str], n_patches: int) -> dict:
    """AUCs, each trained encoder minus the random one per protocol, and each protocol minus today's per
    encoder, all with paired intervals (every probe ran on the same patches, patients and seed)."""
    rows = []
    for (protocol, encoder, controls), result in results.items():
        row = {"protocol": protocol, "encoder": encoder, "controls": controls, "auc": _interval(result.metric),
               "fold_shrinkage": list(result.shrinkage)}
        if encoder != RANDOM and (protocol, RANDOM, controls) in results:
            row["minus_random"] = _interval(paired_auc_difference(result, results[(protocol, RANDOM, controls)]))
        if protocol != TODAY.name and (TODAY.name, encoder, controls) in results:
            row["minus_today"] = _interval(paired_auc_difference(result, results[(TODAY.name, encoder, controls)]))
        rows.append(row)
    return {"protocols": [asdict(p) for p in protocols], "encoders": encoders, "patches": n_patches, "rows": rows}


def _cell(interval: dict | None, signed: bool = False) -> str:
    if interval is None:
        return "-"
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(interval['value'])} [{f.format(interval['ci_low'])}, {f.format(interval['ci_high'])}]"


def _markdown(report: dict) -> str:
    lines = ["| protocol | encoder | controls | AUC | minus random (paired) | minus today's protocol (paired) | "
             "shrinkage per fold |", "|---|---|---|---|---|---|---|"]
    for row in report["rows"]:
        lines.append(f"| {row['protocol']} | {row['encoder']} | {row['controls']} | {_cell(row['auc'])} | "
                     f"{_cell(row.get('minus_random'), True)} | {_cell(row.get('minus_today'), True)} | "
                     f"{', '.join(f'{s:g}' for s in row['fold_shrinkage'])} |")
    return "\n".join(lines) + "\n"


def parse_encoders(text: str) -> dict[str, str]:
    """``"random,readme=path/model.pt"`` -> ``{"random": "random", "readme": "path/model.pt"}``."""
    encoders = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, spec = item.partition("=")
        encoders[name] = spec or name
        if spec and not Path(spec).is_file():
            raise FileNotFoundError(f"encoder {name!r}: no weights file {spec}")
        if not spec and name != RANDOM:
            raise ValueError(f"encoder {name!r}: give its weights as {name}=PATH (or use 'random')")
    return encoders

