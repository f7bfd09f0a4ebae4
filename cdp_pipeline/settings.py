"""Where state lives (``CDP_HOME``) and the settings of one import."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Literal, TypeVar, get_args, get_origin, get_type_hints

S = TypeVar("S")


def cdp_home() -> Path:
    """``$CDP_HOME``, defaulting to ``./.cdp`` (relative to the working directory)."""
    return Path(os.environ.get("CDP_HOME") or ".cdp").resolve()


@dataclass(frozen=True)
class CdpPaths:
    """The ``CDP_HOME`` layout: one warehouse, one inbox per kind, archive and failure files."""

    home: Path

    @classmethod
    def from_env(cls) -> CdpPaths:
        return cls(cdp_home())

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def config_file(self) -> Path:
        return self.home / "cdp.yaml"

    def inbox(self, kind: str) -> Path:
        return self.home / "inbox" / kind

    @property
    def archive(self) -> Path:
        return self.home / "archive"

    @property
    def failures(self) -> Path:
        return self.home / "failures"

    @property
    def work(self) -> Path:
        """Scratch files (transcoded copies) that an import deletes when it ends."""
        return self.home / "work"

    @property
    def dagster_home(self) -> Path:
        return Path(os.environ.get("DAGSTER_HOME") or self.home / "dagster")

    def ensure(self) -> CdpPaths:
        """The layout's folders, each created owner-only (0700) when missing."""
        from cdp_pipeline.owner_only import make_owner_folder

        for folder in (self.inbox("customers"), self.inbox("tmall"), self.archive, self.failures, self.work):
            make_owner_folder(folder)
        return self


Encoding = Literal["auto", "utf-8", "gb18030", "big5"]
SourcePolicy = Literal["new-only", "all"]
Mode = Literal["normal", "fast"]


# --- the settings models: each kind's settings are declared here once, and the CLI flags, the
# Dagster run config and the sidecar schema are all derived from the model (``setting_fields``).


def setting(default: object, help: str | None = None, *, flag: str | None = None, metavar: str | None = None):
    """A settings-model field with what the CLI says of it; its flag is ``--field-name`` unless given."""
    return field(default=default, metadata={"help": help, "flag": flag, "metavar": metavar})


SettingShape = Literal["tags", "text", "choice"]
"""The value types a setting may have: ``tuple[str, ...]`` (a repeatable flag, a list in run
config and sidecar), ``str | None`` (optional text) and a ``Literal`` of text choices."""


@dataclass(frozen=True)
class SettingField:
    """One field of a settings model, as every surface (CLI flag, run config, sidecar key) sees it."""

    name: str
    shape: SettingShape
    annotation: object
    default: object
    choices: tuple[str, ...]
    help: str | None
    flag: str
    metavar: str | None


def _shape(model: type, name: str, annotation: object) -> SettingShape:
    if get_origin(annotation) is Literal:
        return "choice"
    if annotation == tuple[str, ...]:
        return "tags"
    if annotation == str | None:
        return "text"
    raise TypeError(f"{model.__name__}.{name}: a setting is tuple[str, ...], str | None or a Literal, not {annotation}")


def setting_fields(model: type) -> tuple[SettingField, ...]:
    """The fields of a settings model (a frozen dataclass built with ``setting``), in declared order."""
    hints = get_type_hints(model)
    return tuple(
        SettingField(
            name=f.name,
            shape=_shape(model, f.name, hints[f.name]),
            annotation=hints[f.name],
            default=f.default,
            choices=get_args(hints[f.name]) if get_origin(hints[f.name]) is Literal else (),
            help=f.metadata.get("help"),
            flag=f.metadata.get("flag") or "--" + f.name.replace("_", "-"),
            metavar=f.metadata.get("metavar"),
        )
        for f in fields(model)
    )


def plain_setting_values(settings: object) -> dict[str, object]:
    """A settings object as plain values (tags as a list), as run config and JSON hold them."""
    values = asdict(settings)
    return {
        f.name: list(values[f.name]) if f.shape == "tags" else values[f.name] for f in setting_fields(type(settings))
    }


def settings_from_values(model: type[S], values: Mapping[str, object]) -> S:
    """The settings object of ``model`` from plain values (tags a list or tuple) keyed by field name."""
    return model(
        **{f.name: tuple(values[f.name]) if f.shape == "tags" else values[f.name] for f in setting_fields(model)}
    )


@dataclass(frozen=True)
class CustomerImportSettings:
    """What the team chooses for one customer import (CLI flags, run config or sidecar)."""

    tags: tuple[str, ...] = setting(
        (), "tag every imported customer (repeatable; created as a static tag if missing)", flag="--tag", metavar="NAME"
    )
    group: str | None = setting(None, "add every imported customer to this static group (created if missing)")
    initial_source: str | None = setting(None)
    initial_source_content: str | None = setting(None)
    campaign: str | None = setting(None)
    source_policy: SourcePolicy = setting(
        "new-only", "initial source fields for new customers only, or for existing ones too"
    )
    mode: Mode = setting("normal", "normal records timeline events; fast records none")
    encoding: Encoding = setting("auto")
    sheet: str | None = setting(None, "XLSX sheet to read (default: the first non-empty one)")


@dataclass(frozen=True)
class TmallImportSettings:
    """What the team chooses for one Tmall export import (CLI flags, run config or sidecar)."""

    tags: tuple[str, ...] = setting(
        (), "tag the customers of imported orders (repeatable)", flag="--tag", metavar="NAME"
    )
    group: str | None = setting(None, "add the customers of imported orders to this static group")
    encoding: Encoding = setting("auto")


@dataclass(frozen=True)
class XlsxLimits:
    """What an XLSX file may hold before its native reader (calamine) sees it. A workbook is a
    ZIP of XML parts: a few kilobytes can declare gigabytes of XML, a cell at XFD1048576 (which
    makes the reader allocate every cell up to it) or 2^31 shared strings. Each bound is refused
    with the part, its size and the limit (``cdp_pipeline.xlsx_guard``)."""

    # One part of the ZIP, uncompressed: Excel writes about 430 bytes per row of eleven cells,
    # so this holds Excel's 1,048,576 rows.
    max_part_bytes: int = 512 << 20
    # Workbook XML compresses 5-20 times; a part expanding more than this (once over
    # ``expansion_floor_bytes``) is a ZIP bomb, not a workbook.
    max_expansion: int = 100
    expansion_floor_bytes: int = 16 << 20
    max_entries: int = 10_000
    # No cell holds more than 32,767 characters, so no stretch of XML without markup is longer.
    max_xml_run_bytes: int = 1 << 20
    # The reader fills every cell of a sheet's bounding box: a box beyond this many cells per
    # cell holding a value (plus the floor) is stray cells far from the data.
    max_cells_per_value: int = 16
    cell_floor: int = 1 << 20
    # A sharedStrings.xml may declare (uniqueCount) this many strings more than it holds.
    max_missing_strings: int = 1_000_000
    # A sheet part up to this size has its cell references scanned; a larger one is taken at
    # the <dimension> spreadsheet programs write, unless that is missing or too sparse.
    exact_scan_bytes: int = 16 << 20
    # Memory (data segment) of the process that reads a workbook: a floor, plus so much per
    # byte of the XML it loads (the reader and the cells it builds take up to about 20 times
    # their XML), never more than the most. An allocation beyond it ends that process, whose
    # signal is reported as the file's fault, never the import unreported.
    reader_memory_floor_bytes: int = 512 << 20
    reader_memory_per_xml_byte: int = 48
    reader_memory_bytes: int = 8 << 30

    def reader_memory(self, xml_bytes: int) -> int:
        return min(
            self.reader_memory_bytes, self.reader_memory_floor_bytes + self.reader_memory_per_xml_byte * xml_bytes
        )


XLSX_LIMITS = XlsxLimits()
