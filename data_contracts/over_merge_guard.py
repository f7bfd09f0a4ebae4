"""The over-merge guard's declaration (``data_contracts/over_merge_guard.yaml``), loaded and checked.

``over_merge_guard()`` is the one reader of the file: the SQL macros are rendered from it
(``cdp_pipeline.warehouse.macros_sql``: ``without_placeholder``, ``placeholder_mobile``,
``placeholder_email``) and the over-merge warning reads ``max_customers_per_key`` from it. A bad
file fails on first use with one line naming the file and the key (``OverMergeGuardError``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cache

import yaml

from cdp_pipeline.resources import contract_text
from data_contracts.key_shapes import EMAIL, MOBILE

FILE = "data_contracts/over_merge_guard.yaml"
KEYS = ("placeholder_values", "empty_markers", "max_customers_per_key")
PLACEHOLDER_KEYS = ("mobile", "email")
# The white space an empty marker may have around it in a cell (without_placeholder's pattern).
MARKER_SPACE = " \t\u00a0\u3000"
# A cell at most this many bytes longer than its longest marker can still be one (white space).
MARKER_SPACE_BYTES = 12
# RE2's case-insensitive matching folds two characters outside ASCII onto ASCII letters.
_NON_ASCII_CASE_PARTNERS = {"k": "\u212a", "s": "\u017f"}


class OverMergeGuardError(ValueError):
    """The declaration is unusable: one line naming the file and the key."""


@dataclass(frozen=True)
class OverMergeGuard:
    placeholder_mobiles: tuple[str, ...]
    placeholder_emails: tuple[str, ...]
    empty_markers: tuple[str, ...]
    max_customers_per_key: int

    def macro_parts(self) -> dict[str, str]:
        """The ``{parts}`` of sql/warehouse/macros.sql that this declaration fills."""
        spaces = {ord(c) for c in MARKER_SPACE}
        firsts = {ord(c) for m in self.empty_markers for c in _case_forms(m[0])}
        return {
            "placeholder_mobiles": _sql_list(self.placeholder_mobiles),
            "placeholder_emails": _sql_list(self.placeholder_emails),
            "empty_marker_pattern": _sql_quoted("|".join(_re2_literal(m) for m in self.empty_markers)),
            "empty_marker_first_characters": ", ".join(str(c) for c in sorted(firsts | spaces)),
            "empty_marker_max_bytes": str(max(len(m.encode()) for m in self.empty_markers) + MARKER_SPACE_BYTES),
        }


def _case_forms(character: str) -> set[str]:
    """The characters a case-insensitive RE2 match takes for ``character``."""
    forms = {character, character.lower(), character.upper()}
    return {f for f in forms if len(f) == 1} | {_NON_ASCII_CASE_PARTNERS.get(character.lower(), character)}


def _re2_literal(text: str) -> str:
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", text)


def _sql_quoted(text: str) -> str:
    return text.replace("'", "''")


def _sql_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{_sql_quoted(v)}'" for v in values) + "]::VARCHAR[]"


def _fail(key: str, problem: str):
    raise OverMergeGuardError(f"{FILE}: {key}: {problem}")


def _text_list(value, key: str) -> list[str]:
    if not isinstance(value, list) or not value:
        _fail(key, "must be a non-empty list")
    texts = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, str | int):
            _fail(key, f"{item!r} is not text")
        texts.append(str(item))
    counts = Counter(t.lower() for t in texts)
    repeated = sorted({t for t in texts if counts[t.lower()] > 1})
    if repeated:
        _fail(key, f"{repeated[0]!r} is listed twice")
    return texts


def parse_over_merge_guard(text: str) -> OverMergeGuard:
    """The declaration in ``text`` (the YAML file's content), checked."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise OverMergeGuardError(f"{FILE}: not valid YAML ({' '.join(str(error).split())})") from None
    if not isinstance(data, dict):
        raise OverMergeGuardError(f"{FILE}: must be a mapping of {', '.join(KEYS)}")
    for key in [k for k in data if k not in KEYS] + [k for k in KEYS if k not in data]:
        _fail(str(key), "unknown key" if key in data else "missing")
    values = data["placeholder_values"]
    if not isinstance(values, dict):
        _fail("placeholder_values", f"must be a mapping of {', '.join(PLACEHOLDER_KEYS)}")
    for key in [k for k in values if k not in PLACEHOLDER_KEYS] + [k for k in PLACEHOLDER_KEYS if k not in values]:
        _fail(f"placeholder_values.{key}", "unknown key" if key in values else "missing")
    mobiles = _text_list(values["mobile"], "placeholder_values.mobile")
    for mobile in mobiles:
        if not re.fullmatch(MOBILE, mobile):
            _fail("placeholder_values.mobile", f"{mobile!r} is not a cleaned mobile (11 digits from 1)")
    emails = _text_list(values["email"], "placeholder_values.email")
    for email in emails:
        if email != email.strip().lower() or not re.fullmatch(EMAIL, email):
            _fail("placeholder_values.email", f"{email!r} is not a cleaned email (a valid address in lower case)")
    markers = _text_list(data["empty_markers"], "empty_markers")
    for marker in markers:
        if marker != marker.strip(MARKER_SPACE + "\n\r") or not marker:
            _fail("empty_markers", f"{marker!r} has white space around it")
        first = marker[0]
        if not (first.isascii() or first.lower() == first.upper()):
            _fail("empty_markers", f"{marker!r} must begin with an ASCII or caseless character")
    limit = data["max_customers_per_key"]
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        _fail("max_customers_per_key", f"{limit!r} is not a whole number of at least 1")
    return OverMergeGuard(tuple(mobiles), tuple(emails), tuple(markers), limit)


@cache
def over_merge_guard() -> OverMergeGuard:
    """The declaration shipped in data_contracts/over_merge_guard.yaml."""
    return parse_over_merge_guard(contract_text("over_merge_guard.yaml"))
