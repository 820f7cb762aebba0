"""DuckDB SQL as Spark SQL: how a column mapping's expressions run on the Spark engine.

A mapping's expressions (docs/mapping.md) and the SQL the embedded engine generates from
them are DuckDB's dialect. ``sqlglot`` transpiles them to Spark SQL (casts, literals,
``::`` casts, ``strptime`` formats, ``QUALIFY``, ``||``, NULL ordering); the few DuckDB
functions it passes through unchanged, which Spark lacks, are rewritten here, and so is
``TRY_CAST(text AS BIGINT)``, which DuckDB reads from ``'7.0'`` and Spark does not. An
expression that cannot be parsed is an error; :func:`check_functions` names the functions
a translation calls that the Spark session does not have, before any row is read.
"""

from __future__ import annotations

import re

import sqlglot
from pyspark.sql import SparkSession
from sqlglot import exp

INTERVAL_FUNCTIONS: dict[str, tuple[str, int]] = {
    "to_years": ("make_ym_interval", 0), "to_months": ("make_ym_interval", 1),
    "to_days": ("make_dt_interval", 0), "to_hours": ("make_dt_interval", 1),
    "to_minutes": ("make_dt_interval", 2), "to_seconds": ("make_dt_interval", 3),
}
"""DuckDB's ``to_<unit>(n)`` intervals as Spark's ``make_*_interval`` with n in one place."""

_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\(")
"""A function call's name, at the start of its SQL."""


class UntranslatableSQL(ValueError):
    """An expression the Spark engine cannot run as the embedded engine does."""


_WHOLE = (exp.DataType.Type.TINYINT, exp.DataType.Type.SMALLINT, exp.DataType.Type.INT,
          exp.DataType.Type.BIGINT)


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.TryCast) and node.to.this in _WHOLE:
        # DuckDB reads '7.0' (and rounds '2.5') as a whole number; Spark's cast of the
        # text refuses it: read the text as a decimal, round it, then take the integer
        decimal = exp.TryCast(this=node.this.copy(), to=exp.DataType.build("DECIMAL(38, 10)"),
                              safe=True)
        return exp.TryCast(this=exp.Round(this=decimal), to=node.to.copy(), safe=True)
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "isfinite":
        # DuckDB's isfinite: neither NaN nor ±infinity (NULL stays NULL)
        (value,) = node.expressions
        return exp.paren(exp.and_(
            exp.not_(exp.Anonymous(this="isnan", expressions=[value.copy()])),
            exp.LT(this=exp.Abs(this=value.copy()),
                   expression=exp.cast(exp.Literal.string("Infinity"), "double"))))
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "list_bool_and":
        # every element true: Spark's forall
        (values,) = node.expressions
        item = exp.to_identifier("_item")
        return exp.Anonymous(this="forall", expressions=[
            values, exp.Lambda(this=exp.column(item), expressions=[item])])
    if isinstance(node, exp.Anonymous):
        name, args = str(node.this).lower(), list(node.expressions)
    elif isinstance(node, exp.ToDays):
        name, args = "to_days", [node.this]
    else:
        return node
    if name not in INTERVAL_FUNCTIONS:
        return node
    spark_name, position = INTERVAL_FUNCTIONS[name]
    if len(args) != 1:
        raise UntranslatableSQL(f"{name}() takes one argument")
    zeros: list[exp.Expression] = [exp.Literal.number(0) for _ in range(position)]
    return exp.Anonymous(this=spark_name, expressions=[*zeros, args[0]])


def spark_sql(sql: str) -> str:
    """``sql`` (DuckDB's dialect: an expression or a statement) as Spark SQL."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as error:
        raise UntranslatableSQL(f"cannot parse {sql!r}: {error}") from None
    return tree.transform(_rewrite).sql(dialect="spark")


def check_functions(spark: SparkSession, sql: str) -> None:
    """Raise naming the functions Spark SQL ``sql`` calls that ``spark`` does not know
    (DuckDB's own, passed through by the transpiler)."""
    tree = sqlglot.parse_one(sql, read="spark")
    names = {match.group(1) for node in tree.find_all(exp.Func)
             if not isinstance(node, exp.Cast)  # CAST and TRY_CAST are syntax
             and (match := _CALL.match(node.sql(dialect="spark")))}
    if unknown := sorted(name for name in names if not spark.catalog.functionExists(name)):
        raise UntranslatableSQL(f"Spark has no function {', '.join(unknown)}; write the "
                                "mapping with functions both engines have (docs/mapping.md)")
