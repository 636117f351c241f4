"""Self-supervised baselines: losses on hand-checked inputs, momentum networks, queue, augmentation,
one training step per method, checkpoint and resume, and the bundle configs (train_ssl.json with one
train_<method>.json overlay per method)."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch
from monai.bundle import ConfigWorkflow
from monai.engines import SupervisedTrainer
from monai.handlers import CheckpointLoader, CheckpointSaver
from monai.inferers import SimpleInferer
from monai.losses import ContrastiveLoss
from scipy.linalg import hadamard
from torch.utils.data import DataLoader, Dataset

from custom.training import MixedPrecision, TrainerProgress, checkpoint_to_resume
from custom.networks import SiameseEncoder, seeded_encoder
from custom.ssl import (
    BYOL,
    SSL_METHODS,
    BarlowTwins,
    MoCo,
    SimCLR,
    nt_xent_loss,
    SimSiam,
    SinglePatchDataset,
    SSLIteration,
    TwoViewAugment,
    build_ssl_method,
    info_nce_loss,
    negative_cosine,
    normalized_mse,
)

PATCH = 32
CONFIGS = Path(__file__).resolve().parents[1] / "bundles" / "mammo_siamese_softlabel" / "configs"
SMALL_OPTIONS = {"moco": {"queue_size": 16}}


class TinyPairs(Dataset):
    """``n`` random contralateral pairs of ``PATCH`` x ``PATCH`` patches in [0, 1], fixed by the seed."""

    def __init__(self, n: int = 6, seed: int = 0):
        generator = torch.Generator().manual_seed(seed)
        self.pairs = torch.rand(n, 2, 1, PATCH, PATCH, generator=generator)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        return {"image_a": self.pairs[index, 0], "image_b": self.pairs[index, 1], "index": index}


@pytest.fixture(scope="module")
def encoder() -> SiameseEncoder:
    """Building a ResNet-18 is the slow part: tests deep-copy this one."""
    return seeded_encoder(0)


@pytest.fixture(scope="module")
def views() -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.rand(4, 1, PATCH, PATCH, generator=torch.Generator().manual_seed(1))
    return TwoViewAugment(seed=0)(images)


def _method(name: str, encoder: SiameseEncoder, **options):
    return build_ssl_method(name, copy.deepcopy(encoder), **{**SMALL_OPTIONS.get(name, {}), **options})


# ---------------------------------------------------------------- losses on hand-checked inputs


def test_simsiam_loss_is_minus_one_for_aligned_and_zero_for_orthogonal_vectors():
    p = torch.tensor([[1.0, 0.0], [0.0, 2.0]], requires_grad=True)
    target = torch.tensor([[3.0, 0.0], [0.0, 0.5]], requires_grad=True)
    assert negative_cosine(p, target).item() == pytest.approx(-1.0)
    assert negative_cosine(p, target.flip(1)).item() == pytest.approx(0.0)
    negative_cosine(p, target).backward()
    assert target.grad is None  # stop-gradient on the target branch
    assert p.grad is not None


def test_simsiam_symmetric_loss_averages_the_two_directions(encoder):
    method = _method("simsiam", encoder).eval()
    method.predictor = torch.nn.Identity()  # predictions equal projections: both directions give -1
    images = torch.rand(4, 1, PATCH, PATCH)
    with torch.no_grad():
        assert method(images, images).item() == pytest.approx(-1.0, abs=1e-5)


def test_byol_normalized_mse_is_zero_aligned_two_orthogonal_four_opposite():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert normalized_mse(a, 5 * a).item() == pytest.approx(0.0, abs=1e-6)
    assert normalized_mse(a, a.flip(1)).item() == pytest.approx(2.0)
    assert normalized_mse(a, -a).item() == pytest.approx(4.0)


def test_barlow_loss_of_decorrelated_identical_standardized_embeddings_is_its_floor(encoder):
    batch, dims = 8, 4
    z = torch.tensor(hadamard(batch)[:, 1 : 1 + dims], dtype=torch.float32)  # zero-mean, orthogonal, unit variance
    loss = BarlowTwins(encoder, projection_dim=dims).loss_function
    # MONAI standardises with the unbiased std but divides by B: the diagonal is (B - 1) / B, not 1
    assert loss(z, z).item() == pytest.approx(dims / batch**2, rel=1e-4)
    # two identical columns add lambd * 2 * ((B - 1) / B)^2 of redundancy
    redundant = torch.cat([z[:, :3], z[:, :1]], dim=1)
    expected = dims / batch**2 + 5e-3 * 2 * ((batch - 1) / batch) ** 2
    assert loss(redundant, redundant).item() == pytest.approx(expected, rel=1e-4)


def _unit(degrees: float) -> list[float]:
    return [math.cos(math.radians(degrees)), math.sin(math.radians(degrees))]


def test_simclr_loss_equals_the_hand_computed_cross_entropy():
    # view 1 of samples 1, 2 at 0 and 120 degrees, view 2 at 60 and 180 degrees: similarities are cosines
    z_1 = torch.tensor([_unit(0), _unit(120)])
    z_2 = torch.tensor([_unit(60), _unit(180)])
    t = 0.5
    e = lambda cosine: math.exp(cosine / t)  # noqa: E731
    rows = [  # (positive, sum over the two negatives) for each of the four views
        (e(0.5), e(-0.5) + e(-1.0)),  # 0 deg: positive 60; negatives 120, 180
        (e(0.5), e(-0.5) + e(0.5)),  # 120 deg: positive 180; negatives 0, 60
        (e(0.5), e(0.5) + e(-0.5)),  # 60 deg: positive 0; negatives 120, 180
        (e(0.5), e(-1.0) + e(-0.5)),  # 180 deg: positive 120; negatives 0, 60
    ]
    expected = sum(-math.log(pos / (pos + neg)) for pos, neg in rows) / 4
    assert nt_xent_loss(z_1, z_2, t).item() == pytest.approx(expected, rel=1e-5)
    # and MONAI's single-process ContrastiveLoss agrees, on random projections too
    assert ContrastiveLoss(temperature=t)(z_1, z_2).item() == pytest.approx(expected, rel=1e-5)
    z_1, z_2 = torch.randn(2, 6, 16, generator=torch.Generator().manual_seed(0))
    assert nt_xent_loss(z_1, z_2, 0.2).item() == pytest.approx(ContrastiveLoss(temperature=0.2)(z_1, z_2).item(),
                                                               rel=1e-5)


def test_info_nce_equals_the_hand_computed_cross_entropy():
    query = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    key = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    negatives = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
    # logits / 0.2: query 1 -> [3, 0, -5], query 2 -> [5, 5, 0]
    expected = 0.5 * (
        -math.log(math.exp(3) / (math.exp(3) + 1 + math.exp(-5))) - math.log(math.exp(5) / (2 * math.exp(5) + 1))
    )
    assert info_nce_loss(query, key, negatives, temperature=0.2).item() == pytest.approx(expected, rel=1e-5)


# ---------------------------------------------------------------- MoCo queue and momentum networks


def test_moco_queue_is_fifo_and_wraps(encoder):
    moco = MoCo(copy.deepcopy(encoder), projection_dim=2, queue_size=5)
    keys = torch.arange(12.0).reshape(6, 2)
    moco.enqueue(keys[:3])
    torch.testing.assert_close(moco.queue[:3], keys[:3])
    assert moco.queue_pointer.item() == 3
    moco.enqueue(keys[3:6])  # two at the end, then the oldest (row 0) is overwritten
    torch.testing.assert_close(moco.queue, torch.stack([keys[5], keys[1], keys[2], keys[3], keys[4]]))
    assert moco.queue_pointer.item() == 1
    moco.enqueue(torch.arange(14.0).reshape(7, 2))  # more keys than places: only the newest five stay
    assert sorted(moco.queue[:, 0].tolist()) == [4.0, 6.0, 8.0, 10.0, 12.0]


def _shift_parameters(module: torch.nn.Module, amount: float) -> None:
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(amount)


def test_moco_step_end_does_the_momentum_update_and_enqueues_the_keys_of_the_step(encoder, views):
    moco = MoCo(copy.deepcopy(encoder), projection_dim=8, queue_size=32, momentum=0.9)
    _shift_parameters(moco.encoder, 0.5)  # as if the optimiser had moved the online network
    _shift_parameters(moco.projector, -0.25)
    old_keys = [p.clone() for p in list(moco.key_encoder.parameters()) + list(moco.key_projector.parameters())]
    online = list(moco.encoder.parameters()) + list(moco.projector.parameters())
    queue_before = moco.queue.clone()

    moco(*views)
    torch.testing.assert_close(moco.queue, queue_before)  # forward alone changes nothing
    moco.step_end()

    updated = list(moco.key_encoder.parameters()) + list(moco.key_projector.parameters())
    for new, old, current in zip(updated, old_keys, online, strict=True):
        torch.testing.assert_close(new, 0.9 * old + 0.1 * current, rtol=1e-6, atol=1e-6)
    assert moco.queue_pointer.item() == 2 * len(views[0])
    torch.testing.assert_close(moco.queue[: 2 * len(views[0])].norm(dim=1), torch.ones(2 * len(views[0])))
    torch.testing.assert_close(moco.queue[2 * len(views[0]) :], queue_before[2 * len(views[0]) :])


def test_byol_target_gets_no_gradient_and_its_ema_update_is_exact(encoder, views):
    byol = BYOL(copy.deepcopy(encoder), projection_dim=8, hidden_dim=16, momentum=0.75)
    byol(*views).backward()
    target = list(byol.target_encoder.parameters()) + list(byol.target_projector.parameters())
    assert all(p.grad is None and not p.requires_grad for p in target)
    assert all(p.grad is not None for p in byol.predictor.parameters())
    assert byol.encoder.backbone.conv1.weight.grad.abs().sum() > 0

    _shift_parameters(byol.encoder, 1.0)
    old = [p.clone() for p in target]
    byol.step_end()
    online = list(byol.encoder.parameters()) + list(byol.projector.parameters())
    for new, before, current in zip(target, old, online, strict=True):
        torch.testing.assert_close(new, 0.75 * before + 0.25 * current, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------- one training step of every method


class _State:
    epoch, iteration = 3, 17


class _Engine:
    """The four attributes ``SSLIteration`` reads from a MONAI trainer."""

    def __init__(self, network, optimizer):
        self.network, self.optimizer, self.state, self.inferer = network, optimizer, _State(), SimpleInferer()


@pytest.mark.parametrize("name", sorted(SSL_METHODS))
def test_one_training_step_changes_the_encoder_and_gives_a_finite_loss(name, encoder):
    precision = MixedPrecision("cpu")  # bf16 autocast + channels-last where the CPU has bf16, else fp32
    method = precision.prepare_model(_method(name, encoder))
    before = copy.deepcopy(method.encoder.state_dict())
    optimizer = torch.optim.AdamW(method.parameters(), lr=1e-3, weight_decay=1e-4)
    step = SSLIteration(TwoViewAugment(seed=0), precision)
    output = step(_Engine(method, optimizer), {"image": torch.rand(4, 1, PATCH, PATCH)})
    assert math.isfinite(output["loss"])
    after = method.encoder.state_dict()
    assert not torch.equal(after["backbone.conv1.weight"], before["backbone.conv1.weight"])
    assert not torch.equal(after["backbone.layer4.1.conv2.weight"], before["backbone.layer4.1.conv2.weight"])


def test_non_finite_loss_stops_with_a_clear_message():
    class Diverged(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def forward(self, view_1, view_2):
            return self.weight.sum() * float("nan")

    network = Diverged()
    step = SSLIteration(TwoViewAugment(seed=0), MixedPrecision("cpu", enabled=False))
    with pytest.raises(FloatingPointError, match="epoch 3, iteration 17"):
        step(_Engine(network, torch.optim.SGD(network.parameters(), lr=0.1)), {"image": torch.rand(2, 1, 8, 8)})


# ---------------------------------------------------------------- augmentation


def test_augmented_views_keep_shape_and_range_and_differ():
    images = torch.rand(6, 1, PATCH, PATCH, generator=torch.Generator().manual_seed(0))
    view_1, view_2 = TwoViewAugment(seed=0)(images)
    for view in (view_1, view_2):
        assert view.shape == images.shape and view.dtype == torch.float32
        assert view.min() >= 0.0 and view.max() <= 1.0
    assert (view_1 - view_2).abs().mean() > 0.05
    assert (view_1 - images).abs().mean() > 0.05


def test_augmentation_is_deterministic_from_the_seed_and_resumes_from_its_state():
    images = torch.rand(4, 1, PATCH, PATCH)
    first, same, other = TwoViewAugment(seed=7), TwoViewAugment(seed=7), TwoViewAugment(seed=8)
    for a, b in zip(first(images), same(images), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(first(images)[0], other(images)[0])
    state = first.state_dict()
    expected = first(images)
    restored = TwoViewAugment(seed=0)
    restored.load_state_dict(state)
    torch.testing.assert_close(restored(images), expected, rtol=0, atol=0)


def _identity(**changes) -> TwoViewAugment:
    settings = dict(
        crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), hflip_prob=0.0, vflip_prob=0.0, rotation_degrees=0.0,
        jitter_prob=0.0, blur_prob=0.0, noise_prob=0.0,
    )
    return TwoViewAugment(**{**settings, **changes})


def test_augmentation_steps_do_what_they_say():
    images = torch.rand(3, 1, PATCH, PATCH)
    torch.testing.assert_close(_identity().view(images), images, atol=1e-5, rtol=0)
    torch.testing.assert_close(_identity(hflip_prob=1.0).view(images), images.flip(-1), atol=1e-5, rtol=0)
    torch.testing.assert_close(_identity(vflip_prob=1.0).view(images), images.flip(-2), atol=1e-5, rtol=0)
    grey = torch.full((2, 1, PATCH, PATCH), 0.5)
    noisy = _identity(noise_prob=1.0, noise_std=(0.05, 0.05)).view(grey)
    assert (noisy - grey).std().item() == pytest.approx(0.05, rel=0.1)
    blurred = _identity(blur_prob=1.0, blur_sigma=(1.0, 1.0)).view(images)
    assert blurred.std() < 0.6 * images.std()  # white noise loses most of its variance
    assert blurred.mean().item() == pytest.approx(images.mean().item(), abs=0.01)
    brighter = _identity(jitter_prob=1.0, gamma=(1.0, 1.0), contrast=(1.0, 1.0), brightness=(0.1, 0.1)).view(grey)
    torch.testing.assert_close(brighter, torch.full_like(grey, 0.6))


def test_mammography_augmentation_keeps_a_small_dense_spot_in_both_views():
    """A 3-pixel bright spot (a calcification at 0.5 mm per pixel) in the centre of a flat patch: the generic set's
    blur and strong crops often wipe it out of a view, the mammography set keeps it in every view."""
    from custom.ssl import two_view_augment

    patches = torch.full((64, 1, PATCH, PATCH), 0.3)
    centre = PATCH // 2
    patches[:, :, centre - 1:centre + 2, centre - 1:centre + 2] = 0.9

    def kept(name: str) -> float:
        views = torch.cat(two_view_augment(name, seed=0)(patches)).flatten(1)
        spot_above_background = views.amax(dim=1) - views.median(dim=1).values
        return (spot_above_background > 0.4).float().mean().item()

    assert kept("mammography") == 1.0
    assert kept("generic") < 0.9
    with pytest.raises(ValueError, match="ssl_augmentation must be one of"):
        two_view_augment("natural")


def test_augmentation_rejects_bad_settings_and_inputs():
    with pytest.raises(ValueError, match="crop_scale"):
        TwoViewAugment(crop_scale=(0.9, 0.5))
    with pytest.raises(ValueError, match="blur_prob"):
        TwoViewAugment(blur_prob=1.5)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        TwoViewAugment()(torch.rand(1, PATCH, PATCH))


# ---------------------------------------------------------------- registry and dataset


def test_registry_builds_every_method_and_rejects_unknown_names_and_options(encoder):
    expected = {"simclr": SimCLR, "moco": MoCo, "byol": BYOL, "simsiam": SimSiam, "barlow": BarlowTwins}
    assert {name: type(_method(name, encoder)) for name in SSL_METHODS} == expected
    with pytest.raises(ValueError, match=r"unknown self-supervised method 'dino'; choose one of \['barlow'"):
        build_ssl_method("dino", encoder)
    with pytest.raises(ValueError, match=r"'simclr' has no option\(s\) \['queue_size'\]"):
        build_ssl_method("simclr", encoder, queue_size=8)


def test_single_patch_dataset_exposes_both_sides_of_every_pair():
    pairs = TinyPairs(n=3)
    patches = SinglePatchDataset(pairs)
    assert len(patches) == 6
    item = patches[5]
    assert (item["pair_index"], item["side"], item["index"]) == (2, 1, 5)
    torch.testing.assert_close(item["image"], pairs[2]["image_b"])
    torch.testing.assert_close(patches[4]["image"], pairs[2]["image_a"])
    with pytest.raises(ValueError, match="empty"):
        SinglePatchDataset(TinyPairs(n=0))


# ---------------------------------------------------------------- checkpoint and resume in a MONAI trainer


def _moco_run(ckpt_dir: Path, epochs: int) -> dict:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # heads and queue start the same in every run
        method = MoCo(seeded_encoder(0), projection_dim=8, hidden_dim=16, queue_size=12)
    optimizer = torch.optim.AdamW(method.parameters(), lr=1e-3, weight_decay=1e-4)
    augment = TwoViewAugment(seed=0)
    loader = DataLoader(SinglePatchDataset(TinyPairs(n=2)), batch_size=4, shuffle=False)  # one step an epoch
    progress = TrainerProgress()
    state = {"network": method, "optimizer": optimizer, "augment": augment, "trainer": progress}
    resume_from = checkpoint_to_resume(ckpt_dir)
    handlers = [progress, CheckpointSaver(str(ckpt_dir), state, save_interval=1, n_saved=2),
                CheckpointSaver(str(ckpt_dir), {"model": method.encoder}, save_final=True, final_filename="model.pt")]
    if resume_from is not None:
        handlers.append(CheckpointLoader(resume_from, state, map_location="cpu"))
    trainer = SupervisedTrainer(
        device="cpu", max_epochs=epochs, train_data_loader=loader, network=method, optimizer=optimizer,
        loss_function=None, iteration_update=SSLIteration(augment, MixedPrecision("cpu", enabled=False)),
        train_handlers=handlers,
    )
    trainer.run()
    return method.state_dict()


def test_checkpoint_resume_matches_an_uninterrupted_run(tmp_path):
    straight = _moco_run(tmp_path / "straight", epochs=2)
    _moco_run(tmp_path / "interrupted", epochs=1)
    resumed = _moco_run(tmp_path / "interrupted", epochs=2)
    for key, value in straight.items():
        torch.testing.assert_close(resumed[key], value, rtol=0, atol=0, msg=f"{key} differs after resume")
    exported = SiameseEncoder()
    exported.load_state_dict(torch.load(tmp_path / "interrupted" / "model.pt", weights_only=True))
    torch.testing.assert_close(exported.state_dict()["backbone.conv1.weight"], resumed["encoder.backbone.conv1.weight"])


# ---------------------------------------------------------------- bundle configs: train_ssl.json + one overlay per method

TINY_BUNDLE = {"pairs_per_exam": 1, "batch_size": 8}


@pytest.fixture(scope="module")
def exam_cache(tmp_path_factory) -> Path:
    """One aligned-exam cache for every config test: preparing exams is the slow part of a bundle run."""
    return tmp_path_factory.mktemp("exam_cache")


def _workflow(
    method: str, bundle_root: Path, dataset_dir: Path, cache_dir: Path, run_id: str = "training", **overrides
) -> ConfigWorkflow:
    configs = ["train.json", "train_ssl.json", f"train_{method}.json"] + (["evaluate.json"] if run_id == "evaluating" else [])
    return ConfigWorkflow(
        config_file=[str(CONFIGS / name) for name in configs],
        meta_file=str(CONFIGS / "metadata.json"), logging_file=str(CONFIGS / "logging.conf"),
        workflow_type="train", run_id=run_id, bundle_root=str(bundle_root), dataset_dir=str(dataset_dir),
        cache_dir=str(cache_dir), max_epochs=1, **{**TINY_BUNDLE, **overrides},
    )


@pytest.mark.parametrize("name", sorted(SSL_METHODS))
def test_every_method_overlay_builds_its_method_on_train_and_train_ssl(
    name, tmp_path, synthetic_vindr, exam_cache, monkeypatch
):
    overlay = json.loads((CONFIGS / f"train_{name}.json").read_text())
    assert set(overlay) == {"ssl_method", "ssl_options"}  # all else is shared, in train_ssl.json
    assert overlay["ssl_method"] == name
    built = []

    def recording_build(method_name, encoder, **options):
        built.append((method_name, options))
        return build_ssl_method(method_name, encoder, **options)

    monkeypatch.setattr("custom.ssl.build_ssl_method", recording_build)
    workflow = _workflow(name, tmp_path, synthetic_vindr, exam_cache)
    workflow.initialize()
    assert workflow.check_properties() == []
    assert type(workflow.parser.get_parsed_content("training_def")) is SSL_METHODS[name]
    assert built == [(name, overlay["ssl_options"])]  # the overlay's options, in one dict, to the factory
    assert isinstance(workflow.parser.get_parsed_content("train#iteration"), SSLIteration)
    handlers = workflow.parser.get_parsed_content("train#handlers")
    assert [type(handler).__name__ for handler in handlers[:4]] == ["TrainerProgress", "CheckpointSaver",
                                                                     "CheckpointSaver", "StatsHandler"]
    assert handlers[1].save_dir == str(tmp_path / "models" / name)  # nothing to resume: no loader
    patches = workflow.parser.get_parsed_content("train#dataloader").dataset
    assert isinstance(patches, SinglePatchDataset)
    assert patches.pair_dataset is workflow.parser.get_parsed_content("train#dataset")  # train.json's own pairs
    assert workflow.parser.get_parsed_content("ssl_ckpt_dir") == str(tmp_path / "models" / name)


def test_a_method_config_trains_one_epoch_and_exports_its_encoder(tmp_path, synthetic_vindr, exam_cache):
    workflow = _workflow("simsiam", tmp_path, synthetic_vindr, exam_cache)
    workflow.initialize()
    workflow.run()
    workflow.finalize()
    models = tmp_path / "models" / "simsiam"
    checkpoint = torch.load(models / "checkpoint_epoch=1.pt", weights_only=True)
    trainer = checkpoint["trainer"]  # ignite's Engine.state_dict: one epoch done
    assert trainer["iteration"] == trainer["epoch_length"] >= 1
    encoder = SiameseEncoder()
    encoder.load_state_dict(torch.load(models / "model.pt", weights_only=True))
    initial = seeded_encoder(0).state_dict()["backbone.conv1.weight"]
    assert not torch.equal(encoder.state_dict()["backbone.conv1.weight"], initial)
    assert not (tmp_path / "models" / "model.pt").exists()  # the Siamese export is left alone

    # evaluate.json on top of the method's config probes that method's export, into eval/<method>
    evaluation = _workflow(
        "simsiam", tmp_path, synthetic_vindr, exam_cache, run_id="evaluating", probe_splits=["train", "val", "test"]
    )
    evaluation.initialize()
    evaluation.run()
    probed = evaluation.parser.get_parsed_content("trained_encoder").state_dict()
    assert torch.equal(probed["backbone.conv1.weight"], encoder.state_dict()["backbone.conv1.weight"])
    evaluation.finalize()
    rows = (tmp_path / "eval" / "simsiam" / "comparison.csv").read_text()
    assert "simsiam" in rows and "random_init" in rows and "siamese_softlabel" not in rows
    assert not (tmp_path / "eval" / "comparison.csv").exists()


def test_train_ssl_without_a_method_overlay_names_the_missing_method(tmp_path, synthetic_vindr, exam_cache):
    workflow = ConfigWorkflow(
        config_file=[str(CONFIGS / "train.json"), str(CONFIGS / "train_ssl.json")],
        meta_file=str(CONFIGS / "metadata.json"), logging_file=str(CONFIGS / "logging.conf"),
        workflow_type="train", bundle_root=str(tmp_path), dataset_dir=str(synthetic_vindr), cache_dir=str(exam_cache),
    )
    workflow.initialize()
    with pytest.raises(ValueError, match="@ssl_method"):
        workflow.parser.get_parsed_content("training_def")
