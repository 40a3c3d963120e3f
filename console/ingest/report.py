"""What an import did, row by row, and the one error that rejects a whole file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# A file whose every line is bad would otherwise hold a million RowErrors in memory; past this
# many the report keeps counting (`rejected`) but stops keeping the reasons.
MAX_KEPT_ERRORS = 1_000


@dataclass
class RowError:
    """One rejected row: `line` is the 1-based physical line in the file (CSV: the header is
    line 1; a quoted cell spanning lines is reported at the line its row starts on, or at the
    offending line when one line is unreadable)."""

    line: int
    reason: str


@dataclass
class ImportReport:
    """The outcome of one import; every data row is counted exactly once in
    `inserted + updated + unchanged + rejected == rows`.

    `errors` keeps the first `MAX_KEPT_ERRORS` rejected rows in file order; `rejected` counts all
    of them. When `all_rejected` is true nothing was written to the store.
    """

    kind: str
    path: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    rejected: int = 0

    def reject(self, line: int, reason: str) -> None:
        """Count a bad row, keeping its reason while there is room."""
        self.rejected += 1
        if len(self.errors) < MAX_KEPT_ERRORS:
            self.errors.append(RowError(line, reason))

    @property
    def errors_truncated(self) -> bool:
        """True when more rows were rejected than `errors` holds."""
        return self.rejected > len(self.errors)

    @property
    def all_rejected(self) -> bool:
        """True when the file had rows and every one of them was bad (so nothing changed)."""
        return self.rows > 0 and self.rejected == self.rows

    def summary_line(self) -> str:
        """`contacts.csv: 98 rows, 90 new, 3 updated, 5 unchanged, 2 rejected`, plus a warning
        when every row was rejected."""
        name = Path(self.path).name
        line = (
            f"{name}: {self.rows:,} rows, {self.inserted:,} new, {self.updated:,} updated, "
            f"{self.unchanged:,} unchanged, {self.rejected:,} rejected"
        )
        if self.all_rejected:
            line += " - every row was rejected, nothing was imported"
        return line


class FileRejected(Exception):
    """The whole file is not what it claims (binary, wrong columns, empty, unknown extension).

    Nothing was written. `str(exc)` names the file and says why; `path` and `reason` hold the
    two parts for callers that lay them out themselves.
    """

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")
