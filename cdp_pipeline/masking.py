"""Personal data out of logs, Dagster metadata and error messages.

Previews mask their columns in SQL (``mask_mobile``, ``mask_email``, ``mask_openid`` and
``mask_identifier`` in ``sql/warehouse/macros.sql``). Text that is not a column — an error message that
quotes cells, a rejected file's header row, a rendered preview — goes through ``mask_text``, which
finds mobiles, emails and WeChat openids and masks them the same way: 138****8000, z***@x.cn,
oAb****Yz1. Failure files are the exception by design: they give the team its rows back as they were.

A preview cell (dry runs, Dagster metadata) is masked, then cut to ``PREVIEW_CELL_WIDTH``
characters: a 300,000-character name is still one line of a table.
"""

from __future__ import annotations

import re

# An email: a run of local-part characters, @, a dotted domain. Searched naively (``LOCAL+@DOMAIN``)
# this is quadratic: re retries at every character of a long run holding no @ and rescans the
# rest of the run each time (a 300,000-character name cell took minutes). So the text is read in
# chunks, each either an email or a stretch holding none: characters that cannot start one, and
# whole runs of local characters that do not end in @domain (each run checked once, by the
# look-ahead, and consumed whole). Linear, and the emails found are the naive search's, character
# for character (tests/test_hostile_output.py compares the two).
_LOCAL = r"[A-Za-z0-9._%+\-]"
_NOT_LOCAL = r"[^A-Za-z0-9._%+\-]"
_DOMAIN = r"[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+"
_EMAIL_CHUNK = re.compile(
    rf"({_LOCAL}){_LOCAL}*+@({_DOMAIN})"  # an email: its first character and its domain
    rf"|(?:{_NOT_LOCAL}|(?!{_LOCAL}*+@{_DOMAIN}){_LOCAL}++)++"  # text without one
)
# A WeChat openid (or unionid): 28 characters from o, kept whole by the characters around it.
_OPENID = re.compile(r"(?<![\w\-])([oO][\w\-]{2})[\w\-]{22}([\w\-]{3})(?![\w\-])", re.ASCII)
# 11 digits from 1, alone (not inside a longer number such as an order id or a timestamp), with
# an optional +86 / 0086 / 86 prefix and spaces or dashes as people write them.
_MOBILE = re.compile(r"(?<!\d)(?:(?:\+|00)?86[\s\-]?)?(1\d{2})[\s\-]?\d{4}[\s\-]?(\d{4})(?!\d)")


def _masked_email(chunk: re.Match[str]) -> str:
    """An email chunk as its first character and domain; a chunk without one as it was."""
    return chunk[0] if chunk[2] is None else f"{chunk[1]}***@{chunk[2]}"


def mask_text(text: str) -> str:
    """``text`` with every mobile, email and openid in it masked (emails first: a mobile may be
    an email's local part). Linear in the text: the email chunks read each character a bounded
    number of times, and openids and mobiles are bounded in length."""
    text = _EMAIL_CHUNK.sub(_masked_email, text)
    text = _OPENID.sub(r"\1****\2", text)
    return _MOBILE.sub(r"\1****\2", text)


# The most characters a preview cell shows, its closing ellipsis included.
PREVIEW_CELL_WIDTH = 200
ELLIPSIS = "…"


def preview_cell(text: str) -> str:
    """``text`` as a preview shows it: masked first (a cut could leave part of a mobile or an
    email that no longer looks like one), then cut to ``PREVIEW_CELL_WIDTH`` with an ellipsis."""
    masked = mask_text(text)
    if len(masked) <= PREVIEW_CELL_WIDTH:
        return masked
    return masked[: PREVIEW_CELL_WIDTH - len(ELLIPSIS)] + ELLIPSIS


def preview_rows(rows: list[dict]) -> list[dict]:
    """Rows of a preview (a few, never a file's) with every text cell as ``preview_cell`` shows it."""
    return [{key: preview_cell(cell) if isinstance(cell, str) else cell for key, cell in row.items()} for row in rows]


def mask_key_value(text: str) -> str:
    """A value of a personal column whatever its shape (a check lists the mobiles that are not
    11 digits, the emails that are not addresses: ``mask_text`` would not recognise them):
    its first three and last two characters around asterisks; a short value as asterisks only."""
    if len(text) <= 6:
        return "*" * len(text)
    shown = f"{text[:3]}{'*' * min(len(text) - 5, 8)}{text[-2:]}"
    return mask_text(shown)
