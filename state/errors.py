"""What the store raises, apart from the store itself: the command line catches these at its
root without importing SQLAlchemy (`--version`, `--help` and shell completion stay quick)."""

from __future__ import annotations


class StoreError(Exception):
    """The store cannot be opened or upgraded; the message says why in plain words."""


class StoreMissing(StoreError):
    """No store at the path, and the caller asked not to create one."""


class StoreFailed(StoreError):
    """The store refused a read or write while in use: a read-only file or directory, a full
    disk, an I/O error, a lock held past `busy_timeout`. The message is the driver's words and
    what to do, never the SQL or its parameters (they hold write keys and customer rows); the
    transaction it broke was rolled back, so nothing half-written stays."""
