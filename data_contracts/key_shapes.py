"""The shapes a cleaned mobile and email must have: the customer contract's patterns
(data_contracts/customer_rows.py), in a module of their own so that what only needs the patterns
(the over-merge guard's loader, which every warehouse connection runs) does not import pandas
and pandera.
"""

from __future__ import annotations

MOBILE = r"1[0-9]{10}"  # ASCII digits: Python's \d would also take ٠-٩ and other scripts' digits
# An address as email-validator accepts it (tests/test_fuzz_normalisers.py checks it against that
# library), over the cleaned, lower-cased text: a dot-atom local part of at most 64 characters;
# a domain of at least two labels (letters, digits, inner hyphens, any non-ASCII letter), each at
# most 63 characters, whose last label ends in a letter (or is non-ASCII) and is not a special-use
# name (localhost, .local, .test, ...); at most 254 characters in all. Quoted local parts and [IP] literals are
# refused, as email-validator refuses them by default.
_ATOM = r"(?:[a-z0-9!#$%&'*+/=?^_`{|}~\-]|[^\x00-\x7f\s\u200b-\u200f\u2028-\u202f\u2060-\u206f\ufeff])+"
_LABEL_CHAR = r"[a-z0-9\u00c0-\U0010ffff]"
_LABEL = rf"{_LABEL_CHAR}(?:(?:{_LABEL_CHAR}|-){{0,61}}{_LABEL_CHAR})?"
SPECIAL_USE = r"\.(?:arpa|invalid|local|localhost|onion|test)$"
EMAIL = (
    rf"(?=.{{1,254}}$)(?=[^@]{{1,64}}@)(?!.*{SPECIAL_USE})"
    rf"{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+(?:(?!-)[a-z0-9-]*[a-z]|(?=[^.]*[^\x00-\x7f]){_LABEL})"
)
# The shape most addresses have, a strict subset of EMAIL without look-arounds, so RE2 runs it
# (pyarrow, behind pandas' string methods: ~10x faster than Python's re on 1M addresses):
# at most 64 characters before the @, labels of letters and digits, a last label of letters.
COMMON_EMAIL = r"[a-z0-9_+-]{1,32}(?:\.[a-z0-9_+-]{1,31})?@(?:[a-z0-9]{1,40}\.){1,4}[a-z]{2,20}"
