"""Errors logged while the console runs are shown as notices: the log itself goes to a file
(see `console/log_file.py`), and an operator must not have to read it to learn a run broke."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.app import App


class NoticeHandler(logging.Handler):
    """ERROR and above become an error notice (the message only; the file has the trace)."""

    def __init__(self, app: App[Any]) -> None:
        super().__init__(level=logging.ERROR)
        self.app = app
        self._loop_thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string in a library's log call
            message = str(record.msg)
        title = f"Error ({record.name})"
        try:
            if threading.get_ident() == self._loop_thread:
                self.app.notify(message, title=title, severity="error", timeout=10)
            else:
                self.app.call_from_thread(
                    self.app.notify, message, title=title, severity="error", timeout=10
                )
        except Exception:  # the app is closing: the file still has the record
            self.handleError(record)
