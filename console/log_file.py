"""Where the console's log goes while the screen is drawn: a rotating file under the user log
directory, never stderr (Textual draws on the terminal, so a line written to stderr lands on
the screen and is gone at the next repaint). The command line (`--run-once`, reports) keeps
stderr.

Levels: the console's own loggers (`retention_console.*`: runs started and finished, leases,
schedule changes, pause and resume) at INFO, libraries at WARNING; `-v` puts everything at
DEBUG.
"""

from __future__ import annotations

import logging
import os
from logging.handlers import RotatingFileHandler
from pathlib import Path

OWN_LOGGER = "retention_console"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MAX_BYTES = 1_000_000
BACKUPS = 3


def log_file_path() -> Path:
    """`console.log` under the user log directory (`platformdirs.user_log_path`)."""
    from platformdirs import user_log_path

    return user_log_path("retention-console") / "console.log"


def configure_cli_logging(verbose: bool) -> None:
    """Diagnostics on stderr for the command line; `-v`: everything at DEBUG."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format=FORMAT,
        force=True,
    )
    logging.getLogger(OWN_LOGGER).setLevel(logging.DEBUG if verbose else logging.WARNING)
    # httpx logs request URLs at INFO; keep them out of operator logs unless asked for.
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose else logging.WARNING)


def log_to_file(verbose: bool, path: Path | None = None) -> Path:
    """Send every log record to `path` (default `log_file_path()`) and none to stderr, for as
    long as the console draws. The file and its rotations are 0600 (runs name destinations and
    receivers' replies can quote emails). Returns the path."""
    path = path or log_file_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Created 0600 before the handler opens it: the handler would create it 0644 (umask).
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    os.chmod(path, 0o600)
    handler = _PrivateRotatingHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger(OWN_LOGGER).setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose else logging.WARNING)
    return path


class _PrivateRotatingHandler(RotatingFileHandler):
    """Each new file after a rotation is created 0600 too."""

    def _open(self):  # type: ignore[no-untyped-def]
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return os.fdopen(fd, "a", encoding=self.encoding or "utf-8", errors=self.errors)
