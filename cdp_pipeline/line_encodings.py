"""Is a text file in one encoding, line by line? (SPEC §2: text is never stored garbled.)

A file that is not valid UTF-8 is read as GB18030 or Big5. That is right for a file saved in
that encoding, and wrong for a UTF-8 file into which someone pasted a few GBK rows: read whole as
GB18030, its UTF-8 lines become mojibake (张伟 → 寮犱紵) that imports without an error. The other
way round, a GBK row can be valid UTF-8 by accident (郑伟 in GBK reads as UTF-8 ֣ΰ). So lines
are checked one by one, by what their readings look like:

* in a file that is not valid UTF-8, a valid UTF-8 line is UTF-8 when the legacy codec cannot
  read it or when its UTF-8 reading holds more common Chinese characters than its legacy
  reading (``utf8_looking_lines``). A GBK line that is valid UTF-8 by accident reads as Latin,
  Greek or Cyrillic letters then, so it stays with the file;
* in a valid UTF-8 file, a line is GBK/Big5 text when its UTF-8 reading holds no common Chinese
  character and looks misread (letters no name uses, scripts mixed inside a word) while a legacy
  reading is common Chinese characters only (``legacy_looking_lines``).

A file holding both kinds is refused, naming the lines of the smaller kind; a line that is text
in no encoding is binary content (``binary_reason``). Both checks stream the file once with
regular expressions and byte-level filters (0.05-0.3 s for a million lines); only a file that
will be refused gets the slower census of every line (``census``).
"""

from __future__ import annotations

import bisect
import codecs
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

LEGACY_CODECS = {"gb18030": "gb18030", "big5": "big5hkscs"}
LEGACY_NAMES = {"gb18030": "GBK/GB18030", "big5": "Big5"}
MAX_NAMED_LINES = 10
ONE_ENCODING = "save the whole file in one encoding (CSV UTF-8)"
_ASCII = rb"[\x00-\x09\x0b-\x7f]"
_MULTIBYTE = rb"(?:[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3})"
# A whole line (between two \n) of UTF-8-shaped bytes holding at least one non-ASCII character.
# The leading literal \n lets the regex engine skip to line starts instead of trying every byte.
# (Overlong forms and surrogates pass the shape; a real decode confirms each match.)
# Possessive repeats: a line is parsed into ASCII bytes and UTF-8 sequences one way only (the
# lead byte decides), so a failed line is never re-tried at shorter lengths — backtracking made
# the scan of a GB18030 file, where every line fails, five times slower (1.4 s → 0.27 s, 228 MB).
_UTF8_SHAPED_LINE = re.compile(
    rb"\n" + _ASCII + rb"*+" + _MULTIBYTE + rb"(?:" + _ASCII + rb"|" + _MULTIBYTE + rb")*+(?=\n)"
)
_NON_ASCII_LINE = re.compile(rb"\n[\x00-\x09\x0b-\x7f]*+[\x80-\xff]")
# CR to LF byte for byte: a scan sees every line between two LFs while its offsets stay those of
# the block (a CRLF becomes an empty line, which no line pattern matches).
_CR_TO_LF = bytes.maketrans(b"\r", b"\n")
_RAW_LINE = re.compile(rb"[^\r\n]*(?:\r\n|[\r\n])|[^\r\n]+")


@functools.cache
def _common_hanzi(codec: str) -> dict[int, None]:
    """The most used Chinese characters of ``codec`` as a ``str.translate`` deletion table:
    GB2312 level 1 (3,755 simplified) for GB18030, Big5's frequently used set (5,401
    traditional) for Big5, both (for a search pattern) for "either"."""
    found: set[str] = set()
    if codec in ("gb18030", "either"):
        for lead in range(0xB0, 0xD8):
            for trail in range(0xA1, 0xFF):
                if (lead << 8 | trail) <= 0xD7F9:
                    found.add(bytes((lead, trail)).decode("gb2312"))
    if codec in ("big5", "either"):
        for lead in range(0xA4, 0xC7):
            for trail in (*range(0x40, 0x7F), *range(0xA1, 0xFF)):
                if (lead << 8 | trail) <= 0xC67E:
                    found.add(bytes((lead, trail)).decode("big5"))
    return dict.fromkeys(map(ord, found))


def common_hanzi_count(text: str, codec: str = "utf-8") -> int:
    """Common Chinese characters in ``text`` read as ``codec``. UTF-8 text is simplified or
    traditional, so it counts in the set that finds more (讶質, one of each, counts one)."""
    if codec == "utf-8":
        return max(common_hanzi_count(text, "gb18030"), common_hanzi_count(text, "big5"))
    return len(text) - len(text.translate(_common_hanzi(codec)))


def _plausibility(text: str, codec: str) -> int:
    """Common Chinese characters count for a reading, other non-ASCII characters against it."""
    common = common_hanzi_count(text, codec)
    return 2 * common - (len(text) - len(text.encode("ascii", "ignore")))


# A three-byte UTF-8 character then a byte 0x40-0x7E: the shape of a GBK character whose trail
# byte is ASCII (GBK's extension area) read as UTF-8 — 餃濳 in GBK is valid UTF-8, 'K'.
_GBK_TRAIL_SHAPE = re.compile(r"[\u0800-\uffff][\x40-\x7e]")


def reads_as_utf8(line: bytes, legacy: str) -> bool:
    """A valid UTF-8 line: is it UTF-8 rather than text in ``legacy`` that happens to be valid
    UTF-8? Yes when ``legacy`` cannot read it, or when its UTF-8 reading holds common Chinese
    characters, is more plausible than its legacy reading and has no GBK trail shape. UTF-8
    Chinese read as GBK gives at most one common character for each UTF-8 one (a lead byte
    E4-E9 never starts one) and more other characters, so a UTF-8 line of common characters is
    always found; GBK text that is valid UTF-8 by accident reads as Latin, Greek or Cyrillic
    letters, or as rare characters glued to ASCII, and stays with the file."""
    try:
        as_legacy = line.decode(LEGACY_CODECS[legacy])
    except UnicodeDecodeError:
        return True
    text = line.decode("utf-8")
    if not common_hanzi_count(text) or _GBK_TRAIL_SHAPE.search(text):
        return False
    return _plausibility(text, "utf-8") > _plausibility(as_legacy, legacy)


def _line_blocks(path: Path, chunk_bytes: int) -> Iterator[tuple[bytes, int]]:
    """(block, byte offset): the file in blocks of whole lines (the last one may lack its line
    break). A CR is never split from the LF after it; GB18030 and Big5, like UTF-8, never use
    0x0A or 0x0D inside a character, so cutting there is safe. A line longer than a chunk is
    gathered in pieces, joined once."""
    offset, pieces = 0, []
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            cut = max(chunk.rfind(b"\n"), chunk.rfind(b"\r", 0, len(chunk) - 1))
            if cut < 0:
                pieces.append(chunk)
                continue
            block = b"".join([*pieces, chunk[: cut + 1]])
            pieces = [chunk[cut + 1 :]]
            yield block, offset
            offset += len(block)
    if rest := b"".join(pieces):
        yield rest, offset


def _breaks(data: bytes) -> int:
    """Line breaks in raw bytes: CRLF, LF or CR."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def _lf_lines(block: bytes) -> bytes:
    """A block with every line break as LF, ending in one: line numbers are LF counts."""
    if b"\r" in block:
        block = block.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return block if block.endswith(b"\n") else block + b"\n"


class _LineNumbers:
    """Line numbers of block offsets (asked in order), counted only when asked: the scan of a
    file in one encoding asks for none, so it never counts the file's lines."""

    def __init__(self, path: Path, chunk_bytes: int) -> None:
        self.path, self.chunk_bytes = path, chunk_bytes
        self.offset, self.line = 0, 1

    def at(self, offset: int) -> int:
        """The number of the line starting at ``offset`` (a block start, never inside a CRLF)."""
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            ended_in_cr = False
            while self.offset < offset:
                data = handle.read(min(self.chunk_bytes, offset - self.offset))
                # A CRLF cut between two reads is one line break.
                self.line += _breaks(data) - (ended_in_cr and data.startswith(b"\n"))
                ended_in_cr = data.endswith(b"\r")
                self.offset += len(data)
        return self.line


def line_at(path: Path, number: int, chunk_bytes: int) -> bytes:
    """Line ``number`` of a file (without its line break), read again to say why it is wrong."""
    first = 1
    for block, _ in _line_blocks(path, chunk_bytes):
        lines = _lf_lines(block).split(b"\n")[:-1]
        if number < first + len(lines):
            return lines[number - first]
        first += len(lines)
    return b""


@dataclass
class LinesFound:
    """How many lines of one kind, the first few line numbers and the first one's bytes."""

    count: int = 0
    lines: list[int] = field(default_factory=list)
    first: bytes = b""

    def add(self, number: int, line: bytes) -> None:
        self.count += 1
        if len(self.lines) < MAX_NAMED_LINES:
            self.lines.append(number)
        if self.count == 1:
            self.first = line[:4096]

    def named(self) -> str:
        """``lines 4, 9 and 12 more``."""
        shown = ", ".join(map(str, self.lines))
        more = f" and {self.count - len(self.lines):,} more" if self.count > len(self.lines) else ""
        return f"{'line' if self.count == 1 else 'lines'} {shown}{more}"


def utf8_looking_lines(path: Path, legacy: str, chunk_bytes: int) -> LinesFound:
    """The lines of a file that read as UTF-8 rather than as ``legacy`` (``reads_as_utf8``)."""
    found = LinesFound()
    numbers = _LineNumbers(path, chunk_bytes)
    for block, offset in _line_blocks(path, chunk_bytes):
        # One translate instead of two replaces (CRLF, CR); line numbers are counted in the
        # block itself, only where a line is found, from the previous one on (linear).
        text = b"\n" + block.translate(_CR_TO_LF) + b"\n"
        counted, number = 0, 0
        for match in _UTF8_SHAPED_LINE.finditer(text):
            line = match.group()[1:]
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if reads_as_utf8(line, legacy):
                # The line starts at block[start]: after a whole line break (an LF, a CR or a
                # CRLF's LF — a CRLF's CR is followed by its LF, which no line starts with).
                start = match.start()
                number = (number or numbers.at(offset)) + _breaks(block[counted:start])
                counted = start
                found.add(number, line)
    return found


# Blocks of the two-byte UTF-8 range (U+0080-U+07FF) by first code point: a word stays in one.
_SCRIPT_STARTS = (0x80, 0xA0, 0xC0, 0x250, 0x300, 0x370, 0x400, 0x530, 0x590, 0x600, 0x700, 0x750, 0x780, 0x7C0)
_SCRIPTS = ("c1-control", "symbol", "latin", "ipa", "combining", "greek", "cyrillic", "armenian", "hebrew",
            "arabic", "syriac", "arabic", "thaana", "nko")  # fmt: skip
# Marks and Latin-1 symbols sit next to letters of any script (é as e + U+0301, «Zoë», ·Иван).
_NEUTRAL = frozenset({"symbol", "combining"})
# The two-byte characters names and addresses are written with: Latin-1, Latin Extended-A, the
# Extended-B letters of pinyin, Vietnamese and Romanian, combining accents, Greek, Cyrillic
# (with Ukrainian ґ and the Kazakh letters), Armenian, Hebrew letters and all of Arabic (Uyghur).
_EVERYDAY_RANGES = (
    (0xA0, 0x17F), (0x1A0, 0x1B0), (0x1CD, 0x1DC), (0x218, 0x21B), (0x300, 0x36F), (0x386, 0x3CE),
    (0x400, 0x45F), (0x490, 0x491), (0x492, 0x4E9), (0x531, 0x587), (0x5D0, 0x5EA), (0x600, 0x6FF),
)  # fmt: skip
_TWO_BYTE_LEADS = bytes(range(0xC2, 0xE0))
_CJK_PUNCTUATION = re.compile(r"[\u3000-\u303f\uff00-\uffef]")


@functools.cache
def _unusual_two_byte() -> frozenset[str]:
    everyday = {code for first, last in _EVERYDAY_RANGES for code in range(first, last + 1)}
    return frozenset(chr(code) for code in range(0x80, 0x800) if code not in everyday)


def _script(char: str) -> str:
    code = ord(char)
    if code >= 0x800:
        return "wide"
    return _SCRIPTS[bisect.bisect_right(_SCRIPT_STARTS, code) - 1]


def looks_misread(text: str) -> bool:
    """What text in another encoding read as UTF-8 has and words do not (Łódź, мило, Ζωή, José):
    a two-byte character no name or address uses (ƽ, ӷ, ֣), or two adjacent non-ASCII characters
    of different scripts (лΰ: Cyrillic then Greek)."""
    if not _unusual_two_byte().isdisjoint(text):
        return True
    before = None
    for char in text:
        script = None if char.isascii() else _script(char)
        if before and script and script not in _NEUTRAL and script != before:
            return True
        if script not in _NEUTRAL:
            before = script
    return False


def reads_as_legacy(line: bytes) -> bool:
    """A valid UTF-8 line that is really GBK or Big5 text (郑伟 in GBK is valid UTF-8: ֣ΰ):
    its UTF-8 reading holds no common Chinese character and looks misread, while a legacy
    reading is common Chinese characters (and CJK punctuation) only."""
    text = line.decode("utf-8")
    if common_hanzi_count(text) or not looks_misread(text):
        return False
    for name, codec in LEGACY_CODECS.items():
        try:
            reading = line.decode(codec)
        except UnicodeDecodeError:
            continue
        common = common_hanzi_count(reading, name)
        other = sum(not c.isascii() for c in _CJK_PUNCTUATION.sub("", reading)) - common
        if common and not other:
            return True
    return False


@functools.cache
def _suspect_line() -> re.Pattern[str]:
    """A whole line (after a \n) holding a two-byte character and no common Chinese character."""
    ranges: list[list[int]] = []
    for code in sorted(_common_hanzi("either")):
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    common = "".join(f"{chr(first)}-{chr(last)}" for first, last in ranges)
    # The first run stops at the line's first two-byte character and the second at its end, so
    # both repeats are possessive (no re-trying of a line that fails).
    return re.compile(f"\n[^\n{common}\u0080-\u07ff]*+[\u0080-\u07ff][^\n{common}]*+(?=\n)")


def legacy_looking_lines(path: Path, chunk_bytes: int) -> LinesFound:
    """The lines of a valid UTF-8 file that are GBK or Big5 text (``reads_as_legacy``). Only a
    line holding a two-byte UTF-8 character and no common Chinese character can be; Chinese
    text is three-byte, so most blocks are passed over after one ``bytes.translate``."""
    found = LinesFound()
    numbers = _LineNumbers(path, chunk_bytes)
    for block, offset in _line_blocks(path, chunk_bytes):
        if len(block.translate(None, _TWO_BYTE_LEADS)) == len(block):
            continue
        text = "\n" + _lf_lines(block).decode("utf-8-sig" if offset == 0 else "utf-8")
        for match in _suspect_line().finditer(text):
            line = match.group()[1:].encode("utf-8")
            if reads_as_legacy(line):
                found.add(numbers.at(offset) + text.count("\n", 1, match.start() + 1), line)
    return found


def non_ascii_lines(path: Path, chunk_bytes: int) -> int:
    return sum(len(_NON_ASCII_LINE.findall(b"\n" + _lf_lines(block))) for block, _ in _line_blocks(path, chunk_bytes))


def _error_at(line: bytes, codec: str) -> int | None:
    """Where ``line`` stops being valid in ``codec`` (None: it is valid)."""
    try:
        codecs.decode(line, codec)
    except UnicodeDecodeError as error:
        return error.start
    return None


def is_text_in_no_encoding(line: bytes) -> bool:
    """Neither UTF-8, GB18030 nor Big5 reads this line: binary content or a damaged file."""
    return all(_error_at(line, codec) is not None for codec in ("utf-8", *LEGACY_CODECS.values()))


def looks_like(line: bytes) -> str:
    """The legacy encoding a line that is not UTF-8 reads best in."""
    readings = {}
    for name, codec in LEGACY_CODECS.items():
        try:
            readings[name] = _plausibility(line.decode(codec), name)
        except UnicodeDecodeError:
            continue
    return max(readings, key=readings.__getitem__, default="gb18030")


@dataclass
class Census:
    """Every non-ASCII line of a file by kind, and where the first binary line stops being UTF-8."""

    utf8: LinesFound = field(default_factory=LinesFound)
    legacy: LinesFound = field(default_factory=LinesFound)
    binary: LinesFound = field(default_factory=LinesFound)
    binary_byte: int = 0


def census(path: Path, legacy: str, chunk_bytes: int) -> Census:
    """Each non-ASCII line as UTF-8, as ``legacy`` (or another legacy codec) or as no text at
    all; a valid UTF-8 line that reads as neither (José) is counted in no kind."""
    found = Census()
    number = 1
    for block, offset in _line_blocks(path, chunk_bytes):
        for match in _RAW_LINE.finditer(block):
            line = match.group().rstrip(b"\r\n")
            if not line.isascii():
                utf8_error = _error_at(line, "utf-8")
                if utf8_error is None:
                    if reads_as_utf8(line, legacy):
                        found.utf8.add(number, line)
                    elif reads_as_legacy(line):  # GBK that happens to be valid UTF-8
                        found.legacy.add(number, line)
                elif is_text_in_no_encoding(line):
                    if not found.binary.count:
                        found.binary_byte = offset + match.start() + utf8_error
                    found.binary.add(number, line)
                else:
                    found.legacy.add(number, line)
            number += 1
    return found


def binary_reason(byte: int, line: int) -> str:
    return (
        f"binary content at byte {byte} (line {line}): not valid UTF-8, GB18030 or Big5 text "
        "(a damaged file, or data appended to it?)"
    )


def not_utf8_reason(lines: LinesFound) -> str:
    """Lines in a legacy encoding inside a UTF-8 file."""
    they = "it looks" if lines.count == 1 else "they look"
    like = LEGACY_NAMES[looks_like(lines.first)]
    return f"{lines.named()}: not UTF-8 like the rest of the file ({they} like {like}); {ONE_ENCODING}"


def utf8_reason(lines: LinesFound, legacy: str) -> str:
    """UTF-8 lines inside a file in a legacy encoding (``--encoding`` overrides detection)."""
    name = LEGACY_NAMES[legacy]
    return (
        f"{lines.named()}: UTF-8, unlike the rest of the file ({name}); {ONE_ENCODING}, "
        f"or import it with --encoding {legacy} if those lines read right as {name}"
    )


def mixed_reason(found: Census, legacy: str, utf8_file: bool = False) -> str:
    """Why a file whose lines are not all in one encoding is refused, naming the lines of the
    smaller kind (the lines that are not UTF-8 when ``utf8_file``: it starts with a UTF-8 BOM)."""
    if found.binary.count and (utf8_file or found.legacy.count == 0):
        return binary_reason(found.binary_byte, found.binary.lines[0])
    if utf8_file or found.legacy.count <= found.utf8.count:
        return not_utf8_reason(found.legacy)
    return utf8_reason(found.utf8, legacy)
