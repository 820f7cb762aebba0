"""Column mappings: reading another layout into the contract without code.

A mapping (YAML, see ``docs/mapping.md``) says, per contract entity, which files
feed it and how each contract column is computed from the raw columns, as a DuckDB
SQL expression. Without a mapping the contract layout itself is read: one file per
entity (monthly entities may have one file per month), columns by name.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ingest.contract import ENTITIES, GROUND_TRUTH_DIR
from ingest.sources import CsvOptions, SourceError, file_kind

DEFAULT_REGION = "CN"
CONTRACT_FILE = re.compile(r"^(?P<entity>[a-z_]+?)(?:-(?P<month>\d{4}-\d{2}))?\.(?:csv|parquet)$")


@dataclass(frozen=True)
class Part:
    """One source of an entity's rows: files matched by a glob, mapped column by column."""

    files: str
    csv: CsvOptions = field(default_factory=CsvOptions)
    columns: dict[str, str] | None = None
    """Contract column → SQL over the raw columns; None: the contract layout, by name."""
    where: str | None = None


@dataclass(frozen=True)
class EntityMapping:
    entity: str
    parts: tuple[Part, ...]
    group_by: tuple[str, ...] = ()
    """Contract columns that identify a row when it is derived from repeated values
    (``distinct: true`` groups by every mapped column)."""

    @property
    def per_file(self) -> bool:
        """Each matched file is its own unit (loaded and replaced on its own)."""
        return len(self.parts) == 1 and not self.group_by


@dataclass(frozen=True)
class Mapping:
    name: str
    region: str = DEFAULT_REGION
    """Default region for phone numbers written without a country code."""
    entities: dict[str, EntityMapping] = field(default_factory=dict)
    contract_layout: bool = False


@dataclass
class Unit:
    """What is loaded or replaced as a whole: an entity's rows from these files."""

    entity: str
    mapping: EntityMapping
    files: list[tuple[Part, str]]
    """(part, file name relative to the source directory), in load order."""

    @property
    def names(self) -> list[str]:
        return sorted({name for _, name in self.files})


def contract_mapping(region: str = DEFAULT_REGION) -> Mapping:
    """The contract layout as a mapping: columns by name, files by entity name."""
    return Mapping("contract", region, {
        name: EntityMapping(name, (Part(f"{name}*"),)) for name in ENTITIES
    }, contract_layout=True)


def load_mapping(path: Path) -> Mapping:
    """Parse and check a mapping file; mistakes name the mapping file and the key."""
    where = str(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise SourceError(where, f"cannot be read as YAML ({error})",
                          "fix the mapping file (see docs/mapping.md)") from None
    if not isinstance(document, dict) or not isinstance(document.get("entities"), dict):
        raise SourceError(where, "has no `entities:` section", "see docs/mapping.md")
    region = str(document.get("phone_region", DEFAULT_REGION)).upper()
    defaults = _csv_options(document.get("csv") or {}, where, CsvOptions())
    entities = {}
    for name, spec in document["entities"].items():
        if name not in ENTITIES:
            raise SourceError(where, f"maps unknown entity {name!r}",
                              f"use one of: {', '.join(ENTITIES)}")
        if not isinstance(spec, dict):
            raise SourceError(where, f"entity {name!r} is not a mapping", "see docs/mapping.md")
        part_specs = spec.get("union") or [spec]
        parts = tuple(_part(name, p, where, defaults) for p in part_specs)
        group_by: tuple[str, ...] = ()
        if spec.get("distinct"):
            group_by = tuple(c for c in ENTITIES[name].column_names
                             if any(c in (p.columns or {}) for p in parts))
        elif spec.get("group_by"):
            group_by = tuple(spec["group_by"])
            for column in group_by:
                ENTITIES[name].column(column)
        entities[name] = EntityMapping(name, parts, group_by)
    return Mapping(str(document.get("name", path.stem)), region, entities)


def _csv_options(spec: dict[str, Any], where: str, base: CsvOptions) -> CsvOptions:
    unknown = set(spec) - {"delimiter", "quote", "header", "names", "encoding"}
    if unknown:
        raise SourceError(where, f"unknown csv option(s) {sorted(unknown)}",
                          "use delimiter, quote, header, names, encoding")
    return CsvOptions(
        delimiter=str(spec.get("delimiter", base.delimiter)),
        quote=str(spec.get("quote", base.quote) or ""),
        header=bool(spec.get("header", base.header)),
        names=tuple(spec.get("names", base.names)),
        encoding=spec.get("encoding", base.encoding),
    )


def _part(entity: str, spec: dict[str, Any], where: str, defaults: CsvOptions) -> Part:
    if "files" not in spec:
        raise SourceError(where, f"{entity}: a part has no `files:` glob", "see docs/mapping.md")
    if "columns" not in spec:  # the file already has the contract's column names
        return Part(str(spec["files"]), _csv_options(spec.get("csv") or {}, where, defaults),
                    None, spec.get("where"))
    columns = {}
    for column, expression in (spec.get("columns") or {}).items():
        try:
            ENTITIES[entity].column(column)
        except KeyError:
            raise SourceError(where, f"{entity} has no column {column!r}",
                              "see docs/source-contract.md for the column names") from None
        columns[column] = _sql_value(expression)
    return Part(str(spec["files"]), _csv_options(spec.get("csv") or {}, where, defaults),
                columns, spec.get("where"))


def _sql_value(value: Any) -> str:
    """YAML strings are SQL expressions; numbers and booleans are constants."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return str(value)


def plan_units(source_dir: Path, mapping: Mapping) -> tuple[list[Unit], list[str]]:
    """The load units found in a source directory, and the files nothing reads."""
    names = sorted(
        str(p.relative_to(source_dir)) for p in source_dir.rglob("*")
        if p.is_file() and GROUND_TRUTH_DIR not in p.relative_to(source_dir).parts[:-1]
        and not p.name.startswith(".")
    )
    used: set[str] = set()
    units: list[Unit] = []
    for entity, spec in mapping.entities.items():
        matched: list[tuple[Part, str]] = []
        for part in spec.parts:
            for name in names:
                if _matches(mapping, entity, part, name):
                    matched.append((part, name))
        used.update(name for _, name in matched)
        if not matched:
            continue
        if spec.per_file:
            units.extend(Unit(entity, spec, [m]) for m in matched)
        else:
            units.append(Unit(entity, spec, matched))
    if mapping.contract_layout:
        for entity in ENTITIES:
            singles = [u for u in units if u.entity == entity]
            if not ENTITIES[entity].monthly and len(singles) > 1:
                raise SourceError(", ".join(n for u in singles for n in u.names),
                                  f"several files for {entity}, which is not monthly",
                                  f"keep one {entity}.csv or {entity}.parquet")
    ignored = [n for n in names if n not in used]
    if (source_dir / GROUND_TRUTH_DIR).is_dir():
        ignored.insert(0, f"{GROUND_TRUTH_DIR}/")  # never opened: answers for evaluations only
    return units, ignored


def _matches(mapping: Mapping, entity: str, part: Part, name: str) -> bool:
    if mapping.contract_layout:
        if "/" in name or file_kind(Path(name)) is None:
            return False
        found = CONTRACT_FILE.match(name)
        return bool(found and found["entity"] == entity
                    and (found["month"] is None or ENTITIES[entity].monthly))
    return fnmatch.fnmatchcase(name, part.files)
