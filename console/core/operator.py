"""Who is making a change: the OS user and host, as recorded beside suppressions added by hand
and destination changes (never a secret, never an email)."""

from __future__ import annotations

import getpass
import os
import socket

OPERATOR_ENV = "RETENTION_CONSOLE_OPERATOR"


def operator_name() -> str:
    """`user@host`; `unknown` stands in for a user the OS cannot name (no login, no passwd
    entry in a container). `RETENTION_CONSOLE_OPERATOR` names the operator instead, for a
    shared service account (and for tests, whose snapshots must not carry the host's name)."""
    if named := os.environ.get(OPERATOR_ENV, "").strip():
        return named
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
