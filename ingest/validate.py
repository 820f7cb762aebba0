"""Validation rules, generated as SQL from the contract.

Each contract column kind has one typed expression; each rule of the contract
(required, type, allowed values, minimum, row rules, key, references) becomes one
condition with a fixed quarantine reason, so a rejected row is explained by the
first rule it breaks. Phone numbers are normalised with ``phonenumbers`` once per
distinct raw value, kept in ``_phone_lookup`` across runs, and joined back.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Literal

import duckdb
import phonenumbers
from phonenumbers import phonenumberutil
from phonenumbers.phonemetadata import PhoneMetadata

from graph.warehouse import quote_ident, sql_string
from ingest.contract import Column, Entity
from ingest.sources import MALFORMED, TRUNCATED

# The fixed phrases counted in the run report.
MISSING = "missing value"
WRONG_TYPE = "wrong type"
NOT_ALLOWED = "value not allowed"
BELOW_MINIMUM = "below minimum"
BAD_PHONE = "unparsable phone number"
FUTURE = "future timestamp"
DUPLICATE_KEY = "duplicate key"
DUPLICATE_ROW = "duplicate row"
UNKNOWN_REFERENCE = "unknown reference"
NO_ON_NET = "no on-net party"

REASONS = (MALFORMED, TRUNCATED, MISSING, WRONG_TYPE, NOT_ALLOWED, BELOW_MINIMUM, BAD_PHONE,
           FUTURE, DUPLICATE_KEY, DUPLICATE_ROW, UNKNOWN_REFERENCE, NO_ON_NET)
"""Every fixed reason, besides the contract's row rules (``Entity.sql_checks``)."""

ON_NET_PARTIES: dict[str, tuple[str, ...]] = {"cdrs": ("caller", "callee")}
"""Entities whose rows need at least one party that is a subscription's number."""

SQL_TYPES = {
    "id": "VARCHAR", "text": "VARCHAR", "enum": "VARCHAR", "list": "VARCHAR",
    "phone": "VARCHAR", "date": "DATE", "month": "DATE", "timestamp": "TIMESTAMP",
    "int": "BIGINT", "decimal": "DOUBLE", "bool": "BOOLEAN",
}


def _in_list(values: tuple[str, ...]) -> str:
    return ", ".join(sql_string(v) for v in values)


def staged_table_ddl(entity: Entity) -> str:
    """``CREATE TABLE`` of a staged entity, as docs/warehouse.md lays it out.

    Identifiers and numbers of the monthly entities (tens of millions of CDRs) are
    stored with ZSTD: the default string compression spends more time choosing its
    dictionary than the rest of writing the row costs, and ZSTD is also smaller.
    """
    columns = [f"{quote_ident(c.name)} {SQL_TYPES[c.kind]}"
               + (" USING COMPRESSION zstd" if entity.monthly and c.kind in ("id", "phone")
                  else "")
               for c in entity.columns]
    columns += ["_source_file VARCHAR", "_source_line BIGINT"]
    return f"CREATE TABLE IF NOT EXISTS {entity.name} ({', '.join(columns)})"


def typed(column: Column, raw: str) -> str:
    """SQL turning a VARCHAR value into the column's type; NULL when it does not fit."""
    kind = column.kind
    if kind in ("id", "text"):
        return raw
    if kind == "enum":
        return f"CASE WHEN {raw} IN ({_in_list(column.values)}) THEN {raw} END"
    if kind == "list":
        return (f"CASE WHEN list_bool_and(list_transform(string_split({raw}, ';'), "
                f"lambda x: trim(x) IN ({_in_list(column.values)}))) THEN {raw} END")
    if kind == "date":
        return f"TRY_CAST({raw} AS DATE)"
    if kind == "month":
        return (f"CASE WHEN length({raw}) = 7 THEN TRY_CAST({raw} || '-01' AS DATE) "
                f"ELSE CAST(date_trunc('month', TRY_CAST({raw} AS DATE)) AS DATE) END")
    if kind == "timestamp":
        return f"TRY_CAST({raw} AS TIMESTAMP)"
    if kind == "int":
        # TRY_CAST rounds '2.5' to 3: a fraction is a wrong type, not a rounding
        return (f"CASE WHEN contains({raw}, '.') AND TRY_CAST({raw} AS DOUBLE) % 1 <> 0 "
                f"THEN NULL ELSE TRY_CAST({raw} AS BIGINT) END")
    if kind == "decimal":
        return (f"CASE WHEN isfinite(TRY_CAST({raw} AS DOUBLE)) "
                f"THEN TRY_CAST({raw} AS DOUBLE) END")
    if kind == "bool":
        # DuckDB reads true/false, t/f, yes/no, y/n and 1/0 in any case
        return f"TRY_CAST({raw} AS BOOLEAN)"
    if kind == "phone":
        return f"_phone_{column.name}.e164"
    raise ValueError(kind)


def _type_problem(column: Column) -> str:
    if column.kind == "phone":
        return BAD_PHONE
    if column.kind in ("enum", "list"):
        return NOT_ALLOWED
    return WRONG_TYPE


def checked_select(entity: Entity, mapped: str, region: str, run_time: datetime) -> str:
    """Rows of ``mapped`` (VARCHAR contract columns, ``_file``, ``_line``, ``_part``) typed,
    with ``_reason``/``_detail`` of the first rule each breaks (NULL when clean)."""
    raw = {c.name: f"m.{quote_ident(c.name)}" for c in entity.columns}
    phones = [c for c in entity.columns if c.kind == "phone"]
    joins = "".join(
        f" LEFT JOIN _phone_lookup _phone_{c.name} ON _phone_{c.name}.region = "
        f"{sql_string(region)} AND _phone_{c.name}.raw = {raw[c.name]}"
        for c in phones
    )
    inner = ", ".join(
        [f"{raw[c.name]} AS {quote_ident('raw:' + c.name)}" for c in entity.columns]
        + [f"{typed(c, raw[c.name])} AS {quote_ident(c.name)}" for c in entity.columns]
        + ["m._file", "m._line", "m._part"]
    )
    cases: list[tuple[str, str, str]] = []
    for c in entity.columns:
        if c.required:
            cases.append((f"{quote_ident('raw:' + c.name)} IS NULL", MISSING,
                          sql_string(f"{c.name} is empty")))
    for c in entity.columns:
        value = quote_ident("raw:" + c.name)
        cases.append((f"{value} IS NOT NULL AND {quote_ident(c.name)} IS NULL",
                      _type_problem(c),
                      f"{sql_string(c.name + ' = ')} || {value}"
                      f" || {sql_string(' is not a ' + _kind_label(c))}"))
    for c in entity.columns:
        if c.minimum is not None:
            cases.append((f"{quote_ident(c.name)} < {c.minimum!r}", BELOW_MINIMUM,
                          f"{sql_string(c.name + ' = ')} || {quote_ident('raw:' + c.name)}"
                          f" || {sql_string(f' is below {c.minimum:g}')}"))
    stamp = run_time.replace(microsecond=0).isoformat(sep=" ")
    for c in entity.columns:
        if c.kind == "timestamp":
            cases.append((f"{quote_ident(c.name)} > TIMESTAMP {sql_string(stamp)}", FUTURE,
                          f"{sql_string(c.name + ' = ')} || {quote_ident('raw:' + c.name)}"
                          f" || {sql_string(' is after the run (' + stamp + ')')}"))
    for reason, rule in entity.sql_checks:
        cases.append((f"NOT coalesce(({rule}), TRUE)", reason, sql_string(rule + " fails")))
    # the rules are evaluated once per row, giving the number of the first one broken;
    # reason and detail are only built for the (few) rows that break one
    code_sql = "CASE " + " ".join(f"WHEN {cond} THEN {i}" for i, (cond, _, _) in
                                  enumerate(cases)) + " END"
    reason_sql = "CASE _code " + " ".join(f"WHEN {i} THEN {sql_string(r)}" for i, (_, r, _) in
                                          enumerate(cases)) + " END"
    detail_sql = "CASE _code " + " ".join(f"WHEN {i} THEN {d}" for i, (_, _, d) in
                                          enumerate(cases)) + " END"
    columns = ", ".join(quote_ident(c.name) for c in entity.columns)
    raws = ", ".join(quote_ident("raw:" + c.name) for c in entity.columns)
    return (f"SELECT {columns}, _file, _line, _part, "
            f"CASE WHEN _code IS NOT NULL THEN {reason_sql} END AS _reason, "
            f"CASE WHEN _code IS NOT NULL THEN {detail_sql} END AS _detail "
            f"FROM (SELECT {columns}, {raws}, _file, _line, _part, {code_sql} AS _code "
            f"FROM (SELECT {inner} FROM {mapped} m{joins}))")


def _kind_label(column: Column) -> str:
    if column.kind in ("enum", "list"):
        return "one of " + ", ".join(column.values)
    return {"phone": "valid phone number", "month": "month (YYYY-MM)",
            "timestamp": "timestamp (YYYY-MM-DD HH:MM:SS)", "date": "date (YYYY-MM-DD)",
            "int": "whole number", "decimal": "number", "bool": "true/false"}.get(
                column.kind, column.kind)


def ensure_phone_lookup(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS _phone_lookup "
                "(region VARCHAR, raw VARCHAR, e164 VARCHAR)")


def normalise_phones(con: duckdb.DuckDBPyConnection, values_sql: str, region: str) -> int:
    """Add the distinct raw numbers of ``values_sql`` not yet normalised to ``_phone_lookup``.

    ``phonenumbers`` decides, once per distinct written form (never per call record),
    and the answers stay in the warehouse for later runs; invalid numbers get a NULL
    ``e164``. Returns how many forms were added.
    """
    ensure_phone_lookup(con)
    fresh = [row[0] for row in con.execute(
        f"SELECT DISTINCT v FROM ({values_sql}) t(v) WHERE v IS NOT NULL "
        f"AND v NOT IN (SELECT raw FROM _phone_lookup WHERE region = ?)", [region]
    ).fetchall()]
    if not fresh:
        return 0
    decided: dict[str, str | None] = {}
    # numbers already known valid (in any written form) need no second validity check
    valid = {row[0]: True for row in con.execute(
        "SELECT DISTINCT e164 FROM _phone_lookup WHERE e164 IS NOT NULL").fetchall()}
    e164 = []
    for value in fresh:
        bare = _SEPARATORS.sub("", value)
        if bare not in decided:
            decided[bare] = to_e164(bare, region, valid)
        e164.append(decided[bare])
    import pyarrow as pa

    batch = pa.table({"region": pa.array([region] * len(fresh), pa.string()),
                      "raw": pa.array(fresh, pa.string()), "e164": pa.array(e164, pa.string())})
    con.register("_phone_batch", batch)
    try:
        con.execute("INSERT INTO _phone_lookup SELECT region, raw, e164 FROM _phone_batch")
    finally:
        con.unregister("_phone_batch")
    return len(fresh)


_SEPARATORS = re.compile(r"[\s\-().]")
"""Visual separators, which ``phonenumbers`` drops anyway: "+86 138-0013 8000"."""
_INTERNATIONAL = re.compile(r"\+[1-9]\d{6,14}")


def to_e164(value: str, region: str, valid: dict[str, bool] | None = None) -> str | None:
    """E.164 form of a valid number, else None.

    ``valid`` remembers which E.164 numbers ``is_valid_number`` has judged, so the
    several written forms of one number are checked once.
    """
    known = {} if valid is None else valid
    if _INTERNATIONAL.fullmatch(value):
        decided = _international(value, known)
        if decided is not False:
            return decided
    elif value.isdigit() and value.isascii():
        decided = _national(value, region, known)
        if decided is not False:
            return decided
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _national(value: str, region: str, known: dict[str, bool]) -> str | Literal[False] | None:
    """A plain digit string decided without ``phonenumbers.parse`` when parsing it
    could only mean "this region's country code + these digits": no international
    dialling prefix, no national prefix, no leading zero, and a leading country
    code only where the whole is too long for a national number. False otherwise
    (the caller parses it in full)."""
    rules = _region_rules(region)
    if rules is None:
        return False
    code, longest, prefixes = rules
    if value.startswith(code):
        # "8613800138000": parse reads the country code when the whole is too long
        # to be a national number; anything less clear-cut is left to parse
        if len(value) <= longest:
            return False
        value = value[len(code):]
        if value.startswith(code):
            return False
    if value.startswith("0"):
        return False
    for pattern in prefixes:
        if pattern.match(value):
            return False
    return _checked_valid(f"+{code}{value}", int(code), value, known)


@functools.cache
def _region_rules(region: str) -> tuple[str, int, tuple[re.Pattern[str], ...]] | None:
    """A region's country code, longest national number and the prefixes that make
    a digit string ambiguous (international dialling, national prefix), compiled once."""
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None:
        return None
    prefixes = tuple(re.compile(p) for p in (
        metadata.international_prefix, metadata.national_prefix_for_parsing,
        metadata.national_prefix) if p)
    return (str(metadata.country_code), max(metadata.general_desc.possible_length or (99,)),
            prefixes)


@functools.cache
def _calling_code_rules(code: int) -> tuple[PhoneMetadata, re.Pattern[str] | None] | None:
    """Metadata of a calling code and its national prefix pattern, compiled once."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[code]
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, regions[0])
    if metadata is None:
        return None
    prefix = metadata.national_prefix_for_parsing or metadata.national_prefix
    return metadata, re.compile(prefix) if prefix else None


def _international(value: str, known: dict[str, bool]) -> str | Literal[False] | None:
    """A "+<digits>" number decided without ``phonenumbers.parse`` (its slow part).

    Splits the country code as ``parse`` does (calling codes are prefix-free) and
    asks ``is_valid_number``; False when ``parse`` could read it differently (a
    national prefix after the country code), so the caller parses it in full.
    """
    for length in (1, 2, 3):
        code = int(value[1:1 + length])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = value[1 + length:]
    if national.startswith("0"):
        return False
    rules = _calling_code_rules(code)
    if rules is None:
        return False
    prefix = rules[1]
    if prefix is not None and prefix.match(national):
        return False
    return _checked_valid(value, code, national, known)


def e164_number(e164: str) -> phonenumbers.PhoneNumber:
    """The ``PhoneNumber`` of a normalised E.164 string, without a full parse."""
    for length in (1, 2, 3):
        code = int(e164[1:1 + length])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            national = e164[1 + length:]
            if national and not national.startswith("0"):
                return phonenumbers.PhoneNumber(country_code=code,
                                                national_number=int(national))
            break
    return phonenumbers.parse(e164, None)


def _checked_valid(e164: str, code: int, national: str, known: dict[str, bool]) -> str | None:
    """``e164`` if ``phonenumbers.is_valid_number`` accepts it (asked once per number)."""
    if e164 not in known:
        known[e164] = is_valid(code, national)
    return e164 if known[e164] else None


_NUMBER_TYPES = ("mobile", "fixed_line", "premium_rate", "toll_free", "shared_cost", "voip",
                 "personal_number", "pager", "uan", "voicemail")
"""The number types of ``phonenumbers``' metadata, likeliest in call records first."""


def is_valid(code: int, national: str) -> bool:
    """``phonenumbers.is_valid_number`` of ``+<code><national>`` (no leading zero).

    ``is_valid_number`` finds the number's type, testing rare types (premium
    rate, toll free, …) before mobile; validity only needs *some* type to match
    besides the general pattern, so asking mobile first answers most CDR numbers
    with two patterns instead of ten. Calling codes shared by several regions
    (+1, +7, …) are left to ``is_valid_number``, which first picks the region.
    """
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code, ())
    if len(regions) != 1:
        return phonenumbers.is_valid_number(
            phonenumbers.PhoneNumber(country_code=code, national_number=int(national)))
    rules = _calling_code_rules(code)
    if rules is None:
        return False
    metadata = rules[0]
    matches = phonenumberutil._is_number_matching_desc
    return matches(national, metadata.general_desc) and any(
        matches(national, getattr(metadata, kind)) for kind in _NUMBER_TYPES)


def key_sql(entity: Entity, alias: str = "") -> str:
    """One comparable value for the entity's key (NULL parts compare equal)."""
    prefix = f"{alias}." if alias else ""
    if len(entity.key) == 1:
        return prefix + quote_ident(entity.key[0])
    return "concat_ws(chr(31), " + ", ".join(
        f"coalesce(CAST({prefix}{quote_ident(k)} AS VARCHAR), chr(0))" for k in entity.key
    ) + ")"


def mark_duplicates(con: duckdb.DuckDBPyConnection, entity: Entity, checked: str,
                    existing_files: bool) -> None:
    """Keep the first row of each key; later ones become duplicate key/row.

    Rows already in the staged table (other files) come first; within the batch,
    order is part then line. A later row equal in every column is a duplicate row.
    """
    key = key_sql(entity)
    columns = ", ".join(quote_ident(c.name) for c in entity.columns)
    # keys are grouped by their 64-bit hash first (cheap to group); only when a hash
    # repeats are its rows read again and grouped by the key itself
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _dup_hashes AS SELECT hash({key}) AS h
                    FROM {checked} WHERE _reason IS NULL GROUP BY 1 HAVING count(*) > 1""")
    ((repeated,),) = con.execute("SELECT count(*) FROM _dup_hashes").fetchall()
    if repeated:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _dup_keys AS SELECT {key} AS k
                        FROM {checked} WHERE _reason IS NULL
                        AND hash({key}) IN (SELECT h FROM _dup_hashes)
                        GROUP BY ALL HAVING count(*) > 1""")
        ((keys,),) = con.execute("SELECT count(*) FROM _dup_keys").fetchall()
        if keys:
            _mark_later_rows(con, entity, checked, key, columns)
        con.execute("DROP TABLE _dup_keys")
    con.execute("DROP TABLE _dup_hashes")
    if existing_files:
        con.execute(f"""
            UPDATE {checked} SET _reason = {sql_string(DUPLICATE_KEY)},
                _detail = {sql_string(', '.join(entity.key) + ' already loaded from ')}
                          || s._source_file || ' line ' || s._source_line
            FROM (SELECT {key_sql(entity)} AS k, _source_file, _source_line
                  FROM {entity.name}) s
            WHERE {checked}._reason IS NULL AND {key_sql(entity, checked)} = s.k
        """)


def _mark_later_rows(con: duckdb.DuckDBPyConnection, entity: Entity, checked: str, key: str,
                     columns: str) -> None:
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _dups AS
        WITH d AS (SELECT k FROM _dup_keys),
        r AS (SELECT {key} AS k, _part, _line, md5(CAST(row({columns}) AS VARCHAR)) AS h
              FROM {checked} WHERE _reason IS NULL AND {key} IN (SELECT k FROM d))
        SELECT _part, _line,
               first_value(h) OVER w = h AS same, first_value(_line) OVER w AS first_line,
               row_number() OVER w AS n
        FROM r WINDOW w AS (PARTITION BY k ORDER BY _part, _line)
    """)
    con.execute(f"""
        UPDATE {checked} SET
            _reason = CASE WHEN d.same THEN {sql_string(DUPLICATE_ROW)}
                           ELSE {sql_string(DUPLICATE_KEY)} END,
            _detail = {sql_string(', '.join(entity.key) + ' already on line ')}
                      || d.first_line
        FROM _dups d
        WHERE d.n > 1 AND {checked}._part = d._part AND {checked}._line = d._line
    """)
    con.execute("DROP TABLE _dups")


def mark_unknown_references(con: duckdb.DuckDBPyConnection, entity: Entity,
                            checked: str) -> None:
    """Rows naming a key the warehouse does not hold (after this run's earlier loads)."""
    for column in entity.columns:
        if not column.references:
            continue
        target, target_column = column.references.split(".")
        name = quote_ident(column.name)
        con.execute(f"""
            UPDATE {checked} SET _reason = {sql_string(UNKNOWN_REFERENCE)},
                _detail = {sql_string(column.name + ' = ')} || {name}
                          || {sql_string(f' is not in {target}')}
            WHERE _reason IS NULL AND {name} IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM {target} t WHERE t.{quote_ident(target_column)} = {checked}.{name})
        """)
    parties = ON_NET_PARTIES.get(entity.name)
    if parties:
        con.execute("CREATE OR REPLACE TEMP TABLE _on_net AS "
                    "SELECT DISTINCT msisdn FROM subscriptions WHERE msisdn IS NOT NULL")
        condition = " AND ".join(
            f"{quote_ident(p)} NOT IN (SELECT msisdn FROM _on_net)" for p in parties)
        con.execute(f"""
            UPDATE {checked} SET _reason = {sql_string(NO_ON_NET)},
                _detail = {sql_string(' and '.join(parties) + ' are not subscriptions')}
            WHERE _reason IS NULL AND {condition}
        """)
        con.execute("DROP TABLE _on_net")

