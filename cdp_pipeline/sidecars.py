"""Sidecars: the settings of one inbox file, dropped beside it as ``<file>.yaml``, ``.yml`` or
``.json`` (SPEC §2, §7).

Whoever can drop a file in the inbox writes its sidecar, so a sidecar is read as untrusted text:
at most ``MAX_SIDECAR_BYTES``, UTF-8, never through a link, and plain YAML — a mapping of known
settings with plain values, no aliases, anchors or tags (an alias bomb of a few hundred bytes
expands to billions of nodes once something walks it). Anything else is a ``SidecarError``
naming the sidecar, and it fails only its own file.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from cdp_pipeline.masking import mask_text
from cdp_pipeline.settings import CustomerImportSettings, TmallImportSettings, setting_fields

SIDECAR_SUFFIXES = (".yaml", ".yml", ".json")
MAX_SIDECAR_BYTES = 64 * 1024
QUOTED_VALUE_CHARS = 60


class SidecarError(ValueError):
    """A sidecar that cannot be used: the message names it and says why, without quoting it."""

    def __init__(self, sidecar: Path, reason: str) -> None:
        self.path = Path(sidecar)
        self.reason = mask_text(reason)
        super().__init__(f"{self.path.name}: {self.reason}")


class _Refused(Exception):
    """Raised inside the YAML loader; becomes a SidecarError once the sidecar's name is known."""


def sidecar_names(path: Path) -> list[Path]:
    """The paths a sidecar of ``path`` may have, whether they exist or not."""
    return [path.with_name(path.name + suffix) for suffix in SIDECAR_SUFFIXES]


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return path.lstat()
    except FileNotFoundError:
        return None


def sidecar_look(path: Path) -> list[list]:
    """What is at ``path``'s sidecar names (links and folders included, never followed): name,
    size, mtime and inode of each, so a sidecar that changes changes the look."""
    found = [(name, _lstat(name)) for name in sidecar_names(path)]
    return [[name.name, info.st_size, info.st_mtime_ns, info.st_ino] for name, info in found if info is not None]


def sidecars_beside(path: Path) -> list[Path]:
    """The sidecar files beside ``path`` that travel with it: regular files, not links."""
    return [name for name in sidecar_names(path) if (info := _lstat(name)) is not None and stat.S_ISREG(info.st_mode)]


def _read_bounded(sidecar: Path) -> bytes:
    """The sidecar's bytes, never through a link nor blocking on a pipe, refused past the bound."""
    found = _lstat(sidecar)
    if found is not None and stat.S_ISLNK(found.st_mode):
        raise SidecarError(sidecar, "is a symbolic link; a sidecar must be a file in the inbox itself")
    try:
        # O_NOFOLLOW: a link put there since the look above is refused too
        fd = os.open(sidecar, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise SidecarError(sidecar, f"cannot be read ({error.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SidecarError(sidecar, "is not a regular file")
        chunks, size = [], 0
        while size <= MAX_SIDECAR_BYTES and (chunk := os.read(fd, MAX_SIDECAR_BYTES + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > MAX_SIDECAR_BYTES:
        raise SidecarError(sidecar, f"is larger than {MAX_SIDECAR_BYTES // 1024} KiB")
    return b"".join(chunks)


class PlainYamlLoader(yaml.SafeLoader):
    """YAML that is only what it says: no aliases, anchors or tags, no key given twice."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(f"uses a YAML alias (line {line}); sidecars are plain YAML: write the value out")
        if getattr(event, "anchor", None) is not None:
            raise _Refused(f"uses a YAML anchor (line {line}); sidecars are plain YAML")
        if getattr(event, "tag", None) is not None:
            raise _Refused(f"uses a YAML tag (line {line}); sidecars are plain YAML")
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise _Refused(f"gives {_quoted(key.value)} twice (line {key.start_mark.line + 1})")
                seen.add(key.value)
        return super().construct_mapping(node, deep)


def _json_object(pairs: list[tuple[str, object]]) -> dict:
    mapping = dict(pairs)
    if len(mapping) != len(pairs):
        raise _Refused("gives a key twice")
    return mapping


def _parse(sidecar: Path, text: str) -> object:
    try:
        if sidecar.suffix == ".json":
            return json.loads(text, object_pairs_hook=_json_object)
        return yaml.load(text, Loader=PlainYamlLoader)  # a SafeLoader, stricter still
    except _Refused as refused:
        raise SidecarError(sidecar, str(refused)) from None
    except RecursionError:
        raise SidecarError(sidecar, "is nested too deeply") from None
    except json.JSONDecodeError as error:
        # the position, not the text: the message must not quote the file
        raise SidecarError(sidecar, f"is not valid JSON ({error.msg} at line {error.lineno})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "unreadable"
        raise SidecarError(sidecar, f"is not valid YAML ({problem}{where})") from None


def read_sidecar_file(sidecar: Path) -> dict[str, object]:
    """The settings in one sidecar file, keys with ``-`` read as ``_``; an empty file is none."""
    data = _read_bounded(sidecar)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SidecarError(sidecar, f"is not UTF-8 text (byte {error.start})") from None
    values = _parse(sidecar, text)
    if values is None:
        return {}
    if not isinstance(values, dict):
        shape = "a list" if isinstance(values, list) else "a single value"
        raise SidecarError(sidecar, f"must hold settings as `key: value` lines, not {shape}")
    settings: dict[str, object] = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise SidecarError(sidecar, f"has a setting name that is not text ({_quoted(key)})")
        name = key.replace("-", "_")
        if name in settings:
            raise SidecarError(sidecar, f"gives {name} twice")
        settings[name] = value
    return settings


def _quoted(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= QUOTED_VALUE_CHARS else text[:QUOTED_VALUE_CHARS] + "…")


# --- the settings each kind of import takes, checked one by one --------------------------------


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise _Refused(f'{name} must be text (quote it: {name}: "…"), not {type(value).__name__}')
    if not value.strip():
        raise _Refused(f"{name} is blank")
    return value


def _tags(name: str, value: object) -> tuple[str, ...]:
    tags = [value] if isinstance(value, str) else value
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise _Refused(f'{name} must be a tag or a list of tags, each text (quote numbers: {name}: ["2024"])')
    if not all(tag.strip() for tag in tags):
        raise _Refused(f"{name} holds a blank tag")
    return tuple(tags)


def _one_of(choices: tuple[str, ...]) -> Callable[[str, object], str]:
    def check(name: str, value: object) -> str:
        if value not in choices:
            raise _Refused(f"{name} must be one of {', '.join(choices)}, not {_quoted(value)}")
        return value

    return check


def _file_name(name: str, value: object) -> str:
    text = _text(name, value)
    if "/" in text or "\\" in text or "\0" in text or text in (".", ".."):
        raise _Refused(f"{name} must be the plain name of a file in the same inbox folder, not a path")
    return text


Check = Callable[[str, object], object]


def sidecar_checks(model: type) -> dict[str, Check]:
    """The sidecar keys of a settings model and the check of each: its fields, in order, as their
    types say (tags, text or one of the Literal's choices)."""
    checks: dict[str, Check] = {}
    for setting in setting_fields(model):
        if setting.shape == "tags":
            checks[setting.name] = _tags
        elif setting.shape == "choice":
            checks[setting.name] = _one_of(setting.choices)
        else:
            checks[setting.name] = _text
    return checks


CUSTOMER_SETTINGS = sidecar_checks(CustomerImportSettings)
# an order report's sidecar also names its item report, which is where the pair is, not a setting
TMALL_SETTINGS = {**sidecar_checks(TmallImportSettings), "items": _file_name}


def checked_settings(sidecar: Path, values: dict[str, object], known: dict[str, Check]) -> dict[str, object]:
    """``values`` with each known setting checked; an empty value (``key:``) is no setting."""
    checked = {}
    for name, value in values.items():
        if name not in known:
            raise SidecarError(sidecar, f"has an unknown setting {_quoted(name)} (known: {', '.join(known)})")
        if value is None:
            continue
        try:
            checked[name] = known[name](name, value)
        except _Refused as refused:
            raise SidecarError(sidecar, str(refused)) from None
    return checked


def the_sidecar(path: Path) -> Path | None:
    """The one sidecar beside ``path``, or None; a link or several sidecars are refused."""
    present = [name for name in sidecar_names(path) if _lstat(name) is not None]
    if len(present) > 1:
        raise SidecarError(present[0], f"is one of several sidecars ({', '.join(p.name for p in present)}): keep one")
    return present[0] if present else None


def sidecar_values(path: Path, known: dict[str, Check]) -> dict[str, object]:
    """The checked settings of ``path``'s sidecar ({} without one)."""
    sidecar = the_sidecar(path)
    return {} if sidecar is None else checked_settings(sidecar, read_sidecar_file(sidecar), known)


def customer_sidecar(path: Path) -> CustomerImportSettings:
    """The customer import settings the sidecar of ``path`` gives (the defaults without one)."""
    return CustomerImportSettings(**sidecar_values(path, CUSTOMER_SETTINGS))


@dataclass(frozen=True)
class TmallSidecar:
    """What an order report's sidecar gives: the import settings, and its item report's name."""

    settings: TmallImportSettings = TmallImportSettings()
    items: str | None = None


def tmall_sidecar(path: Path) -> TmallSidecar:
    values = sidecar_values(path, TMALL_SETTINGS)
    items = values.pop("items", None)
    return TmallSidecar(TmallImportSettings(**values), items)
