"""Issue 12 item: the faster reader passes read every file exactly as the line-counting ones.

``write_normalized_csv`` unifies line ends on the bytes and counts no lines; the UTF-8-line scan
translates CR to LF and counts lines only where it finds one. Over drawn files of CR, LF, CRLF,
quotes, blank lines, UTF-8, GBK, Big5 and undecodable bytes, cut at every small chunk size, the
copy, its counts and the refusal (byte and line) are those of the line-counting pass, and the
scan names the lines a plain line-by-line reading finds.
"""

from __future__ import annotations

import pytest
from fuzz_profiles import fuzz_settings
from hypothesis import given
from hypothesis import strategies as st

from cdp_pipeline import line_encodings, readers
from cdp_pipeline.errors import FileRejected

PIECES = [
    b"\r", b"\n", b"\r\n", b"a", b",", b'"', b"\x02", "张伟".encode("gb18030"), "张伟".encode(),
    "郑伟".encode("gbk"), "張".encode("big5"), "ü".encode(), b"\xff", b"\xe5",
]  # fmt: skip
FILES = st.tuples(st.booleans(), st.lists(st.sampled_from(PIECES), max_size=40), st.sampled_from([1, 2, 3, 5, 16]))


def _outcome(write, src, dst, encoding):
    try:
        counted = write(src, dst, encoding)
    except FileRejected as error:
        return str(error)
    return counted, dst.read_bytes()


@fuzz_settings(300)
@given(FILES)
def test_normalised_copy_is_the_line_counting_pass_copy(tmp_path_factory, drawn):
    bom, pieces, chunk_bytes = drawn
    folder = tmp_path_factory.mktemp("pass")
    src = folder / "in.csv"
    src.write_bytes((b"\xef\xbb\xbf" if bom else b"") + b"".join(pieces))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(readers, "CHUNK_BYTES", chunk_bytes)
        for encoding in ("utf-8", "gb18030", "big5"):
            fast = _outcome(readers.write_normalized_csv, src, folder / "fast.csv", encoding)
            counting = _outcome(readers._write_normalized_counting, src, folder / "slow.csv", encoding)
            assert fast == counting


@fuzz_settings(300)
@given(FILES)
def test_utf8_line_scan_numbers_lines_as_read_one_by_one(tmp_path_factory, drawn):
    _, pieces, chunk_bytes = drawn
    src = tmp_path_factory.mktemp("scan") / "in.csv"
    data = b"".join(pieces)
    src.write_bytes(data)
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    for legacy in ("gb18030", "big5"):
        expected = []
        for number, line in enumerate(lines, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if not line.isascii() and line_encodings.reads_as_utf8(line, legacy):
                expected.append(number)
        found = line_encodings.utf8_looking_lines(src, legacy, chunk_bytes)
        assert found.count == len(expected)
        assert found.lines == expected[: line_encodings.MAX_NAMED_LINES]
