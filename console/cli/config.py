"""`retention-console config apply|export`: destinations and audiences as TOML.

Exit codes: 0 done; 2 the file is not valid (the message names file, destination and field).
"""

from __future__ import annotations

from pathlib import Path

import click

from console.cli.options import EXIT_BAD_INPUT, db_option, store_for
from console.core.text import printable


@click.group("config")
def config_group() -> None:
    """Apply or export destinations and audiences as TOML."""


@config_group.command("apply")
@click.argument("path", type=click.Path(path_type=Path))
@db_option
@click.pass_context
def config_apply(ctx: click.Context, path: Path, db: str | None) -> None:
    """Create or update destinations and audiences from a TOML file."""
    from console.config import ConfigError, apply_config

    store = store_for(ctx, db, create=True)
    try:
        report = apply_config(store, path)
    except ConfigError as exc:
        click.echo(printable(f"error: {exc}"), err=True)
        ctx.exit(EXIT_BAD_INPUT)
    click.echo(printable(report.summary_line()))  # it names destinations


@config_group.command("export")
@click.option("--include-secrets", is_flag=True, help="Write keys in full (keep the file private).")
@db_option
@click.pass_context
def config_export(ctx: click.Context, include_secrets: bool, db: str | None) -> None:
    """Print the configuration as TOML (secrets masked unless --include-secrets)."""
    from console.config import export_config

    click.echo(export_config(store_for(ctx, db), include_secrets=include_secrets), nl=False)
