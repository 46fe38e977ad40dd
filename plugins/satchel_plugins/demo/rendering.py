"""How the demo prints: numbered sections, indented lines of fixed-width cells and titled tables (rich,
imported when first used)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

REFUSED = "[red]✗ refused"


def section(console: Console, number: int, title: str, why: str) -> None:
    """A numbered section's rule and what it shows."""
    console.print()
    console.rule(f"[bold]{number}. {title}", align="left")
    console.print(why)


def print_cells(console: Console, cells: Sequence[str], widths: Sequence[int]) -> None:
    """One line of fixed-width cells, indented; the last cell wraps under itself."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=1)
    for width in widths:
        grid.add_column(width=width, no_wrap=True)
    grid.add_column()
    grid.add_row("", *cells)
    console.print(grid)


def say(console: Console, mark: str, who: str, text: str) -> None:
    """One outcome line: a mark, the learner and what happened."""
    print_cells(console, (mark, who, text), (10, 10))


def titled_table(title: str, *columns: str) -> Table:
    """An empty table with a left-aligned bold title and these columns."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", title_style="bold")
    for c in columns:
        table.add_column(c)
    return table


def short(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, with an ellipsis when cut."""
    return text if len(text) <= width else text[: width - 1] + "…"
