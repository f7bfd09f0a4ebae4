"""Issue 14 item 8: one encoding per file, checked line by line (cdp_pipeline/line_encodings.py).

Properties over drawn files: a file in one encoding is read in it (a GBK or Big5 row that is
valid UTF-8 by accident is never taken for UTF-8), and rows of another encoding pasted into a
file are the lines its refusal names.
"""

from __future__ import annotations

import itertools
import re

import pytest
from fuzz_profiles import fuzz_settings
from hypothesis import given
from hypothesis import strategies as st

from cdp_pipeline.catalogue import Catalogue
from cdp_pipeline.errors import FileRejected
from cdp_pipeline.line_encodings import looks_misread, reads_as_legacy, reads_as_utf8
from cdp_pipeline.readers import detect_encoding

FILES = fuzz_settings(60)
SIMPLIFIED = [
    bytes((lead, trail)).decode("gb2312")
    for lead in range(0xB0, 0xD8)
    for trail in range(0xA1, 0xFF)
    if (lead << 8 | trail) <= 0xD7F9
]
RARE_SIMPLIFIED = [bytes((lead, trail)).decode("gb2312") for lead in range(0xD8, 0xF8) for trail in range(0xA1, 0xFF)]
TRADITIONAL = [
    bytes((lead, trail)).decode("big5")
    for lead in range(0xA4, 0xC7)
    for trail in (*range(0x40, 0x7F), *range(0xA1, 0xFF))
    if (lead << 8 | trail) <= 0xC67E
]
# Names are mostly common characters, now and then a rare one (喆, 堃 are level 2 or GBK only).
simplified_name = st.lists(
    st.one_of(st.sampled_from(SIMPLIFIED), st.sampled_from(SIMPLIFIED), st.sampled_from(RARE_SIMPLIFIED)),
    min_size=1,
    max_size=4,
).map("".join)
traditional_name = st.lists(st.sampled_from(TRADITIONAL), min_size=1, max_size=4).map("".join)
_names = itertools.count(1)
KNOWN = Catalogue.load().known_headers


def write(tmp_path_factory: pytest.TempPathFactory, data: bytes):
    path = tmp_path_factory.getbasetemp() / "line_encodings" / f"f{next(_names)}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def rows_of(names: list[str], city: str) -> list[str]:
    return [f"{name},{13800000000 + i},{city}" for i, name in enumerate(names)]


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def named_lines(reason: str) -> list[int]:
    """The line numbers a refusal names (``lines 4, 9 and 3 more: ...``)."""
    found = re.match(r"lines? ([\d, ]+)(?: and [\d,]+ more)?: ", reason)
    assert found, reason
    return [int(n) for n in found.group(1).split(", ")]


@FILES
@given(st.lists(simplified_name, min_size=1, max_size=40), st.sampled_from(["", "广州", "上海市"]), st.booleans())
def test_gb18030_file_is_read_as_gb18030(tmp_path_factory, names, city, chinese_header):
    """Issue 14 item 8: a GBK file is never refused as mixed, whichever of its rows are valid
    UTF-8 by accident. (A GBK file valid UTF-8 as a whole is the 郑伟 case of test_bad_files.)"""
    header = "姓名,手机号码,城市" if chinese_header else "name,mobile,city"
    data = "\n".join([header, *rows_of(names, city)]).encode("gb18030") + b"\n"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        # Never refused. Under an ASCII header, random common characters read as common
        # characters in Big5 too (啊 is 陛), so GB18030 or Big5 is the older guess between the two.
        expected = ("gb18030",) if chinese_header else ("gb18030", "big5")
        assert detect_encoding(write(tmp_path_factory, data), KNOWN) in expected


@FILES
@given(st.lists(traditional_name, min_size=1, max_size=40), st.sampled_from(["", "臺北", "高雄市"]))
def test_big5_file_is_read_as_big5(tmp_path_factory, names, city):
    """Issue 14 item 8: the same for Big5."""
    data = "\n".join(["姓名,手机,城市", *rows_of(names, city)]).encode("big5hkscs") + b"\n"
    assert detect_encoding(write(tmp_path_factory, data), KNOWN) == "big5"


@FILES
@given(
    st.lists(simplified_name, min_size=2, max_size=40),
    st.data(),
    st.sampled_from(["广州", "北京市"]),
)
def test_gbk_rows_pasted_into_a_utf8_file_are_the_lines_named(tmp_path_factory, names, data, city):
    """Issue 14 item 8: GBK rows (with a city, so never valid UTF-8) pasted into a UTF-8 file are
    exactly the lines named while they are the fewer; else the UTF-8 lines are."""
    rows = rows_of(names, city)
    pasted = set(data.draw(st.sets(st.integers(0, len(rows) - 1), min_size=1, max_size=len(rows) - 1)))
    lines = [
        "姓名,手机号码,城市".encode(),
        *((r.encode("gbk" if i in pasted else "utf-8")) for i, r in enumerate(rows)),
    ]
    path = write(tmp_path_factory, b"\n".join(lines) + b"\n")
    with pytest.raises(FileRejected) as refused:
        detect_encoding(path, KNOWN)
    utf8_lines = {1} | {i + 2 for i in range(len(rows)) if i not in pasted}  # the header is UTF-8 too
    pasted_lines = {i + 2 for i in pasted}
    expected = pasted_lines if len(pasted_lines) <= len(utf8_lines) else utf8_lines
    assert named_lines(refused.value.reason) == sorted(expected)[:10]


@FILES
@given(st.lists(simplified_name, min_size=3, max_size=40), st.data(), st.sampled_from(["", "广州"]))
def test_utf8_rows_pasted_into_a_gbk_file_are_the_lines_named(tmp_path_factory, names, data, city):
    """Issue 14 item 8: UTF-8 rows of common characters in a GBK file are always found (named
    while they are the fewer, else the GBK lines are)."""
    common = [name for name in names if all(c in SIMPLIFIED for c in name)]
    rows = rows_of(names, city)
    pasted = data.draw(st.sets(st.integers(0, len(rows) - 1), min_size=1, max_size=2))
    pasted = {i for i in pasted if names[i] in common}
    lines = [
        "姓名,手机号码,城市".encode("gbk"),
        *((r.encode("utf-8" if i in pasted else "gbk")) for i, r in enumerate(rows)),
    ]
    path = write(tmp_path_factory, b"\n".join(lines) + b"\n")
    if not pasted:
        assert detect_encoding(path, KNOWN) == "gb18030"
        return
    with pytest.raises(FileRejected) as refused:
        detect_encoding(path, KNOWN)
    utf8_lines = {i + 2 for i in pasted}
    gbk_lines = {1} | {i + 2 for i in range(len(rows)) if i not in pasted}  # the header is GBK too
    # A GBK row can be valid UTF-8 by accident (亍 reads as ء): such a row may go unnamed.
    certain = {n for n in gbk_lines if not _valid_utf8(lines[n - 1])}
    named = set(named_lines(refused.value.reason))
    assert named == utf8_lines or certain <= named <= gbk_lines, (named, utf8_lines, certain)
    assert named == utf8_lines or len(named) <= len(utf8_lines)


@pytest.mark.parametrize(
    ("text", "misread"),
    [
        ("José", False),
        ("Łódź", False),
        ("мило", False),
        ("Ζωή", False),
        ("«Zoë»", False),
        ("Zhāng Wěi", False),
        ("Nguyễn Thị", False),
        ("محمد", False),
        ("֣ΰ", True),  # 郑伟 in GBK
        ("лǿ", True),  # 谢强 in GBK
        ("Фϼ", True),  # 肖霞 in GBK
    ],
)
def test_looks_misread(text, misread):
    """Issue 14 item 8: words keep to one script and everyday letters; GBK read as UTF-8 does not."""
    assert looks_misread(text) is misread


def test_readings_of_known_lines():
    """Issue 14 item 8: the two verdicts on lines whose bytes are valid in both encodings."""
    assert reads_as_legacy("郑伟,13800138000".encode("gbk"))
    assert not reads_as_legacy("José,13800138000".encode())
    assert reads_as_utf8("张伟,13800138000".encode(), "gb18030")  # 寮犱紵 as GBK
    assert not reads_as_utf8("郑伟,13800138000".encode("gbk"), "gb18030")
