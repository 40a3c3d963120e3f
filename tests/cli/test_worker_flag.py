"""`--worker` is --run-once's, and PostgreSQL's: the refusals (its work is tested in
tests/reliability/test_postgres_workers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from state.db import open_store
from tests.cli.test_commands import cli


def test_worker_needs_postgresql(tmp_path: Path) -> None:
    open_store(tmp_path / "store.db").dispose()
    result = cli("--run-once", "--worker", "--db", tmp_path / "store.db")
    assert result.exit_code == 2
    assert "--worker needs a PostgreSQL store" in result.stderr


@pytest.mark.parametrize("args", [("--worker",), ("--run-once", "--dry-run", "--worker")])
def test_worker_goes_with_run_once(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = cli(*args, "--db", tmp_path / "store.db")
    assert result.exit_code == 2 and "--worker goes with --run-once" in result.stderr
