"""What a comparison run trains and with which budget: presets and the list of methods."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from custom.ssl import SSL_METHODS

# Our method and its ablations: overrides of the bundle's train.json.
SIAMESE_VARIANTS: dict[str, dict] = {
    "siamese_softlabel": {},
    "ablation_hard_labels": {"soft_labels": False, "unknown_prior": 1.0},
    "ablation_one_network": {"cross_loss": False},
    "ablation_no_alignment": {"registration": "none"},
}
REFERENCES = ("random_init", "raw_pixels", "supervised")
METHODS: tuple[str, ...] = (*SIAMESE_VARIANTS, *SSL_METHODS, *REFERENCES)


@dataclass(frozen=True)
class PresetBudget:
    """The pretraining budget of one patch preset: the same for every method."""

    epochs: int
    pairs_per_exam: int
    candidate_pairs_per_exam: int
    batch_size: int = 32
    learning_rate: float = 1e-3
    moco_queue_size: int = 4096  # negatives; keep it below the number of training patches


@dataclass(frozen=True)
class ComparisonProtocol:
    """Everything that must be equal across methods, written to ``protocol.json`` of the run."""

    preset: str
    seed: int
    budgets: dict[str, PresetBudget]
    synthetic_studies: int
    methods: tuple[str, ...] = METHODS
    probe_splits: tuple[str, ...] = ("val", "test")
    pretrain_split: str = "train"
    normal_patches_per_breast: int = 2
    amp: bool = True
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, dict] = {
    # minutes on a 2-core CPU: a smoke-level budget, enough to rank methods only roughly. 120 studies so
    # that the probe set (val + test patients) holds about 20 lesion patches; few pairs per exam keep the
    # pretraining steps small
    "quick": {
        "synthetic_studies": 120,
        "budgets": {"96": PresetBudget(epochs=3, pairs_per_exam=3, candidate_pairs_per_exam=6, moco_queue_size=512),
                    "256": PresetBudget(epochs=2, pairs_per_exam=1, candidate_pairs_per_exam=2, batch_size=16,
                                        moco_queue_size=128)},
    },
    # issue 24's ranking run: the README's data, 96 px, every method the science budget (24 epochs, the bundle's
    # pairs per exam); the methods the issue names, so that the run fits 2 cores (not yet timed end to end)
    "science": {
        "synthetic_studies": 120,
        "budgets": {"96": PresetBudget(epochs=24, pairs_per_exam=8, candidate_pairs_per_exam=8, moco_queue_size=1024)},
        "methods": ("siamese_softlabel", "ablation_hard_labels", "simclr", "byol", *REFERENCES),
    },
    # meant for a GPU: the bundle's defaults scaled up
    "paper": {
        "synthetic_studies": 400,
        "budgets": {"96": PresetBudget(epochs=20, pairs_per_exam=16, candidate_pairs_per_exam=48),
                    "256": PresetBudget(epochs=20, pairs_per_exam=16, candidate_pairs_per_exam=48)},
    },
}


def make_protocol(preset: str, seed: int = 0, methods: tuple[str, ...] | None = None,
                  patch_presets: tuple[str, ...] | None = None, amp: bool = True) -> ComparisonProtocol:
    """The protocol of a size preset, optionally restricted to some methods or patch presets."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    spec = PRESETS[preset]
    budgets = dict(spec["budgets"])
    if patch_presets is not None:
        unknown = set(map(str, patch_presets)) - set(budgets)
        if unknown:
            raise ValueError(f"unknown patch presets {sorted(unknown)}; choose from {sorted(budgets)}")
        budgets = {str(p): budgets[str(p)] for p in patch_presets}
    if methods is not None:
        unknown = set(methods) - set(METHODS)
        if unknown:
            raise ValueError(f"unknown methods {sorted(unknown)}; choose from {list(METHODS)}")
    return ComparisonProtocol(
        preset=preset, seed=seed, budgets=budgets, synthetic_studies=spec["synthetic_studies"],
        methods=tuple(methods) if methods is not None else spec.get("methods", METHODS), amp=amp,
    )
