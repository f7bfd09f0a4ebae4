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
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from cdp_pipeline.errors import FileRejected
from cdp_pipeline.settings import CONTRACTS_DIR

KEY_FIELDS = ("customer_id", "mobile", "email")


def header_key(header: str) -> str:
    """Headers compare trimmed, case-insensitively and without inner spaces."""
    return re.sub(r"[\s\u3000\ufeff]+", "", header).lower()


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

    @classmethod
    def load(cls, config_file: Path | None = None) -> Catalogue:
        base = _read_yaml(CONTRACTS_DIR / "field_catalogue.yaml")
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
        return cls(
            fields=base["fields"],
            identity_types=identity_types,
            custom_attributes=tuple(custom),
            aliases=aliases,
            refused=frozenset(header_key(h) for h in base["refused"]),
        )

    @property
    def known_headers(self) -> frozenset[str]:
        """Every header this catalogue recognises (mapped or refused), in ``header_key`` form."""
        return frozenset(self.aliases) | self.refused


@cache
def _read_yaml_cached(path: str, mtime: float) -> dict:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}


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
    """Map headers through the catalogue; reject a file that has no key column."""
    fields: dict[str, int] = {}
    identities: dict[str, int] = {}
    attributes: dict[str, int] = {}
    refused: list[str] = []
    unknown: list[str] = []
    targets = {"field": fields, "identity": identities, "attribute": attributes}
    for position, header in enumerate(headers):
        key = header_key(header)
        if not key:
            unknown.append(f"(column {position + 1} has no header)")
            continue
        if key in catalogue.refused:
            refused.append(header.strip())
            continue
        if key not in catalogue.aliases:
            unknown.append(header.strip())
            continue
        kind, name = catalogue.aliases[key]
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
