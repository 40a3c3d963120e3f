"""Column specs: one declaration per view renders the console's table, the command line's
report and the CSV/JSON export, so the three say the same thing.

A `Column` says how to get a value from a row (raw for exports, as text for tables), whether it
is a number (never cut, widens to its longest value) or text (cut with `…`), and how wide it is
on screen. A `View` lists a view's columns once and the order each output shows them in.
Nothing here imports Textual: the command line renders reports without loading the console.

Every text cell goes through `printable`: the values are the outside world's words (receivers'
feedback, emails, names), shown literally, never with their control characters.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Generic, Literal, TypeVar

import orjson

from console.core.text import printable
from console.reports.export_files import spreadsheet_safe
from console.reports.formatting import ellipsize

Row = TypeVar("Row")

WIDE_TERMINAL = 100
"""From this many terminal columns on, a column with a `wide` width uses it."""


def _raw_text(value: object) -> str:
    return "" if value is None else str(value)


def _csv_cell(value: object) -> str:
    # Numbers stay numbers (a negative count is not a formula); text is neutralised.
    return spreadsheet_safe(value) if isinstance(value, str) else _raw_text(value)


@dataclass(frozen=True)
class Column(Generic[Row]):
    name: str
    """The table's column key, the export's field name and (unless `report_header`) the
    report's header."""
    header: str
    """The header on screen."""
    value: Callable[[Row], object]
    """The raw value: what the CSV and JSON exports hold."""
    text: Callable[[Row], str] | None = None
    """How the value reads in a table cell (default: the value as text, empty for None)."""
    report_text: Callable[[Row], str] | None = None
    """How it reads in the command line's report, when that differs from `text` (a full
    timestamp where the screen has room for a short one)."""
    report_header: str | None = None
    number: bool = False
    """Never cut: the column widens to its longest value."""
    justify: Literal["left", "right"] = "left"
    width: int = 10
    """On screen: the width text is cut at (with `…`); the least width of a number."""
    wide: int | None = None
    """The width on a terminal at least `WIDE_TERMINAL` columns wide."""
    grow: int = 0
    """When set, this text column takes the room the other columns leave, up to `grow`."""
    report_width: int = 0
    """The report cuts this text at so many characters (0: never)."""
    style: Callable[[Row], str] | None = None
    """The cell's style on screen (a Rich style name), from its row."""

    def screen_text(self, row: Row) -> str:
        """The cell's text, control characters escaped, not yet cut to a width."""
        raw = self.text(row) if self.text is not None else _raw_text(self.value(row))
        return printable(raw, keep="\n")

    def report_cell(self, row: Row) -> str:
        if self.report_text is not None:
            raw = self.report_text(row)
        elif self.text is not None:
            raw = self.text(row)
        else:
            raw = _raw_text(self.value(row))
        text = printable(raw, keep="\n")
        if self.number or not self.report_width:
            # A report line is one line: a newline in a value would start a row of its own.
            return text.replace("\n", "\\n")
        return ellipsize(text, self.report_width)

    def fit(self, text: str, width: int) -> str:
        """`text` in a cell `width` wide: numbers whole and aligned, text cut with `…`."""
        if not self.number:
            text = ellipsize(text, width)
        return text.rjust(width) if self.justify == "right" else text


@dataclass(frozen=True)
class View(Generic[Row]):
    """One view's columns, and the order the screen, the report and the export show them in."""

    columns: tuple[Column[Row], ...]
    screen: tuple[str, ...]
    report: tuple[str, ...]
    export: tuple[str, ...]
    narrow_drops: tuple[str, ...] = ()
    """Screen columns given up, in this order, while the terminal is too narrow for all of
    them: columns whose figures the screen shows elsewhere (a split of a total, the
    highlighted row's detail line)."""

    def column(self, name: str) -> Column[Row]:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def pick(self, names: Sequence[str]) -> list[Column[Row]]:
        return [self.column(name) for name in names]

    # -- the console's table -------------------------------------------------------------------
    def screen_widths(self, terminal_width: int, rows: Iterable[Row] = ()) -> dict[str, int]:
        """Each screen column's width: text as declared (the wide width on a wide terminal),
        numbers widened to their longest value, and the growing column given what is left.
        Only the columns shown are named: `narrow_drops` leave on a narrow terminal."""
        columns = self.pick(self.screen)
        widths: dict[str, int] = {}
        for column in columns:
            width = column.width
            if column.wide is not None and terminal_width >= WIDE_TERMINAL:
                width = column.wide
            widths[column.name] = width
        numbers = [c for c in columns if c.number]
        for row in rows:
            for column in numbers:
                widths[column.name] = max(widths[column.name], len(column.screen_text(row)))
        # Each cell is padded by one on both sides; the table's scrollbar takes ~4.
        for name in self.narrow_drops:
            if sum(w + 2 for w in widths.values()) + 4 <= terminal_width:
                break
            widths.pop(name, None)
        for column in columns:
            if column.grow:
                fixed = sum(w + 2 for name, w in widths.items() if name != column.name) + 4
                widths[column.name] = max(column.width, min(column.grow, terminal_width - fixed))
        return widths

    # -- the command line's report -------------------------------------------------------------
    def report_lines(self, rows: Iterable[Row]) -> list[str]:
        """A plain-text table: a header line, then one line per row; widths from the data."""
        columns = self.pick(self.report)
        table = [[c.report_header or c.name for c in columns]]
        table += [[c.report_cell(row) for c in columns] for row in rows]
        widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
        return [
            "  ".join(
                cell.rjust(width) if column.justify == "right" else cell.ljust(width)
                for cell, width, column in zip(line, widths, columns, strict=True)
            ).rstrip()
            for line in table
        ]

    # -- exports -------------------------------------------------------------------------------
    def export_item(self, row: Row) -> dict[str, object]:
        """One row as the JSON export holds it: raw values, JSON escapes any control byte."""
        return {c.name: c.value(row) for c in self.pick(self.export)}

    def write_csv(self, rows: Iterable[Row], out: IO[str]) -> int:
        """CSV with a header line; returns how many rows were written."""
        columns = self.pick(self.export)
        writer = csv.writer(out)
        writer.writerow([c.name for c in columns])
        written = 0
        for row in rows:
            writer.writerow([_csv_cell(c.value(row)) for c in columns])
            written += 1
        return written

    def write_json(self, rows: Iterable[Row], out: IO[str]) -> int:
        """A JSON array, one row a line (streamed: no list of every row in memory)."""
        written = 0
        out.write("[")
        for row in rows:
            out.write(("," if written else "") + "\n  ")
            out.write(orjson.dumps(self.export_item(row)).decode())
            written += 1
        out.write("\n]\n")
        return written
