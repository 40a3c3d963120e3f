"""Counts with their noun agree: `1 request`, `2 requests`; History reads the note after
either form of the engine's summary line."""

from __future__ import annotations

from types import SimpleNamespace

from console.reports.formatting import counted
from console.ui.screens.history import run_note


def test_counted() -> None:
    assert counted(1, "request") == "1 request"
    assert counted(0, "attempt") == "0 attempts"
    assert counted(20043, "request") == "20,043 requests"
    assert counted(2, "entry", "entries") == "2 entries"


def test_run_note_reads_both_forms() -> None:
    for line in (
        "seg: ok - 3 delivered, 1 request (job 7 done)",
        "seg: ok - 2 requests (job 7 done)",
    ):
        run = SimpleNamespace(destination="seg", message=line)
        assert run_note(run) == "job 7 done"  # type: ignore[arg-type]
