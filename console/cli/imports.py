"""`retention-console import contacts|events|suppressions FILE`.

Exit codes: 0 every row landed; 1 some rows were rejected (reported per line on stderr, the good
ones landed); 2 the file itself was refused (nothing written).
"""

from __future__ import annotations

from pathlib import Path

import click

from console.cli.options import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, db_option, store_for
from console.core.text import printable

KINDS = ("contacts", "events", "suppressions")
SHOWN_ERRORS = 200
"""Rejected rows named on stderr; past this, one line counts the rest."""


@click.group("import")
def import_group() -> None:
    """Load contacts, events or suppressions from CSV / JSONL files."""


def _import_command(kind: str) -> click.Command:
    @click.command(kind)
    @click.argument("path", type=click.Path(path_type=Path))
    @db_option
    @click.pass_context
    def command(ctx: click.Context, path: Path, db: str | None) -> None:
        from console import ingest

        importer = {
            "contacts": ingest.import_contacts,
            "events": ingest.import_events,
            "suppressions": ingest.import_suppressions,
        }[kind]
        store = store_for(ctx, db, create=True)
        try:
            report = importer(store, path)
        except ingest.FileRejected as exc:
            click.echo(printable(f"error: {exc}"), err=True)
            ctx.exit(EXIT_BAD_INPUT)
        for error in report.errors[:SHOWN_ERRORS]:
            click.echo(printable(f"{path}:{error.line}: {error.reason}"), err=True)
        if report.rejected > SHOWN_ERRORS:
            click.echo(f"... and {report.rejected - SHOWN_ERRORS} more rejected rows", err=True)
        click.echo(printable(report.summary_line()))  # it names the file
        # Rejected rows were skipped and reported; the good ones landed.
        ctx.exit(EXIT_FAILED if report.rejected else EXIT_OK)

    command.help = f"Import {kind} from a CSV or JSONL file."
    return command


for _kind in KINDS:
    import_group.add_command(_import_command(_kind))
