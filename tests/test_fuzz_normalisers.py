"""Property-based tests of the cell normalisers (sql/warehouse/macros.sql) and the CSV reader.

Each property runs a whole hypothesis-generated batch through DuckDB at once (``unnest`` of a
list parameter), as an import does. Two oracles judge the results: ``phonenumbers`` for mobiles
and ``email-validator`` for emails. Where the project deliberately differs from an oracle, the
difference is written down here (``MOBILE_DIFFERENCES``, ``EMAIL_DIFFERENCES``) and asserted.

Run longer: ``HYPOTHESIS_PROFILE=long`` (5,000 examples a property) or ``CDP_FUZZ_EXAMPLES=N``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import phonenumbers
import pytest
from email_validator import EmailNotValidError, ValidatedEmail, validate_email
from fuzz_profiles import fuzz_settings
from hypothesis import assume, example, given
from hypothesis import strategies as st

from cdp_pipeline.readers import SEP_LINE, StagedFile, plain_utf8_counts, stage_file, write_normalized_csv
from cdp_pipeline.warehouse import macros_sql, sql_text
from data_contracts.customer_rows import EMAIL, MOBILE, is_email
from data_contracts.over_merge_guard import over_merge_guard

FAST = fuzz_settings(40)
SLOW = fuzz_settings(25)

# What strip_space trims from both ends of a cell.
WHITE = " \t\n\x0b\x0c\r\u00a0\u3000\ufeff"
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
TO_ASCII = str.maketrans("０１２３４５６７８９＋－（）　", "0123456789+-() ")
# Unicode format characters (category Cf): zero-width spaces and joiners, the word joiner, BOMs,
# soft hyphens, direction marks, embeddings, overrides and isolates. Keys and tags lose them all;
# free text keeps ZWNJ and ZWJ (sql/warehouse/macros.sql visible_key, visible_text).
FORMAT_CHARACTERS = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf"]
# The full-width forms an input method types (NFKC folds them to ASCII) and the ideographic space.
FULL_WIDTH_FORMS = [chr(c) for c in range(0xFF01, 0xFF5F)] + ["\u3000"]
# Characters a mobile cell may carry around its digits, which cleaning removes anywhere.
MOBILE_DECORATION = (
    frozenset(" \t\n\r\x0b\x0c()-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63")
    | {chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Zs"}
    | frozenset(FORMAT_CHARACTERS)
)
SEPARATORS = [
    "",
    " ",
    "-",
    "\u2010",
    "\u2013",
    "\u2014",
    "\u2212",
    "\ufe63",
    "－",
    "\u00a0",
    "\u3000",
    "\u2009",
    "\u200b",
    "\u2060",
    "\u00ad",
    "\u200e",
    "\u202c",
    "(",
    ")",
    "（",
    "）",
    "\t",
    "  ",
]
PREFIXES = [
    "",
    "+86",
    "86",
    "0086",
    "0",
    "+86 ",
    "+86-",
    "(+86)",
    "+86 (0)",
    "0086 ",
    "+86 0",
    "８６",
    "＋８６",
    "0086-",
]

MOBILE_DIFFERENCES = """
Where normalize_mobile deliberately differs from phonenumbers (region CN):
1. Any 11 digits starting with 1 are a mobile (SPEC §2): we do not check allocated number ranges,
   so 12345678901 is accepted where phonenumbers calls it invalid. Same digits, never others.
2. A cell is one number: phonenumbers extracts a number from text around it ("tel:", "ext. 5",
   letters, '#'); we keep such a cell as it is and the contract flags it invalid_mobile. We never
   turn a cell into a *different* valid number than phonenumbers does.
3. We also remove decorations phonenumbers does not know (every format character: zero-width
   marks, BOMs, the direction controls phones wrap copied numbers in; leading apostrophes as Excel
   and Tmall write them, an XLSX float suffix .0): more spellings accepted, same number.
"""

EMAIL_DIFFERENCES = """
Where the email cleaning + contract deliberately differ from email-validator (check_deliverability=False):
1. We lower-case the whole address; email-validator keeps the local part's case.
2. Local parts are judged by characters (ASCII atext or any non-ASCII, non-space, non-format
   character): email-validator's finer Unicode category rules and IDNA rules for non-ASCII domains
   are not repeated; the generated addresses keep to letters where both agree.
3. Punycode (xn--) labels are kept as typed and not decoded or checked: email-validator turns a
   valid one into Unicode and refuses a broken one, and refuses a non-ASCII top-level label whose
   punycode ends in a digit. Addresses with an xn-- label or a non-ASCII top-level label are only
   held to "valid for email-validator ⇒ accepted, as the same domain in either form".
4. Format characters (zero-width space, joiners, BOM, soft hyphen, direction marks and overrides)
   are removed and full-width forms folded to ASCII (NFKC) before the address is judged:
   email-validator refuses the first and keeps full-width letters of a local part as another
   address. An address is judged as a reader sees it (visible_key), so one person typing
   a@x.cn with an invisible character, or in full-width mode, is one customer (issue 14 item 9).
"""


@pytest.fixture(scope="module")
def duck():
    con = duckdb.connect()
    con.execute(macros_sql())
    yield con
    con.close()


def apply(con: duckdb.DuckDBPyConnection, expression: str, values: list) -> list:
    """``expression`` (with ``v`` for the cell) over a whole batch, in the batch's order."""
    rows = con.execute(
        f"SELECT {expression} FROM unnest($values::VARCHAR[]) WITH ORDINALITY AS t(v, i) ORDER BY i",
        {"values": values},
    ).fetchall()
    return [r[0] for r in rows]


def macro(con: duckdb.DuckDBPyConnection, name: str) -> Callable[[list], list]:
    return lambda values: apply(con, f"{name}(v)", values)


def strip_white(text: str) -> str:
    return text.strip(WHITE)


def visible_key(text: str) -> str:
    """What the key cleaning keeps of ``text`` (the reference model): no format characters,
    full-width forms as ASCII, NFC. Where ``text`` holds no other compatibility character, this
    is NFKC itself (test_visible_key_is_nfkc_without_format_characters)."""
    folded = "".join(
        unicodedata.normalize("NFKC", c) if c in FULL_WIDTH_SET else c for c in text if unicodedata.category(c) != "Cf"
    )
    return unicodedata.normalize("NFC", folded)


def visible_text(text: str) -> str:
    """What free-text cleaning keeps of ``text``: everything but format characters other than ZWNJ/ZWJ."""
    return "".join(c for c in text if unicodedata.category(c) != "Cf" or c in "\u200c\u200d")


FULL_WIDTH_SET = frozenset(FULL_WIDTH_FORMS)
any_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
padding = st.text(st.sampled_from(WHITE), max_size=3)
invisible = st.sampled_from(FORMAT_CHARACTERS)
# Text as hostile and careless files write it: any character, often a format character or a
# full-width form, letters with combining accents.
invisible_text = st.text(
    st.one_of(
        st.characters(codec="utf-8", exclude_categories=["Cs"]),
        invisible,
        st.sampled_from(FULL_WIDTH_FORMS),
        st.sampled_from("aeVIP张 @.\u0301\u0308"),
    ),
    max_size=30,
)


# --- mobile ------------------------------------------------------------------------------


@st.composite
def mobile_spelling(draw, number: str | None = None) -> tuple[str, str]:
    """(number, one of its accepted spellings): prefix, groups, separators, full-width digits..."""
    number = number or draw(st.from_regex(r"1[0-9]{10}", fullmatch=True))
    digits = "".join(d.translate(FULL_WIDTH) if draw(st.booleans()) and draw(st.booleans()) else d for d in number)
    cuts = sorted(draw(st.sets(st.integers(1, 10), max_size=4)))
    bounds = [0, *cuts, 11]
    groups = [digits[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    body = groups[0] + "".join(draw(st.sampled_from(SEPARATORS)) + g for g in groups[1:])
    prefix = draw(st.sampled_from(PREFIXES)) + draw(st.sampled_from(SEPARATORS))
    quote = draw(st.sampled_from(["", "'", "''", "' "]))
    suffix = draw(st.sampled_from(["", "", ".0", ".00"]))
    # Phones and chat apps wrap a copied number in direction controls (U+202A ... U+202C).
    opening, closing = draw(st.sampled_from([("", ""), ("\u202a", "\u202c"), ("\u2066", "\u2069"), ("\ufeff", "")]))
    return number, draw(padding) + opening + quote + prefix + body + suffix + closing + draw(padding)


def mutated(spelling: st.SearchStrategy[tuple[str, str]]) -> st.SearchStrategy[str]:
    """A spelling with one character inserted, replaced or deleted somewhere."""

    @st.composite
    def build(draw) -> str:
        _, text = draw(spelling)
        at = draw(st.integers(0, len(text)))
        char = draw(st.one_of(st.sampled_from("0123456789+-.'()#xX@ ,;/*"), st.characters(codec="utf-8")))
        how = draw(st.sampled_from(["insert", "replace", "delete"]))
        if how == "insert":
            return text[:at] + char + text[at:]
        if how == "replace":
            return text[:at] + char + text[at + 1 :]
        return text[:at] + text[at + 1 :]

    return build()


mobile_like = st.one_of(
    any_text,
    invisible_text,
    st.text(st.sampled_from("0123456789０１２３４５６７８９+＋-－()（） .'\u3000\u00a0"), max_size=20),
    mutated(mobile_spelling()),
    mobile_spelling().map(lambda pair: pair[1]),
)


@FAST
@given(st.lists(mobile_spelling(), min_size=1, max_size=50))
def test_every_accepted_mobile_spelling_gives_the_11_digits(duck, batch):
    numbers, spellings = zip(*batch, strict=True)
    assert macro(duck, "normalize_mobile")(list(spellings)) == list(numbers)


def _significant(text: str) -> str:
    return "".join(c for c in text.translate(TO_ASCII) if c not in MOBILE_DECORATION)


@FAST
@given(st.lists(st.one_of(st.none(), mobile_like), min_size=1, max_size=50))
def test_mobile_is_absent_valid_or_flagged_and_lets_nothing_in(duck, batch):
    """NULL only for a blank cell; otherwise either 11 digits from 1 made only of the cell's digits
    and accepted decorations, or kept (cleaned) so that the contract flags it invalid_mobile.

    The brief's "always NULL or 11 digits" would lose the bad value: SPEC §2 and
    test_rule_mobile_not_11_digits_from_1_stays_invalid want an invalid mobile to fail its row
    with a reason, so a non-blank cell never becomes NULL."""
    for raw, out in zip(batch, macro(duck, "normalize_mobile")(batch), strict=True):
        blank = raw is None or _significant(raw).lstrip("'") == ""
        assert (out is None) == blank, (raw, out)
        if out is not None and re.fullmatch(MOBILE, out):
            assert re.fullmatch(rf"'*(?:\+?86|0086)?0?{out}(?:\.0+)?", _significant(raw)), (raw, out)


@FAST
@given(st.lists(st.one_of(st.none(), mobile_like), min_size=1, max_size=50))
def test_mobile_cleaning_is_idempotent(duck, batch):
    once = macro(duck, "normalize_mobile")(batch)
    assert macro(duck, "normalize_mobile")(once) == once


def _oracle_mobile(text: str) -> str | None:
    """phonenumbers' national number when it calls ``text`` a valid Chinese mobile."""
    try:
        parsed = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        return None
    mobile_types = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
    valid = parsed.country_code == 86 and phonenumbers.is_valid_number(parsed)
    return str(parsed.national_number) if valid and phonenumbers.number_type(parsed) in mobile_types else None


# Allocated Chinese mobile prefixes, so that many generated numbers are valid for phonenumbers.
real_mobile = st.builds(
    lambda head, rest: head + rest,
    st.sampled_from(
        [
            "130",
            "131",
            "132",
            "133",
            "135",
            "136",
            "137",
            "138",
            "139",
            "147",
            "150",
            "151",
            "152",
            "153",
            "155",
            "156",
            "157",
            "158",
            "159",
            "166",
            "170",
            "176",
            "177",
            "178",
            "180",
            "181",
            "182",
            "183",
            "185",
            "186",
            "187",
            "188",
            "189",
            "191",
            "198",
            "199",
        ]
    ),
    st.from_regex(r"[0-9]{8}", fullmatch=True),
)


@FAST
@given(
    st.lists(st.one_of(real_mobile.flatmap(lambda n: mobile_spelling(n)), mobile_spelling()), min_size=1, max_size=40)
)
def test_mobile_agrees_with_phonenumbers_on_spellings(duck, batch):
    spellings = [text for _, text in batch]
    for (number, text), ours in zip(batch, macro(duck, "normalize_mobile")(spellings), strict=True):
        oracle = _oracle_mobile(text)
        if oracle is not None:
            assert ours == oracle == number, (text, ours, oracle)
        else:  # difference 1 or 3: the same digits, never other ones
            assert ours == number


@FAST
@given(
    st.lists(
        st.builds(
            lambda p, n: p + n,
            st.sampled_from(["", "0", "86", "+86", "0086", "+860", "00860"]),
            st.one_of(real_mobile, st.from_regex(r"1[0-9]{10}", fullmatch=True)),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_mobile_prefixes_and_leading_zero_agree_with_phonenumbers(duck, batch):
    """The leading-0 rule: 0 + 11 digits from 1 is that mobile, as phonenumbers reads a trunk 0;
    outside allocated ranges phonenumbers says invalid but reads the same digits (difference 1)."""
    for text, ours in zip(batch, macro(duck, "normalize_mobile")(batch), strict=True):
        oracle = _oracle_mobile(text)
        if oracle is not None:
            assert ours == oracle, (text, ours)
        else:  # difference 1: the cell's 11 digits; phonenumbers reads the same ones when it reads a CN number
            assert ours == text[-11:]
            try:
                parsed = phonenumbers.parse(text, "CN")
            except phonenumbers.NumberParseException:
                continue
            if parsed.country_code == 86:
                assert str(parsed.national_number) == ours, (text, ours, parsed)


@FAST
@given(
    st.lists(
        st.one_of(mobile_like, real_mobile.flatmap(lambda n: mutated(mobile_spelling(n)))), min_size=1, max_size=50
    )
)
def test_mobile_never_a_different_number_than_phonenumbers(duck, batch):
    """Difference 2: on free text phonenumbers may extract a number where we flag the cell; where
    both accept, it is the same number."""
    for text, ours in zip(batch, macro(duck, "normalize_mobile")(batch), strict=True):
        oracle = _oracle_mobile(text)
        if oracle is not None and ours is not None and re.fullmatch(MOBILE, ours):
            assert ours == oracle, (text, ours, oracle)


# --- email -------------------------------------------------------------------------------

ATEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-"
atom = st.text(st.one_of(st.sampled_from(ATEXT), st.sampled_from("张三李四王é")), min_size=1, max_size=8)
label = st.one_of(
    st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?", fullmatch=True).filter(lambda s: s[2:4] != "--"),
    st.sampled_from(["例子", "邮件", "xn--fiqs8s"]),
)
tld = st.sampled_from(["cn", "com", "CN", "net", "io", "xn--fiqs8s", "中国", "c-n", "c1", "123", "local", "test", "a"])


@st.composite
def email_address(draw) -> str:
    local = ".".join(draw(st.lists(atom, min_size=1, max_size=3)))
    domain = ".".join(draw(st.lists(label, min_size=1, max_size=3)) + [draw(tld)])
    return local + "@" + domain


@st.composite
def email_mutation(draw) -> str:
    text = draw(email_address())
    at = draw(st.integers(0, len(text)))
    char = draw(st.sampled_from(".@-_ ,;:()<>[]\\\"'."))
    return text[:at] + char + text[at:] if draw(st.booleans()) else text[:at] + text[at + 1 :]


@st.composite
def email_in_disguise(draw) -> str:
    """An address with format characters typed in (a zero-width space, a right-to-left override)
    and some characters in full-width form (ａ＠ｘ．ｃｎ)."""
    text = draw(st.one_of(email_address(), email_mutation()))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(invisible) + text[at:]
    to_full_width = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)})
    return "".join(c.translate(to_full_width) if draw(st.booleans()) and draw(st.booleans()) else c for c in text)


email_like = st.one_of(email_address(), email_mutation(), email_in_disguise())


@FAST
@given(
    st.lists(
        st.one_of(st.none(), any_text, st.builds(lambda p, e, q: p + e + q, padding, email_like, padding)),
        min_size=1,
        max_size=50,
    )
)
def test_email_trimmed_lower_cased_idempotent(duck, batch):
    once = macro(duck, "normalize_email")(batch)
    assert macro(duck, "normalize_email")(once) == once
    for raw, out in zip(batch, once, strict=True):
        assert (out is None) == (raw is None or strip_white(visible_key(raw)) == "")
        if out is not None:
            assert strip_white(out) == out
            if raw.isascii():
                assert out == strip_white(raw).lower()


def _oracle_email(text: str) -> ValidatedEmail | None:
    try:
        return validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return None


@FAST
@given(st.lists(st.builds(lambda p, e, q: p + e + q, padding, email_like, padding), min_size=1, max_size=50))
def test_email_agrees_with_email_validator(duck, batch):
    """Valid for email-validator ⇔ accepted by our cleaning + contract, as the same address
    (lower-cased: difference 1); invalid ⇔ the contract flags the row invalid_email."""
    cleaned = macro(duck, "normalize_email")(batch)
    for raw, ours, accepted in zip(batch, cleaned, _contract_accepts(cleaned), strict=True):
        seen = strip_white(visible_key(raw))  # difference 4: judged as a reader sees it
        oracle = _oracle_email(seen)
        if "xn--" not in seen.lower() and (ours or "").rsplit(".", 1)[-1].isascii():  # difference 3
            assert accepted == (oracle is not None), (raw, ours, oracle)
        if oracle is not None:
            assert accepted, (raw, ours, oracle)
            local, domain = ours.rsplit("@", 1)
            assert local == unicodedata.normalize("NFC", oracle.local_part).lower()
            labels = zip(
                domain.split("."), oracle.domain.lower().split("."), oracle.ascii_domain.lower().split("."), strict=True
            )
            assert all(ours_label in (u_label, a_label) for ours_label, u_label, a_label in labels), (raw, ours)


@FAST
@given(st.lists(st.one_of(any_text, invisible_text), min_size=1, max_size=50))
def test_email_contract_lets_no_free_text_in(duck, batch):
    cleaned = macro(duck, "normalize_email")(batch)
    for raw, ours, accepted in zip(batch, cleaned, _contract_accepts(cleaned), strict=True):
        if accepted:
            assert _oracle_email(strip_white(visible_key(raw))) is not None, (raw, ours)


@FAST
@given(st.lists(email_in_disguise(), min_size=1, max_size=50))
def test_email_with_invisible_characters_is_the_address_a_reader_sees(duck, batch):
    """Issue 14 item 9: a zero-width space or a direction override typed into an address made it
    another valid address, so one person became two customers (email-validator refuses both
    forms). Now the address is the one without them, full-width forms as ASCII: the same
    customer as the clean address, and nothing stored holds a format character."""
    cleaned = macro(duck, "normalize_email")(batch)
    plain = macro(duck, "normalize_email")([visible_key(raw) for raw in batch])
    assert cleaned == plain
    for raw, ours in zip(batch, cleaned, strict=True):
        assert ours is None or not any(unicodedata.category(c) == "Cf" or c in FULL_WIDTH_SET for c in ours), raw


def _contract_accepts(cleaned: list[str | None]) -> list[bool]:
    """The contract's invalid_email check (data_contracts.is_email) on cleaned addresses."""
    verdicts = iter(is_email(pd.Series([v for v in cleaned if v is not None], dtype="str")).tolist())
    return [v is not None and next(verdicts) for v in cleaned]


# Addresses near the edges of is_email's common shape (COMMON_EMAIL): its characters and a few
# beyond them, dots anywhere, lengths around its bounds, special-use and non-ASCII last labels.
def test_email_contract_fast_path_agrees_with_the_full_rule_at_its_bounds():
    """The edges of COMMON_EMAIL's bounds, where a wrong bound would accept what EMAIL refuses."""
    a, b = "a", "b"
    addresses = [
        f"{a * 32}@b.com", f"{a * 33}@b.com", f"{a * 64}@b.com", f"{a * 65}@b.com",
        f"{a * 32}.{a * 31}@b.com", f"{a * 32}.{a * 32}@b.com", f"{a * 40}.{a * 40}@b.com",
        f"x@{b * 40}.com", f"x@{b * 41}.com", f"x@{b * 63}.com", f"x@{b * 64}.com",
        f"x@{'.'.join([b * 40] * 4)}.com", f"x@{'.'.join([b * 40] * 5)}.com", f"{a * 64}@{'.'.join([b * 63] * 3)}.com",
        f"x@b.{'c' * 20}", f"x@b.{'c' * 21}", "x@b.c", "x@b.test", "x@b.local", "x@b.localhost", "x@b.onion",
        "x@b.arpa", "x@b.invalid", "x@b.tests", "x@b-c.com", "x@b.c-m", "x@-b.com", "x.@b.com", ".x@b.com",
        "x..y@b.com", "x_y+z@b9.cn", "x@9.cn", "x@b.c9", "o'brien@b.com", "x@例子.公司",
    ]  # fmt: skip
    assert is_email(pd.Series(addresses, dtype="str")).tolist() == [
        re.fullmatch(EMAIL, v) is not None for v in addresses
    ]


def _near_common(alphabet: str, long_run: tuple[int, int], pieces: int) -> st.SearchStrategy[str]:
    piece = st.one_of(st.text(alphabet=alphabet, max_size=8), st.integers(*long_run).map(lambda n: alphabet[0] * n))
    return st.lists(piece, min_size=1, max_size=pieces).map(".".join)


_near_common_local = _near_common("ab9_+-'é", (28, 36), 2)
_near_common_domain = _near_common("b9-", (36, 44), 5)
_near_common_tld = st.sampled_from(
    ["com", "cn", "test", "local", "localhost", "onion", "arpa", "invalid", "c", "公司", "x1", "a" * 21]
)


@FAST
@given(
    st.lists(
        st.builds(lambda a, b, c: f"{a}@{b}.{c}", _near_common_local, _near_common_domain, _near_common_tld),
        max_size=50,
    )
)
def test_email_contract_fast_path_agrees_with_the_full_rule(batch):
    """is_email decides common shapes with an RE2 expression: always as EMAIL itself would."""
    assert is_email(pd.Series(batch, dtype="str")).tolist() == [re.fullmatch(EMAIL, v) is not None for v in batch]


# --- dates -------------------------------------------------------------------------------

DATE_FORMS = [
    "{y}-{m:02d}-{d:02d}",
    "{y}-{m}-{d}",
    "{y}/{m}/{d}",
    "{y}/{m:02d}/{d:02d}",
    "{y}年{m}月{d}日",
    "{y}.{m}.{d}",
    "{y}{m:02d}{d:02d}",
]
TIME_FORMS = [
    "",
    " {H:02d}:{M:02d}:{S:02d}",
    " {H:02d}:{M:02d}",
    " {H:02d}:{M:02d}:{S:02d}.{f}",
    "T{H:02d}:{M:02d}:{S:02d}",
]


@st.composite
def date_spelling(draw) -> tuple[dt.date, str]:
    moment = draw(st.datetimes(min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9999, 12, 31)))
    day = moment.date()
    serial = (day - dt.date(1899, 12, 30)).days
    if 10000 <= serial <= 99999 and draw(st.booleans()):
        text = str(serial) + draw(st.sampled_from(["", ".0", ".5", ".999"]))
    else:
        form = draw(st.sampled_from(DATE_FORMS))
        time = draw(st.sampled_from(TIME_FORMS)) if "-" in form or "/" in form else ""
        if time.startswith("T") and not form.startswith("{y}-"):
            time = ""
        text = (form + time).format(
            y=day.year,
            m=day.month,
            d=day.day,
            H=moment.hour,
            M=moment.minute,
            S=moment.second,
            f=moment.microsecond or 5,
        )
    return day, draw(padding) + text + draw(padding)


@FAST
@given(st.lists(date_spelling(), min_size=1, max_size=50))
def test_every_accepted_date_spelling_gives_that_date(duck, batch):
    days, spellings = zip(*batch, strict=True)
    assert macro(duck, "parse_date")(list(spellings)) == list(days)


@FAST
@given(
    st.lists(
        st.one_of(st.none(), any_text, st.text(st.sampled_from("0123456789-/.年月日: T"), max_size=20)),
        min_size=1,
        max_size=50,
    )
)
def test_parse_date_never_raises_and_invents_no_year(duck, batch):
    for raw, day in zip(batch, macro(duck, "parse_date")(batch), strict=True):
        if day is None:
            continue
        assert isinstance(day, dt.date)
        text = strip_white(raw)
        if not re.fullmatch(r"[1-9]\d{4}(\.\d+)?", text):  # an Excel serial names no year
            assert str(day.year) in text, (raw, day)


@FAST
@given(st.lists(st.integers(10000, 99999), min_size=1, max_size=50))
def test_excel_serials_count_days_from_1899_12_30(duck, batch):
    days = macro(duck, "parse_date")([str(n) for n in batch])
    assert days == [dt.date(1899, 12, 30) + dt.timedelta(days=n) for n in batch]


# --- whole numbers, plain text and keys ------------------------------------------------------


@st.composite
def integer_spelling(draw) -> tuple[int, str]:
    number = draw(st.integers(-(10**15), 10**15))
    text = draw(st.sampled_from(["{}", "{:,}", "{}.0", "{:,}.00"])).format(number)
    if draw(st.booleans()):
        text = text.translate(FULL_WIDTH)
    return number, draw(padding) + text + draw(padding)


@FAST
@given(st.lists(integer_spelling(), min_size=1, max_size=50), st.lists(st.one_of(st.none(), any_text), max_size=30))
def test_whole_numbers_parse_and_fractions_do_not(duck, spelled, other):
    numbers, spellings = zip(*spelled, strict=True)
    parse = macro(duck, "parse_integer")
    assert parse(list(spellings)) == list(numbers)
    assert parse([f"{n}.5" for n in numbers]) == [None] * len(numbers)
    assert all(v is None or isinstance(v, int) for v in parse(other))


@FAST
@given(st.lists(st.one_of(st.none(), any_text), min_size=1, max_size=50))
def test_text_and_keys_trimmed_idempotent(duck, batch):
    for name, visible in (("clean_text", visible_text), ("normalize_key", visible_key), ("exact_key", visible_key)):
        once = macro(duck, name)(batch)
        assert macro(duck, name)(once) == once
        for raw, out in zip(batch, once, strict=True):
            assert (out is None) == (raw is None or strip_white(visible(raw)) == "")
            assert out is None or out == strip_white(out)


@FAST
@given(st.lists(st.one_of(st.none(), invisible_text), min_size=1, max_size=50))
def test_keys_hold_no_format_character_or_full_width_form_and_text_keeps_what_was_typed(duck, batch):
    """Issue 14 item 9: keys (customer ID, identities, emails) are their visible form (the
    reference model visible_key); free text only loses format characters other than ZWNJ/ZWJ."""
    expected_keys = [None if v is None else strip_white(visible_key(v)) or None for v in batch]
    assert macro(duck, "exact_key")(batch) == expected_keys
    assert macro(duck, "normalize_key")(batch) == apply(duck, "upper(v)", expected_keys)
    expected_text = [None if v is None else strip_white(visible_text(v)) or None for v in batch]
    assert macro(duck, "clean_text")(batch) == expected_text


@FAST
@given(
    st.lists(
        st.text(
            st.one_of(
                st.sampled_from(FULL_WIDTH_FORMS),
                invisible,
                st.sampled_from("abcVIP@.-_ 张三老客\u0301\u0308"),
                st.characters(codec="utf-8", exclude_categories=["Cs"]).filter(
                    lambda c: unicodedata.normalize("NFKC", c) == unicodedata.normalize("NFC", c)
                ),
            ),
            max_size=30,
        ),
        min_size=1,
        max_size=50,
    )
)
def test_visible_key_is_nfkc_without_format_characters(duck, batch):
    """Issue 14 item 9: the oracle. On text whose compatibility characters are full-width forms,
    the key cleaning is unicodedata's NFKC of the text without its format characters."""
    without_format = ["".join(c for c in v if unicodedata.category(c) != "Cf") for v in batch]
    nfkc = [unicodedata.normalize("NFKC", v) for v in without_format]
    assert [visible_key(v) for v in batch] == nfkc
    assert macro(duck, "exact_key")(batch) == [strip_white(v) or None for v in nfkc]


def test_visible_key_keeps_other_compatibility_characters(macros):
    """Issue 14 item 9: the documented difference from NFKC. Ligatures, circled, super-/subscript
    and mathematical characters are no input-method forms and are kept (ﬁ, ①, ², 𝐕 are not folded)."""
    for text in ("ﬁ", "①", "x²", "𝐕𝐈𝐏", "㈱"):
        assert macros("exact_key", text) == text != unicodedata.normalize("NFKC", text)


# --- gender, province, city ---------------------------------------------------------------

GENDER_WORDS = {
    "男": "male",
    "m": "male",
    "male": "male",
    "先生": "male",
    "1": "male",
    "man": "male",
    "男性": "male",
    "女": "female",
    "f": "female",
    "female": "female",
    "女士": "female",
    "小姐": "female",
    "2": "female",
    "woman": "female",
    "女性": "female",
}


@st.composite
def gender_spelling(draw) -> tuple[str, str]:
    word = draw(st.sampled_from(sorted(GENDER_WORDS)))
    cased = "".join(c.upper() if draw(st.booleans()) else c for c in word)
    return GENDER_WORDS[word], draw(padding) + cased + draw(padding)


@FAST
@given(st.lists(gender_spelling(), min_size=1, max_size=50), st.lists(st.one_of(st.none(), any_text), max_size=30))
def test_gender_stays_in_vocabulary(duck, spelled, other):
    expected, spellings = zip(*spelled, strict=True)
    gender = macro(duck, "normalize_gender")
    assert gender(list(spellings)) == list(expected)
    out = gender(other)
    for raw, value in zip(other, out, strict=True):
        assert value in ("male", "female", "unknown") if raw is not None and strip_white(raw) else value is None
    assert gender(out) == out


PROVINCES = {
    "北京": "北京市",
    "天津": "天津市",
    "上海": "上海市",
    "重庆": "重庆市",
    "河北": "河北省",
    "山西": "山西省",
    "辽宁": "辽宁省",
    "吉林": "吉林省",
    "黑龙江": "黑龙江省",
    "江苏": "江苏省",
    "浙江": "浙江省",
    "安徽": "安徽省",
    "福建": "福建省",
    "江西": "江西省",
    "山东": "山东省",
    "河南": "河南省",
    "湖北": "湖北省",
    "湖南": "湖南省",
    "广东": "广东省",
    "海南": "海南省",
    "四川": "四川省",
    "贵州": "贵州省",
    "云南": "云南省",
    "陕西": "陕西省",
    "甘肃": "甘肃省",
    "青海": "青海省",
    "台湾": "台湾省",
    "内蒙古": "内蒙古自治区",
    "广西": "广西壮族自治区",
    "西藏": "西藏自治区",
    "宁夏": "宁夏回族自治区",
    "新疆": "新疆维吾尔自治区",
    "香港": "香港特别行政区",
    "澳门": "澳门特别行政区",
}
CITIES = {
    "广州": "广州市",
    "广州市": "广州市",
    "杭州": "杭州市",
    "北京市": "北京市",
    "延边朝鲜族自治州": "延边朝鲜族自治州",
    "大兴安岭地区": "大兴安岭地区",
    "阿拉善盟": "阿拉善盟",
    "浦东新区": "浦东新区",
    "深圳": "深圳市",
}
province_spelling = st.sampled_from(sorted(PROVINCES)).flatmap(
    lambda short: st.tuples(st.just(PROVINCES[short]), st.sampled_from([short, PROVINCES[short]]))
)


@FAST
@given(
    st.lists(st.tuples(province_spelling, padding, padding), min_size=1, max_size=40),
    st.lists(st.one_of(st.none(), any_text), max_size=30),
)
def test_province_and_city_full_names_idempotent(duck, spelled, other):
    province, city = macro(duck, "normalize_province"), macro(duck, "normalize_city")
    assert province([p + s + q for (_, s), p, q in spelled]) == [full for (full, _), _, _ in spelled]
    for normalise in (province, city):
        once = normalise(other)
        assert normalise(once) == once


@st.composite
def tmall_address(draw) -> tuple[str, str, str]:
    full, province = draw(province_spelling)
    city_text = draw(st.sampled_from(sorted(CITIES)))
    gap = st.text(st.sampled_from(" \u3000\t"), min_size=1, max_size=3)
    street = f"{draw(st.sampled_from(['中山路', '文化路', '人民大道']))}{draw(st.integers(1, 999))}号"
    parts = [province, city_text, draw(st.sampled_from(["越秀区", "西湖区", "朝阳区"])), street]
    address = parts[0] + "".join(draw(gap) + p for p in parts[1:])
    if draw(st.booleans()):
        address += f"({draw(st.from_regex(r'[0-9]{6}', fullmatch=True))})"
    return full, CITIES[city_text], draw(padding) + address + draw(padding)


@FAST
@given(st.lists(tmall_address(), min_size=1, max_size=40), st.lists(st.one_of(st.none(), any_text), max_size=30))
def test_region_parsed_from_tmall_address(duck, addresses, other):
    provinces, cities, texts = zip(*addresses, strict=True)
    assert macro(duck, "address_province")(list(texts)) == list(provinces)
    assert macro(duck, "address_city")(list(texts)) == list(cities)
    for province, city in zip(macro(duck, "address_province")(other), macro(duck, "address_city")(other), strict=True):
        assert province is None or province in PROVINCES.values()  # nothing else gets in
        assert city is None or (province is not None and not re.search(r"\d", city))


# --- tags --------------------------------------------------------------------------------

tag_text = st.text(
    st.one_of(
        st.sampled_from("abcABCvipVIP老客新客 -_"),
        st.characters(codec="utf-8", categories=["L", "N"]),
        invisible,
        st.sampled_from(FULL_WIDTH_FORMS),
    ),
    max_size=6,
)


def _expected_tags(pieces: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for piece in (strip_white(p) for p in pieces):
        if piece and piece.lower() not in seen:
            seen[piece.lower()] = piece
    return list(seen.values())


@FAST
@given(
    st.lists(
        st.tuples(
            st.lists(st.tuples(padding, tag_text, padding), max_size=6),
            st.lists(st.sampled_from(",，;；|"), min_size=6, max_size=6),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_tags_split_trimmed_deduplicated_case_insensitively(duck, cells):
    """Issue 14 item 9: a tags cell is a visible key first (format characters gone, full-width forms as ASCII, so
    ＶＩＰ and \u202ePIV are the tags VIP and PIV), then split on , ， ; ； | (｜ folds to |)."""
    texts, expected = [], []
    for pieces, separators in cells:
        words = [p + t + q for p, t, q in pieces]
        text = "".join(w + s for w, s in zip(words, separators, strict=False))
        texts.append(text)
        expected.append(_expected_tags(re.split("[,，;；|]", visible_key(text))))
    assume(all(all(t.lower() == unicodedata.normalize("NFC", t).lower() for t in e) for e in expected))
    assert macro(duck, "split_tags")(texts) == expected


@FAST
@given(st.lists(st.one_of(st.none(), any_text, invisible_text), min_size=1, max_size=50))
def test_tags_never_empty_padded_or_duplicated(duck, batch):
    for raw, tags in zip(batch, macro(duck, "split_tags")(batch), strict=True):
        assert not any(re.search("[,，;；|]", t) or t != strip_white(t) or t == "" for t in tags), (raw, tags)
        assert not any(unicodedata.category(c) == "Cf" or c in FULL_WIDTH_SET for t in tags for c in t), (raw, tags)
        lowered = apply(duck, "list_transform(v::VARCHAR[], lambda u: lower(u))", [tags])[0] if tags else []
        assert len(set(lowered)) == len(lowered)


# --- Tmall values ------------------------------------------------------------------------

NULL_MARKERS = ["null", "'null", "NULL", " null ", "NaN", "nan", "", "  ", '="null"', "'NaN", '=""']


@FAST
@given(
    st.lists(st.from_regex(r"[1-9][0-9]{15,18}", fullmatch=True), min_size=1, max_size=30),
    st.lists(real_mobile, min_size=1, max_size=30),
    st.lists(st.sampled_from(NULL_MARKERS), max_size=10),
)
def test_tmall_ids_phones_and_nulls(duck, ids, phones, nulls):
    text = macro(duck, "tmall_text")
    assert text([f'="{i}"' for i in ids]) == ids
    assert text([f"'{p}" for p in phones]) == phones
    assert macro(duck, "normalize_mobile")(text([f"'{p}" for p in phones])) == phones
    masked = [f"{p[:3]}****{p[-4:]}" for p in phones]
    assert text([f"'{m}" for m in masked]) == masked
    assert macro(duck, "normalize_mobile")(masked) == masked  # kept as shown, for masked matching
    assert text(nulls) == [None] * len(nulls)


@FAST
@given(st.lists(st.tuples(any_text, st.sampled_from(["{}", '="{}"', "'{}", " {} "])), min_size=1, max_size=40))
def test_tmall_text_loses_nothing(duck, cells):
    values = [strip_white(v) for v, _ in cells]
    assume(all(not v.startswith("'") and not re.fullmatch(r'=".*"', v, re.S) for v in values))
    out = macro(duck, "tmall_text")([form.format(v) for v, form in cells])
    for value, (_, form), got in zip(values, cells, out, strict=True):
        if value.lower() in ("null", "nan", ""):
            assert got is None
        elif form.startswith('="'):
            assert got == strip_white(value)
        else:
            assert got == value


@FAST
@given(
    st.lists(
        st.tuples(
            st.decimals(min_value=0, max_value=10**12, places=2), st.sampled_from(["{}", "{:,}", "{}元", " {} "])
        ),
        min_size=1,
        max_size=40,
    ),
    st.lists(st.one_of(st.none(), any_text), max_size=30),
)
def test_tmall_money(duck, amounts, other):
    money = macro(duck, "parse_money")
    assert money([form.format(d) for d, form in amounts]) == [d for d, _ in amounts]
    assert money(["0元", "12.50", "1,234.00", "'null", "null"]) == [
        Decimal(0),
        Decimal("12.50"),
        Decimal("1234.00"),
        None,
        None,
    ]
    assert all(v is None or isinstance(v, Decimal) for v in money(other))


@FAST
@given(
    st.lists(
        st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2100, 1, 1)), min_size=1, max_size=40
    ),
    st.lists(st.one_of(st.none(), any_text), max_size=30),
)
def test_tmall_both_timestamp_styles(duck, moments, other):
    stamp = macro(duck, "parse_timestamp")
    exported = [m.replace(microsecond=0) for m in moments]
    assert stamp([m.strftime("%Y-%m-%d %H:%M:%S") for m in exported]) == exported
    excel = [m.replace(second=0) for m in exported]
    assert stamp([f"{m.year}/{m.month}/{m.day} {m.hour}:{m.minute:02d}" for m in excel]) == excel
    assert all(v is None or isinstance(v, dt.datetime) for v in stamp(other))


# --- readers -----------------------------------------------------------------------------

cell_text = st.text(
    st.one_of(
        st.sampled_from(",\"\n\r\t ;|'="),
        st.characters(codec="utf-8", exclude_characters="\x00\x01\x02", exclude_categories=["Cs"]),
    ),
    max_size=12,
)
CODEC = {"utf-8": "utf-8", "utf-8-sig": "utf-8", "gb18030": "gb18030", "big5": "big5"}


@st.composite
def csv_grid(draw) -> tuple[str, str, list[list[str]]]:
    encoding = draw(st.sampled_from(sorted(CODEC)))
    line_end = draw(st.sampled_from(["\r\n", "\n"]))
    width = draw(st.integers(1, 5))

    def encodable(text: str) -> bool:
        try:
            text.encode("big5hkscs" if encoding == "big5" else encoding)
        except UnicodeEncodeError:
            return False
        return True

    # Python's csv module quotes a cell holding a lone \r only when \r is in the line ending;
    # unquoted, it is a line break of the file. LF files keep their cells off \r.
    cell = cell_text.filter(lambda c: encodable(c) and (line_end == "\r\n" or "\r" not in c))
    # The delimiter is the one splitting the header line into the most cells, tab and semicolon
    # included, and a first line `sep=;` names it (by design): headers keep off tabs and semicolons.
    header_cell = cell.filter(lambda c: "\t" not in c and ";" not in c)
    header = draw(
        st.lists(header_cell, min_size=width, max_size=width).filter(
            lambda h: any(c.strip() for c in h) and not SEP_LINE.fullmatch(",".join(h))
        )
    )
    rows = draw(st.lists(st.lists(cell, min_size=width, max_size=width), max_size=8))
    return encoding, line_end, [header, *rows]


def _staged_cells(path: Path, columns: int, encoding: str = "auto") -> tuple[StagedFile, list[tuple]]:
    """Stage ``path`` in a scratch DuckDB; its header and cells c0 .. c{columns-1} in row order."""
    con = duckdb.connect()
    try:
        staged = stage_file(con, path, "file_rows", path.parent / "work", frozenset(), encoding)
        cells = ", ".join(f"c{i}" for i in range(columns))
        return staged, con.execute(f"SELECT {cells} FROM file_rows ORDER BY row_number").fetchall()
    finally:
        con.close()


@SLOW
@given(csv_grid())
def test_csv_reader_loses_no_cell(duck, tmp_path_factory, grid):
    """Quotes, separators, line breaks and any Unicode come back exactly (line breaks as \\n),
    whether the file is read where it is (plain UTF-8) or through its normalised copy."""
    encoding, line_end, rows = grid
    folder = tmp_path_factory.mktemp("csv")
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=line_end).writerows(rows)
    path = folder / "grid.csv"
    path.write_bytes(buffer.getvalue().encode("big5hkscs" if encoding == "big5" else encoding))
    staged, got = _staged_cells(path, len(rows[0]) + 1, CODEC[encoding])

    def unified(text: str) -> str:
        return text.replace("\r\n", "\n").replace("\r", "\n")

    assert staged.headers == [unified(h).strip() for h in rows[0]]
    assert [list(r) for r in got] == [[unified(c) for c in row] + [None] for row in rows[1:]]


@FAST
@given(st.text(st.sampled_from(["a", "中", '"', ",", "\n", "\r", "\ufeff", " "]), max_size=40), st.booleans())
@example('a,"b"\n中,c\n', False)
@example("a\n\nb\n", False)
@example("\na\n", False)
@example("a\r\nb", False)
@example("a\rb", False)
@example("a\n", True)
def test_csv_read_in_place_only_when_normalising_would_copy_it_unchanged(tmp_path_factory, text, bom):
    """plain_utf8_counts (the file is read where it is) answers only for files that the
    normalising pass copies byte for byte, and with the same counts."""
    folder = tmp_path_factory.mktemp("plain")
    source, copy = folder / "in.csv", folder / "out.csv"
    source.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    counted = write_normalized_csv(source, copy, "utf-8")
    plain = plain_utf8_counts(source)
    if plain is not None:
        assert copy.read_bytes() == source.read_bytes() and plain == counted
    assert (plain is None) == (bom or "\r" in text or "\n\n" in text or text.startswith(("\n", "\ufeff")))


xlsx_value = st.one_of(
    cell_text.filter(lambda s: not s.startswith("=") and not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", s)),
    st.integers(-(10**15), 10**15),
    # Excel keeps 15 significant digits (openpyxl writes no more), so floats are drawn at that precision.
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15).map(lambda f: float(f"{f:.15g}")),
)


@SLOW
@given(
    st.integers(1, 4).flatmap(lambda w: st.lists(st.lists(xlsx_value, min_size=w, max_size=w), min_size=1, max_size=6))
)
def test_xlsx_reader_loses_no_cell(tmp_path_factory, rows):
    """Every cell comes back as the text a person sees: 13800138000.0 → '13800138000', text as is."""
    from openpyxl import Workbook

    width = len(rows[0])
    header = [f"h{i}" for i in range(width)]
    while rows and all(v == "" for v in rows[-1]):  # a sheet ends at its last filled row
        rows = rows[:-1]
    folder = tmp_path_factory.mktemp("xlsx")
    workbook = Workbook()
    for row in [header, *rows]:
        workbook.active.append(row)
    workbook.save(folder / "grid.xlsx")
    staged, got = _staged_cells(folder / "grid.xlsx", width)

    def seen(value: object) -> str:
        if isinstance(value, float):
            return str(int(value)) if value.is_integer() else repr(value)
        return text(str(value))

    def text(cell: str) -> str:
        # XML reads \r\n and \r as \n, and a cell of white space only (written without
        # xml:space="preserve") as empty; every cleaner treats such a cell as empty anyway.
        return "" if not cell.strip() else cell.replace("\r\n", "\n").replace("\r", "\n")

    assert staged.headers == header
    assert [[text(c) for c in r] for r in got] == [[seen(v) for v in row] for row in rows]


# --- the rows the contract is given ---------------------------------------------------------

_contract_mobile = st.one_of(
    st.none(),
    st.from_regex(r"1[0-9]{10}", fullmatch=True),
    st.sampled_from(over_merge_guard().placeholder_mobiles),
    st.text(alphabet="0123456789１٣+ \n", min_size=9, max_size=13),
)
_contract_email = st.one_of(
    st.none(),
    st.builds(lambda a, b, c: f"{a}@{b}.{c}", _near_common_local, _near_common_domain, _near_common_tld),
    st.sampled_from(["a@b.cn\n", "A@b.cn", "a@b.cn ", "ａ@b.cn", "a@b", "@b.cn", "a@b.c0m"]),
    st.sampled_from(over_merge_guard().placeholder_emails),
)
_maybe_text = st.one_of(st.none(), st.just("x"))
_contract_row = st.fixed_dictionaries(
    {
        "cells_ok": st.booleans(),
        "customer_id": st.one_of(st.none(), st.just("C1")),
        "mobile": _contract_mobile,
        "email": _contract_email,
        "birthday_text": _maybe_text,
        "birthday": st.one_of(st.none(), st.just(dt.date(2000, 1, 1))),
        "points_text": _maybe_text,
        "points": st.one_of(st.none(), st.just(1)),
        "employees_text": _maybe_text,
        "employees": st.one_of(st.none(), st.just(2)),
        "identity_count": st.integers(0, 2),
        "is_empty": st.booleans(),
        "key_marker": st.booleans(),
    }
)


_PASSING_ROW = {
    "cells_ok": True, "customer_id": None, "mobile": "13800138000", "email": "a@b.cn", "birthday_text": "x",
    "birthday": dt.date(2000, 1, 1), "points_text": "x", "points": 1, "employees_text": "x", "employees": 2,
    "identity_count": 0, "is_empty": False, "key_marker": False,
}  # fmt: skip
# A passing row, then each check failed alone (the first row is always judged, so it passes).
_EDGE_ROWS = [
    _PASSING_ROW,
    *(
        {**_PASSING_ROW, **change}
        for change in (
            {"cells_ok": False}, {"mobile": "1380013800"}, {"mobile": "１3800138000"}, {"mobile": "13800138000\n"},
            {"email": "a@b"}, {"email": "a@b.test"}, {"email": "A@b.cn"}, {"email": "a@b.cn\n"},
            {"mobile": None, "email": None}, {"mobile": None, "email": None, "identity_count": 1},
            {"birthday": None}, {"points": None}, {"employees": None}, {"birthday_text": None, "birthday": None},
            {"mobile": "13800000000"}, {"email": "test@test.com"}, {"key_marker": True},
            {"mobile": None, "email": None, "key_marker": True},
        )
    ),
    _PASSING_ROW,
]  # fmt: skip


@SLOW
@given(st.lists(_contract_row, min_size=1, max_size=60))
@example(_EDGE_ROWS)
def test_contract_is_given_every_row_it_might_fail(rows):
    """Issue 12 item: customer_rows_for_contract leaves out the rows that pass the contract for
    certain (a second per million rows of pandas saved): the failures are those of the contract
    over every non-empty row, and the first row is always judged (the column checks run)."""
    from cdp_pipeline.warehouse import render_sql
    from data_contracts.customer_rows import contract_failures

    frame = pd.DataFrame(rows).assign(row_number=range(2, len(rows) + 2))
    con = duckdb.connect()
    try:
        con.execute(macros_sql())
        con.execute("ATTACH ':memory:' AS staging")
        con.register("generated", frame)
        con.execute(
            "CREATE TABLE staging.customer_rows AS SELECT row_number::BIGINT AS row_number, is_empty, cells_ok, "
            "customer_id::VARCHAR AS customer_id, mobile::VARCHAR AS mobile, email::VARCHAR AS email, "
            "birthday_text::VARCHAR AS birthday_text, birthday::DATE AS birthday, points_text::VARCHAR AS points_text, "
            "points::BIGINT AS points, employees_text::VARCHAR AS employees_text, employees::BIGINT AS employees, "
            "identity_count, key_marker FROM generated"
        )
        con.execute(
            "CREATE TABLE staging.customer_row_identities AS SELECT row_number, 'openid' AS identity_type, "
            "'o' || i AS identity_value FROM staging.customer_rows, range(identity_count) t(i)"
        )
        judged_sql = render_sql("customer_rows_for_contract", staging="staging").strip().rstrip(";")
        # as run_contract reads them (Arrow, then pandas)
        judged = con.sql(judged_sql).to_arrow_table().to_pandas().set_index("row_number")
        every_sql = judged_sql.split("WHERE NOT r.is_empty")[0] + "WHERE NOT r.is_empty ORDER BY r.row_number"
        every = con.sql(every_sql).to_arrow_table().to_pandas().set_index("row_number")
    finally:
        con.close()

    def failures(batch: pd.DataFrame) -> list[tuple[int, str]]:
        return sorted(map(tuple, contract_failures(batch).itertuples(index=False)))

    assert failures(judged) == failures(every)
    assert len(every) == 0 or judged.index[0] == every.index[0]


def test_contract_row_filter_uses_the_contract_patterns():
    """Issue 12 item: the filter's patterns are the contract's own (MOBILE, COMMON_EMAIL and the
    special-use names), so a change to the contract cannot leave the filter passing rows it fails."""
    from data_contracts.key_shapes import COMMON_EMAIL, SPECIAL_USE

    text = sql_text("customer_rows_for_contract")
    for pattern in (MOBILE, COMMON_EMAIL, SPECIAL_USE):
        assert f"'{pattern}'" in text, pattern


_MOBILE_SHAPE_PIECES = st.sampled_from(
    ["", "+86", "86", "0086", "0", "'", " ", "-", "138", "0013", "8000", ".0", "1", "."]
)


@FAST
@given(st.lists(st.lists(_MOBILE_SHAPE_PIECES, max_size=8).map("".join), max_size=50))
@example(["013800138000", "'13800138000", "13800138000.0", "+86 138 0013 8000", "138-0013-8000", "'0138001380.0"])
def test_mobile_fast_paths_clean_as_the_full_cleaning(duck, batch):
    """Issue 12 item: normalize_mobile's string-function paths for common export shapes give
    what the whole cleaning (mobile_cleaned, then the prefix rule) gives."""
    full = "nullif(regexp_replace(mobile_cleaned(v), '^(?:\\+?86|0086)?0?(1\\d{10})$', '\\1'), '')"
    assert macro(duck, "normalize_mobile")(batch) == apply(duck, full, batch)


_PLACEHOLDER_PIECES = st.sampled_from(
    [
        "",
        " ",
        "\t",
        "\u00a0",
        "\u3000",
        "null",
        "NuLL",
        "none",
        "n/a",
        "N/A",
        "#n/a",
        "\\n",
        "\\N",
        "无",
        "空",
        "x",
        "nan",
    ]
)


@FAST
@given(st.lists(st.lists(_PLACEHOLDER_PIECES, max_size=4).map("".join), max_size=50))
def test_placeholder_first_character_screen_matches_the_pattern_alone(duck, batch):
    """Issue 12 item: without_placeholder looks at the first character before its regular
    expression: the cells it empties are those the expression alone matches."""
    pattern = "(?i)[ \\t\\x{A0}\\x{3000}]*(?:null|none|n/a|#n/a|\\\\n|无|空)[ \\t\\x{A0}\\x{3000}]*"
    alone = f"CASE WHEN strlen(v) <= 16 AND regexp_full_match(v, '{pattern}') THEN NULL ELSE v END"
    assert macro(duck, "without_placeholder")(batch) == apply(duck, alone, batch)
