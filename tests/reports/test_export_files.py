"""Export files: 0600, created new (never over a file, never through a symlink), refused in
plain words; CSV cells that a spreadsheet would run as formulas are neutralised."""

from __future__ import annotations

import csv
import io
import os
import stat
from pathlib import Path

import pytest

from console.reports.export_files import (
    ENV_EXPORT_DIR,
    ExportRefused,
    default_export_dir,
    open_export,
    spreadsheet_safe,
)
from console.reports.views import FAILURES
from state.failures import FailureRow


def test_files_are_private_and_new(tmp_path: Path) -> None:
    with open_export(tmp_path / "exports", "a.csv") as out:
        out.write("email\n")
    path = tmp_path / "exports" / "a.csv"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(ExportRefused, match="exists already"):
        open_export(tmp_path / "exports", "a.csv")
    assert path.read_text() == "email\n"


def test_a_symlink_at_the_name_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (tmp_path / "b.csv").symlink_to(victim)
    with pytest.raises(ExportRefused):
        open_export(tmp_path, "b.csv")
    assert victim.read_text() == "keep me"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_an_unwritable_directory_is_refused_plainly(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(ExportRefused, match=r"cannot write .*: permission denied"):
            open_export(tmp_path, "c.csv")
    finally:
        tmp_path.chmod(0o700)


def test_a_file_where_the_directory_should_be_is_refused(tmp_path: Path) -> None:
    (tmp_path / "exports").write_text("")
    with pytest.raises(ExportRefused, match="cannot create the directory"):
        open_export(tmp_path / "exports", "d.csv")


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("ann@example.com", "ann@example.com"),
        ("", ""),
    ],
)
def test_formula_cells_are_neutralised(cell: str, safe: str) -> None:
    assert spreadsheet_safe(cell) == safe


def test_the_default_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_EXPORT_DIR, str(tmp_path / "chosen"))
    assert default_export_dir() == tmp_path / "chosen"
    monkeypatch.delenv(ENV_EXPORT_DIR)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_DOCUMENTS_DIR", str(tmp_path / "Documents"))
    assert default_export_dir() == tmp_path / "data" / "retention-console" / "exports"
    (tmp_path / "Documents").mkdir()
    assert default_export_dir() == tmp_path / "Documents"


def test_csv_export_neutralises_text_not_numbers() -> None:
    row = FailureRow(
        id=1,
        email="-ann@example.com",
        destination="=cmd|' /C calc'!A0",
        kind="identify",
        feedback="@SUM(1+1)",
        http_status=400,
        attempts=2,
        at="2026-11-20T09:00:00.000Z",
        message_id="m1",
    )
    out = io.StringIO()
    FAILURES.write_csv([row], out)
    cells = next(csv.reader(io.StringIO(out.getvalue().splitlines()[1])))
    assert cells[:5] == [
        "'-ann@example.com",
        "'=cmd|' /C calc'!A0",
        "identify",
        "'@SUM(1+1)",
        "400",
    ]
