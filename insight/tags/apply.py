"""Tagging: evaluate a library on the warehouse, write the assignments and their evidence,
publish them as a snapshot, and read them back (a customer's tags, customers per tag)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import pandas as pd

from graph.snapshot import Snapshot, SnapshotStore
from graph.warehouse import (
    latest_cutoff,
    month_start,
    new_run_id,
    replace_cutoff_frame,
    table_exists,
)
from insight.tags.compile import compile_tags
from insight.tags.library import current_library
from insight.tags.measures import CATEGORY, MEASURES
from insight.tags.rdf import write_tag_triples
from insight.tags.rules import RuleLibrary


@dataclass
class TagResult:
    """Assignments and evidence of one period."""

    period: date
    cutoff: date
    assignments: pd.DataFrame
    evidence: pd.DataFrame
    rules: pd.DataFrame
    counts: dict[str, int]
    seconds: float


def apply_tags(con: duckdb.DuckDBPyConnection, library: RuleLibrary, period: date, *,
               run_id: str = "") -> TagResult:
    """Evaluate ``library`` on the warehouse for the month ``period`` (read-only on ``con``).

    ``cutoff`` is the first day after the period, as for the churn scores of that month.
    """
    started = time.perf_counter()
    compiled = compile_tags(library, period, con)
    cutoff = month_start(compiled.period, 1)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _tag_eval AS {compiled.sql}", compiled.params)
    assign, evidence = [], []
    for tag, column in compiled.tag_columns.items():
        rule = library.tags[tag]
        meta = [cutoff, compiled.period, tag, rule.rule_id, rule.version, library.version,
                run_id]
        head = ("SELECT $cutoff AS cutoff, $period AS period, customer_id, $tag AS tag_id, "
                "$rule AS rule_id, $version AS rule_version, $library AS library_version, "
                "$run AS run_id")
        params = dict(zip(["cutoff", "period", "tag", "rule", "version", "library", "run"],
                          meta, strict=True))
        assign.append(con.execute(f"{head} FROM _tag_eval WHERE {column}", params).df())
        for feature in library.features_of(tag):
            value_col, fired_col = compiled.feature_columns[feature]
            kind = MEASURES[library.features[feature].measure].kind
            number = f"CAST({value_col} AS DOUBLE)" if kind != CATEGORY else "NULL::DOUBLE"
            evidence.append(con.execute(
                f"{head}, $feature AS feature, $measure AS measure, "
                f"CAST({value_col} AS VARCHAR) AS value, {number} AS value_number, "
                f"{fired_col} AS fired FROM _tag_eval WHERE {column}",
                {**params, "feature": feature,
                 "measure": library.features[feature].measure}).df())
    con.execute("DROP TABLE _tag_eval")
    columns = ["cutoff", "period", "customer_id", "tag_id", "rule_id", "rule_version",
               "library_version", "run_id"]
    assignments = pd.concat(assign, ignore_index=True) if assign else pd.DataFrame(
        columns=columns)
    evidence_frame = pd.concat(evidence, ignore_index=True) if evidence else pd.DataFrame(
        columns=[*columns, "feature", "measure", "value", "value_number", "fired"])
    rules = pd.DataFrame([{
        "cutoff": cutoff, "tag_id": t.tag, "rule_id": t.rule_id, "rule_version": t.version,
        "library": library.name, "library_version": library.version, "label": t.label,
        "scheme": t.scheme, "expression": t.expression,
        "features": ",".join(library.features_of(t.tag)),
        "definition": json.dumps({f: library.features[f].definition()
                                  for f in library.features_of(t.tag)}, sort_keys=True)}
        for t in library.tags.values()])
    for frame in (assignments, evidence_frame):
        for column in ("cutoff", "period"):
            frame[column] = [cutoff if column == "cutoff" else compiled.period] * len(frame)
    counts = assignments.groupby("tag_id").size().to_dict() if len(assignments) else {}
    return TagResult(compiled.period, cutoff, assignments, evidence_frame, rules,
                     {t: int(counts.get(t, 0)) for t in library.tags},
                     round(time.perf_counter() - started, 3))


def write_tag_tables(con: duckdb.DuckDBPyConnection, result: TagResult) -> None:
    """Replace the period's rows of ``tag_assignments``, ``tag_evidence``, ``tag_rules``."""
    for name, frame in (("tag_assignments", result.assignments),
                        ("tag_evidence", result.evidence), ("tag_rules", result.rules)):
        if len(frame):
            replace_cutoff_frame(con, name, result.cutoff, frame)
        elif table_exists(con, name):
            con.execute(f"DELETE FROM {name} WHERE cutoff = ?", [result.cutoff])


def last_full_month(con: duckdb.DuckDBPyConnection) -> date:
    """The last month with usage or bills: the default period to tag."""
    for table, column in (("usage_monthly", "month"), ("bills", "period")):
        if table_exists(con, table):
            value = con.execute(f"SELECT max({column}) FROM {table}").fetchall()[0][0]
            if value is not None:
                return month_start(value)
    raise ValueError("the warehouse has no usage_monthly or bills to place a period")


def tag_snapshot(store: SnapshotStore, library: RuleLibrary | None = None, *,
                 period: date | None = None, run_id: str | None = None) -> Snapshot:
    """Tag every customer for ``period`` (default: the last month of data) and publish the
    assignments, evidence and rules (warehouse and knowledge graph) as a new snapshot."""
    library = library or current_library(store)
    run_id = run_id or new_run_id("tags")

    def write(con: duckdb.DuckDBPyConnection, building: Snapshot) -> dict[str, Any]:
        result = apply_tags(con, library, period or last_full_month(con), run_id=run_id)
        write_tag_tables(con, result)
        kg_path = building.knowledge_graph_path
        triples = write_tag_triples(kg_path, library, result) if kg_path.exists() else 0
        return {"period": str(result.period), "library": library.name,
                "library_version": library.version, "assignments": len(result.assignments),
                "counts": result.counts, "knowledge_graph_triples": triples,
                "seconds": result.seconds}

    return store.derive(run_id, write, manifest_key="tags")


def customer_tags(con: duckdb.DuckDBPyConnection, customer_id: str,
                  cutoff: date | None = None) -> list[dict[str, Any]]:
    """A customer's tags with their provenance (latest tagged period unless ``cutoff``)."""
    if not table_exists(con, "tag_assignments"):
        return []
    if cutoff is None:
        cutoff = latest_cutoff(con, "tag_assignments")
    rows = con.execute(
        "SELECT a.tag_id, a.rule_id, a.rule_version, a.period, r.label, r.scheme, "
        "r.expression FROM tag_assignments a LEFT JOIN tag_rules r "
        "ON r.cutoff = a.cutoff AND r.tag_id = a.tag_id "
        "WHERE a.cutoff = ? AND a.customer_id = ? ORDER BY a.tag_id",
        [cutoff, customer_id]).df()
    ev = con.execute(
        "SELECT tag_id, feature, measure, value, fired FROM tag_evidence "
        "WHERE cutoff = ? AND customer_id = ? ORDER BY tag_id, feature",
        [cutoff, customer_id]).df() if table_exists(con, "tag_evidence") else pd.DataFrame(
        columns=["tag_id", "feature", "measure", "value", "fired"])
    out = []
    for row in rows.to_dict("records"):
        features = ev[ev["tag_id"] == row["tag_id"]].drop(columns="tag_id")
        out.append({**row, "features": features.to_dict("records")})
    return out


def tag_counts(con: duckdb.DuckDBPyConnection, cutoff: date | None = None
               ) -> list[dict[str, Any]]:
    """Customers per tag for a tagged period (latest by default)."""
    if not table_exists(con, "tag_rules"):
        return []
    if cutoff is None:
        cutoff = latest_cutoff(con, "tag_rules")
    has = table_exists(con, "tag_assignments")
    join = ("LEFT JOIN (SELECT tag_id, count(*) AS customers FROM tag_assignments "
            "WHERE cutoff = $c GROUP BY 1) a USING (tag_id)") if has else ""
    count = "coalesce(a.customers, 0)" if has else "0"
    return con.execute(
        f"SELECT r.tag_id, r.rule_id, r.rule_version, r.label, r.scheme, r.expression, "
        f"r.features, {count} AS customers FROM tag_rules r {join} WHERE r.cutoff = $c "
        f"ORDER BY r.scheme, r.tag_id", {"c": cutoff}).df().to_dict("records")
