"""Tables on the command line: fitted to a terminal, whole in a log.

Rich fits a table to the console, 80 columns when it cannot ask a terminal, and cuts cells
to "C26…": a log of ``callcircle campaigns`` then names no campaign. A log has no width to
fit, so off a terminal a table is laid out as wide as its content and printed uncropped.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

__all__ = ["print_table"]

_UNBOUNDED = 100_000
"""Width offered when measuring a table's natural width (no table is that wide)."""


def print_table(console: Console, table: Table) -> None:
    """Print ``table``: at the terminal's width on a terminal, else at its natural width."""
    if console.is_terminal:
        console.print(table)
        return
    table.width = console.measure(
        table, options=console.options.update_width(_UNBOUNDED)).maximum
    console.print(table, crop=False)
