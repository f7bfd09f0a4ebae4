"""How ``cdp`` ends other than with 0: the exit codes, and the error of an input refused before
anything is done (exit 2)."""

from __future__ import annotations

EXIT_REJECTED = 2
EXIT_ENVIRONMENT = 3
EXIT_CHECK_FAILED = 4


class Refused(Exception):
    """A command-line input refused before anything is done (exit 2): an ``--out`` path, a query.
    Masked: a query may quote a mobile or an email."""

    def __init__(self, message: str) -> None:
        from cdp_pipeline.masking import mask_text

        super().__init__(mask_text(message))
