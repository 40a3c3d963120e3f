"""`retention-console sandbox`: local Segment- and ReSci-compatible receivers."""

from __future__ import annotations

import click


@click.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Segment receiver port; the ReSci receiver listens on port+1.",
)
@click.option(
    "--resci-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="ReSci receiver port (default: --port + 1).",
)
@click.option(
    "--job-delay",
    type=click.FloatRange(0, 7200),
    default=5.0,
    show_default=True,
    help="Seconds a ReSci import job takes to complete.",
)
def sandbox(port: int, resci_port: int | None, job_delay: float) -> None:
    """Serve local Segment- and ReSci-compatible receivers on 127.0.0.1."""
    from console.sandbox import serve_sandboxes

    serve_sandboxes(port, resci_port, job_delay_seconds=job_delay)
