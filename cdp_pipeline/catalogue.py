"""Map a file's header row to customer fields, identities and custom attributes.

The catalogue (``data_contracts/field_catalogue.yaml``) knows the built-in fields; the team
declares its own identity types and attributes in ``$CDP_HOME/cdp.yaml`` before a file may use
them (SPEC §2), for example::

    identity_types:
      taobao_nick: {aliases: [淘宝昵称]}
    custom_attributes:
      vip_level: {aliases: [会员等级]}
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from cdp_pipeline.errors import FileRejected
from cdp_pipeline.masking import mask_text
from cdp_pipeline.resources import contract_text

KEY_FIELDS = ("customer_id", "mobile", "email")

# Import templates mark whether a column must be filled with a bracketed note (姓名（必填）,
# 手机号(必填), 邮箱(选填), 手机号（手机号和邮箱不能同时为空）, 地域（市级，非必填）, 自定义编号（可空）:
# sources in data_contracts/field_catalogue.yaml) or a * before or after the name (*手机号). A note
# counts as such a marker only when it says so: 金额(元) or 手机号(备用) keep their brackets, and
# stay unknown columns rather than being guessed.
_BRACKETED = re.compile(r"[(\[【]([^()\[\]【】]*)[)\]】]")
REQUIRED_OR_OPTIONAL = ("必填", "选填", "必选", "可选", "可空", "为空", "可不填", "required", "optional")


def _unless_marker(note: re.Match[str]) -> str:
    return "" if any(word in note.group(1) for word in REQUIRED_OR_OPTIONAL) else note.group(0)


def _visible(header: str) -> str:
    """NFKC (full-width letters, brackets and ＊ as ASCII), lower-cased, without white space or
    invisible format characters (zero-width spaces, BOMs, direction marks) anywhere."""
    folded = unicodedata.normalize("NFKC", header)
    return "".join(c for c in folded if not c.isspace() and unicodedata.category(c) != "Cf").lower()


def header_key(header: str) -> str:
    """The form headers compare in: visible characters only, and without the required/optional
    markers of import templates."""
    return _BRACKETED.sub(_unless_marker, _visible(header)).strip("*")


@dataclass(frozen=True)
class IdentityType:
    name: str
    case_sensitive: bool


@dataclass(frozen=True)
class Catalogue:
    fields: dict[str, dict]
    identity_types: dict[str, IdentityType]
    custom_attributes: tuple[str, ...]
    aliases: dict[str, tuple[str, str]]  # header_key -> (kind, name)
    refused: frozenset[str]
    # Names that may mean another thing (电话 may be a landline): they map only in a file without
    # a column its aliases name (see map_headers).
    fallback_aliases: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, config_file: Path | None = None) -> Catalogue:
        base = _field_catalogue()
        extra = _read_yaml(config_file) if config_file and config_file.exists() else {}
        aliases: dict[str, tuple[str, str]] = {}

        def register(kind: str, name: str, names: list[str]) -> None:
            for alias in [name, *names]:
                aliases.setdefault(header_key(str(alias)), (kind, name))

        for name, spec in base["fields"].items():
            register("field", name, spec.get("aliases", []))
        identity_specs = {**base["identity_types"], **(extra.get("identity_types") or {})}
        identity_types = {}
        for name, spec in identity_specs.items():
            spec = spec or {}
            identity_types[name] = IdentityType(name, bool(spec.get("case_sensitive", False)))
            register("identity", name, spec.get("aliases", []))
        custom = extra.get("custom_attributes") or {}
        for name, spec in custom.items():
            register("attribute", name, (spec or {}).get("aliases", []))
        # After every alias: a name the team declared in cdp.yaml (电话 as a landline attribute)
        # is no fallback any more.
        fallback_aliases = {
            header_key(str(alias)): ("field", name)
            for name, spec in base["fields"].items()
            for alias in spec.get("fallback_aliases", [])
            if header_key(str(alias)) not in aliases
        }
        return cls(
            fields=base["fields"],
            identity_types=identity_types,
            custom_attributes=tuple(custom),
            aliases=aliases,
            refused=frozenset(header_key(h) for h in base["refused"]),
            fallback_aliases=fallback_aliases,
        )

    @property
    def known_headers(self) -> frozenset[str]:
        """Every header this catalogue recognises (mapped or refused), in ``header_key`` form."""
        return frozenset(self.aliases) | frozenset(self.fallback_aliases) | self.refused


@cache
def _read_yaml_cached(path: str, mtime: float) -> dict:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}


@cache
def _field_catalogue() -> dict:
    return yaml.safe_load(contract_text("field_catalogue.yaml"))


def _read_yaml(path: Path) -> dict:
    return _read_yaml_cached(str(path), path.stat().st_mtime)


@dataclass(frozen=True)
class ColumnMapping:
    """Which column of the file feeds which field (0-based positions)."""

    fields: dict[str, int]
    identities: dict[str, int]
    attributes: dict[str, int]
    refused: tuple[str, ...]
    unknown: tuple[str, ...]

    @property
    def has_key_column(self) -> bool:
        return bool(self.identities) or any(f in self.fields for f in KEY_FIELDS)


def map_headers(headers: list[str], catalogue: Catalogue, path: Path) -> ColumnMapping:
    """Map headers through the catalogue; reject a file that has no key column.

    A fallback alias (电话) maps only when no column of the file has one of its field's aliases
    (手机号): then it is reported as an unknown column. Refused and unknown columns are listed
    as the file wrote them, masked like cells: a data row above the header makes its mobile,
    email and openid header names, and these lists are printed, stored in import_batches and
    shown in Dagster. (The failure file keeps the header row as it was, as it keeps the cells.)"""
    fields: dict[str, int] = {}
    identities: dict[str, int] = {}
    attributes: dict[str, int] = {}
    refused: list[str] = []
    unknown: list[str] = []
    targets = {"field": fields, "identity": identities, "attribute": attributes}
    keys = [header_key(header) for header in headers]
    named = {catalogue.aliases[key] for key in keys if key in catalogue.aliases}
    for position, (header, key) in enumerate(zip(headers, keys, strict=True)):
        if not _visible(header):
            unknown.append(f"(column {position + 1} has no header)")
            continue
        if key in catalogue.refused:
            refused.append(mask_text(header.strip()))
            continue
        target = catalogue.aliases.get(key)
        fallback = catalogue.fallback_aliases.get(key)
        if target is None and fallback is not None and fallback not in named:
            target = fallback
        if target is None:
            unknown.append(mask_text(header.strip()))
            continue
        kind, name = target
        if name in targets[kind]:
            first = headers[targets[kind][name]].strip()
            raise FileRejected(
                path, f"columns {first!r} and {header.strip()!r} (column {position + 1}) both map to {name}"
            )
        targets[kind][name] = position
    mapping = ColumnMapping(fields, identities, attributes, tuple(refused), tuple(unknown))
    if not mapping.has_key_column:
        raise FileRejected(
            path,
            "no key column: a customer file needs at least one of customer ID (客户ID), "
            "an identity (e.g. 微信openid), mobile (手机号码) or email (邮箱)",
        )
    return mapping
