"""Where a bundle is: given by the caller, never derived from where this package is installed.

Library code that runs a bundle's config (``compare``, ``bench train``) takes the bundle folder as an argument,
so it works from a wheel install as well as from an editable one. The default is the repository's bundle,
relative to the working directory, where the README's commands are run.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_BUNDLE = "bundles/mammo_siamese_softlabel"


def bundle_folder(path: str | Path = DEFAULT_BUNDLE) -> Path:
    """``path`` as a bundle folder; raises ``FileNotFoundError`` saying what to pass when it is none."""
    folder = Path(path)
    if not (folder / "configs" / "train.json").is_file():
        raise FileNotFoundError(
            f"{folder.absolute()}: no bundle here (no configs/train.json); run from the repository root or pass "
            "--bundle with the bundle folder (e.g. bundles/mammo_siamese_softlabel)")
    return folder
