"""Training throughput of the bundle's own training workflow, against the compute ceiling.

End to end: the bundle's ``train.json`` through MONAI's ConfigWorkflow (data loader, co-training
iteration, handlers, soft-label refresh). Ceiling: the same two networks' forward + backward + optimiser
step, with the same precision and batch shape, on tensors already in memory. Also the GMM refit on 10^6
distances, the size dense training would give it.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from ignite.engine import Events
from monai.bundle import ConfigWorkflow

from custom.mammography.bench.memory import peak_memory_mib
from custom.bundle_location import DEFAULT_BUNDLE, bundle_folder
from custom.labelling import GMMSoftLabeller


def _ceiling_pairs_per_s(network, loss_function, optimizer, precision, batch_size: int, patch: int, steps: int) -> float:
    images = [precision.prepare_input(torch.rand(batch_size, 1, patch, patch)) for _ in range(2)]
    labels = torch.rand(batch_size), torch.rand(batch_size)
    network.train()

    def step():
        optimizer.zero_grad(set_to_none=True)
        with precision.autocast():
            out = network(*images)
        loss = loss_function(out["distance_a"].float(), out["distance_b"].float(), *labels)
        precision.backward_and_step(loss, optimizer)

    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch_size / (time.perf_counter() - start)


def _check_settings(config_file: Path, settings: dict) -> None:
    """A mistyped option would be added to the config unread and the bench would time the defaults."""
    known = json.loads(config_file.read_text())
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise ValueError(f"bench train: {', '.join(map(repr, unknown))} not a setting of {config_file}")


def _gmm_refit_seconds(count: int = 1_000_000, repeats: int = 3) -> float:
    """Fastest of ``repeats`` fits + posteriors of the soft labeller on ``count`` two-component distances."""
    rng = np.random.default_rng(0)
    distances = np.abs(np.r_[rng.normal(0.3, 0.05, count - count // 10), rng.normal(0.8, 0.1, count // 10)])
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        GMMSoftLabeller().fit(distances).predict_proba(distances)
        seconds.append(time.perf_counter() - start)
    return min(seconds)


def bench_train(data: str | None = None, studies: int = 24, epochs: int = 3, batch_size: int = 32,
                pairs_per_exam: int = 16, patch: str = "96", amp: bool = True, seed: int = 0,
                bundle: str | Path = DEFAULT_BUNDLE, **settings) -> dict:
    """Prints training pairs/s after the first epoch, the ceiling, their ratio, peak memory, and the GMM
    refit time on 10^6 distances; ``bundle``: the bundle whose ``train.json`` is measured. ``settings``: any
    other key of ``train.json`` (``--regulariser vicreg``, ``--positives top_k_per_exam``), so that each
    training option's cost shows against the same ceiling."""
    bundle = bundle_folder(bundle)
    if epochs < 2:
        raise ValueError(f"bench train needs at least 2 epochs (the first one warms up), got {epochs}")
    _check_settings(bundle / "configs" / "train.json", settings)
    with tempfile.TemporaryDirectory() as scratch:
        # synthetic data is written into the scratch folder only; a data set given is only read
        data_folder = {"dataset_dir": data} if data else {"synthetic_dir": str(Path(scratch) / "data")}
        workflow = ConfigWorkflow(
            config_file=str(bundle / "configs" / "train.json"), workflow_type="train", run_id="training",
            bundle_root=scratch, **data_folder, synthetic_studies=studies, max_epochs=epochs,
            batch_size=batch_size, pairs_per_exam=pairs_per_exam, patch_preset=patch, amp=amp, seed=seed,
            **settings,
        )
        workflow.initialize()
        trainer = workflow.parser.get_parsed_content("train#trainer")
        marks: dict[str, list[float]] = {"start": [], "last": [], "end": []}

        def iteration_started(engine):
            if (engine.state.iteration - 1) % engine.state.epoch_length == 0:
                marks["start"].append(time.perf_counter())

        # an epoch's iterations run from its first iteration's start to its last iteration's end; the
        # per-epoch handlers (soft-label refresh, embedding monitor) fall between epochs
        trainer.add_event_handler(Events.ITERATION_STARTED, iteration_started)
        trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda _: marks["last"].append(time.perf_counter()))
        trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda _: marks["end"].append(marks["last"][-1]))
        trainer.run()
        pairs_per_epoch = trainer.state.epoch_length * batch_size
        iteration_seconds = [end - start for start, end in zip(marks["start"][1:], marks["end"][1:], strict=True)]
        epoch_seconds = [end - previous for previous, end in zip(marks["end"][:-1], marks["end"][1:], strict=True)]
        end_to_end = pairs_per_epoch * len(iteration_seconds) / sum(iteration_seconds)
        with_refresh = pairs_per_epoch * len(epoch_seconds) / sum(epoch_seconds)
        precision = workflow.parser.get_parsed_content("precision")
        ceiling = _ceiling_pairs_per_s(
            workflow.parser.get_parsed_content("network"), workflow.parser.get_parsed_content("loss"),
            workflow.parser.get_parsed_content("optimizer"), precision, batch_size,
            int(workflow.parser.get_parsed_content("data_source").patch_size), steps=max(trainer.state.epoch_length, 5),
        )
        used = {key: workflow.parser.get_parsed_content(key) for key in settings}
        workflow.finalize()
    gmm_seconds = _gmm_refit_seconds()
    result = {
        "pairs_per_epoch": pairs_per_epoch,
        "end_to_end_pairs_per_s": end_to_end,
        "end_to_end_with_soft_label_refresh_pairs_per_s": with_refresh,
        "ceiling_pairs_per_s": ceiling,
        "ratio": end_to_end / ceiling,
        "precision": str(precision.dtype) if precision.enabled else "fp32",
        "channels_last": precision.channels_last,
        "peak_memory_mib": peak_memory_mib(),
        "gmm_refit_seconds_1e6": gmm_seconds,
        "settings": used,
    }
    if used:
        print("settings: " + ", ".join(f"{key}={value}" for key, value in used.items()))
    print(f"precision: {result['precision']}, channels-last: {result['channels_last']}, batch {batch_size}, patch {patch}")
    print(f"training pairs/s after the first epoch:        {end_to_end:8.1f}")
    print(f"  including the per-epoch refresh and monitor: {with_refresh:8.1f}")
    print(f"compute ceiling (ready tensors) pairs/s:       {ceiling:8.1f}")
    print(f"ratio end-to-end / ceiling:                    {result['ratio']:8.2f}")
    print(f"peak memory:                                   {result['peak_memory_mib']:8.0f} MiB")
    print(f"GMM refit + soft labels, 10^6 distances:       {gmm_seconds:8.2f} s")
    return result
