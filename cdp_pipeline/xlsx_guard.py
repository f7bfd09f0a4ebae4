"""A workbook's ZIP and XML checked before its native reader sees them (issue 14 item 7).

calamine (python-calamine) trusts what a workbook says: it buffers whole XML events, reserves
the shared strings ``uniqueCount`` declares and fills the bounding box of a sheet's cells, so a
2 KB workbook with one cell at CV1048576 took 6.3 GB and one at XFD1048576 or with
``uniqueCount="2147483648"`` aborted the process. ``check_workbook`` streams the parts calamine
reads through ``zipfile`` (which decompresses no more than a part declares, and checks its CRC)
and refuses, naming the part and the bound of ``XlsxLimits``:

* a ZIP with too many entries or duplicate names, or a part larger (uncompressed) or expanding
  more than the limits allow, whether its header declares it or its bytes show it;
* a stretch of XML without markup longer than any cell can be (a padded or one-string bomb);
* a ``uniqueCount`` far beyond the strings sharedStrings.xml holds;
* a sheet whose bounding box is far larger than its cells justify (stray cells far away).

A small sheet is scanned for its cell references; a large one is taken at the ``<dimension>``
spreadsheet programs write, unless that is missing or too sparse. Before a box is refused, its
cells are placed exactly as calamine places them. What a forged large sheet could still hide is
bounded by the reading process's memory cap (``reader_memory_bytes``).
"""

from __future__ import annotations

import posixpath
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from cdp_pipeline.errors import FileRejected
from cdp_pipeline.settings import XlsxLimits

WORKBOOK = "xl/workbook.xml"
WORKBOOK_RELS = "xl/_rels/workbook.xml.rels"
_DIMENSION = re.compile(rb'<dimension\s+ref="(?:[A-Z]{1,3}[0-9]{1,7}:)?([A-Z]{1,3})([0-9]{1,7})"')
_UNIQUE_COUNT = re.compile(rb'<(?:[A-Za-z_][\w.-]*:)?sst\b[^>]*?\suniqueCount="([0-9]+)"')
_CELL_REF = re.compile(rb'<c r="([A-Za-z]+)([0-9]+)"')
# A cell tag whose first attribute is not r (or that has none), or one with a namespace prefix:
# placed by position or easily missed, so such a sheet is looked at tag by tag.
_UNPLACED_CELL = re.compile(rb'<c(?:[>/]|\s(?!r="))')
_PREFIXED_CELL = re.compile(rb"<[A-Za-z_][\w.-]*:c[\s/>]")
# Row and cell tags, to place cells exactly as calamine does (next_cell in its cells_reader).
_TAG = re.compile(rb"<(/?)(?:[A-Za-z_][\w.-]*:)?(row|c)(?=[\s/>])([^>]*?)(/?)>")
_R_ATTRIBUTE = re.compile(rb'\sr="([^"]*)"')
_REF = re.compile(rb"([A-Za-z]+)([0-9]+)")
_ROW_NUMBER = re.compile(rb"[0-9]+")
_SMALLEST_CELL_BYTES = 16  # <c r="A1"><v>1</v></c> is 22


def _size(count: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if count >= 1 << shift:
            return f"{count / (1 << shift):.1f}".removesuffix(".0") + f" {unit}"
    return f"{count:,} bytes"


def column_letters(number: int) -> str:
    """1 → A, 100 → CV, 16384 → XFD."""
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def column_number(letters: bytes) -> int:
    """A → 1, XFD → 16384 (small letters too, as calamine reads them)."""
    number = 0
    for letter in letters.upper():
        number = number * 26 + letter - ord("A") + 1
    return number


@dataclass(frozen=True)
class SheetBox:
    """Cells holding a value (at most), and the bounding box the reader fills."""

    cells: int
    rows: int
    columns: int
    far_row: str  # a reference on the last row, and one in the last column
    far_column: str

    @property
    def size(self) -> int:
        return self.rows * self.columns


@dataclass
class WorkbookChecked:
    """What the checks read: the bytes of each part the reader will load (its memory cap grows
    with them)."""

    part_bytes: dict[str, int] = field(default_factory=dict)

    @property
    def xml_bytes(self) -> int:
        return sum(self.part_bytes.values())


def _chunks(
    path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: XlsxLimits, checked: WorkbookChecked
) -> Iterator[bytes]:
    """A part's bytes as they decompress, bounded whatever its header declares. Chunks are half
    the longest allowed run without markup, so a longer run fills a whole chunk."""
    chunk_bytes = max(limits.max_xml_run_bytes // 2, 1)
    name, total = info.filename, 0
    try:
        with archive.open(info) as stream:
            while piece := stream.read(chunk_bytes):
                total += len(piece)
                if total > limits.max_part_bytes:
                    raise FileRejected(path, _too_large(name, total, limits, "at least "))
                if total > limits.expansion_floor_bytes and total > limits.max_expansion * max(info.compress_size, 1):
                    raise FileRejected(path, _expands(name, total, info.compress_size, limits))
                if len(piece) == chunk_bytes and b"<" not in piece:
                    raise FileRejected(
                        path,
                        f"{name} holds more than {_size(limits.max_xml_run_bytes)} without markup, longer than "
                        "any cell (32,767 characters): not a workbook a spreadsheet program writes",
                    )
                yield piece
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as error:
        raise FileRejected(path, f"unreadable XLSX (damaged workbook): {name}: {error}") from None
    checked.part_bytes[name] = total


def _blocks(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The XML in blocks that end before a ``<``: every tag in a block is whole."""
    carry = b""
    for chunk in chunks:
        data = carry + chunk
        cut = data.rfind(b"<")
        if cut <= 0:
            carry = data
            continue
        yield data[:cut]
        carry = data[cut:]
    if carry:
        yield carry


def _too_large(name: str, size: int, limits: XlsxLimits, at_least: str = "") -> str:
    return (
        f"{name} is {at_least}{_size(size)} uncompressed, more than the {_size(limits.max_part_bytes)} "
        "limit for one part of a workbook"
    )


def _expands(name: str, size: int, compressed: int, limits: XlsxLimits) -> str:
    return (
        f"{name} expands {size // max(compressed, 1):,} times ({_size(compressed)} to {_size(size)}), more than "
        f"the {limits.max_expansion} times workbook XML does: a ZIP bomb, not a workbook"
    )


def _check_entries(path: Path, archive: zipfile.ZipFile, limits: XlsxLimits) -> None:
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise FileRejected(
            path, f"{len(infos):,} parts in the ZIP, more than the {limits.max_entries:,} a workbook may have"
        )
    seen: set[str] = set()
    for info in infos:
        if info.filename in seen:
            raise FileRejected(path, f"the ZIP holds two parts named {info.filename}: not a workbook")
        seen.add(info.filename)
        if info.file_size > limits.max_part_bytes:
            raise FileRejected(path, _too_large(info.filename, info.file_size, limits))
        floor, most = limits.expansion_floor_bytes, limits.max_expansion * max(info.compress_size, 1)
        if info.file_size > floor and info.file_size > most:
            raise FileRejected(path, _expands(info.filename, info.file_size, info.compress_size, limits))


def _parsed(data: bytes) -> ElementTree.Element | None:
    """A small XML part (the workbook, its relationships) parsed; None when unusable. OOXML has
    no DTD: a part with one is not parsed at all, so no entity is ever expanded."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return None
    try:
        return ElementTree.fromstring(data)
    except ElementTree.ParseError:
        return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def sheet_parts(read: Callable[[str], bytes], names: set[str]) -> list[tuple[str, str]]:
    """(sheet name, part) in workbook order, from the workbook and its relationships; the
    worksheet parts by name when those cannot be read."""
    fallback = [(name, name) for name in sorted(names) if re.fullmatch(r"xl/worksheets/[^/]+\.xml", name)]
    if WORKBOOK_RELS not in names:
        return fallback
    workbook, rels = _parsed(read(WORKBOOK)), _parsed(read(WORKBOOK_RELS))
    if workbook is None or rels is None:
        return fallback
    targets = {}
    for relation in rels.iter():
        target = relation.get("Target", "")
        if _local(relation.tag) == "Relationship" and relation.get("Id") and target:
            targets[relation.get("Id")] = (
                target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
            )
    found = []
    for sheet in workbook.iter():
        relation = next((value for key, value in sheet.attrib.items() if _local(key) == "id"), None)
        if _local(sheet.tag) == "sheet" and relation in targets:
            found.append((sheet.get("name", targets[relation]), targets[relation]))
    return found or fallback


def _check_shared_strings(path: Path, blocks: Iterator[bytes], name: str, limits: XlsxLimits) -> None:
    declared, held = None, 0
    for block in blocks:
        if declared is None and (found := _UNIQUE_COUNT.search(block)):
            declared = int(found.group(1))
        held += block.count(b"<si>") + block.count(b"<si ") + block.count(b":si>") + block.count(b":si ")
    if declared is not None and declared > held + limits.max_missing_strings:
        raise FileRejected(
            path, f"{name} declares {declared:,} strings (uniqueCount) but holds {held:,}: a damaged or forged workbook"
        )


def _declared_box(blocks: Iterator[bytes], size: int) -> SheetBox | None:
    """The box a sheet's ``<dimension>`` declares (None: it has none), the part read to its end
    for the size and markup checks. It holds at most as many cells as its bytes allow."""
    declared = None
    for block in blocks:
        if declared is None and (found := _DIMENSION.search(block)):
            ref = f"{found.group(1).decode()}{int(found.group(2))}"
            declared = SheetBox(
                size // _SMALLEST_CELL_BYTES, int(found.group(2)), column_number(found.group(1)), ref, ref
            )
    return declared


def _ref_box(blocks: Iterator[bytes]) -> SheetBox | None:
    """The box of the cells' references, when every cell tag starts with its ``r`` (as every
    writer writes them); None when one does not. Self-closing cells count: an upper bound."""
    cells = last_row = last_column = 0
    far_row = far_column = ""
    for block in blocks:
        if _UNPLACED_CELL.search(block) or (b":c" in block and _PREFIXED_CELL.search(block)):
            return None
        refs = _CELL_REF.findall(block)
        cells += len(refs)
        if not refs:
            continue
        letters, numbers = zip(*refs, strict=True)
        row = max(set(numbers), key=int)
        if int(row) > last_row:
            last_row, far_row = int(row), (letters[numbers.index(row)] + row).decode()
        column = max(set(letters), key=column_number)
        if column_number(column) > last_column:
            last_column, far_column = column_number(column), (column + numbers[letters.index(column)]).decode()
    return SheetBox(cells, last_row, last_column, far_row, far_column)


def _exact_box(blocks: Iterator[bytes]) -> SheetBox:
    """Cells placed as calamine places them: a row's ``r`` sets the row and ``</row>`` moves to
    the next; a cell's ``r`` sets its place, else it follows the previous cell. Self-closing
    cells hold no value and are skipped, as the reader skips them."""
    row = column = cells = 0
    last_row = last_column = -1
    far_row = far_column = ""
    for block in blocks:
        for closing, name, attributes, empty in _TAG.findall(block):
            if name == b"row":
                if closing:
                    row, column = row + 1, 0
                elif not empty and (found := _R_ATTRIBUTE.search(attributes)):
                    number = _ROW_NUMBER.fullmatch(found.group(1))
                    row = int(number.group()) - 1 if number else row
                continue
            if closing or empty:
                continue
            found = _R_ATTRIBUTE.search(attributes)
            ref = _REF.fullmatch(found.group(1)) if found else None
            if ref:
                place = (int(ref.group(2)) - 1, column_number(ref.group(1)) - 1)
            elif found:
                continue  # calamine refuses a reference it cannot read
            else:
                place = (row, column)
            column = place[1] + 1
            cells += 1
            where = f"{column_letters(place[1] + 1)}{place[0] + 1}"
            if place[0] > last_row:
                last_row, far_row = place[0], where
            if place[1] > last_column:
                last_column, far_column = place[1], where
    return SheetBox(cells, last_row + 1, last_column + 1, far_row, far_column)


def _too_sparse(box: SheetBox, limits: XlsxLimits) -> bool:
    return box.size > limits.max_cells_per_value * box.cells + limits.cell_floor


def sheet_box(blocks: Callable[[], Iterator[bytes]], size: int, limits: XlsxLimits) -> SheetBox:
    """The box the reader would fill for a sheet of ``size`` bytes (``blocks`` reads it again)."""
    if size > limits.exact_scan_bytes:
        box = _declared_box(blocks(), size)
        if box is not None and not _too_sparse(box, limits):
            return box
    box = _ref_box(blocks())
    if box is None or _too_sparse(box, limits):
        box = _exact_box(blocks())
    return box


def _sparse_reason(name: str, box: SheetBox, limits: XlsxLimits) -> str:
    far = box.far_row if box.far_row == box.far_column else f"{box.far_row} and {box.far_column}"
    return (
        f"sheet {name!r} holds {box.cells:,} cells but reaches {far}: reading it means filling "
        f"{box.columns:,} columns × {box.rows:,} rows ({box.size:,} cells, more than {limits.max_cells_per_value} "
        "per cell of data); delete the stray cells far from the data (or the rows and columns after it) and save again"
    )


def check_workbook(path: Path, sheet: str | None, limits: XlsxLimits) -> WorkbookChecked:
    """Refuse a workbook that would make the reader use memory its content does not justify.
    A file that is no readable ZIP is left to the reader, whose message says what is damaged."""
    checked = WorkbookChecked()
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        return checked
    with archive:
        _check_entries(path, archive, limits)
        names = set(archive.namelist())
        if WORKBOOK not in names:
            return checked

        def blocks_of(name: str) -> Callable[[], Iterator[bytes]]:
            return lambda: _blocks(_chunks(path, archive, archive.getinfo(name), limits, checked))

        for name in sorted(names):
            if name.lower().endswith("sharedstrings.xml"):
                _check_shared_strings(path, blocks_of(name)(), name, limits)
            elif name.lower().endswith("styles.xml"):
                for _ in blocks_of(name)():
                    pass
        sheets = sheet_parts(lambda name: b"".join(blocks_of(name)()), names)
        # The reader loads sheets in order until one has a header (or loads the one asked for).
        for name, part in [(n, p) for n, p in sheets if n == sheet] if sheet else sheets:
            if part not in names:
                continue
            box = sheet_box(blocks_of(part), archive.getinfo(part).file_size, limits)
            if _too_sparse(box, limits):
                raise FileRejected(path, _sparse_reason(name, box, limits))
            if box.cells:
                break
    return checked
