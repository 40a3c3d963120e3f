"""Suppressions import: emails or MD5s from CSV, JSONL or text; insert-or-ignore."""

from __future__ import annotations

import hashlib

import pytest

from console.ingest import FileRejected, import_suppressions, suppression_md5
from state.db import Store

from .conftest import WriteFile, suppression_set


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def test_emails_are_trimmed_lower_cased_and_hashed() -> None:
    assert suppression_md5("  User@Example.COM ") == md5("user@example.com")
    assert suppression_md5("0CC175B9C0F1B6A831C399E269772661") == "0cc175b9c0f1b6a831c399e269772661"
    with pytest.raises(ValueError, match="neither an MD5 nor an email"):
        suppression_md5("0cc175b9")


def test_csv_email_column(store: Store, write_file: WriteFile) -> None:
    path = write_file("s.csv", "name,Email\nAnn,Ann@X.com\nBob,bob@x.com\n")
    report = import_suppressions(store, path)
    assert (report.rows, report.inserted) == (2, 2)
    assert suppression_set(store) == {md5("ann@x.com"), md5("bob@x.com")}


def test_csv_md5_column_wins_over_email(store: Store, write_file: WriteFile) -> None:
    given = md5("someone@x.com").upper()
    path = write_file("s.csv", f"email,email_md5\nother@x.com,{given}\nann@x.com,\n")
    import_suppressions(store, path)
    assert suppression_set(store) == {given.lower(), md5("ann@x.com")}


def test_csv_single_column_without_header(store: Store, write_file: WriteFile) -> None:
    path = write_file("s.csv", f"ann@x.com\n{md5('bob@x.com')}\n\nnot-an-email\n")
    report = import_suppressions(store, path)
    assert (report.rows, report.inserted) == (3, 2)
    assert [(e.line, e.reason.split(":")[0]) for e in report.errors] == [
        (4, "'not-an-email' is neither an MD5 nor an email")
    ]


def test_csv_single_column_with_header(store: Store, write_file: WriteFile) -> None:
    report = import_suppressions(store, write_file("s.csv", "email_md5\n" + md5("a@x.com") + "\n"))
    assert report.rows == 1 and suppression_set(store) == {md5("a@x.com")}


def test_jsonl(store: Store, write_file: WriteFile) -> None:
    path = write_file(
        "s.jsonl",
        [{"email": "A@x.com"}, {"email_md5": md5("b@x.com")}, {"phone": "555"}, {"email": 5}],
    )
    report = import_suppressions(store, path)
    assert report.inserted == 2
    assert [(e.line, e.reason) for e in report.errors] == [
        (3, "no email or email_md5 value"),
        (4, "email and email_md5 must be strings"),
    ]
    assert suppression_set(store) == {md5("a@x.com"), md5("b@x.com")}


def test_txt_one_per_line(store: Store, write_file: WriteFile) -> None:
    path = write_file("s.txt", "\ufeffa@x.com\r\n  B@X.com  \n\n" + md5("c@x.com") + "\n")
    report = import_suppressions(store, path)
    assert (report.rows, report.inserted, report.errors) == (3, 3, [])


def test_insert_or_ignore(store: Store, write_file: WriteFile) -> None:
    path = write_file("s.txt", "a@x.com\nA@x.com\n" + md5("a@x.com") + "\nb@x.com\n")
    first = import_suppressions(store, path)
    second = import_suppressions(store, path)
    assert (first.inserted, first.unchanged) == (2, 2)
    assert (second.inserted, second.unchanged) == (0, 4)
    assert len(suppression_set(store)) == 2


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("s.csv", "name,phone\nAnn,555\n", "no email or email_md5 column"),
        ("s.csv", "email,email\na@x.com,b@x.com\n", "repeats column(s): email"),
        ("s.csv", "", "no rows"),
        ("s.csv", "email\n", "no rows"),
        ("s.txt", "\n\n", "no rows"),
        ("s.xml", "<a/>", "unsupported file type"),
    ],
)
def test_file_rejected(
    store: Store, write_file: WriteFile, name: str, content: str, message: str
) -> None:
    with pytest.raises(FileRejected) as caught:
        import_suppressions(store, write_file(name, content))
    assert message in str(caught.value)
    assert suppression_set(store) == set()


def test_csv_wrong_cell_count_is_a_row_error(store: Store, write_file: WriteFile) -> None:
    report = import_suppressions(store, write_file("s.csv", "email,name\na@x.com,A\nb@x.com\n"))
    assert report.inserted == 1
    assert [(e.line, e.reason) for e in report.errors] == [(3, "expected 2 cells, found 1")]
