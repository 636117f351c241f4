"""Embeddings of labelled patches by a frozen encoder, the table the linear probe runs on."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping

import numpy as np
import torch
from monai.data import MetaTensor
from torch import nn
from tqdm.auto import tqdm

# the labels a probe patch carries; each probe task is named after the label it predicts
LABELS = ("abnormal", "birads", "malignant")
UNKNOWN = -1


def _numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _batches(source: Mapping | Iterable[Mapping], batch_size: int) -> Iterator[Mapping]:
    """Dict batches from a loader (any iterable of dicts) or from one dict of whole arrays."""
    if isinstance(source, Mapping):
        n = len(source["image"])
        for start in range(0, n, batch_size):
            yield {key: value[start : start + batch_size] for key, value in source.items()}
    else:
        yield from source


@contextlib.contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Eval mode and no gradients for ``modules``; on exit every submodule gets back its own training flag.

    Unlike ``module.train(was_training)``, a submodule that was deliberately in eval mode inside a training
    module (a frozen batch norm, say) stays so.
    """
    flags = [(sub, sub.training) for module in modules for sub in module.modules()]
    try:
        for module in modules:
            module.eval()
        with torch.no_grad():
            yield
    finally:
        for sub, training in flags:
            sub.training = training


def _autocast(device: torch.device, dtype: torch.dtype | None):
    return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def as_image_batch(image) -> torch.Tensor:
    """A plain ``torch.Tensor`` from a batch's ``image`` (``MetaTensor``, tensor or array)."""
    return image.as_tensor() if isinstance(image, MetaTensor) else torch.as_tensor(image)


def embed_batch(
    encoder: nn.Module,
    image,
    device: torch.device | str,
    *,
    autocast_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    non_blocking: bool = False,
) -> np.ndarray:
    """``(B, D)`` float32 embeddings (on the CPU) of one ``(B, 1, P, P)`` image batch.

    The caller sets the encoder's mode and gradient state (see :func:`frozen`). ``autocast_dtype`` runs the
    encoder under ``torch.autocast(device.type, dtype)``; ``channels_last`` passes the input in channels-last
    memory format (the encoder's own memory format is left as the caller set it).
    """
    device = torch.device(device)
    image = as_image_batch(image).to(device=device, dtype=torch.float32, non_blocking=non_blocking)
    if channels_last:
        image = image.contiguous(memory_format=torch.channels_last)
    with _autocast(device, autocast_dtype):
        embedding = encoder(image)
    n = embedding.shape[0]
    return _numpy(embedding.float()).astype(np.float32, copy=False).reshape(n, -1)


def batch_labels(batch: Mapping, n: int) -> dict[str, np.ndarray]:
    """``patient_id`` (str) and the label columns (int64; a missing label key counts as unknown, -1) of a
    batch of ``n`` patches."""
    columns = {"patient_id": _numpy(batch["patient_id"]).astype(str).reshape(n)}
    for key in LABELS:
        columns[key] = _numpy(batch[key]).astype(np.int64).reshape(n) if key in batch else np.full(n, UNKNOWN)
    return columns


class EmbeddingTable:
    """Accumulates embedded batches into the table :func:`run_probe_tasks` takes.

    ``add(embeddings, labels)``: ``embeddings`` maps a name to its ``(B, D)`` array (one name, ``"embedding"``,
    for a single encoder); ``labels`` is :func:`batch_labels`. ``table(name)`` concatenates them into
    ``{"embedding", "patient_id", "abnormal", "birads", "malignant"}``.
    """

    def __init__(self) -> None:
        self.embeddings: dict[str, list[np.ndarray]] = {}
        self.labels: dict[str, list[np.ndarray]] = {key: [] for key in ("patient_id", *LABELS)}

    def __len__(self) -> int:
        return sum(part.size for part in self.labels["patient_id"])

    def add(self, embeddings: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray]) -> None:
        for name, value in embeddings.items():
            self.embeddings.setdefault(name, []).append(value)
        for key, value in labels.items():
            self.labels[key].append(value)

    def table(self, name: str = "embedding") -> dict[str, np.ndarray]:
        if not self.labels["patient_id"]:
            raise ValueError("no patches to embed: the loader is empty")
        labels = {key: np.concatenate(parts) for key, parts in self.labels.items()}
        return {"embedding": np.concatenate(self.embeddings[name]), **labels}


def embed_patches(
    encoder: nn.Module,
    loader_or_arrays: Mapping | Iterable[Mapping],
    *,
    batch_size: int = 64,
    device: torch.device | str | None = None,
    progress: bool = True,
    autocast_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> dict[str, np.ndarray]:
    """Embed labelled patches with a frozen encoder (eval mode, no gradients; its mode is restored).

    Args:
        encoder: maps ``(B, 1, P, P)`` to ``(B, D)``.
        loader_or_arrays: any iterable of dict batches (a torch ``DataLoader``) or one dict of arrays, with
            ``"image"`` ``(B, 1, P, P)``, ``"patient_id"`` and the labels ``"abnormal"``, ``"birads"``,
            ``"malignant"`` (-1 when unknown; a missing label key counts as unknown).
        batch_size: batch size when ``loader_or_arrays`` is a dict of arrays.
        device: where to run the encoder; default: where its parameters are.
        autocast_dtype, channels_last: see :func:`embed_batch`.

    Returns:
        ``{"embedding": (N, D) float32, "patient_id": (N,) str, "abnormal"/"birads"/"malignant": (N,) int64}``.
    """
    if device is None:
        device = next(iter(encoder.parameters()), torch.empty(0)).device
    table = EmbeddingTable()
    is_loader = not isinstance(loader_or_arrays, Mapping)
    total = len(loader_or_arrays) if is_loader and hasattr(loader_or_arrays, "__len__") else None
    with frozen(encoder):
        for batch in tqdm(_batches(loader_or_arrays, batch_size), total=total, desc="embedding", disable=not progress):
            embedding = embed_batch(
                encoder, batch["image"], device, autocast_dtype=autocast_dtype, channels_last=channels_last
            )
            table.add({"embedding": embedding}, batch_labels(batch, embedding.shape[0]))
    return table.table()

