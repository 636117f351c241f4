"""``bench data --ranks N``: data preparation shared by N torchrun-like ranks against one rank, in wall time and in
peak memory per rank.

Each measurement spawns fresh processes joined in a gloo process group (as ``torchrun`` would start them on CPU),
and each rank runs what the bundle runs: ``MammoDataSource.exams``, which under torch.distributed builds the rank's
share of the aligned-exam cache and gathers every rank's records. The clock runs from a barrier after start-up
(interpreter and torch imports are not preparation) to the end of the last rank. A rank prepares in its own
process (``num_workers=0``) by default, so its peak memory is all the preparation costs it.
"""

from __future__ import annotations

import json
import resource
import tempfile
import time
from pathlib import Path

from custom.mammography.bench.memory import own_peak_memory_mib
from custom.mammography.data.presets import patch_preset


def bench_ranks(ranks: int = 2, studies: int | None = None, preset: str = "default", patch: str = "96",
                num_workers: int = 0, seed: int = 0, full_size: bool = False, data: str | None = None) -> dict:
    """Prints seconds and images/s of preparing the exam cache with 1 rank and with ``ranks`` ranks, their ratio,
    and the peak memory of each rank. Data as ``bench data`` makes it (``full_size``: detector-size exams)."""
    if ranks < 2:
        raise ValueError(f"--ranks compares several ranks with one: give 2 or more, got {ranks}")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(data) if data else Path(scratch) / "data"
        if data is None:
            _write_data(root, studies, preset, seed, full_size)
        one = _spawned_run(1, root, Path(scratch) / "cache_1", patch, num_workers)
        many = _spawned_run(ranks, root, Path(scratch) / f"cache_{ranks}", patch, num_workers)
    result = {"images": one["images"], "ranks": ranks, "num_workers_per_rank": num_workers,
              "one_rank_seconds": one["seconds"], f"{ranks}_ranks_seconds": many["seconds"],
              "speedup": one["seconds"] / many["seconds"], "one_rank_peak_mib": one["peak_mib"],
              f"{ranks}_ranks_peak_mib": many["peak_mib"]}
    workers = "in-process" if num_workers == 0 else f"{num_workers} worker process(es)"
    print(f"{one['images']} images to the {patch}-px preset ({patch_preset(patch)['spacing']} mm), "
          f"each rank preparing {workers}")
    for label, run in (("1 rank", one), (f"{ranks} ranks", many)):
        print(f"{label:>8}: {run['seconds']:7.1f} s, {run['images'] / run['seconds']:6.2f} images/s, peak memory per "
              f"rank {', '.join(f'{mib:.0f}' for mib in run['peak_mib'])} MiB")
    print(f"speed-up of {ranks} ranks over 1: {result['speedup']:.2f}x")
    return result


def _write_data(root: Path, studies: int | None, preset: str, seed: int, full_size: bool) -> None:
    from custom.mammography.data.synthetic import generate_vindr_like

    start = time.perf_counter()
    if full_size:
        from custom.mammography.bench.full_size import full_size_preset

        studies = studies or 4
        with full_size_preset() as name:
            generate_vindr_like(root, studies=studies, seed=seed, preset=name, progress=True)
    else:
        studies = studies or 40
        generate_vindr_like(root, studies=studies, seed=seed, preset=preset, progress=True)
    print(f"wrote {studies} synthetic studies in {time.perf_counter() - start:.0f} s")


def _spawned_run(world_size: int, root: Path, cache: Path, patch: str, num_workers: int) -> dict:
    import torch.multiprocessing as mp

    cache.mkdir(parents=True)
    mp.spawn(_rank, args=(world_size, str(root), str(cache), patch, num_workers), nprocs=world_size, join=True)
    outcomes = [json.loads((cache / f"rank_{rank}.json").read_text()) for rank in range(world_size)]
    return {"images": outcomes[0]["images"], "seconds": max(outcome["seconds"] for outcome in outcomes),
            "peak_mib": [outcome["peak_mib"] for outcome in outcomes]}


def _rank(rank: int, world_size: int, root: str, cache: str, patch: str, num_workers: int) -> None:
    import os

    import torch.distributed as dist

    from custom.mammography.data.source import MammoDataSource

    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # containers whose host name does not resolve
    os.environ["LOCAL_RANK"] = str(rank)  # one machine, as torchrun sets it
    dist.init_process_group("gloo", init_method=f"file://{cache}/init", rank=rank, world_size=world_size)
    try:
        source = MammoDataSource(root, "vindr", cache_dir=str(Path(cache) / "exams"), patch_preset_name=patch,
                                 synthetic_studies=0, num_workers=num_workers)
        dist.barrier()
        start = time.perf_counter()
        exams = source.exams
        dist.barrier()
        seconds = time.perf_counter() - start
        peak_mib = own_peak_memory_mib()
        if num_workers:  # a worker's peak (it is forked: ru_maxrss, which counts what it shares with the rank)
            peak_mib = max(peak_mib, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
        outcome = {"images": 2 * len(exams), "seconds": seconds, "peak_mib": peak_mib}
        (Path(cache) / f"rank_{rank}.json").write_text(json.dumps(outcome))
    finally:
        dist.destroy_process_group()
