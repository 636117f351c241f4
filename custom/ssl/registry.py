"""Self-supervised methods by name, and a factory with clear errors for unknown names and options."""

from __future__ import annotations

import inspect

from custom.networks import SiameseEncoder
from custom.ssl.barlow import BarlowTwins
from custom.ssl.base import SSLMethod
from custom.ssl.byol import BYOL
from custom.ssl.moco import MoCo
from custom.ssl.simclr import SimCLR
from custom.ssl.simsiam import SimSiam

SSL_METHODS: dict[str, type[SSLMethod]] = {
    "simclr": SimCLR,
    "moco": MoCo,
    "byol": BYOL,
    "simsiam": SimSiam,
    "barlow": BarlowTwins,
}


def accepted_options(name: str) -> list[str]:
    """Names of the options ``build_ssl_method`` accepts for ``name`` (everything but the encoder)."""
    parameters = inspect.signature(_method_class(name)).parameters
    return [option for option in parameters if option != "encoder"]


def check_ssl_method(name: str, options: dict) -> None:
    """Raises ``ValueError`` for an unknown method name or an option the method does not take."""
    unknown = sorted(set(options) - set(accepted_options(name)))
    if unknown:
        raise ValueError(f"self-supervised method {name!r} has no option(s) {unknown}; it takes {accepted_options(name)}")


def build_ssl_method(name: str, encoder: SiameseEncoder, **options) -> SSLMethod:
    """The method ``name`` (a key of :data:`SSL_METHODS`) around ``encoder``, with its ``options``.

    Raises:
        ValueError: for an unknown method name or an option the method does not take.
    """
    check_ssl_method(name, options)
    return _method_class(name)(encoder, **options)


def _method_class(name: str) -> type[SSLMethod]:
    if name not in SSL_METHODS:
        raise ValueError(f"unknown self-supervised method {name!r}; choose one of {sorted(SSL_METHODS)}")
    return SSL_METHODS[name]
