"""`retention-console serve`: the console in a web browser, through textual-serve (the `serve`
extra), for operators without a terminal.

textual-serve has no authentication: whoever reaches the port drives the console. So it listens
on 127.0.0.1 unless `--allow-remote` says otherwise, and the way in from elsewhere is an SSH
tunnel. Each browser tab gets its own console process, opened with `--no-engine`: ten tabs are
never ten schedulers; scheduled runs stay with the engine that runs the destinations (a console
in a terminal, or cron's `--run-once`), and a tab's "run now" takes the same lease as any run.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import sys

import click

from console.cli.options import EXIT_BAD_INPUT, db_option, fail, store_for

TUNNEL_HELP = "ssh -L 8000:127.0.0.1:8000 HOST"
SETTINGS_ENV = "RETENTION_CONSOLE_SETTINGS"


def is_loopback(host: str) -> bool:
    """True for an address only this machine reaches (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def tab_command(*, verbose: bool) -> str:
    """The shell command textual-serve runs for each browser tab: this interpreter's console
    without a scheduler. The store and settings travel in the environment (a database URL's
    password must not show in `ps` or in textual-serve's "Serving ..." line)."""
    words = [sys.executable, "-m", "console", "--no-engine"]
    if verbose:
        words.append("-v")
    return shlex.join(words)


def default_public_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}"


@click.command(
    "serve",
    epilog="\b\nFrom another machine, keep the default host and tunnel over SSH:\n"
    f"  {TUNNEL_HELP}\nthen open http://127.0.0.1:8000 there.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but a loopback address needs --allow-remote.",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on.",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Listen on a --host other machines reach. textual-serve has NO authentication: "
    "anyone who reaches the port drives the console. Only behind your own access control.",
)
@click.option(
    "--public-url",
    default=None,
    metavar="URL",
    help="The address browsers use to reach this server, when it is not http://HOST:PORT "
    "(a proxy, or --host 0.0.0.0).",
)
@db_option
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    allow_remote: bool,
    public_url: str | None,
    db: str | None,
) -> None:
    """Serve the console to web browsers (textual-serve; no authentication).

    Each browser tab opens its own console without a scheduler (--no-engine): scheduled runs
    stay with the engine that runs elsewhere; run now works through the same lease.
    """
    if not is_loopback(host) and not allow_remote:
        fail(
            ctx,
            f"--host {host} would let anyone who reaches it drive the console: textual-serve "
            f"has no authentication. Keep 127.0.0.1 and tunnel ({TUNNEL_HELP}), or pass "
            "--allow-remote behind your own access control",
        )
    try:
        from textual_serve.server import Server
    except ImportError:
        fail(ctx, "serve needs textual-serve: pip install 'retention-console[serve]'")
    # The tabs open this store: checked (and created, as the console would) before serving.
    from state.db import ENV_DB, default_db_path

    target = db or ctx.find_root().params.get("db") or str(default_db_path())
    store_for(ctx, target, create=True).dispose()
    os.environ[ENV_DB] = target
    if settings := ctx.find_root().params.get("settings_file"):
        os.environ[SETTINGS_ENV] = os.path.abspath(settings)
    verbose = bool(ctx.find_root().params.get("verbose"))
    server = Server(
        tab_command(verbose=verbose),
        host=host,
        port=port,
        title="Retention Console",
        public_url=public_url or default_public_url(host, port),
    )
    try:
        server.serve()
    except OSError as exc:  # the port is taken, or the address is not this machine's
        click.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        ctx.exit(EXIT_BAD_INPUT)
