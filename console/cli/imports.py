"""`retention-console import contacts|events|suppressions FILE`.

Exit codes: 0 every row landed; 1 some rows were rejected (reported per line on stderr, the good
ones landed); 2 the file itself was refused (nothing written).

Files are UTF-8, or UTF-16 with its byte-order mark; `--encoding` names another (a Windows
spreadsheet's "CSV" is usually cp1252).
"""

from __future__ import annotations

from pathlib import Path

import click

from console.cli.options import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, db_option, store_for
from console.core.text import printable

KINDS = ("contacts", "events", "suppressions")
FILE_KINDS = {
    "contacts": "a .csv, .jsonl or .ndjson file",
    "events": "a .jsonl or .ndjson file, one Segment track object a line",
    "suppressions": "a .csv, .jsonl, .ndjson or .txt file",
}
SHOWN_ERRORS = 200
"""Rejected rows named on stderr; past this, one line counts the rest."""
IMPORT_EXIT_CODES = """\b
Exit codes:
  0  every row landed
  1  some rows were rejected (each named with its line); the good ones landed
  2  the file was refused: nothing was written"""


def _encoding_name(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """`--encoding`'s callback: Python's name for the encoding, or a usage error (exit 2)."""
    if value is None:
        return None
    from console.ingest.reader import text_encoding

    try:
        return text_encoding(value)
    except ValueError as exc:
        raise click.BadParameter(f"{exc}; e.g. cp1252, latin-1, utf-16") from None


@click.group("import")
def import_group() -> None:
    """Load contacts, events or suppressions from CSV / JSONL files."""


def _import_command(kind: str) -> click.Command:
    @click.command(kind, epilog=IMPORT_EXIT_CODES)
    @click.argument("path", type=click.Path(path_type=Path))
    @click.option(
        "--encoding",
        metavar="NAME",
        default=None,
        callback=_encoding_name,
        help="The file's text encoding, e.g. cp1252 (Excel on Windows), latin-1 or utf-16 "
        "(default: UTF-8, or UTF-16 when the file starts with its byte-order mark).",
    )
    @db_option
    @click.pass_context
    def command(ctx: click.Context, path: Path, encoding: str | None, db: str | None) -> None:
        from console import ingest
        from console.ingest.reader import ENCODING_HINT, NOT_UTF8

        importer = {
            "contacts": ingest.import_contacts,
            "events": ingest.import_events,
            "suppressions": ingest.import_suppressions,
        }[kind]
        store = store_for(ctx, db, create=True)
        try:
            report = importer(store, path, encoding=encoding)
        except ingest.FileRejected as exc:
            click.echo(printable(f"error: {exc}"), err=True)
            ctx.exit(EXIT_BAD_INPUT)
        for error in report.errors[:SHOWN_ERRORS]:
            click.echo(printable(f"{path}:{error.line}: {error.reason}"), err=True)
        if report.rejected > SHOWN_ERRORS:
            click.echo(f"... and {report.rejected - SHOWN_ERRORS} more rejected rows", err=True)
        if encoding is None and any(e.reason.startswith(NOT_UTF8) for e in report.errors):
            # The probe of the file's head found UTF-8; a row further on did not.
            click.echo(f"hint: {ENCODING_HINT}", err=True)
        click.echo(printable(report.summary_line()))  # it names the file
        # Rejected rows were skipped and reported; the good ones landed.
        ctx.exit(EXIT_FAILED if report.rejected else EXIT_OK)

    command.help = f"Import {kind} from {FILE_KINDS[kind]} (PATH)."
    return command


for _kind in KINDS:
    import_group.add_command(_import_command(_kind))
