"""Who is making a change: the OS user and host, as recorded beside suppressions added by hand
and destination changes (never a secret, never an email)."""

from __future__ import annotations

import getpass
import socket


def operator_name() -> str:
    """`user@host`; `unknown` stands in for a user the OS cannot name (no login, no passwd
    entry in a container)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
