"""Training throughput of the bundle's own training workflow, against the compute ceiling.

End to end: the bundle's ``train.json`` through MONAI's ConfigWorkflow (data loader, co-training
iteration, handlers, soft-label refresh). Ceiling: the same two networks' forward + backward + optimiser
step, with the same precision and batch shape, on tensors already in memory.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch
from ignite.engine import Events
from monai.bundle import ConfigWorkflow

from custom.bench.memory import peak_memory_mib

BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / "mammo_siamese_softlabel"


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


def bench_train(data: str | None = None, studies: int = 24, epochs: int = 3, batch_size: int = 32,
                pairs_per_exam: int = 16, patch: str = "96", amp: bool = True, seed: int = 0) -> dict:
    """Prints training pairs/s after the first epoch, the ceiling, their ratio, and peak memory."""
    with tempfile.TemporaryDirectory() as scratch:
        dataset_dir = data or str(Path(scratch) / "data")
        workflow = ConfigWorkflow(
            config_file=str(BUNDLE / "configs" / "train.json"), workflow_type="train", run_id="training",
            bundle_root=scratch, dataset_dir=dataset_dir, synthetic_studies=studies, max_epochs=epochs,
            batch_size=batch_size, pairs_per_exam=pairs_per_exam, patch_preset=patch, amp=amp, seed=seed,
        )
        workflow.initialize()
        trainer = workflow.parser.get_parsed_content("train#trainer")
        marks: dict[str, list[float]] = {"start": [], "end": []}
        trainer.add_event_handler(Events.EPOCH_STARTED, lambda _: marks["start"].append(time.perf_counter()))
        trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda _: marks["end"].append(time.perf_counter()))
        trainer.run()
        pairs_per_epoch = trainer.state.epoch_length * batch_size
        # EPOCH_STARTED handlers run in registration order: the soft-label refresh was attached before our
        # timer, so an epoch's time here is its iterations; the refresh sits between the previous end and start.
        iteration_seconds = [end - start for start, end in zip(marks["start"][1:], marks["end"][1:])]
        epoch_seconds = [end - previous for previous, end in zip(marks["end"][:-1], marks["end"][1:])]
        end_to_end = pairs_per_epoch * len(iteration_seconds) / sum(iteration_seconds)
        with_refresh = pairs_per_epoch * len(epoch_seconds) / sum(epoch_seconds)
        precision = workflow.parser.get_parsed_content("precision")
        ceiling = _ceiling_pairs_per_s(
            workflow.parser.get_parsed_content("network"), workflow.parser.get_parsed_content("loss"),
            workflow.parser.get_parsed_content("optimizer"), precision, batch_size,
            int(workflow.parser.get_parsed_content("data_source").patch_size), steps=max(trainer.state.epoch_length, 5),
        )
        workflow.finalize()
    result = {
        "pairs_per_epoch": pairs_per_epoch,
        "end_to_end_pairs_per_s": end_to_end,
        "end_to_end_with_soft_label_refresh_pairs_per_s": with_refresh,
        "ceiling_pairs_per_s": ceiling,
        "ratio": end_to_end / ceiling,
        "precision": str(precision.dtype) if precision.enabled else "fp32",
        "channels_last": precision.channels_last,
        "peak_memory_mib": peak_memory_mib(),
    }
    print(f"precision: {result['precision']}, channels-last: {result['channels_last']}, batch {batch_size}, patch {patch}")
    print(f"training pairs/s after the first epoch:        {end_to_end:8.1f}")
    print(f"  including the per-epoch soft-label refresh:  {with_refresh:8.1f}")
    print(f"compute ceiling (ready tensors) pairs/s:       {ceiling:8.1f}")
    print(f"ratio end-to-end / ceiling:                    {result['ratio']:8.2f}")
    print(f"peak memory:                                   {result['peak_memory_mib']:8.0f} MiB")
    return result
