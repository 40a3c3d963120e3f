"""`retention-console`: the console, the headless run, imports, configuration and reports.

The command line is assembled here and only here: `console.cli.run` holds the root group (the
console and `--run-once`), each other module one family of subcommands, and
`console.cli.options` what they share. None of them imports this package or another command
module, so there is no cycle to patch around. Exit codes: see `console.cli.options`.
"""

from __future__ import annotations

from console.cli.audiences import audiences_group
from console.cli.changes import changes
from console.cli.config import config_group
from console.cli.demo import demo
from console.cli.imports import import_group
from console.cli.reports import failures, history, summary
from console.cli.resci import resci
from console.cli.retention import forget, prune
from console.cli.retry import retry
from console.cli.run import main
from console.cli.sandbox import sandbox
from console.cli.serve import serve
from console.cli.suppressions import suppressions_group

for _command in (
    import_group,
    config_group,
    summary,
    failures,
    retry,
    history,
    sandbox,
    resci,
    suppressions_group,
    forget,
    prune,
    changes,
    audiences_group,
    demo,
    serve,
):
    main.add_command(_command)

__all__ = ["main"]
