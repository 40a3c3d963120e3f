"""The panel under Failures: the highlighted failure in full (the destination's own words) and,
when opened, the payload that was sent, read in a worker and shown with credentials masked."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import orjson
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from console.core.text import printable
from console.ui.formatting import counted, full_time
from console.ui.messages import PayloadLoaded
from state.failures import FailureRow, outbox_payload

if TYPE_CHECKING:
    from console.ui.app import RetentionConsoleApp

SECRET_KEYS = re.compile(r"(write_?key|api_?key|authorization|password|secret|token)", re.I)


def scrub(value: Any) -> Any:
    """Mask anything that looks like a credential. Payloads are message bodies, which never
    carry keys; this is a second lock on the same door."""
    if isinstance(value, dict):
        return {
            k: ("••••" if SECRET_KEYS.search(str(k)) and v else scrub(v)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def payload_text(raw: bytes | None) -> str:
    if raw is None:
        return "(no payload stored)"
    try:
        text = orjson.dumps(scrub(orjson.loads(raw)), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        text = raw.decode("utf-8", "replace")
    # JSON escapes C0 controls but writes C1 controls and bidi overrides as they are.
    return printable(text, keep="\n")


class FailureDetail(VerticalScroll):
    """`show(row, status)` describes a failure; `opened` says whether its payload shows."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.opened = False
        self._row_id: int | None = None
        self._payload_row: int | None = None
        """The row whose payload is on screen (loaded, not "loading…")."""

    def compose(self) -> ComposeResult:
        yield Static(id="failure-summary", markup=False)
        yield Static(id="failure-payload", markup=False)

    def on_mount(self) -> None:
        self.query_one("#failure-payload").display = False

    def toggle(self) -> None:
        self.opened = not self.opened
        self.set_class(self.opened, "-open")

    def show_empty(self, text: str) -> None:
        self._row_id = self._payload_row = None
        self.query_one("#failure-summary", Static).update(text)
        self.query_one("#failure-payload", Static).display = False

    def show(self, row: FailureRow, status: str) -> None:
        self._row_id = row.id
        # The email, the names and the feedback are the outside world's words: escaped.
        self.query_one("#failure-summary", Static).update(
            printable(
                f"{row.email or '—'} · {row.destination} · {row.kind} · {status} · "
                f"HTTP {row.http_status or '—'} · {counted(row.attempts, 'attempt')} · "
                f"{full_time(row.at)}\n"
                f"Feedback: {row.feedback or '—'}",
                keep="\n",
            )
            + "\n"
            + ("⏎ hides the payload" if self.opened else "⏎ shows the payload sent")
            + " · R retries it · space marks it"
        )
        payload = self.query_one("#failure-payload", Static)
        payload.display = self.opened
        if not self.opened:
            self._payload_row = None
        elif self._payload_row != row.id:
            # Only for another row: the same row shown again (the page refreshed on an
            # engine tick) keeps its payload and the operator's scroll position in it.
            self._payload_row = None
            payload.update("loading the payload…")
            self._load_payload(row.id)

    @work(thread=True, exclusive=True, group="failures-payload")
    def _load_payload(self, row_id: int) -> None:
        app: RetentionConsoleApp = self.app  # type: ignore[assignment]
        with app.store.read() as conn:
            raw = outbox_payload(conn, row_id)
        self.post_message(PayloadLoaded(row_id, payload_text(raw)))

    def on_payload_loaded(self, message: PayloadLoaded) -> None:
        message.stop()
        if message.row_id == self._row_id and self.opened:
            self.query_one("#failure-payload", Static).update("Payload sent:\n" + message.text)
            self._payload_row = message.row_id
