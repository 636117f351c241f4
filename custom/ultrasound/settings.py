"""The ultrasound bundle's documented settings and what each takes (``docs/README.md`` of the bundle lists
them), checked by every config's ``initialize`` before data preparation (:mod:`custom.bundle_settings`)."""

from __future__ import annotations

from custom.bundle_settings import (Setting, check_settings, imported, number_from, one_of, positive_number, text,
                                    text_list, whole_number)

_FORMATS = imported("custom.ultrasound.readers.registry", "ULTRASOUND_READERS")


ULTRASOUND_SETTINGS: dict[str, Setting] = {
    # data
    "dataset_dir": text(),
    "dataset_format": one_of(_FORMATS),
    "synthetic_dir": text(),
    "synthetic_preset": one_of(imported("custom.ultrasound.synthetic.presets", "PRESETS")),
    "manifest_file": text(),
    "val_fraction": number_from(0, 1, high_open=True),
    "test_fraction": number_from(0, 1, high_open=True),
    "seed": whole_number(0),
    "num_workers": whole_number(0),
    # the U-Net's ResNet-18 encoder halves the image five times: sizes are multiples of 32
    "image_size": Setting("a multiple of 32, such as 64, 128 or 256",
                          lambda value: whole_number(32).accepts(value) and value % 32 == 0),
    # fine-tuning
    "label_fraction": Setting("a number in (0, 1]", lambda value: number_from(0, 1).accepts(value) and value > 0),
    "init": text(),
    "max_epochs": whole_number(1),
    "train#trainer#max_epochs": whole_number(1),
    "val_interval": whole_number(1),
    "batch_size": whole_number(1),
    "learning_rate": positive_number(),
    # pretraining
    "pretrain_sources": Setting(lambda: "a list of layouts among " + ", ".join(sorted(_FORMATS())),
                                lambda value: text_list().accepts(value) and set(value) <= set(_FORMATS())),
    "pretrained_part": one_of(imported("custom.ultrasound.pretraining", "PRETRAINED_PARTS")),
    "ssl_method": one_of(imported("custom.ssl.registry", "SSL_METHODS")),
}


def check_ultrasound_settings() -> None:
    """Stops the running ultrasound bundle config on a documented setting of the wrong type or range."""
    check_settings(ULTRASOUND_SETTINGS)
