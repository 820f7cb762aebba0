"""The ``callcircle`` command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from api.terminal import print_table
from graph.locales import LOCALE_ENV
from graph.snapshot import DATA_DIR_ENV, SnapshotStore

if TYPE_CHECKING:
    from graph.engine import EngineSettings

app = typer.Typer(
    help="Knowledge-graph customer insight for telecom operators.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console(stderr=True)

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar=DATA_DIR_ENV,
        help="Where snapshots, runs and stores live (default ./callcircle-data).",
    ),
]



def _locale(value: str | None) -> str | None:
    from graph.locales import normalize

    try:
        return normalize(value) if value is not None else None
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error


LocaleOption = Annotated[
    str | None,
    typer.Option("--locale", callback=_locale, envvar=LOCALE_ENV,
                 help="Language of the output: en (default) or zh-CN."),
]


EngineOption = Annotated[
    str | None,
    typer.Option("--engine", help="Engine for the aggregates and graph tables: duckdb "
                 "(default) or spark; overrides the config file's engine."),
]
SparkMasterOption = Annotated[
    str | None,
    typer.Option("--spark-master", help="Spark master URL (local[2], spark://host:7077, yarn, "
                 "k8s://https://host:6443); overrides the config file's spark.master."),
]
EngineConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="Settings (YAML) with engine: and spark: entries "
                 "(docs/scale-out.md)."),
]


def _engine(config: Path | None, engine: str | None, spark_master: str | None
            ) -> EngineSettings:
    """The config file's engine settings with the flags applied, checked before any run."""
    from graph.engine import EngineSettings

    try:
        return EngineSettings.from_file(config).overridden(engine=engine,
                                                          spark_master=spark_master)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error


@app.command("snapshots")
def snapshots_command(data_dir: DataDirOption = None) -> None:
    """List published snapshots; the current one is marked."""
    store = SnapshotStore(data_dir)
    current = store.current()
    published = store.published()
    if not published:
        console.print(f"No snapshot published in {store.root} yet: run `callcircle ingest`.")
        raise typer.Exit(1)
    for usage in store.disk_usage():
        snapshot = usage.snapshot
        marker = "*" if current is not None and snapshot.id == current.id else " "
        manifest = snapshot.manifest
        made = (f"derived from {manifest['derived_from']}" if manifest.get("derived_from")
                else f"run={manifest.get('run_id', '?')}")
        shared = ", ".join(f"{part} {_mib(size)}" for part, size in usage.shared.items())
        typer.echo(f"{marker} {snapshot.id}  {made}  {_mib(usage.bytes)} on disk, "
                   f"{_mib(usage.shared_bytes)} shared with other snapshots"
                   + (f" ({shared})" if shared else "") + f", {_mib(usage.own_bytes)} its own")


def _mib(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB"


@app.command("demo-data")
def demo_data_command(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the source files into.")],
    subscribers: Annotated[int, typer.Option(help="Number of on-net subscriptions.")] = 10_000,
    months: Annotated[int, typer.Option(help="Months of activity.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same files.")] = 7,
    start_month: Annotated[str, typer.Option(help="First month, YYYY-MM.")] = "2026-01",
    contagion: Annotated[bool, typer.Option(help="Plant churn contagion in circles.")] = True,
) -> None:
    """Write a realistic synthetic operator's exports in the source contract."""
    from ingest.synthetic import generate_operator

    report = generate_operator(
        out_dir, subscribers=subscribers, months=months, seed=seed,
        start_month=start_month, contagion=contagion,
    )
    console.print(report.summary())


@app.command("ingest")
def ingest_command(
    source_dir: Annotated[Path, typer.Argument(help="Folder of source files.")],
    data_dir: DataDirOption = None,
    mapping: Annotated[
        Path | None, typer.Option(help="Column-mapping YAML for a non-contract layout.")
    ] = None,
    encoding: Annotated[
        str | None, typer.Option(help="CSV encoding (utf-8, utf-8-sig, gbk); detected if unset.")
    ] = None,
    keep: Annotated[int, typer.Option(help="Published snapshots to keep.")] = 3,
    config: EngineConfigOption = None,
    engine: EngineOption = None,
    spark_master: SparkMasterOption = None,
) -> None:
    """Validate, quarantine and load a source folder; publish a new snapshot."""
    from ingest.job import IngestFailed, run_ingest

    settings = _engine(config, engine, spark_master)
    try:
        result = run_ingest(source_dir, data_dir=data_dir, mapping=mapping,
                            encoding=encoding, keep=keep, console=console, engine=settings)
    except IngestFailed as error:
        console.print(f"[red]ingest failed:[/red] {error}")
        raise typer.Exit(2) from None
    print_table(console, result.report_table())


@app.command("runs")
def runs_command(
    data_dir: DataDirOption = None,
    limit: Annotated[int, typer.Option(help="How many recent runs.")] = 20,
) -> None:
    """The run ledger: recent ingest runs and their outcome."""
    from ingest.ledger import RunLedger

    ledger = RunLedger(SnapshotStore(data_dir).runs_dir)
    print_table(console, ledger.table(limit=limit))


@app.command("quarantine")
def quarantine_command(
    run_id: Annotated[str | None, typer.Argument(help="Run id (default: the latest run).")] = None,
    data_dir: DataDirOption = None,
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 20,
) -> None:
    """Rows a run rejected: counts per reason, then file, line, reason and detail."""
    import csv

    from rich.table import Table

    from ingest.job import QUARANTINE_FILE
    from ingest.ledger import RunLedger

    ledger = RunLedger(SnapshotStore(data_dir).runs_dir)
    runs = [r for r in ledger.runs() if run_id is None or r.run_id == run_id]
    if not runs:
        console.print(f"no run {run_id!r} in {ledger.runs_dir}" if run_id else "no runs yet")
        raise typer.Exit(1)
    run = runs[-1]
    if not run.quarantine_by_reason:
        console.print(f"run {run.run_id} quarantined nothing")
        return
    counts = Table(title=f"run {run.run_id}: quarantined rows by reason", title_justify="left")
    counts.add_column("reason")
    counts.add_column("rows", justify="right")
    for reason, count in sorted(run.quarantine_by_reason.items(), key=lambda kv: -kv[1]):
        counts.add_row(reason, f"{count:,}")
    print_table(console, counts)
    path = ledger.runs_dir / run.run_id / QUARANTINE_FILE
    rows = Table(title=f"first {limit} rows (all in {path})", title_justify="left")
    for column in ("file:line", "reason", "detail"):
        rows.add_column(column)
    with open(path, encoding="utf-8", newline="") as handle:
        for i, row in enumerate(csv.DictReader(handle)):
            if i >= limit:
                break
            rows.add_row(f"{row['source_file']}:{row['line']}", row["reason"], row["detail"])
    print_table(console, rows)


@app.command("train")
def train_command(data_dir: DataDirOption = None, locale: LocaleOption = None,
                  config: EngineConfigOption = None, engine: EngineOption = None,
                  spark_master: SparkMasterOption = None) -> None:
    """Evaluate and fit the churn model on the current snapshot (saved beside it)."""
    from api.commands import train_models

    train_models(SnapshotStore(data_dir), console=console, locale=locale,
                 engine=_engine(config, engine, spark_master))


@app.command("score")
def score_command(
    data_dir: DataDirOption = None,
    threads: Annotated[int, typer.Option(
        help="Threads for churn risk and its reasons (-1: every core); scores are the same.",
    )] = 1,
    locale: LocaleOption = None,
    config: EngineConfigOption = None,
    engine: EngineOption = None,
    spark_master: SparkMasterOption = None,
) -> None:
    """Score churn risk, value, tiers and segments; publish them as a new snapshot."""
    from api.commands import score_snapshot

    score_snapshot(SnapshotStore(data_dir), console=console, threads=threads, locale=locale,
                   engine=_engine(config, engine, spark_master))


@app.command("report")
def report_command(
    data_dir: DataDirOption = None,
    out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("callcircle-report.html"),
    locale: LocaleOption = None,
) -> None:
    """Write the HTML report of the current scored snapshot."""
    from api.commands import report_snapshot

    report_snapshot(SnapshotStore(data_dir), out, console=console, locale=locale)


@app.command("tags")
def tags_command(
    data_dir: DataDirOption = None,
    rules: Annotated[
        Path | None, typer.Option(help="Tag library (YAML or Turtle); default: the current one.")
    ] = None,
    period: Annotated[
        str | None, typer.Option(help="Month to tag, YYYY-MM (default: last month of data).")
    ] = None,
    locale: LocaleOption = None,
) -> None:
    """Evaluate the business-feature tag rules; publish the assignments as a new snapshot."""
    from datetime import date

    from api.commands import tag_customers
    from insight.tags import RuleError

    month = date.fromisoformat(f"{period}-01") if period else None
    try:
        tag_customers(SnapshotStore(data_dir), rules, period=month, console=console,
                      locale=locale)
    except RuleError as error:
        console.print(f"[red]rule refused:[/red] {error}")
        raise typer.Exit(2) from None


@app.command("campaigns")
def campaigns_command(data_dir: DataDirOption = None, locale: LocaleOption = None) -> None:
    """Campaign results: response and retention, treated vs control, uplift with its interval."""
    from api.commands import show_campaigns

    show_campaigns(SnapshotStore(data_dir), console=console, locale=locale)


@app.command("kpis")
def kpis_command(
    measures: Annotated[list[str], typer.Argument(help="Measures, e.g. churn_rate arpu.")],
    by: Annotated[list[str] | None, typer.Option(help="Dimension to group by (repeat).")] = None,
    grouping: Annotated[str, typer.Option(help="rollup, cube or plain.")] = "rollup",
    data_dir: DataDirOption = None,
    locale: LocaleOption = None,
) -> None:
    """A slice of the KPI cube, with subtotals."""
    from api.commands import show_kpis

    try:
        show_kpis(SnapshotStore(data_dir), measures, by or [], grouping=grouping,
                  console=console, locale=locale)
    except ValueError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None


@app.command("demo")
def demo_command(
    data_dir: DataDirOption = None,
    source_dir: Annotated[Path, typer.Option(help="Where to write the demo source.")] = Path(
        "demo-source"
    ),
    subscribers: Annotated[int, typer.Option(help="Number of on-net subscriptions.")] = 10_000,
    months: Annotated[int, typer.Option(help="Months of activity (≥ 5 for a time split).")] = 6,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    config: EngineConfigOption = None,
    engine: EngineOption = None,
    spark_master: SparkMasterOption = None,
) -> None:
    """The main job on demo data: generate a synthetic operator, ingest it, report."""
    from api.commands import run_demo

    run_demo(source_dir, data_dir=data_dir, subscribers=subscribers, months=months,
             seed=seed, console=console, engine=_engine(config, engine, spark_master))


@app.command("serve")
def serve_command(
    data_dir: DataDirOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    config: Annotated[
        Path | None, typer.Option(help="Service settings (YAML): keys, limits, introspection.")
    ] = None,
) -> None:
    """Serve the last published snapshot over GraphQL."""
    from api.server import serve

    serve(data_dir=data_dir, host=host, port=port, workers=workers, config=config)


def main() -> None:
    """Console entry point: expected operational errors end with a message, not a trace."""
    from graph.snapshot import SnapshotStoreBusy

    try:
        app()
    except SnapshotStoreBusy as error:
        console.print(f"[red]busy:[/red] {error}")
        raise SystemExit(3) from None


if __name__ == "__main__":
    main()
