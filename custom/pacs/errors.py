"""The one exception type of the PACS connection: a problem the user can act on, said in one message."""

from __future__ import annotations

from custom.clear_errors import ClearError


class PacsError(ClearError):
    """The PACS could not be reached or used, or the study is not one ``pacs-detect`` can read.

    Raised before anything is written to the PACS whenever the problem can be known then (see
    ``custom.pacs.detect``); the message names the server, the study or the series and what to do.
    """
