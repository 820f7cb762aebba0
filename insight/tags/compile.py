"""Compilation: a rule library becomes **one** SQL statement per period that evaluates every
business feature and every tag for every customer (rule values bound as parameters)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb

from graph.warehouse import month_start, table_exists
from insight.tags.measures import MEASURES, NUMBER, SOURCES
from insight.tags.rules import BusinessFeature, RuleError, RuleLibrary, parse_expression, tag_order


@dataclass
class CompiledTags:
    """The evaluation query of one period and its parameters."""

    sql: str
    params: dict[str, Any]
    period: date
    feature_columns: dict[str, tuple[str, str]]
    """feature → (value column, fired column) of ``_tag_eval``."""
    tag_columns: dict[str, str]


def _feature_sql(i: int, f: BusinessFeature, period: date, params: dict[str, Any]) -> str:
    measure = MEASURES[f.measure]
    src = SOURCES[measure.source]
    end = "$end"
    where: list[str] = []
    expr = measure.expr
    if measure.windowed:
        start = month_start(period, -(f.months - 1))
        params[f"w{i}"] = start
        where.append(f"{src['date']} >= $w{i} AND {src['date']} < {end}")
        if measure.trend:
            params[f"l{i}"] = period
            d = src["date"]
            expr = (f"sum({expr}) FILTER (WHERE {d} >= $l{i}) / nullif(sum({expr}) FILTER "
                    f"(WHERE {d} < $l{i}) / {int(f.months - 1)}, 0)")
    if "where" in src:
        where.append(src["where"])
    for key, values in sorted(f.lists.items()):
        params[f"p{i}_{key}"] = list(values)
        where.append(f"list_contains($p{i}_{key}, {measure.filters[key]})")
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return (f"f{i} AS (SELECT {src['key']} AS customer_id, {expr} AS v "
            f"FROM {src['from']}{clause} GROUP BY 1)")


def _condition_sql(i: int, f: BusinessFeature, column: str, params: dict[str, Any]) -> str:
    if f.op == "between":
        params[f"a{i}"], params[f"b{i}"] = float(f.value[0]), float(f.value[1])
        return f"{column} BETWEEN $a{i} AND $b{i}"
    if f.op in {"in", "not in"}:
        params[f"a{i}"] = [str(x) for x in f.value]
        neg = "NOT " if f.op == "not in" else ""
        return f"{neg}list_contains($a{i}, {column})"
    kind = MEASURES[f.measure].kind
    params[f"a{i}"] = float(f.value) if kind == NUMBER else f.value
    op = "=" if f.op == "==" else ("<>" if f.op == "!=" else f.op)
    return f"{column} {op} $a{i}"


def _expression_sql(node: Any, columns: dict[str, str]) -> str:
    kind = node[0]
    if kind == "name":
        return columns[node[1]]
    if kind == "not":
        return f"(NOT {_expression_sql(node[1], columns)})"
    return f"({_expression_sql(node[1], columns)} {kind.upper()} " \
           f"{_expression_sql(node[2], columns)})"


def required_tables(library: RuleLibrary) -> set[str]:
    return {SOURCES[MEASURES[f.measure].source]["table"] for f in library.features.values()}


def compile_tags(library: RuleLibrary, period: date,
                 con: duckdb.DuckDBPyConnection | None = None) -> CompiledTags:
    """The SELECT that evaluates every feature and tag of ``library`` for the month
    ``period`` (one row per customer); features whose tables are absent from ``con``
    are refused, naming the feature."""
    period = month_start(period)
    if con is not None:
        for name, f in library.features.items():
            src = SOURCES[MEASURES[f.measure].source]
            tables = {src["table"]} | ({"subscriptions"} if "s." in src["from"] else set())
            tables |= {"products"} if "products" in src["from"] else set()
            tables |= {"numbers"} if "numbers" in src["from"] else set()
            missing = [t for t in sorted(tables) if not table_exists(con, t)]
            if missing:
                raise RuleError(f"business feature {name!r}: the warehouse has no "
                                f"{', '.join(missing)} table (measure {f.measure})")
    params: dict[str, Any] = {"end": month_start(period, 1)}
    ctes, selects, joins = [], [], []
    feature_columns: dict[str, tuple[str, str]] = {}
    names = sorted(library.features)
    for i, name in enumerate(names):
        f = library.features[name]
        measure = MEASURES[f.measure]
        ctes.append(_feature_sql(i, f, period, params))
        value = f"coalesce(f{i}.v, 0)" if measure.zero_if_missing and measure.kind == NUMBER \
            else f"f{i}.v"
        selects.append(f"{value} AS v{i}")
        selects.append(f"coalesce({_condition_sql(i, f, value, params)}, false) AS b{i}")
        joins.append(f"LEFT JOIN f{i} ON f{i}.customer_id = c.customer_id")
        feature_columns[name] = (f"v{i}", f"b{i}")
    columns = {n: feature_columns[n][1] for n in names}
    tag_columns: dict[str, str] = {}
    tag_selects = []
    for j, tag in enumerate(tag_order(library)):
        expr = _expression_sql(parse_expression(library.tags[tag].expression, tag), columns)
        tag_selects.append(f"{expr} AS t{j}")
        columns[tag] = f"t{j}"
        tag_columns[tag] = f"t{j}"
    # Tags may use tags: inner SELECT holds features; each tag is a column of the next layer.
    inner = (f"WITH {', '.join(ctes)} SELECT c.customer_id, {', '.join(selects)} "
             f"FROM customers c {' '.join(joins)}") if ctes else \
        "SELECT c.customer_id FROM customers c"
    sql = inner
    for j, tag_select in enumerate(tag_selects):
        sql = f"SELECT *, {tag_select} FROM ({sql}) AS l{j}"
    used = set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", sql))
    return CompiledTags(sql, {k: v for k, v in params.items() if k in used}, period,
                        feature_columns, tag_columns)
