"""The main job on demo data, end to end, as the README's first command runs it.

Only composition lives here: each step is a function of ``ingest``, ``graph`` or
``insight``; this module decides the order and prints what came out.
"""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from api.terminal import print_table
from graph.engine import EngineSettings
from graph.locales import DEFAULT_LOCALE, N_, normalize, translator
from graph.snapshot import Snapshot, SnapshotStore
from insight.campaigns import evaluate_all
from insight.kpis import kpis, label, localized
from insight.stage import InsightSettings, score, train, write_report
from insight.tags import (
    RuleLibrary,
    current_library,
    label_in,
    load_library,
    scheme_name,
    tag_counts,
    tag_snapshot,
)


def _source_matches(source_dir: Path, subscribers: int, months: int, seed: int) -> bool:
    """True if ``source_dir`` already holds the demo operator asked for (skip regenerating)."""
    params_file = source_dir / "ground-truth" / "params.json"
    if not params_file.exists():
        return False
    params = json.loads(params_file.read_text(encoding="utf-8"))
    return (params.get("subscribers"), params.get("months"), params.get("seed")) == (
        subscribers, months, seed
    )


def run_demo(
    source_dir: Path,
    *,
    data_dir: Path | None = None,
    subscribers: int = 10_000,
    months: int = 6,
    seed: int = 7,
    console: Console | None = None,
    engine: EngineSettings | None = None,
) -> None:
    """Generate (or reuse) a demo operator, ingest it into a snapshot, and report.

    ``engine`` computes the ingest's aggregates and graph tables (docs/scale-out.md).
    """
    from ingest.job import run_ingest
    from ingest.synthetic import generate_operator

    console = console or Console(stderr=True)
    started = time.perf_counter()
    source_dir = Path(source_dir)
    if _source_matches(source_dir, subscribers, months, seed):
        console.print(f"[bold]1. demo operator[/bold] reusing {source_dir}")
    else:
        console.print(f"[bold]1. demo operator[/bold] {subscribers:,} subscribers × {months} "
                      f"months (seed {seed}) → {source_dir}")
        report = generate_operator(source_dir, subscribers=subscribers, months=months, seed=seed)
        console.print(report.summary())
    console.print("[bold]2. ingest[/bold] (validate, quarantine, warehouse, call circles, "
                  "knowledge graph, publish)")
    result = run_ingest(source_dir, data_dir=data_dir, console=console, engine=engine)
    print_table(console, result.report_table())
    store = SnapshotStore(data_dir)
    console.print("[bold]3. churn model[/bold] (time-split evaluation, with and without graph)")
    train_models(store, console=console, engine=engine)
    console.print("[bold]4. score[/bold] (churn risk and reasons, value, tiers, segments)")
    score_snapshot(store, console=console, engine=engine)
    console.print("[bold]5. customer tags[/bold] (starter library of business-feature rules)")
    tag_customers(store, console=console)
    show_campaigns(store, console=console)
    console.print("[bold]6. report[/bold]")
    report_path = report_snapshot(store, store.root / "report.html", console=console)
    current = store.current()
    console.print(
        f"[bold green]done[/bold green] in {time.perf_counter() - started:.1f}s: snapshot "
        f"{current.id if current else '—'} in {store.root.resolve()}\n"
        f"  report: {report_path.resolve()}\n"
        f"  serve it: callcircle serve --data-dir {store.root}"
    )


def train_models(store: SnapshotStore, *, console: Console, locale: str | None = None,
                 engine: EngineSettings | None = None) -> None:
    """Train the churn model on the current snapshot and print its evaluation in ``locale``."""
    _embedded_only(engine, "the churn feature table and training run", console)
    trained = train(store)
    print_table(console, metrics_table(trained.metadata["evaluation"], locale))
    print_table(console, capacity_table(trained.metadata["capacity"], locale))


def score_snapshot(store: SnapshotStore, *, console: Console, threads: int = 1,
                   locale: str | None = None, engine: EngineSettings | None = None
                   ) -> None:
    """Score the current snapshot into a new published one."""
    _embedded_only(engine, "scoring runs", console)
    snapshot = score(store, settings=InsightSettings(score_threads=threads))
    _ = translator(locale).gettext
    console.print(_("scored snapshot {snapshot} published").format(snapshot=snapshot.id))


def _embedded_only(engine: EngineSettings | None, work: str, console: Console) -> None:
    """Say so when a step the engine setting names Spark for runs on DuckDB all the same."""
    if engine is not None and engine.engine != "duckdb":
        console.print(f"engine {engine.engine}: {work} on DuckDB in this process "
                      "(the Spark engine computes the ingest's tables; docs/scale-out.md)")


def report_snapshot(store: SnapshotStore, out: Path, *, console: Console,
                    locale: str | None = None) -> Path:
    """Write the HTML report of the current scored snapshot to ``out``, in ``locale``."""
    path = write_report(store, out, locale=locale)
    _ = translator(locale).gettext
    console.print(_("report written to {path}").format(path=path.resolve()))
    return path


def tag_customers(store: SnapshotStore, rules: Path | None = None, *, console: Console,
                  period: date | None = None, locale: str | None = None) -> None:
    """Apply a tag library (default: the operator's current one) into a new snapshot."""
    library = load_library(rules) if rules is not None else current_library(store)
    snapshot = tag_snapshot(store, library, period=period)
    with snapshot.reading() as con:
        counts = tag_counts(con)
    _ = translator(locale).gettext
    if not counts:
        console.print(_("no tag rules were applied"))
        return
    print_table(console, tags_table(counts, library, snapshot.id, locale))


def tags_table(counts: list[dict], library: RuleLibrary, snapshot_id: str,
               locale: str | None = None) -> Table:
    """Customers per tag (``insight.tags.tag_counts``), schemes and labels in ``locale``."""
    _ = translator(locale).gettext
    shown = pd.DataFrame(counts)[["scheme", "tag_id", "label", "rule_version", "customers"]]
    if normalize(locale) != DEFAULT_LOCALE:
        own = {name: rule.labels for name, rule in library.tags.items()}
        shown = shown.assign(
            scheme=shown["scheme"].map(lambda s: scheme_name(s, locale)),
            label=[label_in(label, locale, own.get(tag))
                   for tag, label in zip(shown["tag_id"], shown["label"], strict=True)])
    shown = shown.rename(columns={c: _(c) for c in TAG_COLUMNS})
    return frame_table(shown, _("customer tags in snapshot {snapshot}").format(
        snapshot=snapshot_id), locale=locale)


TAG_COLUMNS = (N_("scheme"), N_("tag_id"), N_("label"), N_("rule_version"), N_("customers"))
CAMPAIGN_COLUMNS: dict[str, str] = {
    "campaign_id": N_("campaign_id"), "treated": N_("treated"), "control": N_("control"),
    "treated_response_rate": N_("response (treated)"),
    "control_response_rate": N_("(control)"), "response_uplift": N_("uplift"),
    "uplift_low": N_("95% low"), "uplift_high": N_("95% high"),
    "retention_uplift": N_("retention uplift"), "incremental_revenue": N_("incr. revenue"),
    "cost": N_("cost"), "roi": N_("roi"),
}
"""The campaign table's columns and their headers (msgids)."""


def show_campaigns(store: SnapshotStore, *, console: Console, locale: str | None = None) -> None:
    """Every campaign's treated-vs-control evaluation in the current snapshot."""
    _ = translator(locale).gettext
    snapshot = _current(store)
    with snapshot.reading() as con:
        evaluation = evaluate_all(con)
    if evaluation.empty:
        console.print(_("no campaign has contacts in this snapshot"))
        return
    shown = evaluation[list(CAMPAIGN_COLUMNS)].rename(
        columns={column: _(header) for column, header in CAMPAIGN_COLUMNS.items()})
    print_table(console, frame_table(
        shown, _("campaigns: treated vs control (Newcombe 95% interval)"), locale=locale))


GROUPINGS = (N_("rollup"), N_("cube"), N_("plain"))
"""How the KPI cube's subtotals are formed, as the title names them."""


def show_kpis(store: SnapshotStore, measures: list[str], by: list[str], *, grouping: str,
              console: Console, locale: str | None = None) -> None:
    """A slice of the KPI cube of the current snapshot, read in ``locale``."""
    snapshot = _current(store)
    with snapshot.reading() as con:
        frame = localized(kpis(con, measures, by, grouping=grouping), locale)
    _ = translator(locale).gettext
    english = normalize(locale) == DEFAULT_LOCALE
    dimensions = (", " if english else "、").join(by if english else [label(d, locale) for d in by])
    title = _("KPIs by {dimensions} ({grouping})").format(
        dimensions=dimensions or _("total"), grouping=_(grouping))
    print_table(console, frame_table(frame, title, locale=locale))


def _current(store: SnapshotStore) -> Snapshot:
    snapshot = store.current()
    if snapshot is None:
        raise SystemExit(f"no published snapshot in {store.root}: run `callcircle ingest` first")
    return snapshot


def frame_table(frame: pd.DataFrame, title: str, max_rows: int = 40,
                locale: str | None = None) -> Table:
    """A data frame as a terminal table (floats to 3 decimals, missing as blank); the
    caption and list separators in ``locale``."""
    table = Table(title=title, title_justify="left")
    separator = ", " if normalize(locale) == DEFAULT_LOCALE else "、"
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        table.add_column(str(column), justify="right" if numeric else "left")
    for row in frame.head(max_rows).itertuples(index=False):
        table.add_row(*[_cell(value, separator) for value in row])
    if len(frame) > max_rows:
        _ = translator(locale).gettext
        table.caption = _("first {shown} of {rows:,} rows").format(shown=max_rows,
                                                                   rows=len(frame))
    return table


def _cell(value: object, separator: str = ", ") -> str:
    if isinstance(value, list | tuple | np.ndarray):
        return separator.join(str(v) for v in value)
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return ""
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.3f}"
    return str(value)


def metrics_table(evaluation: dict, locale: str | None = None) -> Table:
    """The churn evaluation as a table: one row per model and feature set."""
    _ = translator(locale).gettext
    title = _("churn model evaluation ({kind}, {rows:,} subscribers, {churners:,} churners)")
    kind = evaluation.get("kind", "")
    table = Table(title=title.format(kind=_(kind) if kind else "",
                                     rows=evaluation.get("rows", 0),
                                     churners=evaluation.get("churners", 0)),
                  title_justify="left")
    rows = evaluation.get("metrics", [])
    columns = [key for key in (N_("model"), N_("features"), "roc_auc", "pr_auc", "lift_top_decile",
                               "brier", "ece") if rows and key in rows[0]]
    for column in columns:
        table.add_column(_(column),
                         justify="left" if column in ("model", "features") else "right")
    for row in rows:
        table.add_row(*[f"{row[c]:.3f}" if isinstance(row[c], float)
                        else _(str(row[c])) if c in ("model", "features") else str(row[c])
                        for c in columns])
    return table


def capacity_table(capacity: dict, locale: str | None = None) -> Table:
    """What the churn model's search tried on this operator's rows, best first (bold: the
    chosen one), read in ``locale``."""
    _ = translator(locale).gettext
    chosen = capacity["best_params"]
    budget = "" if capacity["complete"] else _(", time budget reached")
    table = Table(title=_("churn model capacity ({candidates} candidates, {folds} internal "
                          "folds, {seconds:.1f}s{budget})").format(
                      candidates=capacity["candidates"], folds=capacity["folds"],
                      seconds=capacity["seconds"], budget=budget),
                  title_justify="left")
    columns = {"stage": N_("stage"), "num_leaves": N_("leaves"),
               "min_child_samples": N_("min rows"), "reg_lambda": "L2",
               "learning_rate": N_("rate"), "n_estimators": N_("trees"),
               "cv_log_loss": N_("CV log loss"), "cv_roc_auc": "CV AUC",
               "cv_pr_auc": "CV PR AUC"}
    for key, header in columns.items():
        table.add_column(_(header), justify="left" if key == "stage" else "right")
    for row in sorted(capacity["cv_results"], key=lambda r: r["cv_log_loss"]):
        cells = [f"{row[k]:.4f}" if k.startswith("cv_") else _(str(row[k])) if k == "stage"
                 else str(row[k]) for k in columns]
        chosen_row = all(row[k] == v for k, v in chosen.items())
        table.add_row(*cells, style="bold" if chosen_row else None)
    choice = {r["features"]: r for r in capacity.get("feature_choice", [])}
    notes = [_("judged on the last training cut-off ({period}): log loss {with_them:.4f} with "
               "{words}, {without:.4f} without, {verdict}").format(
                   period=row["last_period"], with_them=choice["all"]["log_loss"],
                   without=row["log_loss"],
                   words=_("the call-graph features") if group == "graph" else group,
                   verdict=_("kept") if group not in capacity.get("dropped_groups", [])
                   else _("left out"))
             for name, row in choice.items() if name != "all"
             for group in [name.removeprefix("without ")]]
    if notes:
        table.caption, table.caption_justify = "; ".join(notes), "left"
    return table
