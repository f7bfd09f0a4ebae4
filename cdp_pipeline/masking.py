"""Personal data out of logs, Dagster metadata and error messages.

Previews mask their columns in SQL (``mask_mobile``, ``mask_email``, ``mask_openid`` and
``mask_identifier`` in ``sql/macros.sql``). Text that is not a column — an error message that
quotes cells, a rejected file's header row, a rendered preview — goes through ``mask_text``, which
finds mobiles, emails and WeChat openids and masks them the same way: 138****8000, z***@x.cn,
oAb****Yz1. Failure files are the exception by design: they give the team its rows back as they were.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

_EMAIL = re.compile(r"([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*@([A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+)")
# A WeChat openid (or unionid): 28 characters from o, kept whole by the characters around it.
_OPENID = re.compile(r"(?<![\w\-])([oO][\w\-]{2})[\w\-]{22}([\w\-]{3})(?![\w\-])", re.ASCII)
# 11 digits from 1, alone (not inside a longer number such as an order id or a timestamp), with
# an optional +86 / 0086 / 86 prefix and spaces or dashes as people write them.
_MOBILE = re.compile(r"(?<!\d)(?:(?:\+|00)?86[\s\-]?)?(1\d{2})[\s\-]?\d{4}[\s\-]?(\d{4})(?!\d)")


def mask_text(text: str) -> str:
    """``text`` with every mobile, email and openid in it masked (emails first: a mobile may be
    an email's local part)."""
    text = _EMAIL.sub(r"\1***@\2", text)
    text = _OPENID.sub(r"\1****\2", text)
    return _MOBILE.sub(r"\1****\2", text)


class MaskedError(Exception):
    """An error whose text quoted personal data: its type, message and stack, masked."""


@contextmanager
def masked_errors() -> Iterator[None]:
    """Re-raise an error escaping the block with its text masked, so neither Dagster's event log
    nor a console shows the cells a database error or a contract failure quoted.

    A FileRejected or an EnvironmentFault is masked already (errors.py); an error with nothing
    to mask is re-raised as is.
    """
    from cdp_pipeline.errors import EnvironmentFault, FileRejected

    try:
        yield
    except (FileRejected, EnvironmentFault) as rejected:
        raise rejected from None
    except Exception as error:
        original = "".join(traceback.format_exception(error))
        masked = mask_text(original)
        if masked == original:
            raise
        raise MaskedError(f"{type(error).__name__}: {mask_text(str(error))}\n\nMasked original:\n{masked}") from None
