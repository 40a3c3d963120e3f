"""Alerts (read-only): the channels of the applied `[alerts]` section, secrets masked, what
counts as failing, and each destination's alert state. The section is edited in the TOML
(`config apply`), like every setting the console shares with cron."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Static

from console.core.secrets import mask_secret
from console.core.text import printable
from console.engine.alert_settings import AlertSettings
from console.engine.alerts import load_alert_settings
from console.reports.formatting import full_time
from console.ui.screens.base import ConsoleModal
from state.monitoring import AlertStateRow, alert_states


class AlertsLoaded(Message):
    def __init__(self, settings: AlertSettings | None, states: list[AlertStateRow]) -> None:
        super().__init__()
        self.settings = settings
        self.states = states


def channel_lines(settings: AlertSettings) -> list[tuple[str, str]]:
    """(channel, where it goes) for each configured channel; secrets masked."""
    lines = []
    if settings.http is not None:
        lines.append(("http", f"POST to {mask_secret(settings.http.url)}"))
    if settings.command is not None:
        command = settings.command
        lines.append(
            ("command", f"{' '.join(command.argv)} (at most {command.timeout_seconds:g} s)")
        )
    if settings.email is not None:
        email = settings.email
        login = f", login {email.username}" if email.username else ""
        lines.append(
            (
                "email",
                f"{email.host}:{email.port}{' STARTTLS' if email.starttls else ''}{login}, "
                f"from {email.sender} to {', '.join(email.to)}",
            )
        )
    return lines


class AlertsScreen(ConsoleModal[None]):
    BINDINGS = [Binding("escape", "cancel", "Close", id="cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide-dialog"):
            yield Static("Alerts", classes="dialog-title")
            with VerticalScroll(id="alerts-scroll"):
                yield Static(id="alerts-text")
            yield Static(
                "read-only: edit [alerts] in the TOML and run config apply · esc close",
                classes="dialog-hint",
                markup=False,
            )

    def on_mount(self) -> None:
        self.query_one("#alerts-scroll").focus()
        self.load()

    def on_resize(self, event: events.Resize) -> None:
        # As the key map: an auto-height scroll in an auto-height dialog would grow past the
        # terminal and hide the hint; 5 rows are the borders, the title and its gap, the hint.
        self.query_one("#alerts-scroll").styles.max_height = max(3, event.size.height - 5)

    @work(thread=True, exclusive=True, group="alerts-load")
    def load(self) -> None:
        with self.console.store.read() as conn:
            settings = load_alert_settings(conn)
            states = alert_states(conn)
        self.post_message(AlertsLoaded(settings, states))

    def on_alerts_loaded(self, message: AlertsLoaded) -> None:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        settings = message.settings
        if settings is None or not settings.channels:
            table.add_row("Channels", "none: no alerts are sent (add an [alerts] section)")
        else:
            for name, where in channel_lines(settings):
                table.add_row(name, Text(printable(where)))
        failures_above = (settings or AlertSettings()).failures_above
        table.add_row(
            "Failing",
            Text(
                "a run ended in error, more than "
                f"{failures_above} rows refused in a run, the destination unhealthy, "
                "or an import job past its limit"
            ),
        )
        table.add_row("", "")
        table.add_row(Text("Destination", style="bold underline"), Text("State", style="bold"))
        if not message.states:
            table.add_row("", "no run has ended since alerts were added")
        for state in message.states:
            said = (
                Text(f"failing since {full_time(state.changed_at)}: ", style="bold red")
                if state.failing
                else Text(f"healthy since {full_time(state.changed_at)}", style="green")
            )
            if state.failing and state.reason:
                said.append(printable(state.reason))
            table.add_row(Text(printable(state.destination)), said)
        self.query_one("#alerts-text", Static).update(table)
