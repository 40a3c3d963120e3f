"""The console app and its one factory, `make_app`, used by the CLI, the tests and the
screenshots. Building the app builds no database or engine state beyond what it is given: the
store is opened by the caller, and the engine's scheduler starts when the app is mounted, on the
app's own event loop.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from textual.app import App
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.reactive import reactive
from textual.worker import WorkerFailed

from console.core import clock as state_clock
from console.core.text import printable
from console.engine.commands import Requeued
from console.engine.options import EngineOptions
from console.engine.runner import RunResult
from console.engine.service import EngineEvent, EngineService
from console.reports.export_files import default_export_dir
from console.ui.commands import JumpProvider
from console.ui.log_notices import NoticeHandler
from console.ui.messages import EngineChanged
from console.ui.screens.audiences import AudiencesScreen
from console.ui.screens.destinations import DestinationsScreen
from console.ui.screens.failures import FailuresScreen
from console.ui.screens.history import HistoryScreen
from console.ui.screens.keys import KeysScreen
from console.ui.screens.mapping import MappingScreen
from console.ui.screens.summary import SummaryScreen
from console.ui.screens.suppressions import SuppressionsScreen
from state.db import Store, StoreError, privacy_warning

SCREENS = ("destinations", "mapping", "summary", "failures", "history")
StartupJob = Callable[[Callable[[str], None]], None]
"""Blocking work the console runs in a thread once it is on screen (the demo's data), told
how to report each step; the engine starts when it ends."""
BUSY_STARTING = "the console is still {}; try again in a few seconds"
HOME = "destinations"
"""The screen the console opens on; Escape goes no further back than this."""
PAGE_SIZE = 100
"""Rows per page when the caller names none (EngineSettings.page_size's default)."""


class RetentionConsoleApp(App[None]):
    """The operator console. Screens are modes (each keeps its own stack for drill-downs);
    Escape pops a drill-down first, then returns to the screen visited before, never past
    Destinations (the home screen)."""

    TITLE = "Retention Console"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {JumpProvider}
    MODES = {
        "destinations": DestinationsScreen,
        "mapping": MappingScreen,
        "summary": SummaryScreen,
        "failures": FailuresScreen,
        "history": HistoryScreen,
        "suppressions": SuppressionsScreen,
        "audiences": AudiencesScreen,
    }
    BINDINGS = [
        Binding("d", "go('destinations')", "Destinations", show=False, id="go-destinations"),
        Binding("m", "go('mapping')", "Mapping", show=False, id="go-mapping"),
        Binding("s", "go('summary')", "Sync summary", show=False, id="go-summary"),
        Binding("f", "go('failures')", "Failures", show=False, id="go-failures"),
        Binding("h", "go('history')", "History", show=False, id="go-history"),
        # Not on the nav bar (it keeps the five screens of the seed's settings page); on the
        # palette and on `S` / `A`.
        Binding("S", "go('suppressions')", "Suppressions", show=False, id="go-suppressions"),
        Binding("A", "go('audiences')", "Audiences", show=False, id="go-audiences"),
        Binding("question_mark", "help", "Keys", key_display="?", show=False, id="keys"),
        Binding("colon", "command_palette", "Jump", key_display=":", show=False, id="jump"),
        # Textual adds its own ctrl+p only when no binding runs `command_palette`; `:` does, so
        # ctrl+p is bound here (a priority binding, as Textual's, so a focused input keeps it).
        Binding(
            "ctrl+p", "command_palette", "Jump", show=False, priority=True, id="command-palette"
        ),
        Binding("q", "quit", "Quit", show=False, id="quit"),
    ]

    engine_tick: reactive[int] = reactive(0)
    """Moves on every engine event; screens and the header watch it to reload."""
    current_destination: reactive[str | None] = reactive(None)
    """The destination the operator is looking at; Mapping and the drill-downs follow it."""

    def __init__(
        self,
        store: Store,
        *,
        engine_options: EngineOptions | None = None,
        start_engine: bool = True,
        engine_elsewhere: bool = False,
        clock: Callable[[], datetime] | None = None,
        store_label: str | None = None,
        cursor_blink: bool = True,
        page_size: int = PAGE_SIZE,
        log_file: Path | None = None,
        export_dir: Path | None = None,
        startup: tuple[str, StartupJob] | None = None,
    ) -> None:
        super().__init__()
        self.engine_elsewhere = engine_elsewhere and not start_engine
        """Opened without a scheduler on purpose (`--no-engine`, a browser tab): said so, not
        "stopped", since scheduled runs belong to the engine that runs elsewhere."""
        self._startup = startup
        self.preparing: str | None = startup[0] if startup else None
        """What the startup job is doing (the header shows it), None once it is done."""
        self.log_file = log_file
        """The file the console logs to (shown under `?`); None: logging left as it is."""
        self.export_dir = export_dir or default_export_dir()
        """Where `E`/`J` on Failures write."""
        self._notice_handler: NoticeHandler | None = None
        self.store_warning = ""
        """Why the store is not private (shown under `?`), or empty."""
        self.store = store
        self.page_size = page_size
        """Rows per page of Failures and History (the `page_size` setting)."""
        self.store_label = store_label or store.label
        self.engine = EngineService(store, engine_options, listener=self._engine_listener)
        self.start_engine = start_engine
        self.cursor_blink = cursor_blink
        self._clock = clock or state_clock.now
        self._mode_history: list[str] = []
        self.jump_targets: dict[str, str | None] = {}
        """Palette jumps waiting for their screen: mode -> destination to narrow to."""
        self.connection_replies: dict[str, tuple[bool, str, object]] = {}
        """Last test-connection reply per destination (ok, reply, the settings tested), shown
        on Destinations while the destination still has those settings."""
        self.last_results: dict[str, RunResult] = {}
        self.store_failure: StoreError | None = None
        """The store failure (read-only, disk full) that ended the console, if one did: the
        command line prints it as one line and exits 2."""
        self.signalled: int | None = None
        """The signal (SIGINT, SIGTERM) that ended the console, if one did (exit 128 + it)."""

    # -- lifecycle ----------------------------------------------------------------------------
    def now(self) -> datetime:
        """The time the console shows relative times against (frozen in tests)."""
        return self._clock()

    def on_mount(self) -> None:
        if not self.is_headless:
            self._catch_signals(signal.SIGINT, signal.SIGTERM)
        if self.log_file is not None:
            self._notice_handler = NoticeHandler(self)
            logging.getLogger().addHandler(self._notice_handler)
        if self._startup is not None:
            # On screen first, filled as the data lands; the engine starts when it has.
            self.run_worker(self._prepare, thread=True, group="startup", exit_on_error=False)
        elif self.start_engine:
            self.engine.start()
        self.switch_mode(HOME)
        if warning := privacy_warning(self.store):
            # The command line's stderr warning is hidden behind the console's screen. Shown
            # for a while, not a minute (it covered the detail panel), and kept under `?`.
            self.store_warning = warning
            self.notify(warning, title="Store not private", severity="warning", timeout=12)

    def _catch_signals(self, *signals: signal.Signals) -> None:
        """SIGTERM (systemd, kill) or SIGINT (kill -INT; in raw mode Ctrl-C is a key) ends
        the console as `q` does: the terminal is restored (alternate screen left, mouse mode
        off) and the run in flight is closed as interrupted when the loop cancels it,
        instead of the process dying with the terminal in the console's modes."""
        loop = asyncio.get_running_loop()
        for signum in signals:
            loop.add_signal_handler(signum, self._on_signal, signum)

    def _on_signal(self, signum: int) -> None:
        if self.signalled is None:
            self.signalled = signum
            self.exit(return_code=128 + signum)

    def _handle_exception(self, error: Exception) -> None:
        # A store that cannot be written (disk full, made read-only under us) ends the
        # console with its one line (the command line prints it, exit 2), not with Textual's
        # traceback, whose frames' locals would show SQL and the rows being written.
        cause = error.error if isinstance(error, WorkerFailed) else error
        if isinstance(cause, StoreError):
            if self.store_failure is None:
                self.store_failure = cause
                self.exit(return_code=2)
            return
        super()._handle_exception(error)

    async def on_unmount(self) -> None:
        if not self.is_headless:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
        # The runs in flight close themselves as interrupted before the loop goes (Textual
        # does not cancel what is left on it, so they would stay `running` until the next
        # start otherwise).
        await self.engine.stop()
        if self._notice_handler is not None:
            logging.getLogger().removeHandler(self._notice_handler)

    def _prepare(self) -> None:
        assert self._startup is not None
        label, job = self._startup

        def progress(step: str) -> None:
            self.call_from_thread(self._prepared_step, f"{label} ({step})")

        try:
            job(progress)
        except Exception as exc:  # the console stays usable on what landed; the log has it
            logging.getLogger(__name__).exception("%s failed", label)
            self.call_from_thread(self._prepared, f"{label} failed: {exc}")
            return
        self.call_from_thread(self._prepared, None)

    def _prepared_step(self, note: str) -> None:
        self.preparing = note
        self.engine_tick += 1  # screens reload and show what landed

    def _prepared(self, error: str | None) -> None:
        self.preparing = None
        if error is not None:
            self.notify(error, title="Startup", severity="error", timeout=15)
        if self.start_engine:
            self.engine.start()
        self.engine_tick += 1

    def _still_preparing(self) -> bool:
        """Engine actions wait for the startup job (its runs hold the leases and the clock)."""
        if self.preparing is None or self._startup is None:
            return False
        self.notify(BUSY_STARTING.format(self._startup[0].rstrip("…")), severity="warning")
        return True

    def _engine_listener(self, event: EngineEvent) -> None:
        # Called on the event loop for runs, and from worker threads for pause/enable;
        # post_message is safe from both.
        self.post_message(EngineChanged(event))

    def on_engine_changed(self, message: EngineChanged) -> None:
        event = message.event
        if event.kind == "run-finished" and event.result is not None and event.destination:
            self.last_results[event.destination] = event.result
        self.engine_tick += 1

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """A toast. Toasts carry names and receivers' replies, so unlike Textual's default the
        message is not markup (a `[@click=...]` in a reply must not become an action) and
        control characters show escaped; every screen's `notify` lands here."""
        super().notify(
            message if markup else printable(message, keep="\n"),
            title=printable(title),
            severity=severity,
            timeout=timeout,
            markup=markup,
        )

    # -- navigation ---------------------------------------------------------------------------
    def action_go(self, mode: str) -> None:
        if mode == self.current_mode:
            return
        self._mode_history.append(self.current_mode)
        del self._mode_history[:-20]
        self.switch_mode(mode)

    def go_to(self, mode: str, destination: str | None = None) -> None:
        """Show a screen, optionally on one destination (the command palette's jumps)."""
        if destination is not None:
            self.current_destination = destination
            if mode in ("summary", "failures", "history"):
                # These narrow their view to the destination when they are shown next.
                self.jump_targets[mode] = destination
        if mode == self.current_mode:
            from console.ui.screens.base import ConsoleScreen

            while len(self.screen_stack) > 1:
                self.pop_screen()
            if isinstance(self.screen, ConsoleScreen):
                self.screen.jumped()
            return
        self.action_go(mode)

    def go_back(self) -> None:
        """Escape: close the top drill-down, else return to the previous screen, but never past
        the home screen (Destinations): Escape there stays, and forgets the way here."""
        if len(self.screen_stack) > 1:
            self.pop_screen()
        elif self.current_mode == HOME:
            self._mode_history.clear()
            self.notify("This is the home screen. Press q to quit.", timeout=3)
        else:
            mode = self._mode_history.pop() if self._mode_history else HOME
            if mode == HOME:
                self._mode_history.clear()
            self.switch_mode(mode)

    async def action_quit(self) -> None:
        """`q`: quits at once, unless a run is in flight: then it asks first."""
        from console.ui.screens.confirm import ConfirmScreen

        # A run now pressed just before `q` is a worker that has not reached the engine yet.
        asked = {
            w.group.removeprefix("run-")
            for w in self.workers
            if w.group.startswith("run-") and not w.is_finished
        }
        running = sorted(self.engine.running | asked)
        if not running or isinstance(self.screen, ConfirmScreen):
            self.exit()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.exit()

        names = ", ".join(printable(name) for name in running)
        self.push_screen(
            ConfirmScreen(
                f"Quit while {names} {'is' if len(running) == 1 else 'are'} running?",
                "The run stops where it is. Rows it had not delivered stay queued (a batch on "
                "the wire may be sent again, under the same message id) and the next run "
                "delivers them.",
                yes="Quit",
            ),
            answered,
        )

    def action_help(self) -> None:
        if isinstance(self.screen, KeysScreen):
            self.screen.dismiss(None)
            return
        label = self.store_label + (f" ({self.store_warning})" if self.store_warning else "")
        self.push_screen(KeysScreen(self.screen, label, self.log_file))

    # -- engine actions -----------------------------------------------------------------------
    def run_now(self, name: str) -> None:
        """Run one destination now through the engine (a manual run in History)."""
        if self._still_preparing():
            return
        self.notify(f"Running {name} now…", timeout=3)
        self.run_worker(self._run_now(name), group=f"run-{name}", exit_on_error=False)

    async def _run_now(self, name: str) -> None:
        result = await self.engine.run_now(name)
        self.last_results[name] = result
        self.notify(
            result.line(),
            title=f"Run of {name}: {result.status}",
            severity="information" if result.status == "ok" else "warning",
            timeout=8,
        )

    async def retry(self, row_ids: Sequence[int]) -> Requeued:
        """Re-queue failed rows and deliver them through the engine; returns how many were
        re-queued and which were refused, with why."""
        if self.preparing is not None and self._startup is not None:
            why = BUSY_STARTING.format(self._startup[0].rstrip("…"))
            return Requeued(0, [], dict.fromkeys(row_ids, why))
        return await self.engine.retry(list(row_ids))

    def test_connection(self, name: str) -> None:
        if self._still_preparing():
            return
        self.notify(f"Testing the connection of {name}…", timeout=3)
        self.run_worker(self._test_connection(name), group=f"test-{name}", exit_on_error=False)

    async def _test_connection(self, name: str) -> None:
        from console.ui.messages import ConnectionTested

        tested = await asyncio.to_thread(self._settings_of, name)
        try:
            reply = await self.engine.test_connection(name)
            ok = True
        except Exception as exc:  # the reply, whatever went wrong, is what the operator needs
            reply, ok = str(exc) or type(exc).__name__, False
        # Kept with the settings it answered: once the endpoint or key is edited, a stale
        # "FAILED" must not sit beside the fixed destination.
        self.connection_replies[name] = (ok, reply, tested)
        self.notify(
            reply,
            title=f"Test connection: {name}",
            severity="information" if ok else "error",
            timeout=8,
        )
        self.screen.post_message(ConnectionTested(name, ok, reply))

    def _settings_of(self, name: str) -> object:
        from console.engine.destinations import get_destination

        with self.store.read() as conn:
            record = get_destination(conn, name)
        return record.settings if record is not None else None

    @property
    def engine_state(self) -> str:
        """The engine as the header and Destinations name it: running, paused, stopped, or
        "off here" in a console opened without one (`--no-engine`)."""
        state = self.engine.state
        return "off here" if state == "stopped" and self.engine_elsewhere else state

    def show_import_jobs(self, name: str) -> None:
        """The import jobs of a destination, over Destinations (`i`, or the palette)."""
        from console.ui.screens.import_jobs import ImportJobsScreen

        self.go_to("destinations", name)
        self.push_screen(ImportJobsScreen(name))

    def show_alerts(self) -> None:
        """The alert channels and each destination's alert state (read-only)."""
        from console.ui.screens.alerts import AlertsScreen

        self.push_screen(AlertsScreen())

    def toggle_engine(self) -> None:
        """Pause or resume every scheduled run (the command palette offers it)."""
        if self.engine_elsewhere:
            self.notify(
                "This console has no engine of its own (--no-engine): pause scheduled runs "
                "where the engine runs.",
                severity="warning",
            )
        elif self.engine.state == "stopped":
            self.notify("The engine is not running in this console.", severity="warning")
        elif self.engine.paused:
            self.engine.resume()
        else:
            self.engine.pause()


def make_app(
    store: Store,
    *,
    engine_options: EngineOptions | None = None,
    start_engine: bool = True,
    engine_elsewhere: bool = False,
    clock: Callable[[], datetime] | None = None,
    store_label: str | None = None,
    cursor_blink: bool = True,
    page_size: int = PAGE_SIZE,
    log_file: Path | None = None,
    export_dir: Path | None = None,
    startup: tuple[str, StartupJob] | None = None,
) -> RetentionConsoleApp:
    """The console over `store`.

    `start_engine=False` keeps the scheduler off (snapshots: nothing moves); the engine still
    serves run now, retry and test connection. `engine_elsewhere` (with it, `--no-engine`)
    says the scheduler is off on purpose: "engine off here", not "stopped". `clock` is what relative times are measured
    against; `store_label` replaces the store's path in the header (tests and screenshots);
    `page_size` is the rows per page of Failures and History. `log_file` is where the caller
    sent the log (`console.log_file.log_to_file`): shown under `?`, and errors logged while the
    console runs become notices. `export_dir`: where Failures exports go (default:
    `console.reports.export_files.default_export_dir()`). `startup` is a label and a blocking
    job run in a thread once the console is on screen (the demo builds its data so); the
    header shows the label and the job's steps, and the engine starts when it ends.
    """
    return RetentionConsoleApp(
        store,
        engine_options=engine_options,
        start_engine=start_engine,
        engine_elsewhere=engine_elsewhere,
        clock=clock,
        store_label=store_label,
        cursor_blink=cursor_blink,
        page_size=page_size,
        log_file=log_file,
        export_dir=export_dir,
        startup=startup,
    )
