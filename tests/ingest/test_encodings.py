"""Files that are not UTF-8: UTF-16 read by its byte-order mark, other encodings through
`encoding` (the import commands' --encoding), and a refusal that names the line and the option
when a file is neither. Line numbers are the file's, and a file is imported whole or not at all.

The files are written byte for byte as the programs that make them do: Excel's "CSV (Comma
delimited)" on Windows (Windows-1252, CRLF), "Unicode" exports (UTF-16 with its mark, either
byte order)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from console.cli import main
from console.ingest import FileRejected, import_contacts, import_events, import_suppressions
from console.ingest.reader import TEXT_PROBE_BYTES, text_encoding
from state.db import Store

from .conftest import contacts_by_email, events_by_id, suppression_set

CONTACTS = (
    "email,first_name,last_name\r\n"
    "zoe@example.com,Zoë,Müller\r\n"
    "jose@example.com,José,Peña – “Pepe”\r\n"
)
"""Names with accents, an en dash and curly quotes: Windows-1252 has them all (0x80-0x9F)."""


def contacts(store: Store) -> dict[str, tuple[str, str]]:
    return {
        email: (row["first_name"], row["last_name"])
        for email, row in contacts_by_email(store).items()
    }


EXPECTED = {"zoe@example.com": ("Zoë", "Müller"), "jose@example.com": ("José", "Peña – “Pepe”")}


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be-with-bom", "utf-16-le-with-bom"])
def test_utf16_with_its_mark_is_read_without_being_told(
    store: Store, tmp_path: Path, codec: str
) -> None:
    if codec == "utf-16":
        content = CONTACTS.encode("utf-16")  # the machine's byte order, mark included
    else:
        order = codec[:9]
        content = ("\ufeff" + CONTACTS).encode(order)
    path = tmp_path / "export.csv"
    path.write_bytes(content)

    report = import_contacts(store, path)

    assert (report.inserted, report.rejected) == (2, 0)
    assert contacts(store) == EXPECTED


def test_utf16_events_and_suppressions_are_read_too(store: Store, tmp_path: Path) -> None:
    event = {
        "email": "zoe@example.com",
        "event": "Order Completed",
        "messageId": "m-1",
        "properties": {"name": "Crème brûlée"},
        "timestamp": "2024-04-16T16:54:10.519Z",
        "type": "track",
    }
    events = tmp_path / "events.jsonl"
    events.write_bytes(orjson.dumps(event).decode().encode("utf-16") + "\n".encode("utf-16-le"))
    suppressions = tmp_path / "optouts.txt"
    suppressions.write_bytes("ZOË@example.com\r\nbob@example.com\r\n".encode("utf-16"))

    assert import_events(store, events).inserted == 1
    assert import_suppressions(store, suppressions).inserted == 2
    assert "Crème brûlée" in events_by_id(store)["m-1"]["properties"]
    assert len(suppression_set(store)) == 2


def test_windows_1252_is_read_with_its_encoding(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(CONTACTS.encode("cp1252"))

    report = import_contacts(store, path, encoding="cp1252")

    assert (report.inserted, report.rejected) == (2, 0)
    assert contacts(store) == EXPECTED


def test_windows_1252_without_the_option_is_refused_naming_the_line_and_the_option(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(CONTACTS.encode("cp1252"))

    with pytest.raises(FileRejected) as refused:
        import_contacts(store, path)

    message = str(refused.value)
    assert "is not UTF-8 text: line 2 has a byte UTF-8 does not allow (byte 19 of the line)" in (
        message
    )
    assert message.endswith("import it with --encoding cp1252")
    assert contacts(store) == {}


def test_row_errors_keep_the_files_line_numbers(store: Store, tmp_path: Path) -> None:
    text = "email,first_name\r\nann@example.com,Ann\r\nnot-an-email,Bé\r\n\r\ncy@example.com,Cy\r\n"
    for name, content, encoding in [
        ("le.csv", text.encode("utf-16"), None),
        ("be.csv", ("\ufeff" + text).encode("utf-16-be"), None),
        ("win.csv", text.encode("cp1252"), "cp1252"),
    ]:
        path = tmp_path / name
        path.write_bytes(content)
        report = import_contacts(store, path, encoding=encoding)
        assert [error.line for error in report.errors] == [3], name
        assert report.inserted + report.unchanged == 2


def padding(count: int) -> str:
    return "".join(f"pad{i}@example.com,Pad\r\n" for i in range(count))


def test_bytes_the_encoding_does_not_allow_refuse_the_whole_file(
    store: Store, tmp_path: Path
) -> None:
    """Past the 64 KB probe too: the import is rolled back, not half landed."""
    rows = "email,first_name\r\n" + padding(5_000)
    assert len(rows) > TEXT_PROBE_BYTES
    bad_line = rows.count("\n") + 1
    path = tmp_path / "late.csv"
    # 0x81 is one of the five bytes Windows-1252 leaves undefined.
    path.write_bytes(rows.encode("cp1252") + b"x\x81@example.com,X\r\nlast@example.com,L\r\n")

    with pytest.raises(FileRejected, match=rf"is not Windows-1252 text: line {bad_line} "):
        import_contacts(store, path, encoding="cp1252")
    assert contacts(store) == {}


@pytest.mark.parametrize("where", ["head", "past the probe"])
def test_broken_utf16_is_refused_naming_the_line(store: Store, tmp_path: Path, where: str) -> None:
    rows = "email,first_name\n" + (padding(5_000) if where == "past the probe" else "a@b.co,A\n")
    bad_line = rows.count("\n") + 1
    # A high surrogate with no low one after it: no UTF-16 text holds that.
    content = rows.encode("utf-16") + "x@example.com,".encode("utf-16-le") + b"\x00\xd8A\x00\n\x00"
    path = tmp_path / "broken.csv"
    path.write_bytes(content)

    with pytest.raises(FileRejected, match=rf"is not UTF-16 text: line {bad_line} "):
        import_contacts(store, path)
    assert contacts(store) == {}


def test_a_binary_file_read_as_windows_1252_is_still_not_text(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "image.csv"
    path.write_bytes(b"email\n\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(FileRejected, match=r"is not a text file \(NUL character on line 4\)"):
        import_contacts(store, path, encoding="cp1252")


def test_utf16_without_its_mark_gets_a_hint(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "nobom.csv"
    path.write_bytes(CONTACTS.encode("utf-16-le"))
    with pytest.raises(FileRejected, match="try --encoding utf-16-le"):
        import_contacts(store, path)
    assert import_contacts(store, path, encoding="utf-16-le").inserted == 2
    assert contacts(store) == EXPECTED


def test_encoding_names() -> None:
    assert [text_encoding(n) for n in ("Windows-1252", "latin-1", "UTF16")] == [
        "cp1252",
        "iso8859-1",
        "utf-16",
    ]
    for name in ("hex", "zlib", "nope"):
        with pytest.raises(ValueError, match="is not a text encoding"):
            text_encoding(name)


# --- the import commands ------------------------------------------------------------------------


def invoke(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def test_import_takes_encoding(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(CONTACTS.encode("cp1252"))
    db = tmp_path / "cli.db"

    code, _, stderr = invoke("import", "contacts", path, "--db", db)
    assert code == 2
    assert "line 2" in stderr and "--encoding cp1252" in stderr

    code, stdout, _ = invoke("import", "contacts", path, "--encoding", "cp1252", "--db", db)
    assert (code, stdout) == (0, "excel.csv: 2 rows, 2 new, 0 updated, 0 unchanged, 0 rejected\n")


@pytest.mark.parametrize("kind", ["contacts", "events", "suppressions"])
def test_an_unknown_encoding_is_a_usage_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"email": "a@example.com"}\n')
    code, _, stderr = invoke("import", kind, path, "--encoding", "hex", "--db", tmp_path / "x.db")
    assert code == 2
    assert "Invalid value for '--encoding': 'hex' is not a text encoding" in stderr
    assert not (tmp_path / "x.db").exists()


def test_windows_1252_past_the_probe_rejects_its_rows_with_the_hint(tmp_path: Path) -> None:
    """The head is plain ASCII, so the file is taken as UTF-8; the row that is not is rejected
    (the good ones land, as for any bad row) and the command says how to read it whole."""
    rows = "email,first_name\r\n" + padding(5_000)
    assert len(rows) > TEXT_PROBE_BYTES
    path = tmp_path / "late.csv"
    path.write_bytes((rows + "zoe@example.com,Zoë\r\n").encode("cp1252"))
    db = tmp_path / "late.db"

    code, _, stderr = invoke("import", "contacts", path, "--db", db)
    assert code == 1
    assert f"late.csv:{rows.count(chr(10)) + 1}: not valid UTF-8 (byte 19 of the line)" in stderr
    assert stderr.endswith(
        "hint: if it was saved by Excel or another Windows program, import it "
        "with --encoding cp1252\n"
    )

    code, stdout, _ = invoke("import", "contacts", path, "--encoding", "cp1252", "--db", db)
    assert code == 0
    assert stdout.endswith("5,001 rows, 1 new, 0 updated, 5,000 unchanged, 0 rejected\n")


@pytest.mark.parametrize(
    ("content", "encoding", "mark"),
    [
        (b"\xef\xbb\xbf" + CONTACTS.encode("utf-8"), "cp1252", "UTF-8"),
        (CONTACTS.encode("utf-16"), "latin-1", "UTF-16"),
        (CONTACTS.encode("utf-32"), "utf-16", "UTF-32"),
    ],
)
def test_an_encoding_the_byte_order_mark_contradicts_is_refused(
    store: Store, tmp_path: Path, content: bytes, encoding: str, mark: str
) -> None:
    path = tmp_path / "marked.csv"
    path.write_bytes(content)
    with pytest.raises(FileRejected, match=f"starts with the byte-order mark of {mark}, so it "):
        import_contacts(store, path, encoding=encoding)
    assert contacts(store) == {}


@pytest.mark.parametrize("encoding", ["utf-8", "UTF-8-SIG", "utf-16", "UTF-16LE", "utf-32"])
def test_an_encoding_the_mark_agrees_with_is_read(
    store: Store, tmp_path: Path, encoding: str
) -> None:
    codec = {"utf-8": "utf-8-sig", "UTF-8-SIG": "utf-8-sig", "UTF-16LE": "utf-16"}.get(
        encoding, encoding
    )
    path = tmp_path / "marked.csv"
    path.write_bytes(CONTACTS.encode(codec))
    assert import_contacts(store, path, encoding=encoding).inserted == 2
    assert contacts(store) == EXPECTED
