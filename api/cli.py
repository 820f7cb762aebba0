"""The ``callcircle`` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from graph.snapshot import DATA_DIR_ENV, SnapshotStore

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


@app.command("snapshots")
def snapshots_command(data_dir: DataDirOption = None) -> None:
    """List published snapshots; the current one is marked."""
    store = SnapshotStore(data_dir)
    current = store.current()
    published = store.published()
    if not published:
        console.print(f"No snapshot published in {store.root} yet: run `callcircle ingest`.")
        raise typer.Exit(1)
    for snapshot in published:
        marker = "*" if current is not None and snapshot.id == current.id else " "
        manifest = snapshot.manifest
        typer.echo(f"{marker} {snapshot.id}  run={manifest.get('run_id', '?')}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
