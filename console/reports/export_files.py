"""Where and how report exports are written: files only their owner reads (they list customer
emails), created new (never over an existing file, never through a symlink planted at the name),
in a directory the operator chose or the user's documents/data directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

ENV_EXPORT_DIR = "RETENTION_CONSOLE_EXPORT_DIR"
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_FLAGS |= getattr(os, "O_CLOEXEC", 0)


class ExportRefused(Exception):
    """The export could not be written; the message says why in plain words (no traceback)."""


def default_export_dir() -> Path:
    """`$RETENTION_CONSOLE_EXPORT_DIR`, else the user's documents directory when it exists,
    else `exports` under the console's data directory (servers often have no ~/Documents)."""
    if env := os.environ.get(ENV_EXPORT_DIR):
        return Path(env).expanduser()
    from platformdirs import user_data_path, user_documents_path

    documents = user_documents_path()
    if documents.is_dir():
        return documents
    return user_data_path("retention-console") / "exports"


def open_export(directory: Path, name: str) -> IO[str]:
    """A new file `directory/name`, mode 0600, for writing text. O_EXCL: an existing file or a
    symlink at the name is refused, not followed or overwritten. Raises ExportRefused."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportRefused(f"cannot create the directory {directory}: {_reason(exc)}") from None
    path = directory / name
    try:
        fd = os.open(path, _FLAGS, 0o600)
    except FileExistsError:
        raise ExportRefused(f"{path} exists already; nothing was overwritten") from None
    except OSError as exc:
        raise ExportRefused(f"cannot write {path}: {_reason(exc)}") from None
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


def _reason(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()


def spreadsheet_safe(value: str) -> str:
    """A CSV cell a spreadsheet shows as text: one starting with `=`, `+`, `-`, `@`, a tab or a
    carriage return would be read as a formula (feedback and names come from outside: a
    receiver's reply `=HYPERLINK(...)` must not run). A leading `'` is the usual neutraliser."""
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value
